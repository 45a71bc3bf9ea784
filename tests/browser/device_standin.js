// A stand-in for Twilio's `Twilio.Device` (@twilio/voice-sdk 2.x), for the desk's browser tests: the page runs
// its real code (console/static/softphone.js and the desk) and only the Device is replaced, so no browser
// talks to Twilio. It emits the SDK's documented events, on the test's command:
//   Device: registering, registered, unregistered, incoming, error, tokenWillExpire, destroyed
//   Call:   accept, disconnect, cancel, reject, mute, error
//
// Load it before the page's scripts:  page.add_init_script(path="tests/browser/device_standin.js")
// The SDK's bundle keeps a Device already defined (`Twilio.Device = Twilio.Device || ...`), and a test may also
// route /console/vendor/twilio-voice.js elsewhere; either way the page sees this one.
//
// From the test (page.evaluate):
//   __deviceStandin.ring({callSid, params, customParameters})  an incoming call (params: Twilio's, e.g. From)
//   __deviceStandin.cancel()          the caller hangs up before the agent answers (Call "cancel")
//   __deviceStandin.remoteHangUp()    the other side hangs up (Call "disconnect")
//   __deviceStandin.callError(code, message), __deviceStandin.deviceError(code, message)
//   __deviceStandin.tokenWillExpire() the SDK's warning before the token runs out
//   __deviceStandin.tokenExpired()    the token ran out: "unregistered", then "error" with code 20104
//   __deviceStandin.failRegistrations = N   the next N register() calls reject
// and reads what the page did: .actions (["register", "accept", "mute:true", "updateToken", ...]), .tokens
// (every token given, the constructor's first), .identity (the last token's grant), .device, .call, .options.
(function () {
  "use strict";

  class Emitter {
    constructor() { this._listeners = {}; }
    on(name, listener) { (this._listeners[name] = this._listeners[name] || []).push(listener); return this; }
    addListener(name, listener) { return this.on(name, listener); }
    once(name, listener) {
      const wrapped = (...args) => { this.off(name, wrapped); listener(...args); };
      return this.on(name, wrapped);
    }
    off(name, listener) {
      this._listeners[name] = (this._listeners[name] || []).filter((l) => l !== listener);
      return this;
    }
    removeListener(name, listener) { return this.off(name, listener); }
    removeAllListeners(name) { if (name) { delete this._listeners[name]; } else { this._listeners = {}; } return this; }
    emit(name, ...args) {
      (this._listeners[name] || []).slice().forEach((listener) => listener(...args));
      return true;
    }
  }

  const standin = {
    devices: [],
    tokens: [],
    actions: [],
    identity: null,
    failRegistrations: 0,
    get device() { return this.devices[this.devices.length - 1] || null; },
    get call() { return this.device ? this.device._call : null; },
    get options() { return this.device ? this.device._options : null; },
  };

  function identityOf(token) {
    try {
      const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(payload)).grants.identity || null;
    } catch (error) {
      return null;
    }
  }

  function twilioError(code, message) {
    const error = new Error(message || `stand-in error ${code}`);
    error.code = code;
    error.name = "TwilioError";
    return error;
  }

  const later = (fn) => Promise.resolve().then(fn);  // the SDK answers after the caller's call returns

  class StandinCall extends Emitter {
    constructor(device, {callSid, params = {}, customParameters = {}}) {
      super();
      this._device = device;
      this._status = "pending";  // an incoming call that rings (Call.State.Pending)
      this._muted = false;
      this.direction = "INCOMING";
      this.parameters = {CallSid: callSid, AccountSid: "AC" + "0".repeat(32), ...params};
      this.customParameters = new Map(Object.entries(customParameters));
    }

    status() { return this._status; }
    isMuted() { return this._muted; }

    accept() {
      standin.actions.push("accept");
      if (this._status !== "pending") { return; }
      this._status = "open";
      later(() => this.emit("accept", this));
    }

    reject() {
      standin.actions.push("reject");
      if (this._status !== "pending") { return; }
      this._end();
      later(() => this.emit("reject"));
    }

    ignore() {
      standin.actions.push("ignore");
      if (this._status === "pending") { this._end(); }
    }

    disconnect() {
      standin.actions.push("disconnect");
      if (this._status === "closed") { return; }
      this._end();
      later(() => this.emit("disconnect", this));
    }

    mute(shouldMute = true) {
      standin.actions.push(`mute:${Boolean(shouldMute)}`);
      if (this._muted === Boolean(shouldMute)) { return; }
      this._muted = Boolean(shouldMute);
      this.emit("mute", this._muted, this);
    }

    sendDigits(digits) { standin.actions.push(`digits:${digits}`); }

    _end() {
      this._status = "closed";
      if (this._device._call === this) { this._device._call = null; }
    }
  }

  class StandinDevice extends Emitter {
    constructor(token, options = {}) {
      super();
      this._token = token;
      this._options = options;
      this._state = "unregistered";
      this._call = null;
      standin.tokens.push(token);
      standin.identity = identityOf(token);
      standin.devices.push(this);
    }

    static get isSupported() { return true; }

    get state() { return this._state; }
    get token() { return this._token; }
    get identity() { return this._state === "registered" ? identityOf(this._token) : null; }
    get isBusy() { return Boolean(this._call && this._call.status() === "open"); }
    get calls() { return this._call ? [this._call] : []; }

    register() {
      standin.actions.push("register");
      this._state = "registering";
      this.emit("registering");
      if (standin.failRegistrations > 0) {
        standin.failRegistrations -= 1;
        this._state = "unregistered";
        const error = twilioError(31000, "stand-in: registration failed");
        later(() => this.emit("error", error));
        return Promise.reject(error);
      }
      return later(() => { this._state = "registered"; this.emit("registered"); });
    }

    unregister() {
      standin.actions.push("unregister");
      return later(() => { this._state = "unregistered"; this.emit("unregistered"); });
    }

    updateToken(token) {
      standin.actions.push("updateToken");
      this._token = token;
      standin.tokens.push(token);
      standin.identity = identityOf(token);
    }

    updateOptions(options = {}) { this._options = {...this._options, ...options}; }

    disconnectAll() { if (this._call) { this._call.disconnect(); } }

    destroy() {
      standin.actions.push("destroy");
      this.disconnectAll();
      this._state = "destroyed";
      this.emit("destroyed");
    }

    connect() { return Promise.reject(twilioError(31000, "stand-in: the desk places no calls")); }
  }

  // --- the test's commands -----------------------------------------------------------------------------------

  standin.ring = function (call) {
    const device = standin.device;
    if (!device || device.state !== "registered") { throw new Error("stand-in: no registered Device to ring"); }
    if (device._call) { throw new Error("stand-in: a call is already on this Device"); }
    device._call = new StandinCall(device, call);
    device.emit("incoming", device._call);
    return call.callSid;
  };

  standin.cancel = function () {
    const call = standin.call;
    if (!call || call.status() !== "pending") { throw new Error("stand-in: no ringing call to cancel"); }
    call._end();
    call.emit("cancel");
  };

  standin.remoteHangUp = function () {
    const call = standin.call;
    if (!call) { throw new Error("stand-in: no call to hang up"); }
    call._end();
    call.emit("disconnect", call);
  };

  standin.callError = function (code, message) {
    const call = standin.call;
    if (!call) { throw new Error("stand-in: no call"); }
    call.emit("error", twilioError(code, message));
  };

  standin.deviceError = function (code, message) {
    standin.device.emit("error", twilioError(code, message));
  };

  standin.tokenWillExpire = function () {
    standin.device.emit("tokenWillExpire", standin.device);
  };

  standin.tokenExpired = function () {  // the warning went unheeded (a sleeping laptop): Twilio drops the Device
    const device = standin.device;
    device._state = "unregistered";
    device.emit("unregistered");
    device.emit("error", twilioError(20104, "Access Token expired or expiration date invalid"));
  };

  window.Twilio = window.Twilio || {};
  window.Twilio.Device = StandinDevice;
  window.__deviceStandin = standin;
})();

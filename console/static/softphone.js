// The desk's softphone: Twilio's Voice JavaScript SDK (`Twilio.Device`, loaded by the page from
// /console/vendor/twilio-voice.js) registered as the agent's Twilio Client identity, so the calls Careline dials
// to `<Client>` ring in the browser. A plain ES module, no build step (the console's CSP allows 'self' scripts).
//
//   const phone = await startSoftphone({onIncoming, onState});
//   phone.accept(); phone.reject(); phone.mute(true); phone.toggleMute(); phone.hangUp(); phone.stop();
//
// It relies on the SDK's documented events only (@twilio/voice-sdk 2.x, es5/twilio/device.d.ts and call.d.ts):
// Device: registered, unregistered, incoming, error, tokenWillExpire; Call: accept, disconnect, cancel, reject,
// mute, error. The browser tests replace only `Twilio.Device` (tests/browser/device_standin.js).
//
// onState(phase, snapshot) is called on every change. `phase` is one of
//   "registering"  asking Twilio to ring this browser          "ready"    registered, no call
//   "offline"      not registered (it retries)                 "error"    the last thing failed (snapshot.error)
//   "ringing"      a call rings here: accept or reject         "on-call"  talking (snapshot.call.muted)
//   "stopped"      stop() was called
// and `snapshot` is {phase, device, identity, expiresAt, call: null | {sid, status, muted, params},
// ended: null | {sid, reason: "hung-up" | "cancelled" | "declined" | "failed"}, error: null | {code, message}}.
// No caller's number is logged: it is in `call.params` for the page alone.

export const TOKEN_PATH = "/api/agents/me/voice-token";
// Ask for a new token this long before the old one runs out (the SDK's default, 10 s, leaves no room for a
// slow request or one retry; Careline's tokens live an hour).
export const TOKEN_REFRESH_MS = 60_000;
const RETRY_MS = 10_000;  // after a failed renewal or registration
const EXPIRED_TOKEN_CODES = new Set([20104, 31205]);  // AccessTokenExpired, JWTTokenExpiredError

/** A token request the server refused (`errorId`: e.g. no-client-identity 409, softphone-not-configured 503). */
export class SoftphoneError extends Error {
  constructor(errorId, status, message) {
    super(message || errorId);
    this.name = "SoftphoneError";
    this.errorId = errorId;
    this.status = status;
  }
}

/** GET /api/agents/me/voice-token with the page's session cookie: {token, identity, expires_at}. */
export async function fetchVoiceToken() {
  // Fetched again before each token expires: the page's own work, not activity (X-Careline-Background).
  const response = await fetch(TOKEN_PATH, {credentials: "same-origin",
                                            headers: {"Accept": "application/json", "X-Careline-Background": "1"}});
  const body = await response.json().catch(() => null);
  if (!response.ok || !body || !body.token) {
    const errorId = (body && body.error_id) || "voice-token-failed";
    throw new SoftphoneError(errorId, response.status, body && body.details && body.details.description);
  }
  return body;
}

/**
 * Fetch a voice token, create the Device with it and register it; returns the softphone's controls.
 * Rejects with SoftphoneError when the server gives no token (no client identity, not configured): nothing
 * will ring here then. A failed registration does not reject: it is reported ("offline"/"error") and retried.
 */
export async function startSoftphone({fetchToken = fetchVoiceToken, onIncoming = () => {}, onState = () => {},
                                      Device = null, deviceOptions = {}} = {}) {
  const DeviceClass = Device || (window.Twilio && window.Twilio.Device);
  if (!DeviceClass) { throw new SoftphoneError("sdk-missing", 0, "Twilio's Voice SDK is not loaded"); }
  const first = await fetchToken();
  const device = new DeviceClass(first.token, {
    appName: "careline-desk",
    closeProtection: "A call is in progress: leaving this page hangs it up.",
    codecPreferences: ["opus", "pcmu"],
    tokenRefreshMs: TOKEN_REFRESH_MS,
    logLevel: "warn",
    ...deviceOptions,
  });
  const phone = new Softphone(device, fetchToken, onIncoming, onState, first);
  await phone.register();
  return phone;
}

class Softphone {
  constructor(device, fetchToken, onIncoming, onState, token) {
    this.device = device;
    this.fetchToken = fetchToken;
    this.onIncoming = onIncoming;
    this.onState = onState;
    this.identity = token.identity;
    this.expiresAt = token.expires_at;
    this.call = null;  // the current Call: one at a time (the SDK's allowIncomingWhileBusy is false)
    this.ended = null;
    this.error = null;
    this.registered = false;
    this.stopped = false;
    this.renewing = null;
    this.retryTimer = null;
    device.on("registered", () => { this.registered = true; this.error = null; this.report(); });
    device.on("unregistered", () => { this.registered = false; this.report(); });
    device.on("incoming", (call) => this.ring(call));
    device.on("tokenWillExpire", () => { this.renew(); });
    device.on("error", (error) => this.deviceError(error));
  }

  // --- what the desk calls --------------------------------------------------------------------------------

  /** Answer the ringing call. False when nothing rings. */
  accept() {
    if (!this.ringing()) { return false; }
    this.call.accept();
    return true;
  }

  /** Decline the ringing call (Twilio hears a busy, and Careline offers the caller to someone else). */
  reject() {
    if (!this.ringing()) { return false; }
    this.call.reject();
    return true;
  }

  /** Mute (true) or unmute (false) the microphone on the current call. */
  mute(shouldMute = true) {
    if (!this.call || this.ringing()) { return false; }
    this.call.mute(Boolean(shouldMute));
    return true;
  }

  /** Mute when unmuted, unmute when muted. */
  toggleMute() {
    return this.call ? this.mute(!this.call.isMuted()) : false;
  }

  /** End the current call (a ringing one is declined). */
  hangUp() {
    if (!this.call) { return false; }
    if (this.ringing()) { return this.reject(); }
    this.call.disconnect();
    return true;
  }

  /** Unregister and free the Device (the page is closing, or the agent signed out). */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.device.destroy();
    this.registered = false;
    this.call = null;
    this.report();
  }

  /** What onState last reported. */
  snapshot() {
    const call = this.call;
    return {
      phase: this.phase(),
      device: this.device.state,
      identity: this.identity,
      expiresAt: this.expiresAt,
      call: call && {sid: callSid(call), status: call.status(), muted: call.isMuted(), params: {...call.parameters}},
      ended: this.ended,
      error: this.error,
    };
  }

  // --- inside ---------------------------------------------------------------------------------------------

  async register() {
    if (this.stopped) { return; }
    this.report("registering");
    try {
      await this.device.register();
    } catch (error) {
      this.failed(error);
      this.retry(() => this.register());
    }
  }

  ringing() {
    return Boolean(this.call) && ["pending", "ringing"].includes(this.call.status());
  }

  phase() {
    if (this.stopped) { return "stopped"; }
    if (this.call) { return this.ringing() ? "ringing" : "on-call"; }
    if (this.error) { return "error"; }
    return this.registered ? "ready" : "offline";
  }

  report(phase) {
    const snapshot = this.snapshot();
    if (phase) { snapshot.phase = phase; }
    this.onState(snapshot.phase, snapshot);
  }

  ring(call) {
    this.call = call;
    this.ended = null;
    let broke = false;  // the call's own error: it then ends as "failed"
    call.on("accept", () => this.report());
    call.on("mute", () => this.report());
    call.on("cancel", () => this.hungUp(call, "cancelled"));  // the caller left, or Twilio stopped ringing here
    call.on("reject", () => this.hungUp(call, "declined"));
    call.on("disconnect", () => this.hungUp(call, broke ? "failed" : "hung-up"));
    call.on("error", (error) => { broke = true; this.failed(error); this.report(); });
    this.report();
    this.onIncoming({callSid: callSid(call), params: {...call.parameters},
                     customParameters: Object.fromEntries(call.customParameters || [])});
  }

  hungUp(call, reason) {
    if (this.call !== call) { return; }  // an event of a call already ended (e.g. disconnect after reject)
    this.call = null;
    this.ended = {sid: callSid(call), reason};
    this.report();
  }

  /** A new token for the Device; the call in progress goes on (Device.updateToken). Retried until it works. */
  renew() {
    if (this.renewing || this.stopped) { return this.renewing; }
    this.renewing = (async () => {
      try {
        const fresh = await this.fetchToken();
        this.device.updateToken(fresh.token);
        this.expiresAt = fresh.expires_at;
        this.error = null;
        if (!this.registered) { await this.register(); } else { this.report(); }
      } catch (error) {
        this.failed(error);
        this.retry(() => this.renew());
      } finally {
        this.renewing = null;
      }
    })();
    return this.renewing;
  }

  deviceError(error) {
    this.failed(error);
    if (error && EXPIRED_TOKEN_CODES.has(error.code)) {
      this.renew();  // the warning was missed (a sleeping laptop): renew now, and register again
    } else {
      this.report();
    }
  }

  failed(error) {
    this.error = {code: (error && (error.code || error.status)) || null,
                  message: (error && error.message) || String(error)};
    console.warn("softphone:", this.error.code, this.error.message);
  }

  retry(again) {
    clearTimeout(this.retryTimer);
    if (!this.stopped) { this.retryTimer = setTimeout(again, RETRY_MS); }
    this.report();
  }
}

function callSid(call) {
  return (call.parameters && call.parameters.CallSid) || null;
}

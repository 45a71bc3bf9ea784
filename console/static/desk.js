// The answering desk. Its truth comes from the server: the live events (GET /api/agents/me/events, an
// EventSource on the session's cookie) and the JSON API; the page only shows it and sends the agent's actions
// (with the page's CSRF token). Values go in as text, never as HTML. No framework, no build step.
const desk = document.getElementById("desk");
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const $ = (selector) => desk.querySelector(selector);
const DASH = "\u2014";
const LABELS = {available: "Available", ringing: "Ringing", busy: "On a call", "wrap-up": "Wrap-up",
                paused: "Paused", offline: "Offline"};

const state = {status: "offline", reason: null, wrapUpUntil: null, callSid: null, offer: null, fields: [],
               draftTimer: null, formCall: null, softphone: null, skewMs: 0, live: null};
const POLL_MS = 3000;  // while the live events are not connected, the state is read this often

// The desk's reads (GET: its polls, the shift, drafts, the queue) are the page's own work, not the agent's: they
// say so (X-Careline-Background), and the server does not count them as activity that keeps the session
// alive (web/session_store.py). The agent's actions change something, and do count.
async function api(method, path, body) {
  const headers = {"Accept": "application/json"};
  if (method !== "GET") { headers["X-CSRFToken"] = csrf; } else { headers["X-Careline-Background"] = "1"; }
  if (body !== undefined) { headers["Content-Type"] = "application/json"; }
  const response = await fetch(path, {method, headers, credentials: "same-origin",
                                      body: body === undefined ? undefined : JSON.stringify(body)});
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  return {ok: response.ok, status: response.status, data};
}

function text(selector, value) { const el = $(selector); if (el) { el.textContent = value ?? DASH; } }
function show(selector, visible) { const el = $(selector); if (el) { el.hidden = !visible; } }
function clock(iso) {
  return new Date(iso).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", hourCycle: "h23"});
}
// A time of the practice's, in its zone and saying which (e.g. "Nov 24, 2026, 20:00 EST").
function practiceTime(iso, zone) {
  const options = {year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
                   hourCycle: "h23", timeZoneName: "short"};
  if (zone) { options.timeZone = zone; }
  return new Date(iso).toLocaleString([], options);
}
function duration(seconds) {
  if (seconds === null || seconds === undefined) { return DASH; }
  const s = Math.max(0, Math.round(seconds)), m = Math.floor(s / 60);
  return m ? `${m} min ${String(s % 60).padStart(2, "0")} s` : `${s} s`;
}

// --- presence ----------------------------------------------------------------------------------------------

// Times come from Careline's clock: `at` (the server's now, with every state) gives the skew to the browser's.
function showState(live, at) {
  const serverNow = at || live.at;
  if (serverNow) { state.skewMs = Date.parse(serverNow) - Date.now(); }
  const was = state.status;
  state.status = live.status;
  state.reason = live.reason || null;
  state.wrapUpUntil = live.wrap_up_until ? Date.parse(live.wrap_up_until) : null;
  state.callSid = live.call_sid || null;
  desk.dataset.status = live.status;
  // The call's buttons act on a call that is ringing or on: afterwards the panel keeps the screen pop to read,
  // and the buttons are off, so nothing on the screen offers to act on a call that is over.
  const onCall = live.status === "ringing" || live.status === "busy";
  desk.querySelectorAll(".call-actions button").forEach((button) => { button.disabled = !onCall; });
  text("[data-presence-label]", LABELS[live.status] || live.status);
  text("[data-presence-detail]", live.reason && live.reason !== "missed" ? `(${live.reason})` : "");
  const notice = $("[data-missed]");
  if (live.status === "paused" && live.reason === "missed") {  // the queue pauses an agent who let an offer ring out
    const at = live.missed_at || live.since || new Date().toISOString();
    notice.textContent = `You missed a call at ${clock(at)}. Press Ready when you are back.`;
    notice.hidden = false;
  } else {
    notice.hidden = true;
  }
  tickWrapUp();
  if (was === "busy" && live.status !== "busy") {  // a call ended: the shift's counts and any unsaved form
    setTimeout(() => { refreshDay(); refreshDrafts(); }, 2000);  // once the call log has the call (about 1 s)
  }
}

function tickWrapUp() {
  const now = Date.now() + (state.skewMs || 0);
  const left = state.status === "wrap-up" && state.wrapUpUntil ? (state.wrapUpUntil - now) / 1000 : 0;
  show("[data-wrap-up]", left > 0);
  text("[data-wrap-up-left]", String(Math.ceil(Math.max(0, left))));
}

async function setStatus(status, reason) {
  const body = reason ? {status, reason} : {status};
  const result = await api("POST", "/api/agents/me/status", body);
  const error = $("[data-presence-error]");
  if (!result.ok) {
    error.textContent = (result.data && result.data.details && result.data.details.description) ||
      "Your status could not be changed. Try again.";
    error.hidden = false;
    return;
  }
  error.hidden = true;
  showState(result.data.state, result.data.at);
}

// --- the offer and the call --------------------------------------------------------------------------------

function showOffer(pop) {
  state.offer = pop;
  show("[data-patch-status]", false);
  show("[data-no-call]", false);
  show("[data-offer]", true);
  const practice = pop.practice || {}, caller = pop.caller || {};
  text("[data-pop-practice]", practice.name);
  text("[data-pop-open]", practice.open_now ? "open now" : "closed now");
  text("[data-pop-greeting]", practice.greeting);
  text("[data-pop-number]", caller.number);
  text("[data-pop-language]", caller.language);
  text("[data-pop-urgent]", caller.urgent ? "Yes" : "No");
  const ivr = caller.ivr || {};
  text("[data-pop-choices]", [ivr.choice === "urgent" ? "urgent" : ivr.choice === "someone" ? "to speak to someone" : null,
                              ivr.language ? `language ${ivr.language}` : null].filter(Boolean).join(", ") || DASH);
  text("[data-pop-waited]", duration(caller.wait_seconds));
  const onCall = practice.on_call;
  text("[data-pop-on-call]", onCall ? onCall.name : "nobody listed");
  const list = $("[data-pop-history]");
  list.replaceChildren();
  const history = pop.history || {};
  const zone = practice.timezone;
  for (const call of history.calls || []) {
    const li = document.createElement("li");
    li.textContent = `${practiceTime(call.started_at, zone)}: ${call.outcome || "in progress"}`;
    list.appendChild(li);
  }
  for (const task of history.callbacks || []) {
    const li = document.createElement("li");
    li.textContent = `Open callback task${task.due_at ? ", due " + practiceTime(task.due_at, zone) : ""}`;
    list.appendChild(li);
  }
  for (const message of history.messages || []) {
    const li = document.createElement("li");
    li.textContent = `Message ${practiceTime(message.created_at, zone)}${message.urgent ? " (urgent)" : ""}`;
    list.appendChild(li);
  }
  if (!list.children.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = "No earlier calls from this number.";
    list.appendChild(li);
  }
  state.formCall = null;
  showMessageForm(practice.message_fields || []);
  text("[data-call-status]", state.status === "busy" && state.callSid === pop.call_sid
    ? "On the call with the caller." : "Ringing: accept to talk to the caller.");
  if (state.status === "busy") { restoreDraft(pop.call_sid); } else { refreshDrafts(); }
}

// A desk opened (or reloaded) during a call finds the form as the agent left it.
async function restoreDraft(sid) {
  const result = await api("GET", `/api/calls/${encodeURIComponent(sid)}/message-draft`);
  if (result.ok && callSid() === sid && !formTouched()) { fillForm(result.data.fields || {}); }
  refreshDrafts();
}

function formTouched() { return Object.values(formValues()).some((value) => value !== false); }

function fillForm(values) {
  const type = $("[data-message-type]");
  if (type) { type.value = values.message_type === "complaint" ? "complaint" : "message"; }
  for (const field of state.fields) {
    const input = $(`[name="${field.name}"]`);
    if (!input || !(field.name in values)) { continue; }
    if (field.kind === "bool") { input.checked = Boolean(values[field.name]); }
    else { input.value = values[field.name] ?? ""; }
  }
  saveDraftSoon.readback();
}

// --- drafts left unfinished (a call that ended mid-form) ---------------------------------------------------

async function refreshDrafts() {
  const result = await api("GET", "/api/agents/me/message-drafts");
  if (!result.ok) { return; }
  const open = callSid();
  const drafts = (result.data.drafts || []).filter((draft) => draft.call_sid !== open);
  const list = $("[data-drafts]");
  list.replaceChildren(...drafts.map((draft) => {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = `${draft.practice.name}, ${practiceTime(draft.updated_at, draft.practice.timezone)}` +
      (draft.fields.patient_name ? `: ${draft.fields.patient_name}` : "");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button-secondary";
    button.textContent = "Finish";
    button.setAttribute("aria-label", `Finish the message: ${label.textContent}`);
    button.addEventListener("click", () => finishDraft(draft));
    li.append(label, " ", button);
    return li;
  }));
  show("[data-drafts-panel]", drafts.length > 0);
}

function finishDraft(draft) {
  state.formCall = draft.call_sid;
  showMessageForm(draft.practice.message_fields || []);
  fillForm(draft.fields || {});
  text("[data-message-status]", `Finishing the message of a call to ${draft.practice.name}.`);
  const first = $("[data-message-fields] input, [data-message-fields] select");
  if (first) { first.focus(); }
}

// What the desk says when an offer stops ringing (the `offer-ended` event's `reason`).
const OFFER_ENDED = {answered: "On the call with the caller.", missed: "You missed this call.",
                     "caller-gone": "The caller hung up before you answered.", withdrawn: "The offer was withdrawn."};

function endOffer(reason) {
  text("[data-call-status]", OFFER_ENDED[reason] || "The call ended.");
}

// How a patch to the on-call provider goes (the `patch` event), in the provider's name.
function patchText(event) {
  const name = (event.provider && event.provider.name) || "The on-call provider";
  switch (event.outcome) {
    case "ringing": return `Ringing ${name}, on call…`;
    case "connected": return `${name} took the call.`;
    case "ended": return `${name} talked with the caller${event.talk_seconds ? ` (${duration(event.talk_seconds)})` : ""}; the call has ended.`;
    case "not-taken": return `${name} did not answer: the caller is leaving an urgent message, and ${name} will be paged.`;
    case "caller-gone": return `The caller hung up before ${name} answered.`;
    default: return `${name}: ${event.outcome}`;
  }
}

function showPatch(event) {
  if (!event || (state.offer && event.call_sid !== state.offer.call_sid)) { return; }
  const el = $("[data-patch-status]");
  el.textContent = patchText(event);
  el.dataset.outcome = event.outcome;
  el.hidden = false;
}

function callSid() { return state.formCall || (state.offer ? state.offer.call_sid : state.callSid); }

async function patchOnCall() {
  const sid = callSid();
  if (!sid) { return; }
  text("[data-call-status]", "Patching the on-call provider…");
  const result = await api("POST", `/api/calls/${encodeURIComponent(sid)}/patch-on-call`);
  const provider = state.offer && state.offer.practice && state.offer.practice.on_call;
  text("[data-call-status]", result.ok
    ? `Patched to ${provider ? provider.name : "the on-call provider"}.`
    : `Not patched: ${(result.data && result.data.details && result.data.details.description) || result.status}`);
}

// --- the message form --------------------------------------------------------------------------------------

function showMessageForm(fields) {
  state.fields = fields;
  const type = $("[data-message-type]");
  if (type) { type.value = "message"; }
  const box = $("[data-message-fields]");
  box.replaceChildren();
  for (const field of fields) {
    const id = `field-${field.name}`;
    const wrap = document.createElement("div");
    wrap.className = "field";
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = field.label + (field.required ? " (required)" : "");
    let input;
    if (field.kind === "choice") {
      input = document.createElement("select");
      for (const choice of ["", ...(field.choices || [])]) {
        const option = document.createElement("option");
        option.value = choice;
        option.textContent = choice || "Choose…";
        input.appendChild(option);
      }
    } else {
      input = document.createElement("input");
      input.type = {bool: "checkbox", date: "date", phone: "tel"}[field.kind] || "text";
    }
    input.id = id;
    input.name = field.name;
    if (field.required) { input.required = true; input.setAttribute("aria-required", "true"); }
    input.addEventListener("input", saveDraftSoon);
    input.addEventListener("change", saveDraftSoon);
    const error = document.createElement("p");
    error.className = "error-text";
    error.id = `${id}-error`;
    error.hidden = true;
    input.setAttribute("aria-describedby", error.id);
    wrap.append(label, input, error);
    box.appendChild(wrap);
  }
  show("[data-message-panel]", fields.length > 0);
}

function formValues() {
  const values = {};
  // A complaint is a message the practice acts on and tells the patient about (the body's `message_type`).
  const type = $("[data-message-type]");
  if (type && type.value === "complaint") { values.message_type = "complaint"; }
  for (const field of state.fields) {
    const input = $(`[name="${field.name}"]`);
    if (!input) { continue; }
    if (field.kind === "bool") { values[field.name] = input.checked; }
    else if (input.value.trim() !== "") { values[field.name] = input.value.trim(); }
  }
  return values;
}

function saveDraftSoon() {
  clearTimeout(state.draftTimer);
  saveDraftSoon.readback();
  state.draftTimer = setTimeout(async () => {
    const sid = callSid();
    if (sid) { await api("PUT", `/api/calls/${encodeURIComponent(sid)}/message-draft`, formValues()); }
  }, 400);
}

saveDraftSoon.readback = () => {  // the callback number shown back as typed, for the agent to read it back
  const phone = state.fields.find((f) => f.kind === "phone");
  if (phone) {
    const value = ($(`[name="${phone.name}"]`) || {}).value || "";
    show("[data-readback]", value !== "");
    text("[data-readback-number]", value);
  }
};

async function saveMessage(event) {
  if (event) { event.preventDefault(); }
  const sid = callSid();
  if (!sid) { return; }
  clearTimeout(state.draftTimer);
  desk.querySelectorAll("[data-message-fields] .error-text").forEach((p) => { p.hidden = true; });
  const result = await api("POST", `/api/calls/${encodeURIComponent(sid)}/messages`, formValues());
  if (result.ok) {
    text("[data-message-status]", result.data.complaint_id
      ? `Complaint saved (number ${result.data.complaint_id}): a manager will act on it.`
      : `Message saved (number ${result.data.id}).`);
    const phone = state.fields.find((f) => f.kind === "phone");
    const saved = phone && result.data.fields ? result.data.fields[phone.name] : null;
    if (saved) { show("[data-readback]", true); text("[data-readback-number]", saved); }  // as checked: E.164
    refreshDrafts();
    return;
  }
  const field = result.data && result.data.details && result.data.details.field;
  const description = (result.data && result.data.details && result.data.details.description) || "Not saved.";
  const error = field && $(`#field-${field}-error`);
  if (error) {
    error.textContent = description;
    error.hidden = false;
    $(`#field-${field}`).focus();
  }
  text("[data-message-status]", `Not saved: ${description}`);
}

// --- the shift, the queue, colleagues ----------------------------------------------------------------------

async function refreshDay() {
  const result = await api("GET", "/api/agents/me/day");
  if (!result.ok) { return; }
  text("[data-day-handled]", String(result.data.calls_handled));
  text("[data-day-talk]", duration(result.data.talk_mean_seconds));
  text("[data-day-missed]", String(result.data.offers_missed));
}

function showQueue(data) {
  const body = $("[data-queue-callers]");
  const rows = [];
  const colleagues = [];
  for (const practice of data.practices || []) {
    for (const caller of practice.callers || []) {
      const tr = document.createElement("tr");
      // An offered caller is ringing an agent (perhaps this one): said, so nobody takes it for one still waiting.
      const waited = duration(caller.wait_seconds) + (caller.state === "offered"
        ? (String(caller.agent_id) === desk.dataset.agentId ? " (ringing you)" : " (ringing an agent)") : "");
      for (const value of [practice.practice.name, caller.number || "withheld", waited,
                           caller.urgent ? "Urgent" : ""]) {
        const td = document.createElement("td");
        td.textContent = value;
        tr.appendChild(td);
      }
      rows.push(tr);
    }
    for (const [status, agents] of Object.entries(practice.agents || {})) {
      for (const agent of agents) {
        if (String(agent.id) !== desk.dataset.agentId) { colleagues.push([agent.name, status]); }
      }
    }
  }
  if (!rows.length) {
    const tr = document.createElement("tr");
    tr.className = "empty";
    const td = document.createElement("td");
    td.colSpan = 4;
    td.textContent = "Nobody waiting.";
    tr.appendChild(td);
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  const list = $("[data-colleagues]");
  const seen = new Map(colleagues.map(([name, status]) => [name, status]));
  list.replaceChildren(...(seen.size ? [...seen].map(([name, status]) => {
    const li = document.createElement("li");
    li.textContent = `${name}: ${LABELS[status] || status}`;
    return li;
  }) : [Object.assign(document.createElement("li"), {className: "muted", textContent: DASH})]));
}

// --- live events -------------------------------------------------------------------------------------------

function listen() {
  const source = new EventSource("/api/agents/me/events");
  source.addEventListener("state", (e) => showState(JSON.parse(e.data)));
  source.addEventListener("offer", (e) => {
    showOffer(JSON.parse(e.data));
    desk.dataset.offerShownAt = String(performance.timeOrigin + performance.now());
  });
  source.addEventListener("patch", (e) => showPatch(JSON.parse(e.data)));
  source.addEventListener("offer-ended", (e) => endOffer((JSON.parse(e.data) || {}).reason));
  source.addEventListener("queue", (e) => showQueue(JSON.parse(e.data)));
  source.addEventListener("open", () => { desk.dataset.live = "connected"; });
  source.addEventListener("error", () => { desk.dataset.live = "reconnecting"; });
  state.live = source;
  return source;
}

// --- the softphone (Twilio's Voice SDK, when the agent has a client identity) ------------------------------

async function startSoftphone() {
  if (desk.dataset.softphone !== "browser" || !window.Twilio || !window.Twilio.Device) { return null; }
  try {
    const module = await import("./softphone.js");
    return await module.startSoftphone({
      onIncoming: () => text("[data-call-status]", "Ringing in your browser: accept to talk."),
      onState: (phase) => { desk.dataset.softphoneState = phase; },
    });
  } catch (error) {
    desk.dataset.softphoneState = "unavailable";
    return null;
  }
}

function softphone(action) {
  const phone = state.softphone;
  if (phone && typeof phone[action] === "function") { phone[action](); return true; }
  return false;
}

// --- wiring ------------------------------------------------------------------------------------------------

const ACTIONS = {
  ready: () => setStatus("available"),
  pause: () => setStatus("paused", $("[data-pause-reason]").value),
  offline: () => setStatus("offline"),
  accept: () => softphone("accept"),
  decline: () => softphone("reject"),
  mute: () => {
    const button = $('[data-action="mute"]');
    if (softphone("toggleMute")) {
      button.setAttribute("aria-pressed", String(button.getAttribute("aria-pressed") !== "true"));
    }
  },
  "hang-up": () => softphone("hangUp"),
  patch: () => patchOnCall(),
};
const KEYS = {r: "ready", p: "pause", o: "offline", a: "accept", d: "decline", m: "mute", h: "hang-up"};

desk.addEventListener("click", (event) => {
  const button = event.target.closest("[data-action]");
  if (button && ACTIONS[button.dataset.action]) { ACTIONS[button.dataset.action](); }
});
document.addEventListener("keydown", (event) => {
  if (!event.altKey || event.ctrlKey || event.metaKey) { return; }
  const key = event.key.toLowerCase();
  if (key === "s") { event.preventDefault(); saveMessage(); return; }
  if (KEYS[key]) { event.preventDefault(); ACTIONS[KEYS[key]](); }
});
$("[data-message-form]").addEventListener("submit", saveMessage);
$("[data-message-type]").addEventListener("change", saveDraftSoon);

setInterval(tickWrapUp, 250);
setInterval(async () => {  // the events feed is the truth; this only covers a feed that is down
  if (state.live && state.live.readyState === EventSource.OPEN) { return; }
  const now = await api("GET", "/api/agents/me/status");
  if (now.ok) { showState(now.data.state, now.data.at); }
  const queue = await api("GET", "/api/queue");
  if (queue.ok) { showQueue(queue.data); }
}, POLL_MS);
setInterval(refreshDay, 30000);
(async () => {
  const now = await api("GET", "/api/agents/me/status");
  if (now.ok) { showState(now.data.state, now.data.at); }
  refreshDay();
  refreshDrafts();
  const queue = await api("GET", "/api/queue");
  if (queue.ok) { showQueue(queue.data); }
  listen();
  state.softphone = await startSoftphone();
})();

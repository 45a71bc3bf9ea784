"""Play Twilio: fetch the app's TwiML, execute it verb by verb like a real call, send the callbacks."""
from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, UTC
from email.utils import format_datetime
from urllib.parse import urlencode, urljoin, urlsplit
from xml.etree import ElementTree

from . import clock as costs
from .caller import Caller, Callee, DialScript, callee_for, describe_intent
from .clock import CallClock
from .errors import CallerScriptError, CallLoop, TwimlRejected, UnsupportedVerb, WebhookFailed
from .rest import RestRequest, TwilioRestStandin
from .result import CallResult, DialResult, Document, Exchange, Step
from .played import given_urls, unplayed
from .schema import Problem, TwimlSchema, check_http
from .signing import SIGNATURE_HEADER, sign
from .sms import incoming_message_params, messaging_problems
from .timeline import HANGUP, Interrupt, RunInfo, Timeline, interrupt_for
from .transport import Response

API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "f00dfeed" * 4
MAX_FETCHES = 100  # TwiML documents per call before we call it a loop
MAX_REDIRECTS = 10  # Twilio follows up to 10 HTTP redirects
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
APP_ERROR_TEXT = "We are sorry, an application error has occurred. Goodbye."
ERROR_HTTP, ERROR_TWIML = "11200", "12100"  # ErrorCode sent to the fallback URL
# Twilio waits 15 s in all (connect time included) for a webhook's answer, then fails the request with error
# 11205 and tries the Fallback URL (twilio.com/docs/api/errors/11205).
ERROR_TIMEOUT, WEBHOOK_TIMEOUT_SECONDS = "11205", 15.0
SIMPLE_PLAYBACK = ("Say", "Play", "Pause")
INLINE_TWIML_URL = "twiml:inline"  # Document.url of TwiML given to calls.update(twiml=...)
END = object()  # a verb handler's answer meaning "the call (or leg) is over"

TimedHooks = Mapping[float, Callable[[RunInfo], object]]


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two-letter prefix + 32 hex digits."""
    return prefix + uuid.uuid4().hex


def _geo(prefix: str, number: str) -> dict[str, str]:
    # Twilio's geo fields are best effort; US numbers get a country, the rest stay empty.
    country = "US" if number.startswith("+1") else ""
    return {f"{prefix}{part}": "" for part in ("City", "State", "Zip")} | {f"{prefix}Country": country}


@dataclass
class _Doc:
    url: str  # the URL the document was requested from, before any GET parameters: relative URLs resolve here
    root: ElementTree.Element


@dataclass
class _Leg:
    """One side of the call being driven by TwiML: the caller, or a dialled party hearing a whisper."""

    name: str
    party: Caller
    params: dict
    transcript: list[Step] = field(default_factory=list)
    status: str = "ringing"
    ended_by: str = ""
    voice_at: float | None = None
    fallback: bool = True


@dataclass
class _Ring:
    """One dialled party during a <Dial>."""

    target: str
    noun: ElementTree.Element
    callee: Callee
    sid: str
    begin: float | None = None  # None: not dialled (yet)
    end: float = 0.0
    outcome: str = ""  # completed (bridged), rejected (declined the whisper), no-answer, busy, failed, canceled
    answered_at: float | None = None
    heard: tuple = ()


@dataclass
class _Dial:
    """One <Dial> in progress."""

    verb: ElementTree.Element
    rings: list[_Ring]
    ring_limit: float  # timeout + Twilio's ring buffer
    caller_id: str
    sequential: bool
    started: float
    winner: _Ring | None = None
    bridged_at: float | None = None

    def tried(self, now: float) -> list[_Ring]:
        """The legs dialled by `now`, in dialling order."""
        return [ring for ring in self.rings if ring.begin is not None and ring.begin <= now]


@dataclass
class _Take:
    """One <Record> recording."""

    verb: ElementTree.Element
    doc: _Doc
    action: str
    sid: str
    url: str
    started: float
    events: set
    words: str


class CallSimulator:
    """A strict stand-in for Twilio Programmable Voice that drives the app over HTTP."""

    def __init__(self, transport, auth_token: str, base_url: str = "https://careline.test",
                 voice_path: str = "/voice/incoming", status_path: str | None = "/voice/status",
                 fallback_path: str | None = None, account_sid: str = DEFAULT_ACCOUNT_SID, strict: bool = True,
                 schema_path: str | None = None, media_seconds: Mapping[str, float] | None = None,
                 rest: TwilioRestStandin | None = None, on_time: Callable[[datetime], object] | None = None,
                 webhook_timeout_seconds: float = WEBHOOK_TIMEOUT_SECONDS,
                 ring_buffer_seconds: float = costs.DIAL_RING_BUFFER_SECONDS):
        self.transport = transport
        self.auth_token = auth_token
        self.base_url = base_url.rstrip("/")
        self.voice_url = self.url(voice_path)
        self.status_url = self.url(status_path) if status_path else None
        self.fallback_url = self.url(fallback_path) if fallback_path else None
        self.account_sid = account_sid
        self.strict = strict
        self.schema = TwimlSchema.load(schema_path)
        self.media_seconds = dict(media_seconds or {})
        self.rest = rest  # REST stand-in whose calls.update requests redirect or end the live calls
        self.on_time = on_time  # told the call's wall time before each request and each timed hook
        # Real seconds an answer may take (all redirect hops together); a slower one is a failed fetch.
        self.webhook_timeout_seconds = webhook_timeout_seconds
        # Seconds Twilio rings past a Dial timeout (and a calls.create Timeout); a test may play a Twilio that
        # rings longer, to show Careline's ring budgets follow its setting rather than this figure.
        self.ring_buffer_seconds = ring_buffer_seconds
        # Takes over "call time passes" (run, until seconds) -> the call time reached, earlier than `until` when a
        # REST update for the call arrived meanwhile; callsim.together sets it to play many calls on one clock.
        self.pass_time: Callable[[_CallRun, float], float] | None = None
        self._runs: list[_CallRun] = []  # the calls under way: more than one while a hook places a nested call
        self._wall: datetime | None = None  # the latest wall time any of those calls reached

    def url(self, path: str) -> str:
        """The absolute public URL for `path` (absolute URLs pass through)."""
        return path if "://" in path else self.base_url + "/" + path.lstrip("/")

    def on_base(self, url: str) -> bool:
        """Whether `url` is one of the app's own (under base_url), rather than another server's."""
        return url == self.base_url or url.startswith(self.base_url + "/") or url.startswith(self.base_url + "?")

    def call(self, to: str, from_: str = "+13125550199", caller: Caller | None = None, dial: DialScript = None,
             call_sid: str | None = None, extra_params: Mapping[str, str] | None = None,
             start_time: datetime | None = None, status_events=("completed",), duplicate_status: bool = False,
             reorder_status: bool = False, answered_after: float = 3.0, talk_seconds: float = 30.0,
             at: TimedHooks | None = None) -> CallResult:
        """Simulate one inbound call to `to`; raises a CallFailed subclass in strict mode if Twilio would object.

        `at` maps call times (simulated seconds) to hooks called with a RunInfo when the call gets there. A call
        placed from a hook starts at the wall time the outer call reached, and the outer call resumes when the
        nested one has ended.
        """
        run = _CallRun(self, to, from_, caller or Caller(), dial, call_sid or new_sid("CA"), extra_params or {},
                       self._start_time(start_time), answered_after, talk_seconds, at)
        return self._play(run, lambda: run.send_status_callbacks(status_events, duplicate_status, reorder_status))

    def run_outbound(self, created: RestRequest | str, callee: Caller | Callee | str | None = None,
                     dial: DialScript = None, answered_after: float | None = None, talk_seconds: float = 30.0,
                     at: TimedHooks | None = None, start_time: datetime | None = None,
                     extra_params: Mapping[str, str] | None = None) -> CallResult:
        """Play a call the app made with calls.create (the stand-in's request, or the CallSid it answered).

        Twilio rings To; `callee` is the party there: a Caller (answers after `answered_after` s, default 3, and
        its script answers the TwiML), a Callee (its answer/status/press/answered_after), or a dial outcome
        string. Once it answers, Url (or Twiml) runs on its leg with Direction=outbound-api; StatusCallback gets
        the StatusCallbackEvent events as they happen. `dial` scripts the numbers its TwiML dials, and `at`
        times (like a Caller's hang_up(at=...)) count from the moment the call is placed.
        """
        from .outbound import run_outbound  # it builds on _CallRun, below

        return run_outbound(self, created, callee, dial, answered_after, talk_seconds, at, start_time, extra_params)

    def _start_time(self, start_time: datetime | None) -> datetime:
        # A call placed while another runs (from one of its hooks) starts at the wall time reached so far.
        return start_time or (self._wall if self._runs else None) or datetime.now(UTC)

    def _play(self, run: _CallRun, finish: Callable[[], object]) -> CallResult:
        """Run `run` to its end, then `finish` (its last status callbacks); raises as call() documents."""
        self._runs.append(run)
        try:
            run.execute()
            finish()
        finally:
            self._runs.pop()
            self._wall = None if not self._runs else max(self._wall or run.wall_now(), run.wall_now())
        run.raise_if_failed()
        return run.result

    def reached(self, moment: datetime) -> None:
        """A running call got to wall time `moment` (the simulator-wide wall clock only moves forward)."""
        self._wall = moment if self._wall is None else max(self._wall, moment)

    @property
    def wall_time(self) -> datetime | None:
        """The latest wall time a running call has reached (None when no call runs)."""
        return self._wall

    # -- single requests, for tests of the app's webhook handling --------------------------------------------

    def send(self, method: str, url: str, params: Mapping[str, str], signed: bool = True,
             token: str | None = None) -> tuple[Response, list[Exchange]]:
        """Request `url` as Twilio does (signed, following redirects); returns the answer and every hop.

        The answer's elapsed_seconds is the real time all the hops took.
        """
        exchanges, params, elapsed = [], {k: str(v) for k, v in params.items()}, 0.0
        target = url if method == "POST" else _with_query(url, params)
        for _ in range(MAX_REDIRECTS + 1):
            body = params if method == "POST" else None
            headers = {"User-Agent": "TwilioProxy/1.1", "I-Twilio-Idempotency-Token": str(uuid.uuid4())}
            if signed:
                headers[SIGNATURE_HEADER] = sign(token or self.auth_token, target, body)
            response = self.transport.request(method, target, body, headers)
            elapsed += response.elapsed_seconds
            exchanges.append(Exchange(method, target, dict(params), response.status, "manual",
                                      response.elapsed_seconds))
            location = {k.lower(): v for k, v in response.headers.items()}.get("location")
            if response.status not in REDIRECT_STATUSES or not location:
                return replace(response, elapsed_seconds=elapsed), exchanges
            target = urljoin(target, location)
            if response.status == 303:
                method = "GET"
        return replace(response, elapsed_seconds=elapsed), exchanges

    def post_signed(self, path: str, params: Mapping[str, str], method: str = "POST") -> Response:
        """Send `params` to `path` with a valid X-Twilio-Signature."""
        return self.send(method, self.url(path), params)[0]

    def post_unsigned(self, path: str, params: Mapping[str, str]) -> Response:
        """POST `params` to `path` with no X-Twilio-Signature header."""
        return self.send("POST", self.url(path), params, signed=False)[0]

    def post_forged(self, path: str, params: Mapping[str, str]) -> Response:
        """POST `params` to `path` signed with the wrong auth token."""
        return self.send("POST", self.url(path), params, token=self.auth_token + "-forged")[0]

    def post_status(self, call_sid: str, status: str = "completed", from_: str = "+13125550199",
                    to: str = "+13125550100", duration: int = 0, sequence: int = 0,
                    timestamp: datetime | None = None, extra: Mapping[str, str] | None = None) -> Response:
        """Send one signed call status callback, as Twilio would at the end of a call."""
        params = {"CallSid": call_sid, "AccountSid": self.account_sid, "From": from_, "To": to, "Caller": from_,
                  "Called": to, "CallStatus": status, "ApiVersion": API_VERSION, "Direction": "inbound",
                  "Timestamp": format_datetime(timestamp or datetime.now(UTC)),
                  "CallbackSource": "call-progress-events", "SequenceNumber": str(sequence)}
        if status in ("completed", "busy", "failed", "no-answer", "canceled"):
            params["CallDuration"] = str(duration)
        return self.send("POST", self.status_url or self.url("/voice/status"), {**params, **(extra or {})})[0]

    def send_sms(self, from_: str, to: str, body: str, path: str = "/sms/incoming", message_sid: str | None = None,
                 extra_params: Mapping[str, str] | None = None) -> Response:
        """POST one inbound SMS, signed, as Twilio's incoming-message webhook; `message_sid` redelivers one.

        In strict mode a 200 answer must be Messaging TwiML (a <Response> of <Message>/<Redirect>), else this
        raises WebhookFailed (status, Content-Type) or TwimlRejected (the document).
        """
        sid = message_sid or new_sid("SM")
        params = {**incoming_message_params(self.account_sid, from_, to, body, sid), **_geo("From", from_),
                  **_geo("To", to), **(extra_params or {})}
        url = self.url(path)
        response = self.send("POST", url, params)[0]
        problems = messaging_problems(response, url) if response.status == 200 else []
        if self.strict and problems:
            error = WebhookFailed if problems[0].kind == "http" else TwimlRejected
            lines = [f"SMS {sid}: Twilio would reject the answer to its incoming-message webhook"]
            lines += [f"  - [{p.kind}] {p}" for p in problems]
            raise error("\n".join(lines + [f"--- HTTP {response.status}\n{response.text[:2000]}"]))
        return response


def _with_query(url: str, params: Mapping[str, str]) -> str:
    # GET requests carry Twilio's parameters in the query string, appended to any already there.
    if not params:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(params)


def _text(el: ElementTree.Element) -> str:
    return " ".join("".join(el.itertext()).split())


def _seconds(el: ElementTree.Element, name: str, default: float) -> float:
    value = el.get(name)
    return float(value) if value not in (None, "") else default


def _answers_on_bridge(verb: ElementTree.Element) -> bool:
    # <Dial answerOnBridge="true"> keeps the inbound call ringing until the dialled party answers.
    return verb.tag == "Dial" and verb.get("answerOnBridge") == "true"


def _relative_urls(root: ElementTree.Element) -> list[Problem]:
    """Inline TwiML has no URL to resolve against: Twilio wants absolute action URLs (error 15004)."""
    problems = []
    for el in root.iter():
        target = _text(el) if el.tag == "Redirect" else el.get("action")
        if el.tag in ("Gather", "Record") and not target:
            problems.append(Problem(f"<{el.tag}> in inline TwiML needs an absolute action URL (Twilio error 15004)",
                                    INLINE_TWIML_URL))
        elif target and not urlsplit(target).scheme:
            problems.append(Problem(f"<{el.tag}> URL {target!r} in inline TwiML must be absolute (Twilio error 15004)",
                                    INLINE_TWIML_URL))
    return problems


class _CallRun:
    """The state of one simulated call."""

    def __init__(self, sim: CallSimulator, to: str, from_: str, caller: Caller, dial: DialScript, call_sid: str,
                 extra: Mapping[str, str], start_time: datetime, answered_after: float, talk_seconds: float,
                 at: TimedHooks | None = None):
        self.sim, self.dial, self.start_time = sim, dial, start_time
        self.answered_after, self.talk_seconds = answered_after, talk_seconds
        self.rest = sim.rest
        self.clock = CallClock()
        self.result = CallResult(call_sid=call_sid)
        self.fetches = 0
        self.failed_docs: list[Document] = []
        self.reported: set[tuple[str, str, str]] = set()  # problems found in documents, reported once per call
        self.answered_at: float | None = None
        self.ringing_on_bridge = False  # a <Dial answerOnBridge> left the call unanswered while it rang
        self.children: list[str] = []  # CallSids of the legs a running <Dial> placed
        self.fallback_url, self.fallback_method = sim.fallback_url, "POST"  # where a failed fetch goes next
        params = {"CallSid": call_sid, "AccountSid": sim.account_sid, "From": from_, "To": to,
                  "Caller": from_, "Called": to, "ApiVersion": API_VERSION, "Direction": "inbound",
                  **_geo("From", from_), **_geo("To", to), **_geo("Caller", from_), **_geo("Called", to)}
        # A copy, so the test's Caller can be reused for another call.
        self.caller = _Leg("caller", caller.copy(), {**params, **extra}, transcript=self.result.transcript)
        self.timeline = Timeline(at, self.caller.party.hang_up_at)

    @property
    def call_sid(self) -> str:
        return self.result.call_sid

    @property
    def account_sid(self) -> str:
        """The account the call belongs to (for a created call, the one that created it)."""
        return self.caller.params["AccountSid"]

    def wall_now(self) -> datetime:
        """The call's current wall time: its start time plus the simulated seconds so far."""
        return self.start_time + timedelta(seconds=self.clock.now)

    # -- the call ------------------------------------------------------------------------------------------

    def execute(self) -> None:
        """Run the call from the first webhook to the hang-up."""
        leg = self.caller
        if self.rest:
            self.rest.call_started(self.call_sid, leg.status, from_=leg.params.get("From", ""),
                                   to=leg.params.get("To", ""), started_at=self.start_time,
                                   direction=leg.params.get("Direction", "inbound"), account_sid=self.account_sid)
        try:
            doc = self.guarded(leg, lambda: self.first_document(leg))
            while isinstance(doc, _Doc):
                doc = self.guarded(leg, lambda current=doc: self.run_document(leg, current))
        finally:
            if self.rest:
                # The Call resource's duration is empty for calls that were never answered (busy, no-answer...).
                talked = self.result.final_status == "completed"
                self.rest.call_ended(self.call_sid, self.result.final_status, ended_at=self.wall_now(),
                                     duration_seconds=int(round(self.clock.now)) if talked else None)
        self.result.ended_by = leg.ended_by or "error"
        self.result.first_voice_at = leg.voice_at
        self.result.duration = round(self.clock.now, 3)
        self.sim.reached(self.wall_now())
        self.check_script_used(leg)

    def check_script_used(self, leg: _Leg) -> None:
        """Steps of the caller's script that never ran mean the call did not go where the test meant it to.

        A timed hang-up due after the end is no such step: it is kept apart from the input intents.
        """
        if leg.party.intents:
            left = ", ".join(describe_intent(intent) for intent in leg.party.intents)
            self.problem(Problem(f"the call ended ({leg.ended_by or 'error'}) with caller steps never used: {left}",
                                 self.call_sid, "script"))

    def first_document(self, leg: _Leg):
        """The document Twilio fetches when the call comes in: the number's Voice URL."""
        return self.fetch(leg, self.sim.voice_url, "POST", {})

    def guarded(self, leg: _Leg, action: Callable[[], object]):
        """Run `action`; when a hang-up or REST update interrupts it, carry that out instead (and so on)."""
        while True:
            try:
                return action()
            except Interrupt as interrupt:
                action = self.reaction(leg, interrupt)

    def reaction(self, leg: _Leg, interrupt: Interrupt) -> Callable[[], object]:
        """What the call does after `interrupt`, as a step to run under guarded()."""
        if interrupt.kind == "caller-hangup":
            self.step(leg, "hangup", "caller hung up", {"at": round(self.clock.now, 3)})
            return lambda: self.hang_up(leg, "caller-hangup")
        if interrupt.kind == "rest-hangup":
            self.step(leg, "hangup", f"REST update: status {interrupt.status}", {"source": "rest"})
            if interrupt.status == "canceled":  # only queued while the call was still ringing
                self.result.final_status = "canceled"
            return lambda: self.hang_up(leg, "rest-hangup")
        if interrupt.kind == "rest-twiml":
            self.step(leg, "redirect", "REST update: inline TwiML", {"source": "rest"})
            return lambda: self.inline_document(leg, interrupt.twiml)
        self.step(leg, "redirect", f"REST update: {interrupt.url}", {"source": "rest", "method": interrupt.method})
        return lambda: self.fetch(leg, interrupt.url, interrupt.method, {}, "rest-redirect")

    def hang_up(self, leg: _Leg, how: str):
        self.set_status(leg, "completed")
        return self.end(leg, how)

    def run_document(self, leg: _Leg, doc: _Doc):
        """Execute one document; returns the next document, or END."""
        for verb in doc.root:
            if not isinstance(verb.tag, str):
                continue
            self.checkpoint()
            if leg.party.wants_hangup():
                self.step(leg, "hangup", "caller hung up")
                return self.hang_up(leg, "caller-hangup")
            if self.clock.expired:
                self.problem(Problem("call ran past the 4 h simulated-time limit", doc.url, "loop"), leg)
                return self.end(leg, "error")
            if verb.tag != "Reject" and leg.status == "ringing" and not _answers_on_bridge(verb):
                self.answer(leg)
            handler = getattr(self, f"verb_{verb.tag.lower()}", None)
            if handler is None:
                self.problem(Problem(f"<{verb.tag}> is not simulated", doc.url, "unsupported"), leg)
                if self.sim.strict:
                    return self.end(leg, "error")
                continue
            outcome = handler(leg, doc, verb)
            if outcome is not None:
                return outcome
        self.checkpoint()
        return self.end(leg, "end-of-document")

    def answer(self, leg: _Leg) -> None:
        """Twilio answers the call (the first verb that is not <Reject>, or a bridge with answerOnBridge)."""
        self.set_status(leg, "in-progress")
        if leg is self.caller and self.answered_at is None:
            self.answered_at = self.clock.now

    def set_status(self, leg: _Leg, status: str) -> None:
        leg.status = status
        if leg is self.caller and self.rest and status != "completed":
            self.rest.set_call_status(self.call_sid, status)

    def end(self, leg: _Leg, how: str):
        leg.ended_by = leg.ended_by or how
        return END

    def step(self, leg: _Leg, kind: str, text: str = "", attrs: Mapping | None = None, t: float | None = None) -> Step:
        step = Step(kind, text, dict(attrs or {}), round(self.clock.now if t is None else t, 3))
        leg.transcript.append(step)
        return step

    def problem(self, problem: Problem, leg: _Leg | None = None) -> None:
        self.result.problems.append(problem)
        if leg is not None and problem.kind != "callback":
            self.step(leg, "error", str(problem))

    # -- time: timed hooks, the caller's hang-up, REST updates ---------------------------------------------

    def wait(self, seconds: float) -> None:
        """Let `seconds` of call time pass (a Say, a ring...); raises Interrupt if an event takes control."""
        self.wait_until(self.clock.now + max(seconds, 0.0))

    def wait_until(self, end: float) -> None:
        """Let call time pass until `end`, stopping at each timed event due before then (and, under a
        coordinator that takes over sim.pass_time, at a REST update that arrives meanwhile)."""
        while self.clock.now < end:
            due = self.timeline.next_time()
            event_due = due is not None and due <= end
            stop = due if event_due else end
            reached = self.sim.pass_time(self, stop) if self.sim.pass_time else stop
            self.clock.now = max(self.clock.now, reached)
            if self.clock.now < stop:  # woken early: Twilio interrupts whatever plays at once
                self.check_rest()
                continue
            if not event_due:
                break
            self.checkpoint()  # a hook may place a nested call, after which the clock is past `end`
        self.clock.now = max(self.clock.now, end)
        self.sim.reached(self.wall_now())

    def checkpoint(self) -> None:
        """Run the events due by now, then act on any REST update waiting for this call."""
        while (event := self.timeline.pop_due(self.clock.now)) is not None:
            kind, seconds, hook = event
            if kind == HANGUP:
                raise Interrupt("caller-hangup")
            self.run_hook(seconds, hook)
        self.check_rest()

    def run_hook(self, seconds: float, hook: Callable[[RunInfo], object]) -> None:
        self.step(self.caller, "hook", f"timed hook due at {seconds:g}s")
        self.sim.reached(self.wall_now())
        before = self.sim.wall_time
        self.notify_time()
        hook(RunInfo(self.call_sid, self.wall_now(), round(self.clock.now, 3), self.result, self.sim))
        # A nested call placed by the hook moved the wall clock on; this caller held on meanwhile.
        self.clock.now += max((self.sim.wall_time - before).total_seconds(), 0.0)
        self.check_rest()

    def check_rest(self) -> None:
        """Raise the Interrupt for the REST updates the stand-in accepted for this call since the last look."""
        if not self.rest:
            return
        for child in self.children:
            if self.rest.take_updates(child):
                # Redirecting or ending a dialled leg changes the other party's side, which is not scripted.
                self.problem(Problem(f"a REST update of the dialled leg {child} is not simulated", child,
                                     "unsupported"), self.caller)
        interrupt = interrupt_for(self.rest.take_updates(self.call_sid))
        if interrupt:
            raise interrupt

    def notify_time(self) -> None:
        if self.sim.on_time:
            self.sim.on_time(self.wall_now())

    # -- HTTP ----------------------------------------------------------------------------------------------

    def request(self, leg: _Leg, url: str, method: str, extra: Mapping[str, str], purpose: str) -> Response:
        params = {**leg.params, "CallStatus": leg.status, **extra}
        self.notify_time()
        response, exchanges = self.sim.send(method, url, params)
        self.result.requests.extend(replace(e, purpose=purpose) for e in exchanges)
        return response

    def fetch(self, leg: _Leg, url: str, method: str, extra: Mapping[str, str], purpose: str = "twiml"):
        """Request TwiML and parse it; on failure use the fallback URL or end the call as Twilio does."""
        self.fetches += 1
        if self.fetches > MAX_FETCHES:
            self.problem(Problem(f"more than {MAX_FETCHES} TwiML fetches: the call loops", url, "loop"), leg)
            return self.end(leg, "error")
        method = (method or "POST").upper()
        response = self.request(leg, url, method, extra, purpose)
        params = {**leg.params, "CallStatus": leg.status, **extra}
        document = Document(url, method, params, response.status, response.text, leg.name)
        self.result.documents.append(document)
        # The app may have redirected or ended this call (calls.update) while answering; its answer is then moot.
        self.check_rest()
        problems, code = self.late(response, url, "http"), ERROR_TIMEOUT
        if not problems:
            problems, code = check_http(response, url), ERROR_HTTP
        if not problems:
            code = ERROR_TWIML
            problems = [Problem(p.message, f"{url} {p.where}", p.kind) for p in self.sim.schema.validate(response.text)]
        if not problems:
            return self.admit(leg, _Doc(url, ElementTree.fromstring(response.text.strip().encode("utf-8"))))
        self.failed_docs.append(document)
        for problem in problems:
            self.problem(problem, leg)
        if leg.fallback and self.fallback_url and purpose != "fallback":
            # Twilio: on a failed fetch, request the Fallback URL with ErrorCode and ErrorUrl, and go on with it.
            return self.fetch(leg, self.fallback_url, self.fallback_method,
                              {**extra, "ErrorCode": code, "ErrorUrl": url}, "fallback")
        self.say(leg, APP_ERROR_TEXT, {"language": "en-US"})
        return self.end(leg, "error")

    def late(self, response: Response, url: str, kind: str, what: str = "webhook") -> list[Problem]:
        """The problem with an answer Twilio stopped waiting for (error 11205); its body is never used."""
        limit = self.sim.webhook_timeout_seconds
        if response.status and response.elapsed_seconds <= limit:
            return []
        waited = (f"took {response.elapsed_seconds:.2f}s, past Twilio's {limit:g}s timeout" if response.status
                  else f"gave no answer within the transport's timeout ({response.elapsed_seconds:.2f}s)")
        return [Problem(f"{what} {waited}: no answer (Twilio error 11205)", url, kind)]

    def admit(self, leg: _Leg, doc: _Doc):
        """A valid document, checked for what the simulator would not play and for URLs the app does not serve.

        In strict mode a document the simulator cannot play ends the call, as an unknown verb does; a URL that no
        route serves is reported but the document runs (Twilio fails only when it requests that URL).
        """
        where = doc.url or INLINE_TWIML_URL
        unsupported = unplayed(self.sim.schema, doc.root, where)
        for problem in unsupported + self.unserved_urls(doc, where):
            # A document fetched again and again (a hold loop) is reported once.
            if (problem.kind, problem.where, problem.message) not in self.reported:
                self.reported.add((problem.kind, problem.where, problem.message))
                self.problem(problem, leg)
        return self.end(leg, "error") if unsupported and self.sim.strict else doc

    def unserved_urls(self, doc: _Doc, where: str) -> list[Problem]:
        """URLs on the app's base URL that the document gives Twilio but no route of the app serves."""
        serves = getattr(self.sim.transport, "serves", None)
        if serves is None:
            return []
        problems = []
        for path, what, url, method in given_urls(self.sim.schema, doc.root, doc.url):
            if self.sim.on_base(url) and serves(method, url) is False:
                problems.append(Problem(f"{what} gives Twilio {method} {url}, which no route of the app serves",
                                        f"{where} {path}", "url"))
        return problems

    def callback(self, leg: _Leg, url: str, method: str, params: Mapping[str, str], purpose: str) -> None:
        """Send a callback whose answer Twilio ignores (a failure is only logged, as error 11200).

        A REST update the app sends meanwhile waits for the next checkpoint, at this same call time: callbacks
        are sent while a verb tidies up, which must not be cut short.
        """
        self.notify_time()
        response, exchanges = self.sim.send((method or "POST").upper(), url, params)
        self.result.requests.extend(replace(e, purpose=purpose) for e in exchanges)
        slow = self.late(response, url, "callback", f"{purpose} callback")
        if slow:  # no fallback: nothing of a callback's answer is used anyway
            self.problem(slow[0], leg)
        elif not response.ok:
            self.problem(Problem(f"{purpose} callback answered HTTP {response.status}", url, "callback"), leg)

    def inline_document(self, leg: _Leg, twiml: str):
        """The document given inline to calls.update(twiml=...); checked as Twilio checks it."""
        self.result.documents.append(Document(INLINE_TWIML_URL, "", {}, 200, twiml, leg.name))
        problems = [Problem(p.message, f"{INLINE_TWIML_URL} {p.where}", p.kind)
                    for p in self.sim.schema.validate(twiml)]
        root = None if problems else ElementTree.fromstring(twiml.strip().encode("utf-8"))
        problems += _relative_urls(root) if root is not None else []
        if not problems:
            return self.admit(leg, _Doc("", root))
        self.failed_docs.append(self.result.documents[-1])
        for problem in problems:
            self.problem(problem, leg)
        self.say(leg, APP_ERROR_TEXT, {"language": "en-US"})
        return self.end(leg, "error")

    # -- playback ------------------------------------------------------------------------------------------

    def say(self, leg: _Leg, text: str, attrs: Mapping, stop_at: float | None = None) -> bool:
        """Speak `text` (loop times); returns True if the caller interrupted it at `stop_at`."""
        for _ in range(costs.loops(attrs.get("loop"))):
            if stop_at is not None and self.clock.now >= stop_at:
                return True
            self.step(leg, "say", text, {"language": "en-US", **attrs})
            leg.voice_at = self.clock.now if leg.voice_at is None else leg.voice_at
            if self._advance(costs.say_seconds(text), stop_at) or self.clock.expired:
                return stop_at is not None and self.clock.now >= stop_at
        return False

    def _advance(self, seconds: float, stop_at: float | None) -> bool:
        """Play for `seconds`, or until a key press at `stop_at` cuts it short (True)."""
        if stop_at is not None and self.clock.now + seconds >= stop_at:
            self.wait_until(max(self.clock.now, stop_at))
            return True
        self.wait(seconds)
        return stop_at is not None and self.clock.now >= stop_at

    def hear(self, leg: _Leg, doc: _Doc, el: ElementTree.Element, stop_at: float | None = None) -> bool:
        """Play a Say/Play/Pause; returns True if interrupted by a key press at `stop_at`."""
        if el.tag == "Say":
            return self.say(leg, _text(el), dict(el.attrib), stop_at)
        if el.tag == "Pause":
            self.step(leg, "pause", f"{_seconds(el, 'length', costs.PAUSE_SECONDS):g}s", el.attrib)
            return self._advance(_seconds(el, "length", costs.PAUSE_SECONDS), stop_at)
        if el.get("digits"):  # <Play digits>: DTMF tones, not a voice
            self.step(leg, "play", f"digits {el.get('digits')}", el.attrib)
            return self._advance(len(el.get("digits")) * costs.KEY_SECONDS, stop_at)
        url = urljoin(doc.url, _text(el))
        for _ in range(costs.loops(el.get("loop"))):
            if (stop_at is not None and self.clock.now >= stop_at) or self.clock.expired:
                return stop_at is not None
            self.step(leg, "play", url, el.attrib)
            leg.voice_at = self.clock.now if leg.voice_at is None else leg.voice_at
            if self._advance(self.sim.media_seconds.get(url, costs.PLAY_SECONDS), stop_at):
                return True
        return False

    def verb_say(self, leg, doc, verb):
        self.hear(leg, doc, verb)

    verb_play = verb_pause = verb_say

    # -- input ---------------------------------------------------------------------------------------------

    def verb_gather(self, leg: _Leg, doc: _Doc, verb: ElementTree.Element):
        action = urljoin(doc.url, verb.get("action") or "") or doc.url  # default: the current document
        timeout = _seconds(verb, "timeout", costs.GATHER_TIMEOUT_SECONDS)
        num_digits = int(_seconds(verb, "numDigits", 0)) or None
        finish = verb.get("finishOnKey", "#")
        wanted = f"{num_digits} digit(s)" if num_digits else "digits"
        self.step(leg, "gather", f"{wanted}, finishOnKey {finish!r}, timeout {timeout:g}s -> {action}", verb.attrib)
        intent = leg.party.at_gather()
        # Twilio ignores DTMF when the Gather only listens for speech.
        pressing = intent.kind == "press" and "dtmf" in verb.get("input", "dtmf").split()
        stop_at = self.clock.now + intent.after if pressing and intent.after is not None else None
        for child in verb:
            if isinstance(child.tag, str) and self.hear(leg, doc, child, stop_at):
                break  # a key press interrupts the prompts
        if intent.kind == "hangup":  # heard the prompts, hung up instead of choosing
            self.step(leg, "hangup", "caller hung up")
            return self.hang_up(leg, "caller-hangup")
        if pressing and stop_at is not None and stop_at > self.clock.now + timeout:
            pressing = False  # the caller waits so long that the Gather times out first
        digits, finished_on = self.keys(intent, stop_at, finish, num_digits, timeout) if pressing else ("", "")
        if not pressing:
            self.wait(timeout)
        if digits:
            self.step(leg, "input", digits, {"finishedOnKey": finished_on})
            return self.fetch(leg, action, verb.get("method", "POST"), {"Digits": digits, "FinishedOnKey": finished_on})
        self.step(leg, "input", "", {"timeout": timeout})
        if verb.get("actionOnEmptyResult") == "true":
            return self.fetch(leg, action, verb.get("method", "POST"), {})
        return None  # no input: Twilio falls through to the next verb

    def keys(self, intent, stop_at: float | None, finish: str, num_digits: int | None,
             timeout: float) -> tuple[str, str]:
        """The caller keys in `intent.digits`; returns (Digits, FinishedOnKey) as Twilio submits them."""
        self.wait_until(max(self.clock.now, stop_at or 0.0))
        digits = ""
        for key in intent.digits:
            self.wait(costs.KEY_SECONDS)
            if finish and key == finish:
                return digits, key
            digits += key
            if num_digits and len(digits) >= num_digits:
                return digits, ""  # Twilio submits as soon as numDigits keys arrived; later keys are lost
        self.wait(timeout)  # waits `timeout` s after the last key before submitting
        return digits, ""

    def verb_record(self, leg: _Leg, doc: _Doc, verb: ElementTree.Element):
        timeout = _seconds(verb, "timeout", costs.RECORD_TIMEOUT_SECONDS)
        # maxLength defaults to 3600 s, but to 120 s when transcribing (Record docs).
        transcribing = verb.get("transcribe") == "true"
        max_length = _seconds(verb, "maxLength",
                              costs.TRANSCRIBE_MAX_SECONDS if transcribing else costs.RECORD_MAX_SECONDS)
        finish = verb.get("finishOnKey", "1234567890*#")
        if leg.party.intents and leg.party.intents[0].kind == "hangup":  # hangs up rather than record
            leg.party.intents.pop(0)
            self.step(leg, "hangup", "caller hung up")
            return self.hang_up(leg, "caller-hangup")
        if verb.get("playBeep") != "false":
            self.step(leg, "beep")
            self.wait(costs.BEEP_SECONDS)
        intent = leg.party.at_record()
        sid = new_sid("RE")
        take = _Take(verb, doc, urljoin(doc.url, verb.get("action") or "") or doc.url, sid,
                     f"https://api.twilio.com/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{sid}",
                     self.clock.now, set(verb.get("recordingStatusCallbackEvent", "completed").split()), intent.words)
        spoken = intent.seconds if intent.kind == "speak" else 0.0
        if spoken <= 0:
            # Twilio: an empty recording requests no action; the call goes on with the next verb.
            ended_by_key = intent.kind == "press" and intent.digits[:1] in finish
            silence = costs.KEY_SECONDS if ended_by_key else timeout if timeout > 0 else max_length
            self.record_for(leg, take, 0.0, silence)
            self.empty_recording(leg, take)
            return self.hang_up(leg, "caller-hangup") if intent.then == "hangup" else None
        if spoken >= max_length:
            duration, digits, elapsed = max_length, "", max_length
        elif intent.then == "hangup":
            duration, digits, elapsed = spoken, "hangup", spoken
        elif len(intent.then) == 1 and intent.then in finish:
            duration, digits, elapsed = spoken, intent.then, spoken + costs.KEY_SECONDS
        else:  # silence ends it after `timeout` s; timeout 0 disables that, so maxLength does
            silent = timeout if timeout > 0 else max_length - spoken
            trimmed = verb.get("trim", "trim-silence") == "trim-silence"
            duration, digits, elapsed = (spoken if trimmed else spoken + silent), "", spoken + silent
        self.record_for(leg, take, spoken, elapsed)
        self.step(leg, "record", f"{duration:g}s, ended by {digits or 'silence/maxLength'}", verb.attrib,
                  t=take.started)
        extra = self.recording_params(take, duration, digits)
        if digits == "hangup":
            self.hangup_recording(leg, take, extra, duration)
            self.step(leg, "hangup", "caller hung up")
            return self.hang_up(leg, "caller-hangup")
        try:
            return self.fetch(leg, take.action, verb.get("method", "POST"), extra)
        finally:  # sent even when the action's answer is interrupted by a REST update
            self.after_recording(leg, take, duration)

    def record_for(self, leg: _Leg, take: _Take, spoken: float, elapsed: float) -> None:
        """Let the recording run `elapsed` s; a hang-up or REST update meanwhile stops it where it is."""
        try:
            self.wait(elapsed)
        except Interrupt as interrupt:
            self.interrupted_recording(leg, take, min(spoken, self.clock.now - take.started), interrupt)
            raise

    def interrupted_recording(self, leg: _Leg, take: _Take, heard: float, interrupt: Interrupt) -> None:
        """The recording as Twilio keeps it when the call hangs up or moves to other TwiML mid-recording."""
        if heard <= 0:
            self.empty_recording(leg, take)
            return
        self.step(leg, "record", f"{heard:g}s, ended by {interrupt.kind}", take.verb.attrib, t=take.started)
        if interrupt.hangs_up:
            # As for a caller hanging up: the action is requested with Digits=hangup, nothing it returns runs.
            self.hangup_recording(leg, take, self.recording_params(take, heard, "hangup"), heard)
        else:
            self.after_recording(leg, take, heard)  # redirected: no action request, the recording is kept

    def empty_recording(self, leg: _Leg, take: _Take) -> None:
        self.step(leg, "record", "no audio: empty recording", take.verb.attrib, t=take.started)
        if "absent" in take.events:
            self.recording_callback(leg, take, "absent", 0)

    def recording_params(self, take: _Take, duration: float, digits: str) -> dict:
        extra = {"RecordingUrl": take.url, "RecordingDuration": str(int(round(duration))), "RecordingSid": take.sid}
        return {**extra, "Digits": digits} if digits else extra

    def hangup_recording(self, leg: _Leg, take: _Take, extra: Mapping[str, str], duration: float) -> None:
        """Twilio still requests the action after a hang-up, but nothing it returns can run."""
        self.set_status(leg, "completed")
        method = take.verb.get("method", "POST").upper()
        response = self.request(leg, take.action, method, extra, "twiml")
        self.result.documents.append(Document(take.action, method, {**leg.params, "CallStatus": leg.status, **extra},
                                              response.status, response.text, leg.name))
        slow = self.late(response, take.action, "callback", "record action")
        if slow or not response.ok:
            self.problem(slow[0] if slow else Problem(f"record action answered HTTP {response.status}", take.action,
                                                      "callback"), leg)
        self.after_recording(leg, take, duration)

    def after_recording(self, leg: _Leg, take: _Take, duration: float) -> None:
        """The recording and transcription callbacks Twilio sends once the recording is processed."""
        if self.rest:  # the recording is a resource of the account now: the REST API lists it
            self.rest.recording_made(take.sid, leg.params["CallSid"], started_at=self.start_time + timedelta(
                seconds=take.started), duration_seconds=int(round(duration)), created_at=self.wall_now(),
                account_sid=self.account_sid)
        if "completed" in take.events:
            self.recording_callback(leg, take, "completed", duration)
        callback = take.verb.get("transcribeCallback")
        if take.verb.get("transcribe") != "true" or not callback:
            return
        # Twilio transcribes only recordings of 2-120 s; others report a failed transcription.
        ok = 2 <= duration <= 120
        transcription_sid = new_sid("TR")
        params = {**leg.params, "CallStatus": "completed", "TranscriptionSid": transcription_sid,
                  "TranscriptionText": (take.words or "simulated transcription") if ok else "",
                  "TranscriptionStatus": "completed" if ok else "failed",
                  "TranscriptionUrl": f"{take.url}/Transcriptions/{transcription_sid}",
                  "RecordingSid": take.sid, "RecordingUrl": take.url}
        self.callback(leg, urljoin(take.doc.url, callback), "POST", params, "transcription")

    def recording_callback(self, leg: _Leg, take: _Take, status: str, duration: float) -> None:
        url = take.verb.get("recordingStatusCallback")
        if not url:
            return
        params = {"AccountSid": self.account_sid, "CallSid": leg.params["CallSid"], "RecordingSid": take.sid,
                  "RecordingUrl": take.url, "RecordingStatus": status,
                  "RecordingDuration": str(int(round(duration))), "RecordingChannels": "1",
                  "RecordingSource": "RecordVerb", "RecordingStartTime": self.timestamp(take.started)}
        self.callback(leg, urljoin(take.doc.url, url), take.verb.get("recordingStatusCallbackMethod", "POST"), params,
                      "recording")

    # -- control flow --------------------------------------------------------------------------------------

    def verb_redirect(self, leg: _Leg, doc: _Doc, verb: ElementTree.Element):
        url = urljoin(doc.url, _text(verb))
        self.step(leg, "redirect", url, verb.attrib)
        return self.fetch(leg, url, verb.get("method", "POST"), {})

    def verb_hangup(self, leg: _Leg, doc: _Doc, verb: ElementTree.Element):
        self.step(leg, "hangup", "app hung up")
        return self.hang_up(leg, "app-hangup")

    def verb_reject(self, leg: _Leg, doc: _Doc, verb: ElementTree.Element):
        reason = verb.get("reason", "rejected")
        self.step(leg, "reject", reason, verb.attrib)
        if leg.status == "ringing":
            # Twilio: a first-verb <Reject> never answers; the call ends busy or no-answer by reason.
            self.result.final_status = "busy" if reason == "busy" else "no-answer"
        return self.end(leg, "reject")

    # -- dial ----------------------------------------------------------------------------------------------

    def verb_dial(self, leg: _Leg, doc: _Doc, verb: ElementTree.Element):
        if leg is not self.caller:  # Number/Client docs: a url document "is not allowed to contain <Dial>"
            self.problem(Problem("<Dial> is not allowed in a <Number url> / <Client url> document", doc.url), leg)
            return self.end(leg, "error")
        rings = self.dial_rings(leg, doc, verb)
        if not rings:
            return self.end(leg, "error") if self.sim.strict else None
        ring_limit = _seconds(verb, "timeout", costs.DIAL_TIMEOUT_SECONDS) + self.sim.ring_buffer_seconds
        dial = _Dial(verb, rings, ring_limit, verb.get("callerId") or leg.params["From"],
                     verb.get("sequential") == "true", self.clock.now)
        self.step(leg, "dial", ", ".join(ring.target for ring in rings), verb.attrib)
        self.ringing_on_bridge = self.ringing_on_bridge or leg.status == "ringing"
        self.place_children(rings)
        try:
            self.ring(leg, doc, dial)
            if dial.winner:
                self.talk(leg, dial)
            else:
                self.wait_until(max([self.clock.now] + [ring.end for ring in dial.tried(self.clock.now)]))
        except Interrupt as interrupt:
            self.abandon_dial(leg, doc, dial, interrupt)
            raise
        finally:
            self.release_children(rings)
        status, duration = self.finish_dial(leg, doc, dial)
        if not verb.get("action"):
            return None  # without an action the document continues after <Dial>
        extra = {"DialCallStatus": status, "DialCallSid": (dial.winner or dial.rings[0]).sid,
                 "DialBridged": "true" if dial.winner else "false"}
        if duration is not None:
            extra["DialCallDuration"] = str(duration)
        return self.fetch(leg, urljoin(doc.url, verb.get("action")), verb.get("method", "POST"), extra)

    def ring(self, leg: _Leg, doc: _Doc, dial: _Dial) -> None:
        """Ring the nouns, in parallel (the first to answer and accept wins) or one after another."""
        if not dial.sequential:
            dial.rings.sort(key=lambda ring: ring.callee.answered_after)
            for ring in dial.rings:
                ring.begin = dial.started
        for ring in dial.rings:
            if dial.sequential:
                ring.begin = self.clock.now
            if self.ring_one(leg, doc, dial, ring):
                dial.winner = ring
                break
        if dial.winner and not dial.sequential:  # the other parallel legs are cancelled when one answers
            for ring in dial.rings:
                if ring is not dial.winner and (not ring.outcome or ring.end > dial.winner.answered_at):
                    ring.outcome, ring.end = "canceled", dial.winner.answered_at

    def ring_one(self, leg: _Leg, doc: _Doc, dial: _Dial, ring: _Ring) -> bool:
        """Ring one party; True when it answered (and accepted any whisper)."""
        outcome = ring.callee.outcome
        if outcome == "answered" and ring.callee.answered_after < dial.ring_limit:
            ring.answered_at = ring.begin + ring.callee.answered_after
            self.wait_until(ring.answered_at)
            heard = self.whisper(leg, doc, ring, dial.caller_id) if ring.noun.get("url") else ()
            ring.outcome = "completed" if heard is not None else "rejected"
            ring.heard, ring.end = heard or (), self.clock.now
            return heard is not None
        ring.outcome = "no-answer" if outcome == "answered" else outcome
        ring.end = ring.begin + {"busy": costs.BUSY_SECONDS, "failed": costs.FAILED_SECONDS}.get(outcome,
                                                                                                  dial.ring_limit)
        if dial.sequential:
            self.wait_until(ring.end)
        return False

    def talk(self, leg: _Leg, dial: _Dial) -> None:
        """The caller and the winner talk until the callee's script (or the Dial timeLimit) ends it."""
        if leg.status == "ringing":  # answerOnBridge: the inbound call is answered when the bridge is made
            self.answer(leg)
        leg.voice_at = self.clock.now if leg.voice_at is None else leg.voice_at
        talk = min(dial.winner.callee.talk_seconds, _seconds(dial.verb, "timeLimit", costs.CALL_LIMIT_SECONDS))
        self.step(leg, "dial", f"{dial.winner.target} answered; talking {talk:g}s")
        dial.bridged_at = self.clock.now
        self.wait(talk)
        dial.winner.end = self.clock.now

    def abandon_dial(self, leg: _Leg, doc: _Doc, dial: _Dial, interrupt: Interrupt) -> None:
        """The call hangs up or moves on mid-Dial: its legs end now; a hang-up still requests the Dial action."""
        now = self.clock.now
        tried = dial.tried(now)
        for ring in tried:
            if ring.answered_at is not None and ring.answered_at > now:
                ring.answered_at = None  # it would have answered later
            if ring is dial.winner or not ring.outcome or ring.end > now:
                ring.outcome, ring.end = "completed" if ring is dial.winner else "canceled", now
        bridged = dial.winner is not None and dial.bridged_at is not None
        status = "completed" if bridged else "canceled"
        self.step(leg, "dial", f"{status}: {interrupt.kind} during the dial")
        for ring in tried:
            self.leg_callbacks(leg, doc, ring, dial.caller_id)
        duration = int(round(now - dial.bridged_at)) if bridged else None
        self.record_dial(dial, status, duration)
        if interrupt.hangs_up and dial.verb.get("action"):
            self.hangup_dial_action(leg, doc, dial, status, duration)

    def hangup_dial_action(self, leg: _Leg, doc: _Doc, dial: _Dial, status: str, duration: int | None) -> None:
        """The Dial action Twilio requests when the caller's side hangs up mid-Dial; nothing it returns runs.

        Twilio's <Dial> page (twilio.com/docs/voice/twiml/dial#action, #dialcallstatus): the action is requested
        "when the dialed call ends", and "if you specify an action URL, Twilio will always pass along the status
        of the <Dial> attempt"; yet "if the initial caller hangs up, the Twilio session ends", so the answer is
        not executed. The docs do not list the values for this case; the best attested (integrations handling
        it, and Twilio's call-status article: a child call hung up before it answers ends `canceled`) are
        CallStatus=completed with DialCallStatus=completed (+ DialCallDuration, the talk so far) after the
        bridge, and DialCallStatus=canceled while the dialled phone still rang (or heard the whisper).
        """
        self.set_status(leg, "completed")
        extra = {"DialCallStatus": status, "DialCallSid": (dial.winner or dial.rings[0]).sid,
                 "DialBridged": "true" if status == "completed" else "false"}
        if duration is not None:
            extra["DialCallDuration"] = str(duration)
        url, method = urljoin(doc.url, dial.verb.get("action")), dial.verb.get("method", "POST").upper()
        response = self.request(leg, url, method, extra, "twiml")
        document = Document(url, method, {**leg.params, "CallStatus": leg.status, **extra}, response.status,
                            response.text, leg.name)
        self.result.documents.append(document)
        # Not executed, but still Twilio's webhook: a late or error answer or broken TwiML is logged as one
        # (11205/11200/12100).
        problems = self.late(response, url, "callback", "dial action") or check_http(response, url) or [
            Problem(p.message, f"{url} {p.where}", p.kind) for p in self.sim.schema.validate(response.text)]
        if problems:
            self.failed_docs.append(document)
        for problem in problems:
            self.problem(problem, leg)

    def finish_dial(self, leg: _Leg, doc: _Doc, dial: _Dial) -> tuple[str, int | None]:
        """DialCallStatus and DialCallDuration, once every leg has ended; sends the legs' callbacks."""
        winner = dial.winner
        tried = dial.rings[:dial.rings.index(winner) + 1] if winner and dial.sequential else dial.rings
        if winner:
            status, duration = "completed", int(round(winner.end - dial.bridged_at))
        else:
            outcomes = {ring.outcome for ring in tried}
            status = ("no-answer" if outcomes & {"no-answer", "rejected"} else "busy" if "busy" in outcomes
                      else "failed")
            duration = None
            self.step(leg, "dial", status)
        for ring in tried:
            self.leg_callbacks(leg, doc, ring, dial.caller_id)
        self.record_dial(dial, status, duration)
        return status, duration

    def record_dial(self, dial: _Dial, status: str, duration: int | None) -> None:
        winner = dial.winner
        self.result.dial_results.append(DialResult(
            tuple(ring.target for ring in dial.rings), status, (winner or dial.rings[0]).sid,
            winner.target if winner else None, duration, winner.heard if winner else ()))

    def place_children(self, rings: list[_Ring]) -> None:
        # The dialled legs are live calls too: the stand-in must not answer 404 for them.
        self.children = [ring.sid for ring in rings]
        for ring in rings:
            if self.rest:
                self.rest.call_started(ring.sid, "ringing")

    def release_children(self, rings: list[_Ring]) -> None:
        self.children = []
        for ring in rings:
            if self.rest:
                self.rest.call_ended(ring.sid, "completed" if ring.answered_at is not None else ring.outcome
                                     or "canceled")

    def dial_rings(self, leg: _Leg, doc: _Doc, verb: ElementTree.Element) -> list[_Ring] | None:
        """One _Ring per dialled party; None when a noun cannot be simulated."""
        nouns = [(_text(verb), verb)] if (verb.text or "").strip() else []
        for noun in verb:
            if not isinstance(noun.tag, str):
                continue
            if noun.tag not in ("Number", "Client", "Sip"):
                self.problem(Problem(f"<Dial><{noun.tag}> is not simulated", doc.url, "unsupported"), leg)
                return None
            # The dial script names SDK clients "client:<identity>", as Twilio's To parameter does.
            nouns.append((("client:" if noun.tag == "Client" else "") + _text(noun), noun))
        return [_Ring(target, noun, callee_for(self.dial, target, self.answered_after, self.talk_seconds),
                      new_sid("CA")) for target, noun in nouns]

    def whisper(self, leg: _Leg, doc: _Doc, ring: _Ring, caller_id: str):
        """Run a <Number url> whisper on the callee's leg; the words it heard, or None if it declined."""
        params = {"CallSid": ring.sid, "ParentCallSid": leg.params["CallSid"], "AccountSid": self.account_sid,
                  "From": caller_id, "To": ring.target, "Caller": caller_id, "Called": ring.target,
                  "ApiVersion": API_VERSION, "Direction": "outbound-dial"}
        callee_leg = _Leg(ring.target, Caller(press=ring.callee.press), params, status="in-progress", fallback=False)
        url = urljoin(doc.url, ring.noun.get("url"))
        next_doc = self.fetch(callee_leg, url, ring.noun.get("method", "POST"), {}, "whisper")
        while isinstance(next_doc, _Doc):
            next_doc = self.run_document(callee_leg, next_doc)
        heard = tuple(step.text for step in callee_leg.transcript if step.kind == "say")
        self.step(leg, "dial", f"whisper to {ring.target}: {callee_leg.ended_by}", {"heard": heard})
        # Twilio bridges once the url document runs to its end, whatever ran before: a <Gather> that timed out
        # falls through to the next verb, and a Gather action's answer goes on on this same leg (the loop
        # above). Only a <Hangup> in it, an error, or the callee hanging up leaves the caller unbridged: the
        # <Number>/<Client> docs (twilio.com/docs/voice/twiml/number#attributes-url) offer "a chance to
        # decline the phone call using <Gather> and <Hangup>". A voicemail that presses nothing is bridged
        # unless the document hangs up on it.
        accepted = callee_leg.ended_by == "end-of-document"
        return heard if accepted else None

    def leg_callbacks(self, leg: _Leg, doc: _Doc, ring: _Ring, caller_id: str) -> None:
        """<Number statusCallback> progress events for one dialled leg, in firing order."""
        url = ring.noun.get("statusCallback") if ring.noun.tag != "Dial" else None
        if not url:
            return
        wanted = ring.noun.get("statusCallbackEvent", "completed").split()
        answered = ring.answered_at is not None
        fired = [("initiated", "initiated", ring.begin), ("ringing", "ringing", ring.begin)]
        if answered:
            fired.append(("answered", "in-progress", ring.answered_at))
        fired.append(("completed", "completed" if answered else ring.outcome, ring.end))
        base = {"CallSid": ring.sid, "ParentCallSid": leg.params["CallSid"], "AccountSid": self.account_sid,
                "From": caller_id, "To": ring.target, "Caller": caller_id, "Called": ring.target,
                "ApiVersion": API_VERSION, "Direction": "outbound-dial", "CallbackSource": "call-progress-events"}
        for sequence, (event, status, t) in enumerate(e for e in fired if e[0] in wanted):
            params = {**base, "CallStatus": status, "Timestamp": self.timestamp(t), "SequenceNumber": str(sequence)}
            if event == "completed":
                params["CallDuration"] = str(int(round(ring.end - ring.answered_at)) if answered else 0)
            self.callback(leg, urljoin(doc.url, url), ring.noun.get("statusCallbackMethod", "POST"), params,
                          "leg-status")

    # -- the end of the call -------------------------------------------------------------------------------

    def timestamp(self, t: float) -> str:
        """RFC 2822 time `t` seconds into the call."""
        return format_datetime(self.start_time + timedelta(seconds=t))

    def send_status_callbacks(self, events, duplicate: bool, reorder: bool) -> None:
        """The call progress callbacks: numbered in firing order, optionally duplicated or reordered."""
        if not self.sim.status_url:
            return
        # Unanswered ends (a first-verb Reject, a REST cancel while ringing, a hang-up before an answerOnBridge
        # bridge) carry no duration nor "answered".
        answered = self.answered_at is not None or (
            self.result.final_status not in ("busy", "no-answer", "canceled") and not self.ringing_on_bridge)
        fired = []
        for event in events:
            if event == "answered" and not answered:
                continue
            status = {"answered": "in-progress", "completed": self.result.final_status}.get(event, event)
            t = {"answered": self.answered_at or 0.0, "completed": self.clock.now}.get(event, 0.0)
            params = {**self.caller.params, "CallStatus": status, "Timestamp": self.timestamp(t),
                      "CallbackSource": "call-progress-events", "SequenceNumber": str(len(fired))}
            if event == "completed":
                params["CallDuration"] = str(int(round(self.clock.now)) if answered else 0)
            fired.append(params)
        for params in (reversed(fired) if reorder else fired):
            for _ in range(2 if duplicate else 1):
                self.callback(self.caller, self.sim.status_url, "POST", params, "status")

    def raise_if_failed(self) -> None:
        """In strict mode, turn the problems Twilio would have had into an exception carrying the result."""
        problems = self.result.problems
        if not self.sim.strict or not problems:
            return
        kinds = {p.kind for p in problems}
        # A leftover script step is usually a consequence of another problem, which then names the error.
        error = (CallLoop if "loop" in kinds else UnsupportedVerb if "unsupported" in kinds
                 else TwimlRejected if kinds & {"twiml", "url"} else CallerScriptError if kinds == {"script"}
                 else WebhookFailed)
        lines = [f"call {self.result.call_sid}: " + ("the caller's script does not fit the call" if kinds == {"script"}
                                                     else "Twilio would reject this call")]
        lines += [f"  - [{p.kind}] {p}" for p in problems]
        for doc in self.failed_docs:
            lines.append(f"--- {doc.method} {doc.url} -> HTTP {doc.status}\n{doc.text[:2000]}")
        lines.append("--- transcript\n" + self.result.text())
        raise error("\n".join(lines), self.result)

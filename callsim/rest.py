"""A local stand-in for Twilio's REST API, for tests that use twilio.rest.Client.

Given to a CallSimulator (``CallSimulator(..., rest=standin)``), it also knows which calls are live: a
``calls.update`` for one of them is handed to the simulator, which redirects or hangs up the call as Twilio
does, and an update for any other call is refused as Twilio refuses it.

Creates are checked as Twilio checks them and recorded: ``created_calls()`` (which ``sim.run_outbound`` plays)
and ``sent_messages()``; ``opt_out(number)`` makes messages to a number fail as after a STOP reply, and
``forget_recording(sid)`` makes a recording answer 404. ``recordings(sid).delete()`` is answered as Twilio
answers it: 204 without a body, then 404 (error 20404) for every fetch of it, its media and a second delete, and
the recording leaves the list. A recording's media honours one byte range
(``Range: bytes=START-END``) as Twilio's media does: 206 with Content-Range, or 416 beyond its end.

The simulator tells the stand-in the calls it plays (numbers, start and end) and the recordings their <Record>
made (``recording_made``): ``calls(sid).fetch()`` answers the Call resource, and ``recordings.list`` (with its
DateCreated filters, read at their date as Twilio documents them: `callsim.rest_resources`) the recordings.

``accounts(sid).fetch()`` answers the Account resource (401, error 20003, with wrong credentials, as every request;
``set_account_status`` suspends it), and ``incoming_phone_numbers.list`` (PhoneNumber: a part of the number, ``*``
any digit; paged) the numbers a test gave the account with ``add_number`` (``update_number`` changes one).
"""
from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

from .rest_resources import (BadFilter, CallFacts, NumberFacts, RecordingFacts, account_json, call_json,
                             incoming_numbers_page, recording_json, recordings_page)
from .rest_rules import TWIML_MAX_CHARS, call_create_refusal, first, message_create_refusal

ACCOUNT = r"/2010-04-01/Accounts/(?P<account>AC\w+)"
# (operation name, HTTP method, path pattern); the operation names are what fail_next() takes.
ROUTES = [
    ("accounts.fetch", "GET", ACCOUNT + r"\.json"),
    ("incoming_phone_numbers.list", "GET", ACCOUNT + r"/IncomingPhoneNumbers\.json"),
    ("calls.update", "POST", ACCOUNT + r"/Calls/(?P<sid>CA\w+)\.json"),
    ("calls.fetch", "GET", ACCOUNT + r"/Calls/(?P<sid>CA\w+)\.json"),
    ("calls.create", "POST", ACCOUNT + r"/Calls\.json"),
    ("messages.create", "POST", ACCOUNT + r"/Messages\.json"),
    ("recordings.fetch", "GET", ACCOUNT + r"/Recordings/(?P<sid>RE\w+?)(?P<ext>\.json|\.wav|\.mp3)?"),
    ("recordings.list", "GET", ACCOUNT + r"/Recordings\.json"),
    ("recordings.delete", "DELETE", ACCOUNT + r"/Recordings/(?P<sid>RE\w+?)(?:\.json)?"),
    ("queues.members.update", "POST", ACCOUNT + r"/Queues/(?P<queue>QU\w+)/Members/(?P<sid>CA\w+|Front)\.json"),
]
# A 44-byte RIFF/WAVE header plus a little silence: enough for code that checks the format.
PLACEHOLDER_ACCOUNT_SID = "AC" + "0" * 32  # for update_call() when the stand-in checks no credentials
CREATES = {"calls.create": "CA", "messages.create": "SM"}  # operations that make a resource, and its SID prefix
HANGUP_STATUSES = ("completed", "canceled")
UNANSWERED_STATUSES = ("queued", "ringing")  # the only states Status=canceled ends (Call resource docs)
WAV_BYTES = (b"RIFF" + (36 + 800).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
             + bytes([1, 0, 1, 0]) + (8000).to_bytes(4, "little") + (8000).to_bytes(4, "little")
             + bytes([1, 0, 8, 0]) + b"data" + (800).to_bytes(4, "little") + b"\x80" * 800)


@dataclass(frozen=True)
class RestRequest:
    """One request the stand-in received."""

    method: str
    path: str
    operation: str  # e.g. "calls.update", or "unknown"
    params: dict  # form params; a name sent several times maps to a list
    auth: tuple[str, str] | None  # (username, password) from HTTP Basic auth
    sid: str = ""  # for a create the stand-in accepted: the SID it answered with
    received_at: float = 0.0  # epoch seconds (time.time()) when the request arrived, before it was answered
    range: str | None = None  # the Range header, if any
    status: int = 0  # the HTTP status the stand-in answered


@dataclass(frozen=True)
class CallUpdate:
    """A calls.update the stand-in accepted for a live call, waiting for the simulator to carry it out."""

    call_sid: str
    url: str | None = None
    method: str = "POST"
    twiml: str | None = None
    status: str | None = None  # completed or canceled: hang up

    @property
    def hangs_up(self) -> bool:
        """True for Status=completed/canceled (the stand-in queues a canceled only while the call is unanswered)."""
        return self.status in HANGUP_STATUSES


def _twilio_error(status: int, message: str, code: int | None = None) -> dict:
    code = code or {401: 20003, 404: 20404}.get(status, 20000 + status)
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


class TwilioRestStandin:
    """A threaded HTTP server on 127.0.0.1 answering like api.twilio.com for the calls Careline makes."""

    def __init__(self, account_sid: str | None = None, auth_token: str | None = None):
        self.account_sid, self.auth_token = account_sid, auth_token  # when set, Basic auth must match
        self.requests: list[RestRequest] = []
        self._failures: dict[str, list[tuple[int, str]]] = {}
        # Live calls (CallSid -> CallStatus) as a simulator registers them; None until one does, so that the
        # stand-in used alone keeps answering every update with 200.
        self._live: dict[str, str] | None = None
        self._ended: dict[str, str] = {}  # CallSid -> final status, for calls a simulator ran to the end
        self._updates: dict[str, list[CallUpdate]] = {}  # accepted updates the simulator has not taken yet
        self._created: dict[str, dict] = {}  # CallSid -> calls.create params, in creation order
        self._messages: list[dict] = []  # the messages.create requests accepted
        self._opted_out: set[str] = set()  # recipients who replied STOP
        self._forgotten: set[str] = set()  # RecordingSids answered with 404
        self._calls: dict[str, CallFacts] = {}  # what the simulator told of its calls: numbers, times
        self._recordings: dict[str, RecordingFacts] = {}  # the recordings the simulator's calls made
        self._numbers: dict[str, NumberFacts] = {}  # the account's phone numbers by E.164 (add_number)
        self._account_status = "active"
        self._created_at = datetime.now(timezone.utc)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        """Base URL to assign to `client.api.base_url`."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> TwilioRestStandin:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the server and release its port."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> TwilioRestStandin:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def fail_next(self, operation: str, status: int = 500, message: str = "Simulated failure") -> None:
        """Make the next request for `operation` (e.g. "calls.update") answer `status` with a Twilio error."""
        with self._lock:
            self._failures.setdefault(operation, []).append((status, message))

    def requests_for(self, operation: str) -> list[RestRequest]:
        """The recorded requests for one operation."""
        return [r for r in self.requests if r.operation == operation]

    def update_call(self, call_sid: str, url: str | None = None, method: str | None = None,
                    twiml: str | None = None, status: str | None = None) -> tuple[int, dict]:
        """Send a calls.update over HTTP, as the app's twilio Client would; returns (HTTP status, JSON body)."""
        form = {name: value for name, value in (("Url", url), ("Method", method), ("Twiml", twiml),
                                                 ("Status", status)) if value is not None}
        account = self.account_sid or PLACEHOLDER_ACCOUNT_SID
        auth = (account, self.auth_token) if self.auth_token else None
        answer = requests.post(f"{self.url}/2010-04-01/Accounts/{account}/Calls/{call_sid}.json", data=form,
                               auth=auth, timeout=10)
        return answer.status_code, answer.json()

    # -- created resources -----------------------------------------------------------------------------

    def created_calls(self) -> list[tuple[str, dict]]:
        """(CallSid, params) of every calls.create the stand-in accepted, oldest first."""
        with self._lock:
            return [(sid, dict(params)) for sid, params in self._created.items()]

    def created_call(self, call_sid: str) -> dict:
        """The calls.create params the stand-in answered with `call_sid`; KeyError for any other SID."""
        with self._lock:
            return dict(self._created[call_sid])

    def sent_messages(self) -> list[dict]:
        """The messages.create requests accepted: sid, to, from, body, status_callback... oldest first."""
        with self._lock:
            return [dict(message) for message in self._messages]

    def opt_out(self, number: str) -> None:
        """`number` replied STOP: messages to it now fail with Twilio error 21610."""
        with self._lock:
            self._opted_out.add(number)

    def opt_in(self, number: str) -> None:
        """`number` replied START: messages to it are accepted again."""
        with self._lock:
            self._opted_out.discard(number)

    def forget_recording(self, recording_sid: str) -> None:
        """Make every fetch of `recording_sid` (metadata or media) answer 404, error 20404."""
        with self._lock:
            self._forgotten.add(recording_sid)

    # -- the account and its phone numbers -------------------------------------------------------------

    def add_number(self, phone_number: str, **fields) -> str:
        """Give the account `phone_number` (E.164), its webhooks as `fields` (voice_url, voice_method,
        status_callback, sms_url...: NumberFacts); returns its sid (PN...)."""
        with self._lock:
            facts = NumberFacts("PN" + uuid.uuid4().hex, self.account_sid or PLACEHOLDER_ACCOUNT_SID, phone_number,
                                datetime.now(timezone.utc) + _tiebreak(len(self._numbers)), **fields)
            self._numbers[phone_number] = facts
            return facts.sid

    def update_number(self, phone_number: str, **fields) -> None:
        """Change the webhooks of one of the account's numbers (as its page in Twilio's console would)."""
        with self._lock:
            facts = self._numbers[phone_number]
            for name, value in fields.items():
                if not hasattr(facts, name):
                    raise AttributeError(f"an IncomingPhoneNumber has no {name}")
                setattr(facts, name, value)

    def remove_number(self, phone_number: str) -> None:
        """The account no longer has `phone_number` (released, or moved to another account)."""
        with self._lock:
            self._numbers.pop(phone_number, None)

    def set_account_status(self, status: str) -> None:
        """active, suspended or closed: what accounts(sid).fetch() answers."""
        with self._lock:
            self._account_status = status

    # -- live calls, shared with a running CallSimulator ------------------------------------------------

    def call_started(self, call_sid: str, status: str = "ringing", *, from_: str | None = None,
                     to: str | None = None, started_at: datetime | None = None, direction: str = "inbound",
                     account_sid: str | None = None) -> None:
        """A simulator began `call_sid`: updates for it are queued for the simulator from now on. With its
        numbers and start (`started_at`, the call's wall time), `calls(sid).fetch()` answers its resource."""
        if from_ is not None and to is not None and started_at is not None:
            with self._lock:
                self._calls[call_sid] = CallFacts(call_sid, account_sid or self.account_sid or PLACEHOLDER_ACCOUNT_SID,
                                                  from_, to, direction, started_at, started_at)
        self.set_call_status(call_sid, status)

    def set_call_status(self, call_sid: str, status: str) -> None:
        """The live call's CallStatus changed (ringing -> in-progress)."""
        with self._lock:
            self._live = {} if self._live is None else self._live
            self._live[call_sid] = status

    def call_ended(self, call_sid: str, final_status: str = "completed", *, ended_at: datetime | None = None,
                   duration_seconds: int | None = None) -> None:
        """The call is over: later updates are refused (error 21220) and unclaimed ones dropped; `ended_at`
        (wall time) and `duration_seconds` go on its resource."""
        with self._lock:
            facts = self._calls.get(call_sid)
            if facts is not None and ended_at is not None:
                facts.ended_at, facts.duration_seconds = ended_at, duration_seconds
            if self._live is not None:
                self._live.pop(call_sid, None)
            self._ended[call_sid] = final_status
            self._updates.pop(call_sid, None)

    def recording_made(self, recording_sid: str, call_sid: str, *, started_at: datetime, duration_seconds: int,
                       created_at: datetime, account_sid: str | None = None, source: str = "RecordVerb") -> None:
        """A call made a recording (its wall times): the Recordings list and the recording's resource show it."""
        with self._lock:
            self._recordings[recording_sid] = RecordingFacts(
                recording_sid, account_sid or self.account_sid or PLACEHOLDER_ACCOUNT_SID, call_sid, started_at,
                duration_seconds, created_at, source)

    def recordings(self) -> list[RecordingFacts]:
        """The recordings the simulator's calls made, oldest first."""
        with self._lock:
            return sorted(self._recordings.values(), key=lambda r: r.created_at)

    def has_updates(self, call_sid: str) -> bool:
        """Whether updates accepted for `call_sid` wait for the simulator (without claiming them)."""
        with self._lock:
            return bool(self._updates.get(call_sid))

    def take_updates(self, call_sid: str) -> list[CallUpdate]:
        """Claim the updates accepted for `call_sid` since the last call, oldest first."""
        with self._lock:
            return self._updates.pop(call_sid, [])

    @property
    def live_calls(self) -> dict[str, str]:
        """CallSid -> CallStatus of the calls a simulator is running now."""
        with self._lock:
            return dict(self._live or {})

    def call_status(self, call_sid: str) -> str | None:
        """The status the stand-in knows for `call_sid`: live, final, or queued when created and not run yet."""
        with self._lock:
            return self._known_status(call_sid)

    def _known_status(self, sid: str) -> str | None:
        # Callers hold the lock.
        current = (self._live or {}).get(sid) or self._ended.get(sid)
        return current or ("queued" if sid in self._created else None)

    # -- request handling ---------------------------------------------------------------------------------

    def _handle(self, method: str, path: str, body: bytes, authorization: str | None,
                byte_range: str | None = None) -> tuple[int, str, bytes, dict]:
        received_at = time.time()
        # A GET's parameters are in its query (the twilio SDK's list filters), a POST's in its form.
        raw = urlsplit(path).query if method == "GET" else body.decode()
        params = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(raw, keep_blank_values=True).items()}
        operation, match = "unknown", None
        for name, verb, pattern in ROUTES:
            candidate = re.fullmatch(pattern, urlsplit(path).path)
            if candidate and verb == method:
                operation, match = name, candidate
                break
        auth = _basic_auth(authorization)
        sid = CREATES[operation] + uuid.uuid4().hex if operation in CREATES else ""
        with self._lock:
            failure = self._failures.get(operation, [None]).pop(0) if self._failures.get(operation) else None
        answer = self._respond(operation, match, params, path, auth, failure, sid)
        headers = {}
        if operation == "recordings.fetch" and answer[0] == 200 and answer[1].startswith("audio/"):
            answer, headers = _media_range(answer, byte_range)
        with self._lock:
            # Recorded once answered, so that a refused create carries no SID.
            self.requests.append(RestRequest(method, path, operation, params, auth, sid if answer[0] == 201 else "",
                                             received_at, byte_range, answer[0]))
        return (*answer, headers)

    def _respond(self, operation: str, match, params: dict, path: str, auth, failure,
                 sid: str) -> tuple[int, str, bytes]:
        """The answer to one request: auth, a scripted failure, then the operation's own checks."""
        if self.auth_token and auth != (self.account_sid, self.auth_token):
            return _json(401, _twilio_error(401, "Authenticate"))
        if failure:
            return _json(failure[0], _twilio_error(*failure))
        if match is None:
            return _json(404, _twilio_error(404, f"The requested resource {path} was not found"))
        refusal = None
        if operation == "calls.update":
            refusal = self._accept_update(match["sid"], params, path)
        elif operation == "calls.create":
            refusal = self._accept_call(sid, params)
        elif operation == "messages.create":
            refusal = self._accept_message(sid, params)
        elif operation in ("recordings.fetch", "recordings.delete") and self._is_forgotten(match["sid"]):
            refusal = _json(404, _twilio_error(404, f"The requested resource {path} was not found"))
        elif operation == "calls.fetch" and not self._knows_call(match["sid"]):
            refusal = _json(404, _twilio_error(404, f"The requested resource {path} was not found"))
        elif operation == "accounts.fetch":
            if self.account_sid and match["account"] != self.account_sid:
                return _json(404, _twilio_error(404, f"The requested resource {path} was not found"))
            with self._lock:
                return _json(200, account_json(match["account"], self._created_at, self._account_status))
        elif operation == "incoming_phone_numbers.list":
            try:
                with self._lock:
                    return _json(200, incoming_numbers_page(match["account"], list(self._numbers.values()), params))
            except ValueError:
                return _json(400, _twilio_error(400, "Invalid Page or PageSize", 20001))
        elif operation == "recordings.list":
            try:
                with self._lock:
                    return _json(200, recordings_page(match["account"], list(self._recordings.values()), params))
            except (BadFilter, ValueError):
                return _json(400, _twilio_error(400, "Invalid DateCreated, Page or PageSize", 20001))
        return refusal or self._answer(operation, {**match.groupdict(), "sid": match.groupdict().get("sid") or sid},
                                       params)

    def _is_forgotten(self, recording_sid: str) -> bool:
        with self._lock:
            return recording_sid in self._forgotten

    def _knows_call(self, call_sid: str) -> bool:
        """Twilio answers 404 for a call it never had; a stand-in no simulator told of calls answers them all."""
        with self._lock:
            return self._live is None or call_sid in self._calls or self._known_status(call_sid) is not None

    def _accept_call(self, sid: str, params: dict) -> tuple[int, str, bytes] | None:
        """Record a valid calls.create as a queued call; the refusal Twilio would answer otherwise."""
        refusal = call_create_refusal(params)
        if refusal:
            return _json(refusal[0], _twilio_error(refusal[0], refusal[2], refusal[1]))
        with self._lock:
            self._created[sid] = dict(params)
        return None

    def _accept_message(self, sid: str, params: dict) -> tuple[int, str, bytes] | None:
        """Record a valid messages.create; the refusal Twilio would answer otherwise (21610 once opted out)."""
        with self._lock:
            refusal = message_create_refusal(params, self._opted_out)
            if refusal:
                return _json(refusal[0], _twilio_error(refusal[0], refusal[2], refusal[1]))
            self._messages.append({"sid": sid, "to": first(params, "To"), "from": first(params, "From") or None,
                                   "messaging_service_sid": first(params, "MessagingServiceSid") or None,
                                   "body": first(params, "Body"), "media_url": params.get("MediaUrl"),
                                   "status_callback": first(params, "StatusCallback") or None})
        return None

    def _accept_update(self, sid: str, params: dict, path: str) -> tuple[int, str, bytes] | None:
        """Queue an update for a live call; the refusal Twilio would answer otherwise (None: accepted)."""
        with self._lock:
            # A created call no simulator has run yet is queued: its updates wait for sim.run_outbound.
            queued = sid in self._created and sid not in (self._live or {}) and sid not in self._ended
            if self._live is None and not queued:
                return None  # no simulator told us which calls exist: accept everything, change nothing
            if sid in self._ended:
                # Twilio error 21220: "Calls that have completed cannot be recorded or redirected."
                return _json(400, _twilio_error(400, "Call is not in-progress. Cannot redirect.", 21220))
            if sid not in (self._live or {}) and not queued:
                return _json(404, _twilio_error(404, f"The requested resource {path} was not found"))
            if len(params.get("Twiml") or "") > TWIML_MAX_CHARS:
                return _json(400, _twilio_error(
                    400, f"Twiml size exceeded maximum allowed value of {TWIML_MAX_CHARS} characters", 32018))
            update = _update_from(sid, params, "queued" if queued else self._live[sid])
            if update:
                self._updates.setdefault(sid, []).append(update)
        return None

    def _call_status(self, sid: str, params: dict) -> str:
        """The status a calls.update/fetch answer reports for `sid`."""
        with self._lock:
            current = self._known_status(sid)
        requested = params.get("Status")
        if requested == "completed" or (requested == "canceled" and current in (None, *UNANSWERED_STATUSES)):
            return requested
        return current or "in-progress"

    def _answer(self, operation: str, ids: dict, params: dict) -> tuple[int, str, bytes]:
        account = ids["account"]
        if operation == "recordings.delete":
            with self._lock:  # gone for good: fetches answer 404 from now on, and the list leaves it out
                self._forgotten.add(ids["sid"])
                self._recordings.pop(ids["sid"], None)
            return 204, "application/json", b""
        if operation == "recordings.fetch":
            if ids.get("ext") == ".json":
                with self._lock:
                    known = self._recordings.get(ids["sid"])
                if known is not None:
                    return _json(200, recording_json(known))
                return _json(200, {"sid": ids["sid"], "account_sid": account, "status": "completed"})
            return 200, "audio/mpeg" if ids.get("ext") == ".mp3" else "audio/wav", WAV_BYTES
        sid = ids["sid"]
        if operation == "messages.create":
            # Sent through a Messaging Service, a message is "accepted" until a sender is picked.
            service = first(params, "MessagingServiceSid") or None
            return _json(201, {"sid": sid, "account_sid": account, "to": params.get("To"),
                               "from": params.get("From"), "messaging_service_sid": service,
                               "body": params.get("Body"), "status": "accepted" if service else "queued",
                               "direction": "outbound-api", "api_version": "2010-04-01",
                               "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json"})
        if operation == "queues.members.update":
            return _json(200, {"call_sid": sid, "queue_sid": ids["queue"], "position": 0,
                               "wait_time": 0, "url": params.get("Url")})
        created = operation == "calls.create"
        status = "queued" if created else self._call_status(sid, params)
        with self._lock:
            facts = self._calls.get(sid)
        if facts is not None and not created:
            return _json(200, call_json(facts, status))
        return _json(201 if created else 200,
                     {"sid": sid, "account_sid": account, "status": status, "to": params.get("To"),
                      "from": params.get("From"), "api_version": "2010-04-01",
                      **({"direction": "outbound-api"} if created else {}),
                      "uri": f"/2010-04-01/Accounts/{account}/Calls/{sid}.json"})

    def _handler_class(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, content_type, payload, headers = standin._handle(
                    self.command, self.path, self.rfile.read(length), self.headers.get("Authorization"),
                    self.headers.get("Range"))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, format, *args) -> None:  # keep test output quiet
                pass

        return Handler


def _media_range(answer: tuple[int, str, bytes], byte_range: str | None) -> tuple[tuple[int, str, bytes], dict]:
    """A media answer cut to the one byte range asked, as Twilio's media serves it (RFC 9110): 206 with
    Content-Range; 416 with `bytes */LENGTH` when the range starts past the end; the whole 200 for no Range or
    one the stand-in does not read (several ranges, another unit), which a server may ignore."""
    status, content_type, payload = answer
    size = len(payload)
    headers = {"Accept-Ranges": "bytes"}
    wanted = re.fullmatch(r"bytes=(\d*)-(\d*)", (byte_range or "").strip())
    if wanted is None or not (wanted[1] or wanted[2]):
        return answer, headers
    if wanted[1]:
        start = int(wanted[1])
        if wanted[2] and int(wanted[2]) < start:
            return answer, headers  # invalid: ignored
        end = min(int(wanted[2]), size - 1) if wanted[2] else size - 1
        if start >= size:
            return (416, "application/json", json.dumps(_twilio_error(416, "Range Not Satisfiable")).encode()), \
                {**headers, "Content-Range": f"bytes */{size}"}
    else:  # a suffix: the last N bytes
        start, end = max(0, size - int(wanted[2])), size - 1
        if int(wanted[2]) == 0:
            return (416, "application/json", json.dumps(_twilio_error(416, "Range Not Satisfiable")).encode()), \
                {**headers, "Content-Range": f"bytes */{size}"}
    return (206, content_type, payload[start:end + 1]), {**headers, "Content-Range": f"bytes {start}-{end}/{size}"}


def _update_from(sid: str, params: dict, current_status: str) -> CallUpdate | None:
    """What a calls.update asks of a live call, as Twilio reads it; None when it changes nothing we simulate."""
    status = params.get("Status")
    if status == "canceled" and current_status not in UNANSWERED_STATUSES:
        status = None  # Call resource docs: canceled "will not affect calls already in progress"
    url, twiml = params.get("Url") or None, params.get("Twiml") or None
    if url:
        twiml = None  # Twilio's API definition: with both, the Twiml parameter is ignored
    if not (url or twiml or status in HANGUP_STATUSES):
        return None
    return CallUpdate(sid, url=url, method=(params.get("Method") or "POST").upper(), twiml=twiml, status=status)


def _tiebreak(index: int):
    """A microsecond per number added, so the list's order (oldest first) is the order they were added."""
    return timedelta(microseconds=index)


def _json(status: int, payload: dict) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(payload).encode()


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password

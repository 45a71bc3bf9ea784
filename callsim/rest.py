"""A local stand-in for Twilio's REST API, for tests that use twilio.rest.Client."""
from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ACCOUNT = r"/2010-04-01/Accounts/(?P<account>AC\w+)"
# (operation name, HTTP method, path pattern); the operation names are what fail_next() takes.
ROUTES = [
    ("calls.update", "POST", ACCOUNT + r"/Calls/(?P<sid>CA\w+)\.json"),
    ("calls.fetch", "GET", ACCOUNT + r"/Calls/(?P<sid>CA\w+)\.json"),
    ("calls.create", "POST", ACCOUNT + r"/Calls\.json"),
    ("messages.create", "POST", ACCOUNT + r"/Messages\.json"),
    ("recordings.fetch", "GET", ACCOUNT + r"/Recordings/(?P<sid>RE\w+?)(?P<ext>\.json|\.wav|\.mp3)?"),
    ("queues.members.update", "POST", ACCOUNT + r"/Queues/(?P<queue>QU\w+)/Members/(?P<sid>CA\w+|Front)\.json"),
]
# A 44-byte RIFF/WAVE header plus a little silence: enough for code that checks the format.
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


def _twilio_error(status: int, message: str) -> dict:
    code = {401: 20003, 404: 20404}.get(status, 20000 + status)
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


class TwilioRestStandin:
    """A threaded HTTP server on 127.0.0.1 answering like api.twilio.com for the calls Careline makes."""

    def __init__(self, account_sid: str | None = None, auth_token: str | None = None):
        self.account_sid, self.auth_token = account_sid, auth_token  # when set, Basic auth must match
        self.requests: list[RestRequest] = []
        self._failures: dict[str, list[tuple[int, str]]] = {}
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

    # -- request handling ---------------------------------------------------------------------------------

    def _handle(self, method: str, path: str, body: bytes, authorization: str | None) -> tuple[int, str, bytes]:
        params = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        operation, match = "unknown", None
        for name, verb, pattern in ROUTES:
            candidate = re.fullmatch(pattern, urlsplit(path).path)
            if candidate and verb == method:
                operation, match = name, candidate
                break
        auth = _basic_auth(authorization)
        with self._lock:
            self.requests.append(RestRequest(method, path, operation, params, auth))
            failure = self._failures.get(operation, [None]).pop(0) if self._failures.get(operation) else None
        if self.auth_token and auth != (self.account_sid, self.auth_token):
            return _json(401, _twilio_error(401, "Authenticate"))
        if failure:
            return _json(failure[0], _twilio_error(*failure))
        if match is None:
            return _json(404, _twilio_error(404, f"The requested resource {path} was not found"))
        return self._answer(operation, match.groupdict(), params)

    def _answer(self, operation: str, ids: dict, params: dict) -> tuple[int, str, bytes]:
        account = ids["account"]
        if operation == "recordings.fetch":
            if ids.get("ext") == ".json":
                return _json(200, {"sid": ids["sid"], "account_sid": account, "status": "completed"})
            return 200, "audio/mpeg" if ids.get("ext") == ".mp3" else "audio/wav", WAV_BYTES
        if operation == "messages.create":
            return _json(201, {"sid": "SM" + uuid.uuid4().hex, "account_sid": account, "to": params.get("To"),
                               "from": params.get("From"), "body": params.get("Body"), "status": "queued"})
        if operation == "queues.members.update":
            return _json(200, {"call_sid": ids["sid"], "queue_sid": ids["queue"], "position": 0,
                               "wait_time": 0, "url": params.get("Url")})
        sid = ids.get("sid") or "CA" + uuid.uuid4().hex
        status = {"completed": "completed", "canceled": "canceled"}.get(params.get("Status"), "in-progress")
        if operation == "calls.create":
            status = "queued"
        return _json(201 if operation == "calls.create" else 200,
                     {"sid": sid, "account_sid": account, "status": status, "to": params.get("To"),
                      "from": params.get("From"), "api_version": "2010-04-01",
                      "uri": f"/2010-04-01/Accounts/{account}/Calls/{sid}.json"})

    def _handler_class(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, content_type, payload = standin._handle(self.command, self.path, self.rfile.read(length),
                                                                self.headers.get("Authorization"))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, format, *args) -> None:  # keep test output quiet
                pass

        return Handler


def _json(status: int, payload: dict) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(payload).encode()


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password

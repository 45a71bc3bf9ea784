"""How the simulator reaches the app: a Flask test client or a live HTTP server.

The simulator always speaks in absolute public URLs (https://careline.test/voice/incoming),
which is what Twilio requests and signs; a transport maps them onto its target. Each answer carries the real
time the request took, so the simulator can apply Twilio's webhook timeout.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

READ_TIMEOUT_SECONDS = 15  # Twilio's default total webhook budget (error 11205)


@dataclass(frozen=True)
class Response:
    """An HTTP answer from the app; status 0 when none came (the transport's own timeout ran out)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    text: str = ""
    elapsed_seconds: float = 0.0  # real time from sending the request to the whole answer

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased ('' when absent)."""
        for name, value in self.headers.items():
            if name.lower() == "content-type":
                return value.split(";", 1)[0].strip().lower()
        return ""

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300


def _path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class FlaskClientTransport:
    """Send requests through a Flask test client (path + query of the public URL)."""

    def __init__(self, client):
        self.client = client

    def request(self, method: str, url: str, params: Mapping[str, str] | None, headers: Mapping[str, str]) -> Response:
        """Send one request; for GET the params must already be in `url`."""
        path = _path_and_query(url)
        started = time.monotonic()
        if method == "GET":
            answer = self.client.get(path, headers=dict(headers))
        else:
            answer = self.client.open(path, method=method, data=dict(params or {}), headers=dict(headers))
        text = answer.get_data(as_text=True)  # a streamed body is produced here, so it counts too
        return Response(answer.status_code, dict(answer.headers), text, time.monotonic() - started)

    def serves(self, method: str, url: str) -> bool | None:
        """Whether the app has a route for `method` on the path of `url` (a redirecting route counts)."""
        app = self.client.application
        adapter = app.url_map.bind(app.config.get("SERVER_NAME") or "localhost")
        try:
            adapter.match(urlsplit(url).path or "/", method=method)
        except RequestRedirect:  # e.g. a missing trailing slash: Twilio follows the redirect
            return True
        except (NotFound, MethodNotAllowed):
            return False
        return True

    def post(self, url: str, params: Mapping[str, str] | None, headers: Mapping[str, str]) -> Response:
        """POST form params to `url`."""
        return self.request("POST", url, params, headers)


class HttpTransport:
    """Send requests to a live server, swapping the public scheme+host for `base_url`."""

    def __init__(self, base_url: str, timeout: float = READ_TIMEOUT_SECONDS):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def request(self, method: str, url: str, params: Mapping[str, str] | None, headers: Mapping[str, str]) -> Response:
        """Send one request; for GET the params must already be in `url`."""
        target = self.base_url + _path_and_query(url)
        started = time.monotonic()
        # Redirects are followed by the simulator, which re-signs each hop as Twilio does.
        try:
            answer = self.session.request(method, target, data=None if method == "GET" else dict(params or {}),
                                          headers=dict(headers), timeout=self.timeout, allow_redirects=False)
        except requests.Timeout:
            return Response(0, {}, "", time.monotonic() - started)
        return Response(answer.status_code, dict(answer.headers), answer.text, time.monotonic() - started)

    def serves(self, method: str, url: str) -> bool | None:
        """A live server's routes are not known from here: None (the URL check is skipped)."""
        return None

    def post(self, url: str, params: Mapping[str, str] | None, headers: Mapping[str, str]) -> Response:
        """POST form params to `url`."""
        return self.request("POST", url, params, headers)

"""How the simulator reaches the app: a Flask test client or a live HTTP server.

The simulator always speaks in absolute public URLs (https://careline.test/voice/incoming),
which is what Twilio requests and signs; a transport maps them onto its target.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

READ_TIMEOUT_SECONDS = 15  # Twilio's default total webhook budget (error 11205)


@dataclass(frozen=True)
class Response:
    """An HTTP answer from the app."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    text: str = ""

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
        if method == "GET":
            answer = self.client.get(path, headers=dict(headers))
        else:
            answer = self.client.open(path, method=method, data=dict(params or {}), headers=dict(headers))
        return Response(answer.status_code, dict(answer.headers), answer.get_data(as_text=True))

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
        # Redirects are followed by the simulator, which re-signs each hop as Twilio does.
        answer = self.session.request(method, target, data=None if method == "GET" else dict(params or {}),
                                      headers=dict(headers), timeout=self.timeout, allow_redirects=False)
        return Response(answer.status_code, dict(answer.headers), answer.text)

    def post(self, url: str, params: Mapping[str, str] | None, headers: Mapping[str, str]) -> Response:
        """POST form params to `url`."""
        return self.request("POST", url, params, headers)

"""Twilio's REST client for Careline: a timeout on every request, and TWILIO_API_BASE_URL honoured for all.

With TWILIO_API_BASE_URL set, every request the SDK makes, whatever Twilio domain it names (api, messaging,
voice, ...), goes to that base URL instead, path and query kept: the tests' stand-in answers them there.
"""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

REST_TIMEOUT_SECONDS = 10.0
TWILIO_API_BASE_URL = "https://api.twilio.com"  # the REST API's host; recordings' media are served there too


class RedirectedHttpClient(TwilioHttpClient):
    """The SDK's HTTP client with scheme and host of every request swapped for `base_url`'s."""

    def __init__(self, base_url: str, timeout: float = REST_TIMEOUT_SECONDS):
        super().__init__(timeout=timeout)
        parts = urlsplit(base_url.rstrip("/"))
        self._scheme, self._netloc, self._prefix = parts.scheme, parts.netloc, parts.path

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        moved = urlunsplit((self._scheme, self._netloc, self._prefix + parts.path, parts.query, ""))
        return super().request(method, moved, *args, **kwargs)


def make_twilio_client(account_sid: str, auth_token: str, api_base_url: str = "") -> Client:
    """Twilio's client for the account; pointed at `api_base_url` when it is set."""
    http_client = RedirectedHttpClient(api_base_url) if api_base_url else TwilioHttpClient(
        timeout=REST_TIMEOUT_SECONDS)
    return Client(account_sid, auth_token, http_client=http_client)


def api_base_url(configured: str = "") -> str:
    """Twilio's REST API base URL: `configured` (TWILIO_API_BASE_URL) when set, otherwise api.twilio.com."""
    return (configured or TWILIO_API_BASE_URL).rstrip("/")


def get_with_basic_auth(url: str, account_sid: str, auth_token: str,
                        timeout: float | None = None, headers: dict | None = None) -> requests.Response:
    """GET `url` with HTTP Basic auth (account SID, auth token), streamed: the caller reads and closes the body.

    Twilio may answer a recording's media with a redirect to its storage; requests follows it and drops the
    Authorization header when the host changes, so the credentials go to Twilio only. `timeout`
    (seconds, REST_TIMEOUT_SECONDS unless given) bounds the connection and each wait for bytes, not the whole
    download. `headers`: extra request headers (a media player's Range, passed on).
    """
    return requests.get(url, auth=(account_sid, auth_token), timeout=timeout or REST_TIMEOUT_SECONDS, stream=True,
                        headers=headers)

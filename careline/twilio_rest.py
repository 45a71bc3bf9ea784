"""Twilio's REST client for Careline: a timeout on every request, and TWILIO_API_BASE_URL honoured for all.

With TWILIO_API_BASE_URL set, every request the SDK makes, whatever Twilio domain it names (api, messaging,
voice, ...), goes to that base URL instead, path and query kept: the tests' stand-in answers them there.
"""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

REST_TIMEOUT_SECONDS = 10.0


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

"""URLs Careline gives Twilio (webhooks it redirects a call to) or a person (a message's link), built from
the web app's own routes, by endpoint name, on PUBLIC_BASE_URL: what Flask's `url_for` does, also outside a
request (in the RQ worker). Without PUBLIC_BASE_URL (development) a request's own host is used; outside a
request there is then no absolute URL to give, and `url` says so with an empty string."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import has_request_context, request
from werkzeug.routing import Map, MapAdapter


class Links:
    """Absolute URLs by endpoint; `bind` gives it the app's routes (the app factory does, once per process)."""

    def __init__(self, public_base_url: str):
        self._base = public_base_url.rstrip("/")
        self._url_map: Map | None = None
        self._adapter: MapAdapter | None = None
        self._paths: MapAdapter | None = None

    def bind(self, url_map: Map) -> None:
        """Use these routes (a Flask app's `url_map`)."""
        self._url_map = url_map
        self._adapter = self._adapter_for(self._base) if self._base else None
        self._paths = url_map.bind("localhost", script_name=urlsplit(self._base).path or "/")

    @property
    def configured(self) -> bool:
        """True when an absolute URL can be built here (PUBLIC_BASE_URL is set, or inside a request)."""
        return bool(self._base) or has_request_context()

    def url(self, endpoint: str, **values) -> str:
        """The absolute URL of `endpoint` with `values` (path arguments, then the query string); "" when there
        is no base URL to build it on (no PUBLIC_BASE_URL, outside a request)."""
        if self._url_map is None:
            raise RuntimeError("Links.bind(app.url_map) was not called")
        if self._adapter is not None:
            adapter = self._adapter
        elif has_request_context():
            adapter = self._adapter_for(request.host_url.rstrip("/"))
        else:
            return ""
        return adapter.build(endpoint, values, force_external=True)

    def path(self, endpoint: str, **values) -> str:
        """The URL of `endpoint` relative to the host (TwiML's own action URLs: Twilio resolves them against
        the URL it requested)."""
        if self._paths is None:
            raise RuntimeError("Links.bind(app.url_map) was not called")
        return self._paths.build(endpoint, values)

    def _adapter_for(self, base: str) -> MapAdapter:
        parts = urlsplit(base)
        return self._url_map.bind(parts.netloc, script_name=parts.path or "/", url_scheme=parts.scheme or "https")

"""Headers every answer of the web process gets: no cache keeps patient data, and browsers keep to https.

Careline's answers are patient data (messages, recordings, callbacks, pages, the desk), figures about patients, or
answers to Twilio; only code (the console's own files, the browser packages it serves) may be cached. So every
answer is `Cache-Control: no-store` unless it is code or its view chose its own (a view may say more, e.g.
"no-store, private"; the vendored scripts say "immutable"). Deciding by what may be cached, not by what is
sensitive, means a new endpoint is safe by default.

HSTS (RFC 6797) is sent when Careline is served over https: the request came over TLS (as werkzeug sees it, behind
ProxyFix when TRUSTED_PROXIES is set), or PUBLIC_BASE_URL is https (TLS ends at a proxy in front). A browser
ignores it over plain http, so it costs nothing there.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Response, request

NO_STORE = "no-store"
HSTS_SECONDS = 365 * 24 * 3600  # a year: the preload list's minimum, and what a fixed https deployment can promise
HSTS = f"max-age={HSTS_SECONDS}; includeSubDomains"


def security_headers(cacheable_endpoints: Iterable[str], public_base_url: str) -> Callable[[Response], Response]:
    """An after_request hook: no-store on every answer but code (`cacheable_endpoints`) and answers whose view set
    their own Cache-Control; HSTS when served over https."""
    cacheable = frozenset(cacheable_endpoints)
    https_base = public_base_url.lower().startswith("https://")

    def add_headers(response: Response) -> Response:
        if request.endpoint not in cacheable and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = NO_STORE
        if https_base or request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    return add_headers

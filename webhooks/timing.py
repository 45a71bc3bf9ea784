"""How long each of Twilio's webhooks took and how it ended (core/telemetry.py), and the fallback TwiML served.

Timed by the monotonic counter: a duration, not a time of day, so it is not read from Careline's clock.
"""
from __future__ import annotations

import time

from flask import Response, g, request

from core import telemetry

WEBHOOK_BLUEPRINTS = frozenset({"voice", "sms", "callback_calls"})


def webhook_timer_start() -> None:
    """Before a request: note when a webhook began."""
    if request.blueprint in WEBHOOK_BLUEPRINTS:
        g.webhook_started = time.perf_counter()


def webhook_timer_stop(response: Response) -> Response:
    """After a request: observe a webhook's duration under its route's rule and its outcome."""
    started = g.pop("webhook_started", None)
    if started is not None:
        if g.get("webhook_fallback"):
            outcome = "fallback"
        elif response.status_code >= 500:
            outcome = "error"
        elif response.status_code >= 400:
            outcome = "rejected"
        else:
            outcome = "ok"
        telemetry.webhook_seconds.labels(route=_route(), outcome=outcome).observe(time.perf_counter() - started)
    return response


def served_fallback(kind: str) -> None:
    """Count fallback TwiML this request answers with (kind: message, apology, last_resort, twilio_fallback_url)."""
    g.webhook_fallback = True
    telemetry.twiml_fallbacks.labels(route=_route(), kind=kind).inc()


def _route() -> str:
    """The route's rule ("/voice/incoming", "/voice/audio/<name>"): bounded, never the request's own path."""
    return request.url_rule.rule if request.url_rule is not None else "unmatched"

"""Each request's log context (core/logs.py `log_context`): a request id, and on Twilio's webhooks the CallSid.

The request id is the client's `X-Request-ID` when it is one we can trust in a log line (a proxy's or a load
balancer's id: letters, digits, `.`, `_`, `:`, `-`, up to 128), a new one otherwise; the answer echoes it in
`X-Request-ID`, so a client, a proxy and Careline's logs name the same request alike. The practice is bound where
it becomes known (ivr/turns.py, from the number called).
"""
from __future__ import annotations

import re
import uuid

from flask import Response, g, request

from core.logs import bind_log_context, reset_log_context

REQUEST_ID_HEADER = "X-Request-ID"
WELL_FORMED_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
# Twilio's CallSid: CA and 32 hex digits (the simulator's are the same shape); anything else is not logged.
CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")


def request_id_of(header: str | None) -> str:
    """The client's request id when well-formed, else a new one (32 hex digits)."""
    if header and WELL_FORMED_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def bind_request_context(webhook_prefixes: tuple[str, ...]):
    """A `before_request` hook: bind this request's id, and on a webhook its CallSid, to the log context."""

    def bind() -> None:
        g.request_id = request_id_of(request.headers.get(REQUEST_ID_HEADER))
        call_sid = None
        if request.path.startswith(webhook_prefixes) and request.method == "POST":
            # Twilio's form (within MAX_CONTENT_LENGTH, as the view would read it): its CallSid, when well-formed.
            candidate = request.form.get("CallSid", "")
            call_sid = candidate if CALL_SID.fullmatch(candidate) else None
        g.log_context_token = bind_log_context(request_id=g.request_id, call_sid=call_sid)

    return bind


def echo_request_id(response: Response) -> Response:
    """An `after_request` hook: the answer carries the request's id in X-Request-ID."""
    request_id = g.get("request_id")
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def reset_request_context(_exc: BaseException | None = None) -> None:
    """A `teardown_request` hook: the log context as it was before the request (a thread serves the next one)."""
    token = g.pop("log_context_token", None)
    if token is not None:
        try:
            reset_log_context(token)
        except ValueError:
            pass  # torn down in another context than the one that bound it (a streamed answer): nothing to undo

"""The JSON API's endpoints for the answering desk (`/console/desk`), under /api/agents/me/... and
/api/calls/<sid>/...: the desk calls them with the console's session (a change also sends the page's CSRF token),
other clients with a Bearer token."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator

from flask import Response, current_app, jsonify, request

from api import bp
from agents.users import answers_for
from api.auth import current_user, still_authenticated, token_required
from desk.stream import DeskStream, SseItem
from api.errors import InvalidBody, InvalidField
from ivr.on_call import CALL_SID
from voicemail.taken import TakenMessages
from web.audit import record_read

log = logging.getLogger(__name__)

# Seconds between two checks that an open event stream's token or session still lets its agent in: a signed-out,
# timed-out or deactivated desk hears nothing more after this (plus the stream's 15 s ping at most).
ACCESS_CHECK_SECONDS = 10.0


@bp.get("/agents/me/voice-token")
@token_required()
def my_voice_token():
    """A Twilio access token for one's softphone (`{"token", "identity", "expires_at"}`), valid at most an hour.
    200; 401; 404 when the agent was deleted; 409 `no-client-identity`; 503 `softphone-not-configured`, or when
    the database is down."""
    issued = current_app.extensions["careline"].voice_tokens.issue(current_user().id)
    response = jsonify(token=issued.token, identity=issued.identity, expires_at=issued.expires_at.isoformat())
    response.headers["Cache-Control"] = "no-store"  # a credential: kept by no cache
    return response


# --- the desk's live events ----------------------------------------------------------------------------------------

@bp.get("/agents/me/events")
@token_required()
def my_events():
    """One's live events as Server-Sent Events (`text/event-stream`): on connect `state`, `queue` and `colleagues`,
    then `state`, `offer`, `offer-ended`, `queue`, `colleagues` as they happen; resumes after `Last-Event-ID`
    (or `?last_event_id=`). 200 (a stream); 401; 503 when Redis is down."""
    services = current_app.extensions["careline"]
    user = current_user()
    practices = [practice for practice in services.queue_overview.practices() if answers_for(user, practice.id)]
    last_event_id = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    stream = services.desk_streams.open(user.id, practices, last_event_id)
    response = Response(_sse(stream, still_authenticated()), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"  # the caller's number rides in an offer
    response.headers["X-Accel-Buffering"] = "no"  # a proxy (nginx) must pass each event on at once
    return response


def _sse(stream: DeskStream, still_allowed: Callable[[], bool]) -> Iterator[str]:
    """Server-Sent Events' text: `retry:`, comments, and events (`id:` when from the feed, `event:`, `data:`).
    Closed by the server when the desk has gone, it closes the stream (its thread, subscription and slot). Ends,
    sending nothing more, once `still_allowed` says the access that opened it has ended (checked at most every
    ACCESS_CHECK_SECONDS, before an item): EventSource's reconnection then gets its 401."""
    items = iter(stream)
    checked = time.monotonic()
    try:
        for item in items:
            if time.monotonic() - checked >= ACCESS_CHECK_SECONDS:
                checked = time.monotonic()
                if not still_allowed():
                    log.info("api: an event stream ended: its token or session no longer lets its agent in")
                    return
            yield _sse_text(item)
    finally:
        items.close()


def _sse_text(item: SseItem) -> str:
    if item.retry_ms is not None:
        return f"retry: {item.retry_ms}\n\n"
    if item.comment is not None:
        return f": {item.comment}\n\n"
    head = f"id: {item.id}\n" if item.id else ""
    return f"{head}event: {item.type}\ndata: {json.dumps(item.data, separators=(',', ':'))}\n\n"


# --- a message taken during the call, and its draft -----------------------------------------------------------------

def _taken_messages() -> TakenMessages:
    return current_app.extensions["careline"].taken_messages


def _call_sid(call_sid: str) -> str:
    if not CALL_SID.fullmatch(call_sid):
        raise InvalidField("call_sid", "a CallSid is CA followed by 32 hexadecimal digits")
    return call_sid


def _form_body() -> dict:
    """The body: the form's fields as one JSON object (`{"patient_name": ..., "urgent": true, ...}`)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidBody('the body must be a JSON object of the form\'s fields: {"patient_name": ..., ...}')
    return body


@bp.post("/calls/<call_sid>/messages")
@token_required()
def take_message(call_sid: str):
    """Save the message an agent takes on their call, with the practice's form as a JSON object (and
    `"message_type": "complaint"` for a complaint, which opens it); it pages, opens its callback task and sends the
    receipt as a recorded message does, and removes the draft. 201 `{"id", "fields", "message_type",
    "complaint_id"}`; 400 `invalid-field` naming the field (nothing saved); 401; 403 not the agent's call;
    409 `message-already-taken`; 503."""
    sid = _call_sid(call_sid)
    taken = _taken_messages().take(current_user().id, sid, _form_body())
    return jsonify(id=taken.id, fields=taken.fields, message_type=taken.kind, complaint_id=taken.complaint_id), 201


@bp.put("/calls/<call_sid>/message-draft")
@token_required()
def save_message_draft(call_sid: str):
    """Keep the form being typed on one's call as a draft, as typed (sizes only are checked). 204; 400; 401; 403
    not the agent's call; 409 `message-already-taken`; 503."""
    sid = _call_sid(call_sid)
    _taken_messages().save_draft(current_user().id, sid, _form_body())
    return "", 204


@bp.get("/calls/<call_sid>/message-draft")
@token_required()
def message_draft(call_sid: str):
    """One's draft of the call's message: `{"call_sid", "fields", "updated_at"}`. 200; 400; 401; 403 not the
    agent's call; 404 `draft-not-found`; 503."""
    draft = _taken_messages().draft(current_user().id, _call_sid(call_sid))
    record_read(current_user(), "message-draft.read", "call", draft.call_sid)
    response = jsonify(call_sid=draft.call_sid, fields=draft.fields, updated_at=draft.updated_at.isoformat())
    response.headers["Cache-Control"] = "no-store"  # patient data
    return response


@bp.get("/agents/me/message-drafts")
@token_required()
def my_message_drafts():
    """One's drafts not saved as messages yet (a call that ended mid-form), newest first, each with its practice's
    form: `{"drafts": [{"call_sid", "practice": {"id", "name", "timezone", "message_fields"}, "fields",
    "updated_at"}]}`. 200; 401; 503."""
    drafts = _taken_messages().unfinished(current_user().id)
    record_read(current_user(), "message-drafts.list", details={
        "count": len(drafts), "call_sids": [draft.call_sid for draft in drafts]})
    response = jsonify(drafts=[{
        "call_sid": draft.call_sid, "fields": draft.fields, "updated_at": draft.updated_at.isoformat(),
        "practice": {"id": draft.practice_id, "name": draft.practice_name, "timezone": draft.timezone,
                     "message_fields": list(draft.message_fields)}} for draft in drafts])
    response.headers["Cache-Control"] = "no-store"  # patient data
    return response

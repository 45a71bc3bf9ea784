"""The JSON API's endpoints about messages: list and read them, play a recording through Careline (with byte
ranges, so a player can seek), mark one handled with a note, and count the unread ones."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import current_app, jsonify, request
from werkzeug.exceptions import MethodNotAllowed

from api import bp
from api.auth import current_user, token_required
from api.errors import InvalidBody, InvalidField, check_query
from practices.loader import SLUG
from voicemail.access import LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, MessageFilter, MessageService, MessageView, Reader
from voicemail.errors import RangeNotSatisfiable
from web.audit import request_actor
from web.inbox_query import INBOX_PARAMETERS, inbox_filters
from web.recordings import recording_response

LIST_PARAMETERS = ("practice", "urgent", "since", "limit", *INBOX_PARAMETERS)
HANDLED_FIELDS = ("note",)
BOOLEANS = {"true": True, "1": True, "false": False, "0": False}  # as the other list endpoints take them


def _service() -> MessageService:
    return current_app.extensions["careline"].messages


def _reader() -> Reader:
    """The current user as a reader of messages; every practice for whom `agents.users.answers_for` says so."""
    user = current_user()
    return Reader(user.id, None if user.role == "admin" or user.all_practices else user.practice_ids,
                  request_actor(user))


def message_json(message: MessageView, reads: bool = False) -> dict:
    """A message as the API shows it; `recording_url` is Careline's own, never Twilio's (null without a recording:
    a message an agent took, whose `author_agent_id` and form's `fields` are shown). `read_at`: when the user
    first opened it (null: unread by them); `status` new or handled, `handled` who, when and the note;
    `reads` (one message only): everyone's first read, oldest first."""
    links = current_app.extensions["careline"].links
    playable = message.has_recording and message.recording_deleted_at is None  # retention deletes recordings
    recording_url = links.url("api.message_recording", message_id=message.id) if playable else None
    handling = message.handling
    shown = {"id": message.id, "practice": message.practice_slug, "call_sid": message.call_sid,
             "created_at": message.created_at.isoformat(), "from": message.from_number,
             "language": message.language, "urgent": message.urgent, "after_hours": message.after_hours,
             "duration_seconds": message.duration_seconds, "recording_status": message.recording_status,
             "transcription": {"status": message.transcription_status, "text": message.transcription_text},
             "recording_url": recording_url, "author_agent_id": message.author_agent_id, "fields": message.fields,
             "recording_deleted_at": message.recording_deleted_at.isoformat() if message.recording_deleted_at
             else None,
             "author_name": message.author_name,
             "read_at": message.read_at.isoformat() if message.read_at else None, "status": message.status,
             "handled": None if handling is None else {
                 "agent_id": handling.agent_id, "agent_name": handling.agent_name,
                 "at": handling.at.isoformat(), "note": handling.note}}
    if reads:
        shown["reads"] = [{"agent_id": read.agent_id, "agent_name": read.agent_name, "at": read.at.isoformat()}
                          for read in message.reads]
    return shown


def _message_filter() -> MessageFilter:
    """The query `?practice=SLUG&urgent=true|false&since=ISO-8601&limit=N`; 400 naming the parameter."""
    check_query(request.args, LIST_PARAMETERS)
    practice = request.args.get("practice")
    if practice is not None and not SLUG.fullmatch(practice):  # e.g. a NUL, which PostgreSQL refuses to compare
        raise InvalidField("practice", "practice must be a practice's slug")
    urgent = request.args.get("urgent")
    if urgent is not None and urgent.lower() not in BOOLEANS:
        raise InvalidField("urgent", "urgent must be true or false", allowed=["true", "false"])
    return MessageFilter(practice_slug=practice, urgent=None if urgent is None else BOOLEANS[urgent.lower()],
                         since=_since(request.args.get("since")), limit=_limit(request.args.get("limit")),
                         **inbox_filters(request.args))


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        # An unescaped "+" of the UTC offset arrives as a space: 2026-11-24T16:00:00 00:00.
        head, space, offset = value.rpartition(" ")
        try:
            since = datetime.fromisoformat(f"{head}+{offset}") if space else None
        except ValueError:
            since = None
        if since is None:
            raise InvalidField("since", "since must be an ISO 8601 date and time, e.g. 2026-11-24T16:00:00Z",
                               value=value) from None
    if since.tzinfo is None:
        raise InvalidField("since", "since must include a UTC offset, e.g. 2026-11-24T16:00:00Z or -06:00",
                           value=value)
    try:
        since.astimezone(timezone.utc)  # the database compares in UTC: year 1 at +23:59 is before any date
    except OverflowError:
        raise InvalidField("since", "since is out of range", value=value) from None
    return since


def _limit(value: str | None) -> int:
    if value is None:
        return LIST_LIMIT_DEFAULT
    if not value.isdigit() or not 1 <= int(value) <= LIST_LIMIT_MAX:
        raise InvalidField("limit", f"limit must be a whole number from 1 to {LIST_LIMIT_MAX}", max=LIST_LIMIT_MAX)
    return int(value)


@bp.get("/messages")
@token_required()
def list_messages():
    """The messages of the practices the user answers for (an admin: all), newest first, filtered by
    `?practice=SLUG&urgent=true|false&since=ISO-8601&limit=N&status=new|handled&date=YYYY-MM-DD` (or
    `from=`/`to=` days; each a day in the message's practice's zone). 200; 400; 401; 403 for a practice not
    theirs; 404 for an unknown slug; 503."""
    where = _message_filter()
    messages = _service().list_messages(_reader(), where)
    return jsonify(messages=[message_json(message) for message in messages])


@bp.get("/messages/<int:message_id>")
@token_required()
def read_message(message_id: int):
    """One message of a practice the user answers for, now read by the user (audited "read"; its first read is
    the user's read receipt), with everyone's `reads`. 200; 401; 403 for another practice's; 404; 503."""
    message = _service().read_message(_reader(), message_id)
    return jsonify(message_json(message, reads=True))


@bp.get("/messages/unread-count")
@token_required()
def unread_message_count():
    """How many messages of the user's practices the user has not opened: `{"unread": N, "practices":
    {"SLUG": n}}` (practices with none left out). 200; 401; 503."""
    counts = _service().unread_counts(_reader())
    return jsonify(unread=sum(counts.values()), practices=counts)


@bp.post("/messages/<int:message_id>/handled")
@token_required()
def mark_message_handled(message_id: int):
    """Mark a message handled with `{"note": "..."}` (required, 1 to 1000 characters). 200 with the message;
    400 invalid-body / invalid-field naming the field; 401; 403 for another practice's; 404; 409
    message-already-handled (the first mark and its note stay); 503."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidBody('the body must be a JSON object: {"note": "..."}')
    unknown = sorted(set(body) - set(HANDLED_FIELDS))
    if unknown:
        raise InvalidField(unknown[0], "unknown field; the only field is note")
    if not isinstance(body.get("note"), str):
        raise InvalidField("note", "note must be a text saying what was done")
    message = _service().mark_handled(_reader(), message_id, body["note"])
    return jsonify(message_json(message, reads=True))


@bp.get("/messages/<int:message_id>/recording")
@token_required()
def message_recording(message_id: int):
    """The message's recording, streamed from Twilio with its Content-Type; a `Range: bytes=...` header is
    passed on to Twilio, so a player can seek. 200; 206 with Content-Range for a range; 401; 403 for another
    practice's; 404 message-not-found or recording-not-found; 416 range-not-satisfiable (with Content-Range:
    bytes */LENGTH); 502 when Twilio fails; 503."""
    if request.method == "HEAD":
        # Flask answers HEAD on every GET route: here it would fetch the audio and audit a play nobody heard.
        raise MethodNotAllowed(valid_methods=["GET"])
    try:
        media = _service().open_recording(_reader(), message_id, request.headers.get("Range"))
    except RangeNotSatisfiable as exc:
        response = jsonify(error_id="range-not-satisfiable",
                           details={"description": str(exc), "message_id": exc.message_id})
        response.status_code = 416
        if exc.content_range:
            response.headers["Content-Range"] = exc.content_range
        return response
    return recording_response(media)

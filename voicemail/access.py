"""Reading messages and playing their recordings, for the people who answer a practice; every access audited.

Each list, read or play writes a row of the audit trail (`audit`: who, how, from where, the action, the
message or the list's count and filter, Careline's clock): a list is one row (`messages.list`), a read
`message.read`, a play `recording.play`. A list and a read write their row in the transaction that reads the
messages, so no message is shown without its row.

The inbox (issue 13) adds, per person, the first time they opened a message (`MessageRead`, its read receipt,
written with the "read" row), and per message whether someone handled it, with a note (`MessageHandling`).
"""
from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from audit.actors import Actor
from audit.trail import AuditTrail
from core.db import database_errors_as_dependency_down, session_scope
from core.upsert import insert_ignoring_duplicates
from practices.errors import practice_named
from practices.snapshot import DEFAULT_MESSAGE_FIELDS
from models import HANDLED_NOTE_MAX_CHARS, Agent, Message, MessageHandling, MessageRead, Practice
from voicemail.errors import (FieldInvalid, MessageAlreadyHandled, MessageHasNoRecording, MessageNotFound,
                              MessageNotYours, RangeNotSatisfiable,
                              RecordingDeleted, RecordingNotFound, RecordingsBusy, RecordingUnavailable)

log = logging.getLogger(__name__)

LIST_LIMIT_DEFAULT = 50  # messages per list, newest first
LIST_LIMIT_MAX = 200
MEDIA_CHUNK_BYTES = 64 * 1024  # bytes read from Twilio at a time while relaying a recording
# Recordings one web process relays at once. Each holds one of gunicorn's threads (the Procfile's --threads 16)
# for as long as the download lasts, however slow the player or Twilio: the cap keeps the other threads for
# Twilio's webhooks. A player past it gets 503 recordings-busy and asks again.
RECORDING_STREAMS_PER_PROCESS = 4
DEFAULT_MEDIA_TYPE = "audio/wav"  # what Twilio serves for a .wav, should it send no Content-Type

# GET .../Recordings/{RecordingSid}.wav answers the audio itself (Recording resource: ".wav" or no extension
# is WAV, ".mp3" is MP3, ".json" the metadata). Careline always sends Basic auth: HIPAA accounts enforce it.
RECORDING_MEDIA_PATH = "/2010-04-01/Accounts/{account_sid}/Recordings/{recording_sid}.wav"
# One byte range (RFC 9110 14.1.2), the only kind a media player asks; anything else is ignored (a full 200), as
# the RFC lets a server do. Twilio's media answers such a Range with 206 and Content-Range, or 416.
BYTE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
MESSAGE_STATUSES = ("new", "handled")  # a message nobody handled yet, or one someone handled


@dataclass(frozen=True)
class Reader:
    """Who reads messages: the agent, the practices it answers for (None: every practice), and how the audit
    trail names them (None: the agent alone, by an unknown way in)."""

    agent_id: int
    practice_ids: frozenset[int] | None
    actor: Actor | None = None

    def audited_as(self) -> Actor:
        """The actor the audit trail records for this reader."""
        return self.actor if self.actor is not None else Actor(agent_id=self.agent_id, via="system")

    def answers_for(self, practice_id: int) -> bool:
        """Whether the reader may see the practice's messages; an empty set of practices sees none."""
        return self.practice_ids is None or practice_id in self.practice_ids


@dataclass(frozen=True)
class MessageFilter:
    """Which messages a list shows: of one practice (by slug), urgent or not, created at or after `since`, new
    or handled, left on the days `from_day` to `to_day` (both included), each day in its practice's zone."""

    practice_slug: str | None = None
    urgent: bool | None = None
    since: datetime | None = None  # timezone-aware; the interval [since, now) is shown
    limit: int = LIST_LIMIT_DEFAULT
    status: str | None = None  # MESSAGE_STATUSES
    from_day: date | None = None  # the practice's local date
    to_day: date | None = None


@dataclass(frozen=True)
class Handling:
    """Who marked a message handled, when, and their note."""

    agent_id: int | None
    agent_name: str | None  # None once that agent is deleted
    at: datetime
    note: str


@dataclass(frozen=True)
class ReadReceipt:
    """The first time one person opened a message."""

    agent_id: int
    agent_name: str
    at: datetime


@dataclass(frozen=True)
class MessageView:
    """A message as a reader sees it; the recording's Twilio URL stays inside Careline."""

    id: int
    practice_slug: str
    call_sid: str
    created_at: datetime
    from_number: str
    language: str
    urgent: bool
    after_hours: bool
    duration_seconds: int | None  # the recording's; None for a message an agent took
    recording_status: str | None
    transcription_status: str | None
    transcription_text: str | None
    has_recording: bool = True  # a recorded message (an agent's has none)
    # When retention deleted the recording (at Twilio and its URL here); None: playable (if it has one).
    recording_deleted_at: datetime | None = None
    author_agent_id: int | None = None  # the agent who took the message during the call; None: recorded
    fields: dict | None = None  # the form's values of a message an agent took
    practice_name: str = ""
    practice_timezone: str = "UTC"
    author_name: str | None = None
    read_at: datetime | None = None  # when the reader first opened it; None: unread by them
    handling: Handling | None = None  # None: new
    reads: tuple[ReadReceipt, ...] = ()  # everyone's first reads, oldest first (one message read only)
    field_labels: dict | None = None  # name -> label of the practice's message form, for `fields`

    @property
    def status(self) -> str:
        """ "new" until someone handled it, then "handled"."""
        return "new" if self.handling is None else "handled"


@dataclass(frozen=True)
class RecordingMedia:
    """A recording being relayed from Twilio: its type, its bytes as they arrive, and how to let go of it;
    `status` 206 with `content_range` for a byte range, else 200."""

    content_type: str
    content_length: int | None
    chunks: Iterator[bytes]
    close: Callable[[], None]
    status: int = 200
    content_range: str | None = None
    accept_ranges: str | None = None  # Twilio's Accept-Ranges ("bytes"), relayed so the player knows it may seek


class MessageService:
    """Lists and reads messages and relays their recordings, for a `Reader`, writing the audit rows."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Callable[[], datetime], audit: AuditTrail,
                 media_get: Callable[[str], requests.Response] | None = None, account_sid: str = "",
                 api_base_url: str = "", max_streams: int = RECORDING_STREAMS_PER_PROCESS):
        self._session_factory = session_factory
        self._clock = clock
        self._audit_trail = audit
        # media_get: an authenticated, streamed GET of a URL on Twilio's API (core.twilio_rest).
        self._media_get = media_get
        self._account_sid = account_sid
        self._api_base_url = api_base_url.rstrip("/")
        self._max_streams = max_streams
        self._streams = threading.BoundedSemaphore(max_streams)  # recordings this process is relaying

    def list_messages(self, reader: Reader, where: MessageFilter) -> list[MessageView]:
        """The messages of the reader's practices that match `where`, newest first; the list is audited as one
        `messages.list` row with its count, filter and ids.

        PracticeUnknown / PracticeNotYours for a slug that no practice has / the reader does not answer for;
        DependencyDown when the database does not answer."""
        if not 1 <= where.limit <= LIST_LIMIT_MAX:
            raise ValueError(f"limit must be between 1 and {LIST_LIMIT_MAX}, not {where.limit}")
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            query = _with_state(select(Message, Practice).join(Practice, Practice.id == Message.practice_id),
                                reader)
            practice_id = None
            if where.practice_slug is not None:
                practice_id = practice_named(
                    where.practice_slug,
                    session.scalar(select(Practice.id).where(Practice.slug == where.practice_slug)),
                    reader.answers_for, sees_every=reader.practice_ids is None)
                query = query.where(Message.practice_id == practice_id)
            elif reader.practice_ids is not None:
                if not reader.practice_ids:
                    self._audit_list(session, reader, where, [])
                    return []  # no practice: no message, never every message
                query = query.where(Message.practice_id.in_(sorted(reader.practice_ids)))
            if where.urgent is not None:
                query = query.where(Message.urgent.is_(where.urgent))
            if where.since is not None:
                query = query.where(Message.created_at >= where.since)
            if where.status is not None:
                query = query.where(MessageHandling.message_id.is_(None) if where.status == "new"
                                    else MessageHandling.message_id.is_not(None))
            if where.from_day is not None or where.to_day is not None:
                query = query.where(_on_days(session, reader, where))
            rows = session.execute(query.order_by(Message.created_at.desc(), Message.id.desc())
                                   .limit(where.limit)).all()
            views = [_view_of(row) for row in rows]
            self._audit_list(session, reader, where, views, practice_id)
        return views

    def unread_counts(self, reader: Reader) -> dict[str, int]:
        """How many messages of each of the reader's practices they have not opened yet, by practice slug
        (practices with none left out); DependencyDown when the database does not answer."""
        if reader.practice_ids is not None and not reader.practice_ids:
            return {}
        with database_errors_as_dependency_down(), self._session_factory() as session:
            read = select(MessageRead.message_id).where(MessageRead.agent_id == reader.agent_id,
                                                        MessageRead.message_id == Message.id)
            query = (select(Practice.slug, func.count(Message.id)).join(Practice, Practice.id == Message.practice_id)
                     .where(~read.exists()).group_by(Practice.slug))
            if reader.practice_ids is not None:
                query = query.where(Message.practice_id.in_(sorted(reader.practice_ids)))
            return {slug: count for slug, count in session.execute(query)}

    def practices_of(self, reader: Reader) -> list[tuple[str, str]]:
        """(slug, name) of the practices whose messages the reader sees, by name (an inbox's filter)."""
        if reader.practice_ids is not None and not reader.practice_ids:
            return []
        with database_errors_as_dependency_down(), self._session_factory() as session:
            query = select(Practice.slug, Practice.name).order_by(Practice.name, Practice.slug)
            if reader.practice_ids is not None:
                query = query.where(Practice.id.in_(sorted(reader.practice_ids)))
            return [(slug, name) for slug, name in session.execute(query)]

    def mark_handled(self, reader: Reader, message_id: int, note: str) -> MessageView:
        """Mark the message handled, with the reader's note (trimmed; 1 to HANDLED_NOTE_MAX_CHARS characters).

        FieldInvalid("note") before anything is read or written; MessageNotFound, MessageNotYours;
        MessageAlreadyHandled when someone did already (their note stays); DependencyDown."""
        note = note.strip() if isinstance(note, str) else note
        if not isinstance(note, str) or not note:
            raise FieldInvalid("note", "note must say what was done (a text of 1 to "
                                       f"{HANDLED_NOTE_MAX_CHARS} characters)")
        if len(note) > HANDLED_NOTE_MAX_CHARS:
            raise FieldInvalid("note", f"note must be at most {HANDLED_NOTE_MAX_CHARS} characters")
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            self._find(session, reader, message_id)
            at = self._clock()
            # The primary key on the message decides a race: the second mark inserts nothing.
            # (RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT.)
            written = session.execute(insert_ignoring_duplicates(session, MessageHandling, ("message_id",))
                                      .returning(MessageHandling.message_id),
                                      {"message_id": message_id, "agent_id": reader.agent_id, "handled_at": at,
                                       "note": note}).first()
            if written is None:
                earlier = session.get(MessageHandling, message_id)
                raise MessageAlreadyHandled(message_id, earlier.agent_id, earlier.handled_at)
            log.info("messages: agent %s handled message %s", reader.agent_id, message_id)
            # The answer shows the message again: a read, as the trail sees it.
            self._audit(session, reader, message_id, "message.handle")
        return self._read_view(reader, message_id)

    def _read_view(self, reader: Reader, message_id: int) -> MessageView:
        with database_errors_as_dependency_down(), self._session_factory() as session:
            return self._full_view(session, reader, message_id)

    def _full_view(self, session: Session, reader: Reader, message_id: int) -> MessageView:
        row = session.execute(_with_state(select(Message, Practice).join(Practice, Practice.id == Message.practice_id),
                                          reader).where(Message.id == message_id)).one()
        reads = session.execute(select(MessageRead.agent_id, Agent.name, MessageRead.first_read_at)
                                .join(Agent, Agent.id == MessageRead.agent_id)
                                .where(MessageRead.message_id == message_id)
                                .order_by(MessageRead.first_read_at, MessageRead.agent_id)).all()
        return _view_of(row, tuple(ReadReceipt(agent_id, name, at) for agent_id, name, at in reads))

    def read_message(self, reader: Reader, message_id: int) -> MessageView:
        """One message, audited `message.read`, and read by the reader from now on (their first read is its receipt);
        MessageNotFound, MessageNotYours (nothing audited), DependencyDown."""
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            message, _slug = self._find(session, reader, message_id)
            session.execute(insert_ignoring_duplicates(session, MessageRead, ("message_id", "agent_id")),
                            [{"message_id": message.id, "agent_id": reader.agent_id,
                              "first_read_at": self._clock()}])
            view = self._full_view(session, reader, message.id)
            # Last: the chain's head stays locked from the append to the commit, so the append comes at the end.
            self._audit(session, reader, message.id, "message.read", message.practice_id)
            return view

    def open_recording(self, reader: Reader, message_id: int, byte_range: str | None = None) -> RecordingMedia:
        """The message's recording, streamed from Twilio, audited `recording.play` once Twilio answered with the
        audio.

        `byte_range`: the player's Range header, passed on to Twilio when it is one range of bytes (a player
        seeking), so the answer is 206 with its Content-Range. A play is audited once per play: without a Range
        or for one from byte 0 (how a player starts), not for each later range it asks while seeking.

        MessageNotFound, MessageNotYours (nothing fetched), RecordingNotFound (a message an agent took, which has
        none, or Twilio 404), RangeNotSatisfiable (Twilio 416), RecordingUnavailable (Twilio failed or timed
        out), RecordingsBusy (this process relays RECORDING_STREAMS_PER_PROCESS already), DependencyDown. The
        caller must call `close()` when done: it gives the process's slot back."""
        if self._media_get is None:
            raise RuntimeError("MessageService was built without a way to fetch media from Twilio")
        # The rights are checked in a first transaction, and the row written in a second once Twilio has
        # answered: no database connection is held while Twilio takes its time (up to the REST timeout).
        with database_errors_as_dependency_down(), self._session_factory() as session:
            message, _slug = self._find(session, reader, message_id)
            recording_sid, practice_id = message.recording_sid, message.practice_id
            deleted = message.recording_deleted_at is not None
        if recording_sid is None:
            raise MessageHasNoRecording(message_id)
        if deleted:
            raise RecordingDeleted(message_id)  # by retention: Twilio has it no more, nothing to ask
        wanted = BYTE_RANGE.fullmatch(byte_range.strip()) if byte_range else None
        if wanted is not None and not (wanted[1] or wanted[2]):
            wanted = None  # "bytes=-" names no bytes
        if not self._streams.acquire(blocking=False):
            log.warning("messages: recording of message %s refused: %s streams under way", message_id,
                        self._max_streams)
            raise RecordingsBusy(message_id, self._max_streams)
        released = threading.Lock()

        def close() -> None:
            # When the download ends, the player goes away or Twilio failed; the slot comes back once.
            try:
                upstream.close()
            finally:
                if released.acquire(blocking=False):
                    self._streams.release()

        try:
            upstream = self._fetch(message_id, recording_sid, wanted[0] if wanted else None)
        except BaseException:
            self._streams.release()
            raise
        try:
            if wanted is None or wanted[1] == "0":
                with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
                    self._audit(session, reader, message_id, "recording.play", practice_id,
                                {"recording_sid": recording_sid})
        except BaseException:
            close()
            raise
        length = upstream.headers.get("Content-Length")
        # requests undoes a Content-Encoding while streaming, so the upstream length holds only without one.
        known_length = int(length) if length and length.isdigit() and "Content-Encoding" not in upstream.headers \
            else None
        partial = upstream.status_code == 206
        return RecordingMedia(content_type=upstream.headers.get("Content-Type") or DEFAULT_MEDIA_TYPE,
                              content_length=known_length,
                              chunks=_Relay(upstream, message_id, recording_sid, close), close=close,
                              status=206 if partial else 200,
                              content_range=upstream.headers.get("Content-Range") if partial else None,
                              accept_ranges=upstream.headers.get("Accept-Ranges"))

    def _fetch(self, message_id: int, recording_sid: str, byte_range: str | None = None) -> requests.Response:
        url = self._api_base_url + RECORDING_MEDIA_PATH.format(account_sid=self._account_sid,
                                                               recording_sid=recording_sid)
        try:
            upstream = self._media_get(url, headers={"Range": byte_range}) if byte_range else self._media_get(url)
        except requests.RequestException as exc:
            log.warning("messages: recording %s of message %s unavailable: %s", recording_sid, message_id,
                        type(exc).__name__)
            raise RecordingUnavailable(message_id) from exc
        if upstream.status_code == 200 or (upstream.status_code == 206 and byte_range):
            return upstream
        upstream.close()
        if upstream.status_code == 416 and byte_range:
            raise RangeNotSatisfiable(message_id, upstream.headers.get("Content-Range"))
        if upstream.status_code == 404:
            log.info("messages: recording %s of message %s not found at Twilio", recording_sid, message_id)
            raise RecordingNotFound(message_id)
        log.warning("messages: recording %s of message %s unavailable: Twilio answered %s", recording_sid,
                    message_id, upstream.status_code)
        raise RecordingUnavailable(message_id, upstream.status_code)

    def _find(self, session: Session, reader: Reader, message_id: int) -> tuple[Message, str]:
        row = session.execute(select(Message, Practice.slug).join(Practice, Practice.id == Message.practice_id)
                              .where(Message.id == message_id)).one_or_none()
        if row is None:
            raise MessageNotFound(message_id)
        message, slug = row
        if not reader.answers_for(message.practice_id):
            log.info("messages: agent %s refused message %s: not their practice", reader.agent_id, message_id)
            raise MessageNotYours(message_id)
        return message, slug

    def _audit(self, session: Session, reader: Reader, message_id: int, action: str,
               practice_id: int | None = None, details: dict | None = None) -> None:
        if practice_id is None:
            practice_id = session.scalar(select(Message.practice_id).where(Message.id == message_id))
        self._audit_trail.append(session, reader.audited_as(), action, "message", message_id, practice_id, details)

    def _audit_list(self, session: Session, reader: Reader, where: MessageFilter, views: list[MessageView],
                    practice_id: int | None = None) -> None:
        """One row for the list: how many, which (ids, never content), and the filter that chose them."""
        self._audit_trail.append(session, reader.audited_as(), "messages.list", practice_id=practice_id, details={
            "count": len(views), "message_ids": [view.id for view in views], "filter": _filter_json(where)})


class _Relay:
    """The upstream body, a chunk at a time, as a WSGI body: the server calls `close()` at the end, or when the
    client goes away, and so closes the upstream and gives the process's stream slot back. (A generator's own
    `finally` would not run when closed before its first chunk; and with direct_passthrough, Werkzeug hands
    this object to the server as it is, so the response's call_on_close would never run.)"""

    def __init__(self, upstream: requests.Response, message_id: int, recording_sid: str,
                 close: Callable[[], None]):
        self._upstream = upstream
        self._message_id = message_id
        self._recording_sid = recording_sid
        self.close = close

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._upstream.iter_content(chunk_size=MEDIA_CHUNK_BYTES)
        except requests.RequestException as exc:
            # The status line is sent already. Raising makes the server drop the connection, so a client sees a
            # broken download rather than a clean end to a shortened message.
            log.warning("messages: recording %s of message %s cut off: %s", self._recording_sid, self._message_id,
                        type(exc).__name__)
            raise
        finally:
            self.close()


def _filter_json(where: MessageFilter) -> dict:
    """The filter as the audit trail keeps it (only what was asked)."""
    asked = {"practice": where.practice_slug, "urgent": where.urgent, "status": where.status, "limit": where.limit,
             "since": where.since.isoformat() if where.since else None,
             "from_day": where.from_day.isoformat() if where.from_day else None,
             "to_day": where.to_day.isoformat() if where.to_day else None}
    return {name: value for name, value in asked.items() if value is not None}


def _with_state(query, reader: Reader):
    """`query` of (Message, Practice) with what the inbox adds: the author's name, the reader's first read, and
    the handling with its author's name (all outer joins: most messages have none)."""
    author, handler = aliased(Agent), aliased(Agent)
    return (query.add_columns(author.name, MessageRead.first_read_at, MessageHandling, handler.name)
            .outerjoin(author, author.id == Message.author_agent_id)
            .outerjoin(MessageRead, and_(MessageRead.message_id == Message.id,
                                         MessageRead.agent_id == reader.agent_id))
            .outerjoin(MessageHandling, MessageHandling.message_id == Message.id)
            .outerjoin(handler, handler.id == MessageHandling.agent_id))


def _on_days(session: Session, reader: Reader, where: MessageFilter):
    """The condition "left on the days from_day to to_day", each practice's days in its own zone: half-open
    [first local midnight, the midnight after the last day) per practice, in UTC."""
    query = select(Practice.id, Practice.timezone)
    if reader.practice_ids is not None:
        query = query.where(Practice.id.in_(sorted(reader.practice_ids)))
    if where.practice_slug is not None:
        query = query.where(Practice.slug == where.practice_slug)
    first, last = where.from_day or date.min, where.to_day or date.max
    clauses = []
    for practice_id, timezone in session.execute(query):
        zone = ZoneInfo(timezone)
        start = datetime.combine(first, time(), zone) if first != date.min else None
        until = datetime.combine(last + timedelta(days=1), time(), zone) if last != date.max else None
        clause = [Message.practice_id == practice_id]
        if start is not None:
            clause.append(Message.created_at >= start)
        if until is not None:
            clause.append(Message.created_at < until)
        clauses.append(and_(*clause))
    return or_(*clauses) if clauses else Message.id.is_(None)  # no practice: no message


def _view_of(row, reads: tuple[ReadReceipt, ...] = ()) -> MessageView:
    message, practice, author_name, read_at, handling, handler_name = row
    handled = None if handling is None else Handling(handling.agent_id, handler_name, handling.handled_at,
                                                     handling.note)
    form = practice.message_fields if practice.message_fields is not None else \
        [{"name": field.name, "label": field.label} for field in DEFAULT_MESSAGE_FIELDS]
    labels = {field["name"]: field.get("label") or field["name"] for field in form} if message.fields else None
    return _view(message, practice.slug, practice_name=practice.name, practice_timezone=practice.timezone,
                 author_name=author_name, read_at=read_at, handling=handled, reads=reads, field_labels=labels)


def _view(message: Message, practice_slug: str, **inbox) -> MessageView:
    return MessageView(id=message.id, practice_slug=practice_slug, call_sid=message.call_sid,
                       created_at=message.created_at, from_number=message.from_number, language=message.language,
                       urgent=message.urgent, after_hours=message.after_hours,
                       duration_seconds=message.duration_seconds, recording_status=message.recording_status,
                       transcription_status=message.transcription_status,
                       transcription_text=message.transcription_text,
                       has_recording=message.recording_sid is not None,
                       recording_deleted_at=message.recording_deleted_at, author_agent_id=message.author_agent_id,
                       fields=message.fields, **inbox)

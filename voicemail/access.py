"""Reading messages and playing their recordings, for the people who answer a practice; every access audited.

Each list, read or play writes a `MessageAccess` row (agent, message, action, Careline's clock). A list and a
read write their rows in the transaction that reads the messages, so no message is shown without its row.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import requests
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from core.db import database_errors_as_dependency_down, session_scope
from models import Message, MessageAccess, Practice
from voicemail.errors import (MessageHasNoRecording, MessageNotFound, MessageNotYours, PracticeNotYours,
                              PracticeUnknown, RecordingNotFound, RecordingUnavailable)

log = logging.getLogger(__name__)

LIST_LIMIT_DEFAULT = 50  # messages per list, newest first
LIST_LIMIT_MAX = 200
MEDIA_CHUNK_BYTES = 64 * 1024  # bytes read from Twilio at a time while relaying a recording
DEFAULT_MEDIA_TYPE = "audio/wav"  # what Twilio serves for a .wav, should it send no Content-Type

# GET .../Recordings/{RecordingSid}.wav answers the audio itself (Recording resource: ".wav" or no extension
# is WAV, ".mp3" is MP3, ".json" the metadata). Careline always sends Basic auth: HIPAA accounts enforce it.
RECORDING_MEDIA_PATH = "/2010-04-01/Accounts/{account_sid}/Recordings/{recording_sid}.wav"


@dataclass(frozen=True)
class Reader:
    """Who reads messages: the agent, and the practices it answers for (None: every practice)."""

    agent_id: int
    practice_ids: frozenset[int] | None

    def answers_for(self, practice_id: int) -> bool:
        """Whether the reader may see the practice's messages; an empty set of practices sees none."""
        return self.practice_ids is None or practice_id in self.practice_ids


@dataclass(frozen=True)
class MessageFilter:
    """Which messages a list shows: of one practice (by slug), urgent or not, created at or after `since`."""

    practice_slug: str | None = None
    urgent: bool | None = None
    since: datetime | None = None  # timezone-aware; the interval [since, now) is shown
    limit: int = LIST_LIMIT_DEFAULT


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
    has_recording: bool = True
    author_agent_id: int | None = None  # the agent who took the message during the call; None: recorded
    fields: dict | None = None  # the form's values of a message an agent took


@dataclass(frozen=True)
class RecordingMedia:
    """A recording being relayed from Twilio: its type, its bytes as they arrive, and how to let go of it."""

    content_type: str
    content_length: int | None
    chunks: Iterator[bytes]
    close: Callable[[], None]


class MessageService:
    """Lists and reads messages and relays their recordings, for a `Reader`, writing the audit rows."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Callable[[], datetime],
                 media_get: Callable[[str], requests.Response] | None = None, account_sid: str = "",
                 api_base_url: str = ""):
        self._session_factory = session_factory
        self._clock = clock
        # media_get: an authenticated, streamed GET of a URL on Twilio's API (core.twilio_rest).
        self._media_get = media_get
        self._account_sid = account_sid
        self._api_base_url = api_base_url.rstrip("/")

    def list_messages(self, reader: Reader, where: MessageFilter) -> list[MessageView]:
        """The messages of the reader's practices that match `where`, newest first, each audited "list".

        PracticeUnknown / PracticeNotYours for a slug that no practice has / the reader does not answer for;
        DependencyDown when the database does not answer."""
        if not 1 <= where.limit <= LIST_LIMIT_MAX:
            raise ValueError(f"limit must be between 1 and {LIST_LIMIT_MAX}, not {where.limit}")
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            query = select(Message, Practice.slug).join(Practice, Practice.id == Message.practice_id)
            if where.practice_slug is not None:
                practice_id = session.scalar(select(Practice.id).where(Practice.slug == where.practice_slug))
                if practice_id is None:
                    raise PracticeUnknown(where.practice_slug)
                if not reader.answers_for(practice_id):
                    raise PracticeNotYours(where.practice_slug)
                query = query.where(Message.practice_id == practice_id)
            elif reader.practice_ids is not None:
                if not reader.practice_ids:
                    return []  # no practice: no message, never every message
                query = query.where(Message.practice_id.in_(sorted(reader.practice_ids)))
            if where.urgent is not None:
                query = query.where(Message.urgent.is_(where.urgent))
            if where.since is not None:
                query = query.where(Message.created_at >= where.since)
            rows = session.execute(query.order_by(Message.created_at.desc(), Message.id.desc())
                                   .limit(where.limit)).all()
            views = [_view(message, slug) for message, slug in rows]
            self._audit(session, reader, [view.id for view in views], "list")
        return views

    def read_message(self, reader: Reader, message_id: int) -> MessageView:
        """One message, audited "read"; MessageNotFound, MessageNotYours (nothing audited), DependencyDown."""
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            message, slug = self._find(session, reader, message_id)
            self._audit(session, reader, [message.id], "read")
            return _view(message, slug)

    def open_recording(self, reader: Reader, message_id: int) -> RecordingMedia:
        """The message's recording, streamed from Twilio, audited "play" once Twilio answered with the audio.

        MessageNotFound, MessageNotYours (nothing fetched), RecordingNotFound (a message an agent took, which has
        none, or Twilio 404), RecordingUnavailable (Twilio failed or timed out), DependencyDown. The caller must
        call `close()` when done."""
        if self._media_get is None:
            raise RuntimeError("MessageService was built without a way to fetch media from Twilio")
        # The rights are checked in a first transaction, and the row written in a second once Twilio has
        # answered: no database connection is held while Twilio takes its time (up to the REST timeout).
        with database_errors_as_dependency_down(), self._session_factory() as session:
            message, _slug = self._find(session, reader, message_id)
            recording_sid = message.recording_sid
        if recording_sid is None:
            raise MessageHasNoRecording(message_id)
        upstream = self._fetch(message_id, recording_sid)
        try:
            with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
                self._audit(session, reader, [message_id], "play")
        except BaseException:
            upstream.close()
            raise
        length = upstream.headers.get("Content-Length")
        # requests undoes a Content-Encoding while streaming, so the upstream length holds only without one.
        known_length = int(length) if length and length.isdigit() and "Content-Encoding" not in upstream.headers \
            else None
        return RecordingMedia(content_type=upstream.headers.get("Content-Type") or DEFAULT_MEDIA_TYPE,
                              content_length=known_length,
                              chunks=_relay(upstream, message_id, recording_sid), close=upstream.close)

    def _fetch(self, message_id: int, recording_sid: str) -> requests.Response:
        url = self._api_base_url + RECORDING_MEDIA_PATH.format(account_sid=self._account_sid,
                                                               recording_sid=recording_sid)
        try:
            upstream = self._media_get(url)
        except requests.RequestException as exc:
            log.warning("messages: recording %s of message %s unavailable: %s", recording_sid, message_id,
                        type(exc).__name__)
            raise RecordingUnavailable(message_id) from exc
        if upstream.status_code == 200:
            return upstream
        upstream.close()
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

    def _audit(self, session: Session, reader: Reader, message_ids: list[int], action: str) -> None:
        if not message_ids:
            return
        at = self._clock()
        session.execute(insert(MessageAccess), [{"agent_id": reader.agent_id, "message_id": message_id,
                                                 "action": action, "at": at} for message_id in message_ids])


def _relay(upstream: requests.Response, message_id: int, recording_sid: str) -> Iterator[bytes]:
    """The upstream body, a chunk at a time; closed at the end, or when the client goes away."""
    try:
        yield from upstream.iter_content(chunk_size=MEDIA_CHUNK_BYTES)
    except requests.RequestException as exc:
        # The status line is sent already. Raising makes the server drop the connection, so a client sees a
        # broken download rather than a clean end to a shortened message.
        log.warning("messages: recording %s of message %s cut off: %s", recording_sid, message_id,
                    type(exc).__name__)
        raise
    finally:
        upstream.close()


def _view(message: Message, practice_slug: str) -> MessageView:
    return MessageView(id=message.id, practice_slug=practice_slug, call_sid=message.call_sid,
                       created_at=message.created_at, from_number=message.from_number, language=message.language,
                       urgent=message.urgent, after_hours=message.after_hours,
                       duration_seconds=message.duration_seconds, recording_status=message.recording_status,
                       transcription_status=message.transcription_status,
                       transcription_text=message.transcription_text,
                       has_recording=message.recording_sid is not None, author_agent_id=message.author_agent_id,
                       fields=message.fields)

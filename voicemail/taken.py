"""Messages an agent takes during a call, with the practice's form ([[practices.message_fields]]), and the
drafts that keep a form being typed from being lost.

A taken message is a `messages` row like a recorded one (its author the agent, its form's values in `fields`,
no recording) and sets the same in motion: the call joins the callback number's callback task (its due time
from the practice's settings), an urgent after-hours message pages the on-call provider (with escalation), and
the caller gets the receipt SMS (the outbox honours STOP). The call log gets a `message-taken` event (ids only),
so the call's record knows. A body whose `message_type` is "complaint" saves a complaint: the message (kind
complaint) opens its complaint in the same transaction (complaints.service), to be acted on and the patient told.

A call is the agent's when the queue connected it to them: now (the live queue in Redis, which remembers a
connected caller for hours) or earlier (the call log's `connected` queue event). Drafts are rows, keyed by agent
and call, kept until the message is saved: a call that drops mid-form leaves its draft to finish.
"""
from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

import redis
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from callbacks.attach import Attachment, attach_calls
from complaints.service import NewComplaint, open_complaints
from calllog.events import Event
from core.db import database_errors_as_dependency_down, session_scope
from core.phone import is_complete_e164, is_e164, normalize_number
from core.schedule import Scheduler
from core.upsert import insert_ignoring_duplicates, upsert_statement
from ivr.state import CallState, call_key
from models import MESSAGE_KINDS, Call, Caller, Message, MessageDraft, Practice, QueueEvent
from paging.escalation import open_pages
from practices.schedule import is_open
from practices.snapshot import MESSAGE_TYPE_KEY, MessageField, PracticeSnapshot
from practices.store import snapshot_from_model
from queueing.model import CallerState
from queueing.store import CallQueue
from sms.outbox import queue_sms
from voicemail.errors import DraftNotFound, FieldInvalid, MessageAlreadyTaken, NotYourCall
from voicemail.receipts import receipt_for

log = logging.getLogger(__name__)

CALLBACK_FIELD = "callback_number"  # the number to call back; else the form's first phone field
URGENT_FIELD = "urgent"  # a bool field that says whether the message is urgent; else the call's urgency
MAX_TEXT_CHARS = 2000  # characters of one text field of a message
MAX_UNFINISHED = 50  # drafts listed on a desk at most (an agent finishes them; a manager sees the rest)
MAX_DRAFT_KEYS = 50  # fields of one draft
MAX_DRAFT_KEY_CHARS = 64
MAX_DRAFT_VALUE_CHARS = 2000  # characters of one draft value
MAX_DRAFT_BYTES = 32 * 1024  # one draft, as JSON
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
SAVE_ATTEMPTS = 3  # a unique-index race on the caller's open callback task is settled by running it again


@dataclass(frozen=True)
class CallOnDesk:
    """What a message needs to know of the call it is taken on."""

    call_sid: str
    practice_id: int
    agent_id: int  # the agent the queue connected the call to
    language: str | None  # the caller's language, when known
    urgent: bool  # the caller's urgency in the IVR
    after_hours: bool | None  # None: not known (the practice's hours say, at the message's time)
    caller_number: str | None  # Twilio's From, when the call log has it


@dataclass(frozen=True)
class TakenMessage:
    """A saved message: its id and the form's values as kept (a phone number in E.164, to read back)."""

    id: int
    fields: dict
    kind: str = "message"  # message | complaint (the body's `message_type`)
    complaint_id: int | None = None  # a complaint's: opened with the message


@dataclass(frozen=True)
class Draft:
    """A form being typed, as the agent's desk last sent it."""

    call_sid: str
    fields: dict
    updated_at: datetime


@dataclass(frozen=True)
class UnfinishedDraft:
    """A draft its agent has not saved as a message: the call, its practice (and its form), the values."""

    call_sid: str
    practice_id: int
    practice_name: str
    timezone: str
    message_fields: tuple[dict, ...]
    fields: dict
    updated_at: datetime


class TakenMessages:
    """Saves the messages agents take during their calls, and their drafts; sets a message's follow-ups going.

    `append_events` writes call-log events (`calllog.appender.CallLogAppender.append`); `scheduler` starts a
    page's first step and sends the receipt once the message is committed.
    """

    def __init__(self, session_factory: sessionmaker[Session], clock: Callable[[], datetime], scheduler: Scheduler,
                 queue: CallQueue, redis_client: redis.Redis, append_events: Callable[[list[Event]], None]):
        self._session_factory = session_factory
        self._clock = clock
        self._scheduler = scheduler
        self._queue = queue
        self._redis = redis_client
        self._append_events = append_events

    def take(self, agent_id: int, call_sid: str, values: Mapping[str, object]) -> TakenMessage:
        """Save the message `values` (the form's fields) of the agent's call, and start what it sets in motion.

        NotYourCall; FieldInvalid naming the first bad field (nothing saved); MessageAlreadyTaken;
        DependencyDown when the database does not answer."""
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
                    saved, follow_ups = self._save(session, agent_id, call_sid, values)
                break
            except IntegrityError:
                existing = self._taken_already(agent_id, call_sid)
                if existing is not None:
                    raise MessageAlreadyTaken(call_sid, existing) from None
                if attempt == SAVE_ATTEMPTS:
                    raise
                log.info("call=%s concurrent write while saving agent %s's message, retrying", call_sid, agent_id)
        page_ids, sms_ids, event = follow_ups
        self._append_events([event])
        for page_id in page_ids:
            self._scheduler.page_step(page_id, 0)
        self._scheduler.send_sms(sms_ids)
        log.info("call=%s message %s taken by agent %s (urgent=%s, pages=%s)", call_sid, saved.id, agent_id,
                 event.data["urgent"], page_ids)
        return saved

    def save_draft(self, agent_id: int, call_sid: str, values: Mapping[str, object]) -> None:
        """Keep `values` as the agent's draft of the call's message, as typed (only sizes are checked).

        NotYourCall; FieldInvalid for a draft too large; MessageAlreadyTaken once the message is saved;
        DependencyDown."""
        fields = _draft_fields(values)
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            call = self._call(session, agent_id, call_sid)
            existing = self._message_id(session, agent_id, call_sid)
            if existing is not None:
                raise MessageAlreadyTaken(call_sid, existing)
            session.execute(upsert_statement(session, MessageDraft, ("agent_id", "call_sid"),
                                             ("practice_id", "fields", "updated_at")),
                            [dict(agent_id=agent_id, call_sid=call_sid, practice_id=call.practice_id, fields=fields,
                                  updated_at=self._clock())])

    def draft(self, agent_id: int, call_sid: str) -> Draft:
        """The agent's draft of the call's message. NotYourCall; DraftNotFound; DependencyDown."""
        with database_errors_as_dependency_down(), self._session_factory() as session:
            self._call(session, agent_id, call_sid)
            row = session.get(MessageDraft, (agent_id, call_sid))
            if row is None:
                raise DraftNotFound(call_sid)
            return Draft(call_sid, dict(row.fields), row.updated_at)

    def unfinished(self, agent_id: int) -> list[UnfinishedDraft]:
        """The agent's drafts not yet saved as messages (a call that ended mid-form), newest first, with their
        practice's form to finish them in. DependencyDown."""
        with database_errors_as_dependency_down(), self._session_factory() as session:
            rows = session.scalars(select(MessageDraft).where(MessageDraft.agent_id == agent_id)
                                   .order_by(MessageDraft.updated_at.desc()).limit(MAX_UNFINISHED)).all()
            practices = {practice_id: self._practice(session, practice_id)
                         for practice_id in {row.practice_id for row in rows}}
            return [UnfinishedDraft(row.call_sid, row.practice_id, practices[row.practice_id].name,
                                    practices[row.practice_id].timezone,
                                    tuple(field.as_dict() for field in practices[row.practice_id].message_fields),
                                    dict(row.fields), row.updated_at) for row in rows]

    # --- saving -------------------------------------------------------------------------------------------------

    def _save(self, session: Session, agent_id: int, call_sid: str, values: Mapping[str, object]):
        call = self._call(session, agent_id, call_sid)
        practice = self._practice(session, call.practice_id)
        kind = message_type(values)
        fields = validate_fields(practice.message_fields,
                                 {name: value for name, value in values.items() if name != MESSAGE_TYPE_KEY})
        existing = self._message_id(session, agent_id, call_sid)
        if existing is not None:
            raise MessageAlreadyTaken(call_sid, existing)
        now = self._clock()
        callback_number = _callback_number(practice.message_fields, fields) or call.caller_number or ""
        urgent = bool(fields[URGENT_FIELD]) if _has_field(practice.message_fields, URGENT_FIELD, "bool") \
            and URGENT_FIELD in fields else call.urgent
        after_hours = call.after_hours if call.after_hours is not None else not is_open(practice, now)
        language = call.language if call.language in practice.languages else practice.default_language
        caller_id = _caller_id(session, callback_number)
        message = Message(practice_id=practice.id, call_sid=call_sid, caller_id=caller_id, from_number=callback_number,
                          language=language, urgent=urgent, after_hours=after_hours, created_at=now,
                          author_agent_id=agent_id, fields=fields, kind=kind)
        session.add(message)
        session.flush()
        complaint_ids = open_complaints(session, [NewComplaint(message.id, practice.id, "desk", now, agent_id)]) \
            if kind == "complaint" else []
        # The call joins the callback number's task; the call log, rebuilding the call later, finds it joined.
        attach_calls(session, [Attachment(practice_id=practice.id, caller_id=caller_id, callback_number=callback_number,
                                          call_sid=call_sid, reason="message", urgent=urgent, at=now)],
                     {practice.id: practice})
        page_ids = open_pages(session, [(message.id, practice.id)], now) if urgent and after_hours else []
        sms_ids = queue_sms(session, [receipt_for(message.id, practice.id, callback_number)], now) \
            if is_e164(callback_number) else []
        session.execute(delete(MessageDraft).where(MessageDraft.agent_id == agent_id,
                                                   MessageDraft.call_sid == call_sid))
        event = Event(call_sid, "message-taken", f"message-taken:{message.id}", now, {
            "practice_id": practice.id, "agent_id": agent_id, "message_id": message.id, "urgent": urgent})
        return TakenMessage(message.id, fields, kind, complaint_ids[0] if complaint_ids else None), \
            (page_ids, sms_ids, event)

    def _taken_already(self, agent_id: int, call_sid: str) -> int | None:
        with database_errors_as_dependency_down(), self._session_factory() as session:
            return self._message_id(session, agent_id, call_sid)

    @staticmethod
    def _message_id(session: Session, agent_id: int, call_sid: str) -> int | None:
        return session.scalar(select(Message.id).where(Message.call_sid == call_sid,
                                                       Message.author_agent_id == agent_id))

    @staticmethod
    def _practice(session: Session, practice_id: int) -> PracticeSnapshot:
        practice = session.scalars(select(Practice).where(Practice.id == practice_id)
                                   .options(selectinload(Practice.numbers))).one()
        return snapshot_from_model(practice)

    # --- whose call ---------------------------------------------------------------------------------------------

    def _call(self, session: Session, agent_id: int, call_sid: str) -> CallOnDesk:
        """The call, if the queue connected it to `agent_id`; NotYourCall otherwise."""
        connected_to, state = self._live(call_sid)
        queue_row = None
        if connected_to is None:
            # Forgotten by the live queue (hours later), or Redis does not answer: the call log says.
            queue_row = session.execute(
                select(QueueEvent.agent_id, QueueEvent.practice_id).where(
                    QueueEvent.call_sid == call_sid, QueueEvent.kind == "connected")
                .order_by(QueueEvent.at.desc(), QueueEvent.id.desc()).limit(1)).first()
            connected_to = queue_row.agent_id if queue_row is not None else None
        if connected_to != agent_id:
            log.info("call=%s agent %s refused its message or draft: not their call", call_sid, agent_id)
            raise NotYourCall(call_sid)
        record = session.get(Call, call_sid)
        practice_id = (state.practice_id if state is not None else None) \
            or (record.practice_id if record is not None else None) \
            or (queue_row.practice_id if queue_row is not None else None) \
            or self._connected_practice(session, call_sid)
        if practice_id is None:
            log.warning("call=%s connected to agent %s has no known practice", call_sid, agent_id)
            raise NotYourCall(call_sid)
        if state is not None:
            language, urgent, after_hours = state.language, state.urgent, state.after_hours
        elif record is not None:
            language, urgent, after_hours = record.language, record.urgent, record.after_hours
        else:
            language, urgent, after_hours = None, False, None
        caller_number = record.from_number if record is not None and is_e164(record.from_number) else None
        return CallOnDesk(call_sid, practice_id, agent_id, language, urgent, after_hours, caller_number)

    def _live(self, call_sid: str) -> tuple[int | None, CallState | None]:
        """The agent the live queue connected the call to, and the call's IVR state; (None, None) when Redis
        has neither or does not answer."""
        try:
            position = self._queue.position(call_sid)
            raw = self._redis.hgetall(call_key(call_sid))
        except redis.RedisError as exc:
            log.warning("call=%s Redis unreachable (%s): the call log says whose call it is", call_sid,
                        type(exc).__name__)
            return None, None
        state = CallState.from_redis(call_sid, raw) if raw else None
        if position is None or position.state != CallerState.CONNECTED:
            return None, state
        return position.agent_id, state

    @staticmethod
    def _connected_practice(session: Session, call_sid: str) -> int | None:
        return session.scalar(select(QueueEvent.practice_id).where(QueueEvent.call_sid == call_sid,
                                                                   QueueEvent.practice_id.is_not(None)).limit(1))


# --- the form -----------------------------------------------------------------------------------------------------

def message_type(values: Mapping[str, object]) -> str:
    """What the agent is taking: the body's `message_type` ("message", the default, or "complaint");
    FieldInvalid otherwise."""
    kind = values.get(MESSAGE_TYPE_KEY, "message")
    if kind is None or kind == "":
        return "message"
    if kind not in MESSAGE_KINDS:
        raise FieldInvalid(MESSAGE_TYPE_KEY, f"{MESSAGE_TYPE_KEY} must be one of {', '.join(MESSAGE_KINDS)}")
    return kind


def validate_fields(form: tuple[MessageField, ...], values: Mapping[str, object]) -> dict:
    """The form's values as kept: each checked by its kind, phone numbers normalised to E.164, empty optional
    fields left out, in the form's order. FieldInvalid names the first bad field: the form's fields in order,
    then a field the form does not have."""
    kept = {}
    for field in form:
        value = _field_value(field, values.get(field.name))
        if value is not None:
            kept[field.name] = value
    names = {field.name for field in form}
    for name in values:
        if name not in names:
            raise FieldInvalid(name, f"the form has no field {name!r}; its fields are "
                                     f"{', '.join(f.name for f in form)}")
    return kept


def _field_value(field: MessageField, value: object) -> object | None:
    """One field's value as kept (None: left empty); FieldInvalid when missing or wrong for its kind."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if field.required:
            raise FieldInvalid(field.name, f"{field.label} is required")
        return None
    if field.kind == "bool":
        if not isinstance(value, bool):
            raise FieldInvalid(field.name, f"{field.label} must be true or false")
        return value
    if not isinstance(value, str):
        raise FieldInvalid(field.name, f"{field.label} must be a string")
    text = value.strip()
    if field.kind == "text":
        if len(text) > MAX_TEXT_CHARS:
            raise FieldInvalid(field.name, f"{field.label} is longer than {MAX_TEXT_CHARS} characters")
        return text
    if field.kind == "phone":
        number = normalize_number(text)
        if not is_complete_e164(number):
            raise FieldInvalid(field.name, f"{field.label} must be a phone number with its country code, "
                                           f"in E.164 such as +13125550199")
        return number
    if field.kind == "date":
        try:
            if not ISO_DATE.fullmatch(text):
                raise ValueError
            date.fromisoformat(text)
        except ValueError:
            raise FieldInvalid(field.name, f"{field.label} must be a date like 1980-04-30 (YYYY-MM-DD)") from None
        return text
    if text not in field.choices:
        raise FieldInvalid(field.name, f"{field.label} must be one of: {', '.join(field.choices)}")
    return text


def _has_field(form: tuple[MessageField, ...], name: str, kind: str) -> bool:
    return any(field.name == name and field.kind == kind for field in form)


def _callback_number(form: tuple[MessageField, ...], fields: dict) -> str | None:
    """The number to call back: the `callback_number` field, else the form's first phone field given."""
    if _has_field(form, CALLBACK_FIELD, "phone") and CALLBACK_FIELD in fields:
        return fields[CALLBACK_FIELD]
    return next((fields[f.name] for f in form if f.kind == "phone" and f.name in fields), None)


def _draft_fields(values: Mapping[str, object]) -> dict:
    """A draft as typed: strings, booleans, numbers or nulls, within the size limits; FieldInvalid otherwise."""
    if len(values) > MAX_DRAFT_KEYS:
        raise FieldInvalid("draft", f"a draft holds at most {MAX_DRAFT_KEYS} fields")
    for name, value in values.items():
        if len(name) > MAX_DRAFT_KEY_CHARS:
            raise FieldInvalid(name[:MAX_DRAFT_KEY_CHARS], f"a field's name has at most {MAX_DRAFT_KEY_CHARS} "
                                                           f"characters")
        if value is not None and (not isinstance(value, (str, bool, int, float))
                                  or isinstance(value, float) and not math.isfinite(value)):
            raise FieldInvalid(name, "a draft's value is a string, a number, true, false or null")
        if isinstance(value, str) and len(value) > MAX_DRAFT_VALUE_CHARS:
            raise FieldInvalid(name, f"a draft's value has at most {MAX_DRAFT_VALUE_CHARS} characters")
    fields = dict(values)
    if len(json.dumps(fields).encode()) > MAX_DRAFT_BYTES:
        raise FieldInvalid("draft", f"a draft is at most {MAX_DRAFT_BYTES // 1024} KiB")
    return fields


def _caller_id(session: Session, number: str) -> int | None:
    """The caller with this E.164 number, created if new; None for anything else."""
    if not is_e164(number):
        return None
    session.execute(insert_ignoring_duplicates(session, Caller, ("phone",)), [dict(phone=number)])
    return session.scalar(select(Caller.id).where(Caller.phone == number))

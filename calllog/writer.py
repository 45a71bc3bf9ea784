"""Move call events into the database and rebuild the records they touch."""
from __future__ import annotations

import logging
import os
import socket
from datetime import datetime

import redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from calllog.events import DRAIN_PENDING_KEY, STREAM_KEY, Event
from calllog.record import build_call_record
from careline.db import session_scope
from careline.upsert import insert_ignoring_duplicates, upsert
from models import Call, CallEvent, Caller, PracticeNumber
from voicemail.callbacks import attach_call
from voicemail.messages import record_recording_status, save_message

log = logging.getLogger(__name__)

GROUP = "calllog-writers"
DEAD_LETTER_KEY = "careline:calllog:dead"  # entries that cannot be parsed; kept for a person to read
RECLAIM_IDLE_MS = 60_000  # milliseconds before another writer takes over a dead writer's entries
BATCH_SIZE = 200  # events per transaction
PERSIST_ATTEMPTS = 3  # a unique-index race between two writers is settled by running the transaction again


def _is_e164(number: str) -> bool:
    return number.startswith("+") and number[1:].isdigit() and 8 <= len(number) <= 16


class CallLogWriter:
    """Persists events idempotently; `drain` empties the Redis stream into the database."""

    def __init__(self, session_factory: sessionmaker[Session], redis_client: redis.Redis | None):
        self._session_factory = session_factory
        self._redis = redis_client
        self._consumer = f"{socket.gethostname()}:{os.getpid()}"

    def persist(self, events: list[Event]) -> set[str]:
        """Store `events` (duplicates ignored) and rebuild their calls; returns the CallSids touched."""
        for attempt in range(1, PERSIST_ATTEMPTS + 1):
            try:
                with session_scope(self._session_factory) as session:
                    return self._persist(session, events)
            except IntegrityError:
                if attempt == PERSIST_ATTEMPTS:
                    raise
                log.info("calllog: concurrent write, retrying (attempt %d)", attempt + 1)
        raise AssertionError("unreachable")

    def _persist(self, session: Session, events: list[Event]) -> set[str]:
        if events:
            session.execute(insert_ignoring_duplicates(session, CallEvent, ["call_sid", "dedupe_key"], [
                dict(call_sid=e.call_sid, kind=e.kind, dedupe_key=e.dedupe_key, occurred_at=e.occurred_at,
                     data=e.data) for e in events]))
        call_sids = {e.call_sid for e in events}
        for call_sid in sorted(call_sids):
            self.rebuild_call(session, call_sid)
        return call_sids

    def rebuild_call(self, session: Session, call_sid: str) -> None:
        """Rebuild one call's record, message and callback link from all of its stored events."""
        rows = session.scalars(select(CallEvent).where(CallEvent.call_sid == call_sid).order_by(CallEvent.id)).all()
        numbers = {e.data.get("to") for e in rows if e.data.get("to")}
        practice_ids = dict(session.execute(
            select(PracticeNumber.e164, PracticeNumber.practice_id).where(PracticeNumber.e164.in_(numbers))).all())
        record = build_call_record(call_sid, rows, practice_ids)
        if record is None:
            return
        caller_id = self._caller_id(session, record.from_number)
        session.execute(upsert(session, Call, ["call_sid"], dict(
            call_sid=call_sid, practice_id=record.practice_id, caller_id=caller_id,
            from_number=record.from_number, to_number=record.to_number, started_at=record.started_at,
            first_voice_at=record.first_voice_at, answered_by=record.answered_by, after_hours=record.after_hours,
            language=record.language, urgent=record.urgent, outcome=record.outcome, status=record.status,
            ended_at=record.ended_at, duration_seconds=record.duration_seconds)))
        if record.message is not None and record.practice_id is not None:
            save_message(session, practice_id=record.practice_id, call_sid=call_sid, caller_id=caller_id,
                         from_number=record.from_number, language=record.language or "en",
                         message=record.message, created_at=_message_time(rows))
        for row in rows:
            if row.kind == "recording-status":
                record_recording_status(session, row.data["recording_sid"], row.data["status"])
        if record.needs_callback:
            attach_call(session, practice_id=record.practice_id, caller_id=caller_id,
                        callback_number=record.from_number, call_sid=call_sid,
                        reason="message" if record.outcome == "message" else "hung-up",
                        urgent=record.urgent, at=record.started_at)

    def _caller_id(self, session: Session, number: str) -> int | None:
        if not _is_e164(number):
            return None  # withheld or unknown caller ID: nothing to recognise the caller by
        session.execute(insert_ignoring_duplicates(session, Caller, ["phone"], dict(phone=number)))
        return session.scalars(select(Caller.id).where(Caller.phone == number)).one()

    # --- the Redis stream -------------------------------------------------------------------------------

    def drain(self, max_batches: int = 10_000) -> int:
        """Move every event in the stream into the database; returns how many entries were handled."""
        if self._redis is None:
            return 0
        # Cleared first: an event appended from here on sets the flag again and schedules the next drain.
        self._redis.delete(DRAIN_PENDING_KEY)
        self._ensure_group()
        handled = 0
        # Our own unacknowledged entries (a failed earlier drain), then a dead writer's, then new ones.
        handled += self._handle(self._redis.xreadgroup(GROUP, self._consumer, {STREAM_KEY: "0"}, count=BATCH_SIZE))
        _, claimed, _ = self._redis.xautoclaim(STREAM_KEY, GROUP, self._consumer, RECLAIM_IDLE_MS,
                                               start_id="0-0", count=BATCH_SIZE)
        handled += self._handle_entries(claimed)
        for _ in range(max_batches):
            batch = self._redis.xreadgroup(GROUP, self._consumer, {STREAM_KEY: ">"}, count=BATCH_SIZE)
            if not batch or not batch[0][1]:
                break
            handled += self._handle(batch)
        return handled

    def _ensure_group(self) -> None:
        try:
            self._redis.xgroup_create(STREAM_KEY, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _handle(self, reply) -> int:
        entries = [entry for _stream, stream_entries in reply or [] for entry in stream_entries]
        return self._handle_entries(entries)

    def _handle_entries(self, entries) -> int:
        events, ids, dead = [], [], []
        for entry_id, fields in entries:
            if not fields:  # deleted while pending
                ids.append(entry_id)
                continue
            try:
                events.append(Event.from_stream(fields))
                ids.append(entry_id)
            except (KeyError, ValueError, TypeError):
                dead.append((entry_id, fields))
        if not ids and not dead:
            return 0
        self.persist(events)  # raises if the database is down: the entries stay pending for the next drain
        pipe = self._redis.pipeline()
        for entry_id, fields in dead:
            log.error("calllog: unreadable stream entry %s moved to %s", entry_id, DEAD_LETTER_KEY)
            pipe.xadd(DEAD_LETTER_KEY, fields)
        all_ids = ids + [entry_id for entry_id, _ in dead]
        pipe.xack(STREAM_KEY, GROUP, *all_ids)
        pipe.xdel(STREAM_KEY, *all_ids)
        pipe.execute()
        return len(all_ids)


def _message_time(rows) -> datetime:
    times = [r.occurred_at for r in rows if r.kind == "message" and r.data.get("kept")]
    return times[-1]


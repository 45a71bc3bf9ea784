"""Move call events into the database and rebuild the records they touch."""
from __future__ import annotations

import logging
import os
import socket
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from calllog.events import DRAIN_PENDING_KEY, STREAM_KEY, Event
from calllog.queue_rows import queue_rows_from
from calllog.record import CallRecord, build_call_record
from core.db import session_scope
from core.phone import is_e164
from core.upsert import insert_ignoring_duplicates, upsert_statement
from models import AgentStatusChange, Call, CallEvent, Caller, PracticeNumber, QueueEvent

log = logging.getLogger(__name__)

GROUP = "calllog-writers"
DEAD_LETTER_KEY = "careline:calllog:dead"  # entries that cannot be parsed; kept for a person to read
RECLAIM_IDLE_MS = 60_000  # milliseconds before another writer takes over a dead writer's entries
BATCH_SIZE = 500  # stream entries per transaction
PERSIST_ATTEMPTS = 3  # a unique-index race between two writers is settled by running the transaction again


@dataclass
class FollowUps:
    """What a batch of calls set in motion, to start after its transaction commits."""

    page_ids: list[int] = field(default_factory=list)  # pages whose first step is to run
    sms_ids: list[int] = field(default_factory=list)  # queued SMS to send

    def __bool__(self) -> bool:
        return bool(self.page_ids or self.sms_ids)


@dataclass
class RebuiltCalls:
    """One batch of freshly rebuilt call records, handed to what other packages keep of them (messages,
    callback tasks, pages and receipts, metrics), inside the writer's transaction."""

    session: Session
    records: list[CallRecord]
    events: Mapping[str, list]  # the stored event rows of each call (call_sid, kind, occurred_at, data)
    caller_ids: Mapping[str, int]  # caller ids by E.164 number
    follow_ups: FollowUps  # what to start once the transaction has committed


OnRebuilt = Callable[[RebuiltCalls], None]


class CallLogWriter:
    """Persists events idempotently; `drain` empties the Redis stream into the database.

    `on_rebuilt` run in order, in the transaction, for every batch of rebuilt calls; `on_follow_ups` once it
    committed, with what they set in motion. The composition root (`careline.services`) wires both.
    """

    def __init__(self, session_factory: sessionmaker[Session], redis_client: redis.Redis | None,
                 on_rebuilt: Sequence[OnRebuilt] = (), on_follow_ups: Callable[[FollowUps], None] | None = None):
        self._session_factory = session_factory
        self._redis = redis_client
        self._consumer = f"{socket.gethostname()}:{os.getpid()}"
        self._on_rebuilt = tuple(on_rebuilt)
        self._on_follow_ups = on_follow_ups

    def persist(self, events: list[Event]) -> set[str]:
        """Store `events` (duplicates ignored) and rebuild their calls; returns the CallSids touched.

        What the calls set in motion (pages, SMS) starts once the transaction has committed.
        """
        for attempt in range(1, PERSIST_ATTEMPTS + 1):
            try:
                follow_ups = FollowUps()
                with session_scope(self._session_factory) as session:
                    call_sids = self._persist(session, events, follow_ups)
                if follow_ups and self._on_follow_ups is not None:
                    self._on_follow_ups(follow_ups)
                return call_sids
            except IntegrityError:
                if attempt == PERSIST_ATTEMPTS:
                    raise
                log.info("calllog: concurrent write, retrying (attempt %d)", attempt + 1)
        raise AssertionError("unreachable")

    def _persist(self, session: Session, events: list[Event], follow_ups: FollowUps) -> set[str]:
        if events:
            session.execute(insert_ignoring_duplicates(session, CallEvent, ("call_sid", "dedupe_key")), [
                dict(call_sid=e.call_sid, kind=e.kind, dedupe_key=e.dedupe_key, occurred_at=e.occurred_at,
                     data=e.data) for e in events])
        queue_rows, agent_rows = queue_rows_from(events)
        if queue_rows:
            session.execute(insert_ignoring_duplicates(session, QueueEvent, ("call_sid", "event_key")), queue_rows)
        if agent_rows:
            session.execute(insert_ignoring_duplicates(session, AgentStatusChange, ("call_sid", "event_key")),
                            agent_rows)
        call_sids = {e.call_sid for e in events}
        self.rebuild_calls(session, call_sids, follow_ups)
        return call_sids

    def rebuild_calls(self, session: Session, call_sids: set[str], follow_ups: FollowUps | None = None) -> None:
        """Rebuild the records of `call_sids` from all of their stored events, then what depends on them.

        A batch at a time: one query for the events, one for the practices' numbers, one for the callers,
        one upsert for the calls; per-call work stays in Python (calllog.record). Then `on_rebuilt`.
        """
        if not call_sids:
            return
        events_by_call: dict[str, list] = defaultdict(list)
        for row in session.execute(
                select(CallEvent.call_sid, CallEvent.kind, CallEvent.occurred_at, CallEvent.data)
                .where(CallEvent.call_sid.in_(call_sids)).order_by(CallEvent.id)):
            events_by_call[row.call_sid].append(row)
        numbers = {row.data.get("to") for rows in events_by_call.values() for row in rows if row.data.get("to")}
        practice_ids = dict(session.execute(
            select(PracticeNumber.e164, PracticeNumber.practice_id).where(PracticeNumber.e164.in_(numbers))).all())
        records = [record for call_sid in sorted(events_by_call)
                   if (record := build_call_record(call_sid, events_by_call[call_sid], practice_ids)) is not None]
        if not records:
            return
        caller_ids = self._caller_ids(session, {r.patient_number for r in records})
        session.execute(upsert_statement(session, Call, ("call_sid",), CALL_COLUMNS),
                        [_call_row(r, caller_ids.get(r.patient_number)) for r in records])
        batch = RebuiltCalls(session, records, events_by_call, caller_ids,
                             follow_ups if follow_ups is not None else FollowUps())
        for on_rebuilt in self._on_rebuilt:
            on_rebuilt(batch)

    @staticmethod
    def _caller_ids(session: Session, numbers: set[str]) -> dict[str, int]:
        """Caller ids by E.164 number, creating callers not seen before; withheld numbers have none."""
        numbers = {n for n in numbers if is_e164(n)}
        if not numbers:
            return {}
        session.execute(insert_ignoring_duplicates(session, Caller, ("phone",)), [dict(phone=n) for n in numbers])
        return dict(session.execute(select(Caller.phone, Caller.id).where(Caller.phone.in_(numbers))).all())

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


CALL_COLUMNS = ("practice_id", "caller_id", "from_number", "to_number", "started_at", "first_voice_at",
                "answered_by", "after_hours", "language", "urgent", "outcome", "status", "ended_at",
                "duration_seconds", "direction")


def _call_row(record: CallRecord, caller_id: int | None) -> dict:
    row = {name: getattr(record, name) for name in CALL_COLUMNS if name != "caller_id"}
    return {**row, "call_sid": record.call_sid, "caller_id": caller_id}

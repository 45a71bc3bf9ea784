"""Move call events into the database and rebuild the records they touch."""
from __future__ import annotations

import logging
import os
import socket
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import redis
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from calllog.dead_letters import DEAD_LETTER_KEY, MAX_TRIES, DeadLetters
from calllog.events import DRAIN_PENDING_KEY, STREAM_KEY, Event
from calllog.queue_rows import queue_rows_from
from calllog.record import CallRecord, build_call_record
from calllog.survey_rows import survey_rows_from
from core.clock import Clock, system_clock
from core.db import session_scope
from core.errors import DependencyDown
from core.phone import is_e164
from core.upsert import insert_ignoring_duplicates, upsert_statement
from models import AgentStatusChange, Call, CallEvent, Caller, PracticeNumber, QueueEvent, SurveyAnswer

log = logging.getLogger(__name__)

GROUP = "calllog-writers"
RECLAIM_IDLE_MS = 60_000  # milliseconds before another writer takes over a dead writer's entries
BATCH_SIZE = 500  # stream entries per transaction
PERSIST_ATTEMPTS = 3  # a unique-index race between two writers is settled by running the transaction again
# Failures that say the database is not answering (down, unreachable, locked, timed out), not that one entry is
# bad: every entry stays in the stream, untried, for the next drain.
DATABASE_DOWN = (OperationalError, InterfaceError, PoolTimeout, DependencyDown)

__all__ = ["DEAD_LETTER_KEY", "CallLogWriter", "FollowUps", "RebuiltCalls"]


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
                 on_rebuilt: Sequence[OnRebuilt] = (), on_follow_ups: Callable[[FollowUps], None] | None = None,
                 clock: Clock = system_clock):
        self._session_factory = session_factory
        self._redis = redis_client
        self._consumer = f"{socket.gethostname()}:{os.getpid()}"
        self._on_rebuilt = tuple(on_rebuilt)
        self._on_follow_ups = on_follow_ups
        # The entries the writer gave up on (None without Redis: then nothing is drained).
        self.dead_letters = DeadLetters(redis_client, clock) if redis_client is not None else None

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
        survey_rows = survey_rows_from(events)
        if survey_rows:
            session.execute(insert_ignoring_duplicates(session, SurveyAnswer, ("call_sid",)), survey_rows)
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
        """Move every event in the stream into the database; returns how many entries left the stream
        (written, or dead letters). Raises `DependencyDown` when the database does not answer: every entry
        not yet written stays in the stream for the next drain (the cron process's, every 15 s, or one an
        event schedules)."""
        if self._redis is None:
            return 0
        # Cleared first: an event appended from here on sets the flag again and schedules the next drain.
        self._redis.delete(DRAIN_PENDING_KEY)
        self._ensure_group()
        seen: set[str] = set()
        handled = 0
        # Our own unacknowledged entries (an earlier drain failed on them), oldest first; then a dead writer's;
        # then new ones. An entry that failed here stays ours, pending, and is tried again next drain.
        start = "0"
        for _ in range(max_batches):
            entries = self._entries(self._redis.xreadgroup(GROUP, self._consumer, {STREAM_KEY: start},
                                                           count=BATCH_SIZE))
            if not entries:
                break
            start = entries[-1][0]
            handled += self._handle_new_to(entries, seen)
        cursor = "0-0"
        for _ in range(max_batches):
            cursor, claimed, _ = self._redis.xautoclaim(STREAM_KEY, GROUP, self._consumer, RECLAIM_IDLE_MS,
                                                        start_id=cursor, count=BATCH_SIZE)
            handled += self._handle_new_to(claimed, seen)
            if cursor in ("0-0", b"0-0"):
                break
        for _ in range(max_batches):
            entries = self._entries(self._redis.xreadgroup(GROUP, self._consumer, {STREAM_KEY: ">"},
                                                           count=BATCH_SIZE))
            if not entries:
                break
            handled += self._handle_entries(entries)
        return handled

    def waiting_call_sids(self, page: int = 1000) -> set[str]:
        """The CallSids with events still in the stream: not yet drained, or kept after a failed try."""
        if self._redis is None:
            return set()
        sids, start = set(), "-"
        while True:
            rows = self._redis.xrange(STREAM_KEY, start, "+", count=page)
            for _entry_id, fields in rows:
                try:
                    sids.add(Event.from_stream(fields).call_sid)
                except (KeyError, ValueError, TypeError):
                    continue  # unreadable: the next drain makes it a dead letter
            if len(rows) < page:
                return sids
            start = "(" + rows[-1][0]

    def _ensure_group(self) -> None:
        try:
            self._redis.xgroup_create(STREAM_KEY, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    @staticmethod
    def _entries(reply) -> list:
        return [entry for _stream, stream_entries in reply or [] for entry in stream_entries]

    def _handle_new_to(self, entries, seen: set[str]) -> int:
        """Handle the entries this drain has not handled yet (one that failed is not tried twice in a drain)."""
        fresh = [(entry_id, fields) for entry_id, fields in entries if entry_id not in seen]
        seen.update(entry_id for entry_id, _ in fresh)
        return self._handle_entries(fresh)

    def _handle_entries(self, entries) -> int:
        """Write `entries`; returns how many left the stream. A bad entry is isolated (the batch is halved
        until it stands alone), so the entries beside it are written; it stays pending, or becomes a dead
        letter after MAX_TRIES failed drains."""
        readable, unreadable, gone = [], [], []
        for entry_id, fields in entries:
            if not fields:  # deleted while pending
                gone.append(entry_id)
                continue
            try:
                readable.append((entry_id, fields, Event.from_stream(fields)))
            except (KeyError, ValueError, TypeError) as exc:
                unreadable.append((entry_id, fields, type(exc).__name__))
        if not entries:
            return 0
        failures = self._persist_isolating(readable)  # raises DependencyDown: then everything stays pending
        failed = {entry[0] for entry, _ in failures}
        done = gone + [entry_id for entry_id, _, _ in readable if entry_id not in failed]
        pipe = self._redis.pipeline()
        for entry_id, fields, reason in unreadable:
            log.error("calllog: entry:%s unreadable (%s); moved to the dead letters", entry_id, reason)
            self.dead_letters.add(entry_id, fields, f"unreadable: {reason}", 1, pipeline=pipe)
            done.append(entry_id)
        for (entry_id, fields, event), exc in failures:
            tries = self.dead_letters.note_failure(entry_id)
            reason = type(exc).__name__  # never str(exc): the database's message may quote the event's data
            if tries < MAX_TRIES:
                log.warning("calllog: entry:%s call=%s kind=%s failed (%s), try %d of %d; kept for the next drain",
                            entry_id, event.call_sid, event.kind, reason, tries, MAX_TRIES)
                continue
            log.error("calllog: entry:%s call=%s kind=%s failed (%s) %d times; moved to the dead letters "
                      "(careline calllog dead-letters list)", entry_id, event.call_sid, event.kind, reason, tries)
            self.dead_letters.add(entry_id, fields, reason, tries, event.call_sid, event.kind, pipeline=pipe)
            done.append(entry_id)
        if done:
            pipe.xack(STREAM_KEY, GROUP, *done)
            pipe.xdel(STREAM_KEY, *done)
            self.dead_letters.forget(done, pipeline=pipe)
        pipe.execute()
        return len(done)

    def _persist_isolating(self, entries: list) -> list:
        """Persist the events of `entries` (entry id, fields, event); when that fails and the database answers,
        persist each half apart, down to single entries. Returns the entries that failed alone, with their
        exception; raises `DependencyDown` when the database does not answer."""
        if not entries:
            return []
        try:
            self.persist([event for _, _, event in entries])
            return []
        except Exception as exc:  # noqa: BLE001 - sorted below: the database down, or something in these entries
            if isinstance(exc, DATABASE_DOWN) or _connection_lost(exc) or not self._database_answers():
                raise DependencyDown("database") from exc
            if len(entries) == 1:
                return [(entries[0], exc)]
        middle = len(entries) // 2
        return self._persist_isolating(entries[:middle]) + self._persist_isolating(entries[middle:])

    def _database_answers(self) -> bool:
        """Whether the database answers a trivial query (so a failure was the data's, not the database's)."""
        try:
            with self._session_factory() as session:
                session.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure here means it does not answer
            return False


def _connection_lost(exc: Exception) -> bool:
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


CALL_COLUMNS = ("practice_id", "caller_id", "from_number", "to_number", "started_at", "first_voice_at",
                "answered_by", "after_hours", "language", "urgent", "outcome", "status", "ended_at",
                "duration_seconds", "direction")


def _call_row(record: CallRecord, caller_id: int | None) -> dict:
    row = {name: getattr(record, name) for name in CALL_COLUMNS if name != "caller_id"}
    return {**row, "call_sid": record.call_sid, "caller_id": caller_id}

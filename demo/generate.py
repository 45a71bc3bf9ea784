"""`careline demo generate --calls N`: realistic call history for demos and benchmarks.

The calls are spread over the last `days` days of the configured practices: weekdays busier than weekends,
office-hours peaks mid-morning and mid-afternoon, a share after hours. Each call takes a path real calls
take: the front desk answers, or the IVR does and the caller holds for an agent (connected, hung up,
left by key), leaves a message (some urgent) or hangs up; whoever did not reach a person gets a callback
task, most of them reached before their due time. The agents' days (available, a lunch pause) are there
too. Rows are written in bulk, then the metrics' roll-ups are rebuilt from them (metrics.rollup), so the
dashboard and `GET /api/metrics` read generated history exactly as they read real history.

The same seed writes the same history; a second run adds to the first (new CallSids).
"""
from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from models import (Agent, AgentStatusChange, Call, CallbackTask, CallbackTaskCall, Message, Practice, QueueEvent,
                    agent_practices)
from practices import schedule
from practices.snapshot import PracticeSnapshot
from practices.store import snapshot_from_model
from callbacks.due import callback_due_at

BATCH_ROWS = 5_000  # rows per INSERT batch
WEEKDAY_WEIGHTS = (1.35, 1.1, 1.0, 1.0, 0.95, 0.35, 0.25)  # Monday .. Sunday
# Calls by local hour: a mid-morning and a mid-afternoon peak, a little at night.
HOUR_WEIGHTS = (0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.2, 3.5, 5.0, 5.2, 4.4, 3.0, 3.6, 4.2, 4.0, 3.2, 2.0,
                1.2, 0.9, 0.7, 0.6, 0.4, 0.3)
FRONT_DESK_SHARE = 0.45  # of office-hours calls to a practice with a front desk, answered by it
LATE_IVR_SHARE = 0.02  # calls whose first voice came after the ring budget (a slow front desk, a retry)
MEAN_WAIT_SECONDS = 45.0
TALK_MEDIAN_SECONDS = 180.0
URGENT_SHARE = 0.12
RECENT_OPEN_TASKS = timedelta(days=3)  # older tasks have all been closed


class NothingToGenerateFor(RuntimeError):
    """No practice is configured: load a configuration first."""


@dataclass(frozen=True)
class GenerateOptions:
    calls: int
    days: int = 90
    seed: int = 1
    end: date | None = None  # the last day (practice-local); default: today
    rebuild_rollups: bool = True


@dataclass
class GenerateReport:
    calls: int = 0
    queue_events: int = 0
    messages: int = 0
    callback_tasks: int = 0
    agent_status_changes: int = 0
    rows_by_table: dict[str, int] = field(default_factory=dict)


@dataclass
class _Batch:
    calls: list[dict] = field(default_factory=list)
    queue_events: list[dict] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)
    tasks: list[dict] = field(default_factory=list)
    task_calls: list[dict] = field(default_factory=list)

    def size(self) -> int:
        return len(self.calls) + len(self.queue_events) + len(self.messages) + len(self.tasks)


def generate(session_factory: sessionmaker[Session], options: GenerateOptions,
             now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
             progress: Callable[[int], None] | None = None) -> GenerateReport:
    """Write `options.calls` calls of history (and what follows from them); returns what was written."""
    rng = random.Random(options.seed)
    with session_factory() as session:
        practices = [snapshot_from_model(p) for p in session.scalars(select(Practice).order_by(Practice.id))]
        agents_by_practice: dict[int, list[int]] = {}
        for agent_id, practice_id in session.execute(
                select(agent_practices.c.agent_id, agent_practices.c.practice_id)
                .join(Agent, Agent.id == agent_practices.c.agent_id).where(Agent.role == "agent")):
            agents_by_practice.setdefault(practice_id, []).append(agent_id)
    if not practices:
        raise NothingToGenerateFor("no practice is configured: run `careline config load FILE` first")
    end = options.end or now().date()
    days = [end - timedelta(days=offset) for offset in range(options.days)]
    day_weights = [WEEKDAY_WEIGHTS[d.weekday()] for d in days]
    report = GenerateReport()
    tag = uuid.uuid4().hex[:8]  # CallSids of this run differ from earlier runs'
    batch = _Batch()
    done = 0
    for index in range(options.calls):
        practice = practices[index % len(practices)]
        local_day = rng.choices(days, day_weights)[0]
        _one_call(rng, practice, agents_by_practice.get(practice.id, []), local_day, f"{tag}{index:024x}", batch,
                  now())
        if batch.size() >= BATCH_ROWS:
            _flush(session_factory, batch, report)
            batch = _Batch()
        done += 1
        if progress and done % 100_000 == 0:
            progress(done)
    _flush(session_factory, batch, report)
    report.agent_status_changes = _agent_days(session_factory, rng, practices, agents_by_practice, days)
    if options.rebuild_rollups:
        from metrics.rollup import rebuild

        with session_factory() as session, session.begin():
            _no_statement_timeout(session)
            rebuild(session, [p.id for p in practices])
    return report


def _one_call(rng: random.Random, practice: PracticeSnapshot, agents: list[int], local_day: date, sid_tail: str,
              batch: _Batch, now: datetime) -> None:
    """One call of `practice` on `local_day`: its row, its queue events, its message and its task."""
    hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
    local = datetime.combine(local_day, time(hour, rng.randrange(60), rng.randrange(60)), tzinfo=practice.tz)
    started = local.astimezone(timezone.utc)
    if started > now:
        started = now - timedelta(seconds=rng.randrange(3600, 7200))
    call_sid = "CA" + sid_tail[-32:]
    caller = f"+1312555{rng.randrange(10_000):04d}"
    after_hours = not schedule.is_open(practice, started)
    budget = practice.ring_budget_seconds
    front_desk = practice.front_desk is not None and not after_hours
    row = dict(call_sid=call_sid, practice_id=practice.id, caller_id=None, from_number=caller,
               to_number=practice.numbers[0] if practice.numbers else "", started_at=started,
               after_hours=after_hours, language=practice.default_language, urgent=False, status="completed",
               direction="inbound", answered_by="ivr")
    voice_after = (budget - 1) if front_desk else 1
    if rng.random() < LATE_IVR_SHARE:
        voice_after = budget + rng.randrange(1, 6)
    row["first_voice_at"] = started + timedelta(seconds=voice_after)
    urgent = rng.random() < URGENT_SHARE
    if front_desk and rng.random() < FRONT_DESK_SHARE:
        talk = _talk_seconds(rng)
        row.update(answered_by="front-desk", first_voice_at=started + timedelta(seconds=rng.randrange(4, budget - 2)),
                   outcome="answered", ended_at=started + timedelta(seconds=talk + 8), duration_seconds=talk + 8)
        batch.calls.append(row)
        return
    menu_at = row["first_voice_at"] + timedelta(seconds=rng.randrange(15, 30))
    path = rng.random()
    wants_person = path < (0.2 if after_hours else 0.62) or (after_hours and urgent)
    if wants_person and agents:
        _queue_path(rng, practice, agents, row, batch, menu_at, urgent)
    elif path < 0.86 or urgent:
        _message_path(rng, practice, row, batch, menu_at, urgent)
    else:  # hung up in the IVR
        row.update(outcome="hung-up", ended_at=menu_at, duration_seconds=int((menu_at - started).total_seconds()))
        batch.calls.append(row)
        _task(rng, practice, row, batch, "hung-up", now)
        return
    if row["outcome"] in ("message", "callback", "hung-up"):
        _task(rng, practice, row, batch, row["outcome"], now)


def _queue_path(rng, practice, agents, row, batch, entered_at, urgent) -> None:
    call_sid, practice_id = row["call_sid"], practice.id
    max_wait = practice.queue_setting("max_wait_seconds")
    wait = min(rng.expovariate(1 / MEAN_WAIT_SECONDS), max_wait)
    row["urgent"] = urgent
    events = [_qe(call_sid, "entered", entered_at, practice_id, urgent=urgent, position=rng.randrange(1, 6))]
    fate = rng.random()
    left_at = entered_at + timedelta(seconds=wait)
    if wait >= max_wait:
        events.append(_qe(call_sid, "max-wait", left_at, practice_id, wait=wait))
        batch.queue_events += events
        _message_path(rng, practice, row, batch, left_at, urgent)
        return
    if fate < 0.78:
        agent = rng.choice(agents)
        if rng.random() < 0.06:  # the first agent rung did not answer
            missed = rng.choice(agents)
            events.append(_qe(call_sid, "offered", left_at - timedelta(seconds=20), practice_id, agent=missed,
                              wait=max(0.0, wait - 20)))
            events.append(_qe(call_sid, "no-answer", left_at - timedelta(seconds=5), practice_id, agent=missed))
        talk = _talk_seconds(rng)
        events.append(_qe(call_sid, "offered", left_at - timedelta(seconds=4), practice_id, agent=agent,
                          wait=max(0.0, wait - 4)))
        events.append(_qe(call_sid, "connected", left_at, practice_id, agent=agent, wait=wait))
        ended = left_at + timedelta(seconds=talk)
        events.append(_qe(call_sid, "talk-ended", ended, practice_id, agent=agent, talk=talk))
        row.update(answered_by="agent", outcome="answered", ended_at=ended,
                   duration_seconds=int((ended - row["started_at"]).total_seconds()))
        batch.calls.append(row)
    elif fate < 0.9:
        events.append(_qe(call_sid, "abandoned", left_at, practice_id, wait=wait, reason="hangup"))
        row.update(outcome="hung-up", ended_at=left_at,
                   duration_seconds=int((left_at - row["started_at"]).total_seconds()))
        batch.calls.append(row)
    elif fate < 0.95:
        events.append(_qe(call_sid, "left-by-key", left_at, practice_id, wait=wait, reason="message"))
        batch.queue_events += events
        _message_path(rng, practice, row, batch, left_at, urgent)
        return
    else:
        events.append(_qe(call_sid, "left-by-key", left_at, practice_id, wait=wait, reason="callback"))
        row.update(outcome="callback", ended_at=left_at + timedelta(seconds=6),
                   duration_seconds=int((left_at - row["started_at"]).total_seconds()) + 6)
        batch.calls.append(row)
    batch.queue_events += events


def _message_path(rng, practice, row, batch, at, urgent) -> None:
    length = rng.randrange(6, 90)
    ended = at + timedelta(seconds=length + 12)
    row.update(outcome="message", urgent=urgent, ended_at=ended,
               duration_seconds=int((ended - row["started_at"]).total_seconds()))
    batch.calls.append(row)
    recording = "RE" + row["call_sid"][2:]
    batch.messages.append(dict(
        practice_id=practice.id, call_sid=row["call_sid"], caller_id=None, from_number=row["from_number"],
        language=row["language"], urgent=urgent, duration_seconds=length, recording_sid=recording,
        recording_url=f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}/Recordings/{recording}",
        recording_status="completed", transcription_status=None, created_at=at + timedelta(seconds=length),
        after_hours=row["after_hours"]))


def _task(rng, practice, row, batch, reason, now: datetime) -> None:
    """The call's own callback task (generated callers seldom call twice), worked as agents work them."""
    opened = row["started_at"]
    due = callback_due_at(practice, opened, row["urgent"])
    task = dict(practice_id=practice.id, caller_id=None, callback_number=row["from_number"], status="open",
                urgent=row["urgent"], call_count=1, opened_at=opened, last_call_at=opened, due_at=due, target_at=due,
                attempts=0, needs_manager=False, closed_at=None, closed_reason=None, _sid=row["call_sid"])
    within = (due - opened).total_seconds()
    fate = rng.random()
    reach_after = timedelta(seconds=within * rng.uniform(0.1, 1.3))
    # Tasks are worked to completion: only those of the last few days are still open (or with a manager).
    recent = now - opened < RECENT_OPEN_TASKS
    if recent and fate >= 0.9:
        if fate < 0.93:
            task.update(attempts=practice.callbacks.max_attempts, needs_manager=True)
    elif fate < 0.9 and opened + reach_after < now or not recent:
        reason = "wrong-number" if fate >= 0.86 and fate < 0.9 else "reached"
        attempts = 0 if rng.random() < 0.7 else rng.randrange(1, 3)
        closed_at = opened + (reach_after if fate < 0.9 else within * timedelta(seconds=rng.uniform(1.5, 6)))
        task.update(status="closed", closed_reason=reason, closed_at=min(closed_at, now), attempts=attempts)
    batch.tasks.append(task)


def _qe(call_sid, kind, at, practice_id, agent=None, wait=None, talk=None, urgent=False, position=None,
        reason=None) -> dict:
    return dict(call_sid=call_sid, event_key=f"gen-{kind}:{at.timestamp():.0f}:{agent or 0}", practice_id=practice_id,
                kind=kind, at=at, agent_id=agent, urgent=urgent, language=None, position=position,
                wait_seconds=round(wait, 3) if wait is not None else None,
                talk_seconds=int(talk) if talk is not None else None, reason=reason)


def _talk_seconds(rng: random.Random) -> int:
    return max(20, int(rng.lognormvariate(0, 0.6) * TALK_MEDIAN_SECONDS))


def _flush(session_factory, batch: _Batch, report: GenerateReport) -> None:
    if not batch.calls:
        return
    with session_factory() as session, session.begin():
        _no_statement_timeout(session)
        _bulk_insert(session, Call.__table__, batch.calls)
        _bulk_insert(session, QueueEvent.__table__, batch.queue_events)
        _bulk_insert(session, Message.__table__, batch.messages)
        if batch.tasks:
            sids = [task.pop("_sid") for task in batch.tasks]
            table = CallbackTask.__table__
            ids = session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                                  batch.tasks).scalars().all()
            links = [dict(call_sid=sid, task_id=task_id, reason="message", added_at=task["opened_at"],
                          closed_at=task.get("closed_at")) for sid, task_id, task in zip(sids, ids, batch.tasks)]
            _bulk_insert(session, CallbackTaskCall.__table__, links)
    report.calls += len(batch.calls)
    report.queue_events += len(batch.queue_events)
    report.messages += len(batch.messages)
    report.callback_tasks += len(batch.tasks)


def _agent_days(session_factory, rng, practices, agents_by_practice, days) -> int:
    """Each agent's working days: available from the opening of its first practice, a lunch pause, offline."""
    first_practice: dict[int, PracticeSnapshot] = {}
    for practice in practices:
        for agent_id in agents_by_practice.get(practice.id, []):
            first_practice.setdefault(agent_id, practice)
    rows = []
    for agent_id, practice in first_practice.items():
        for day in days:
            ranges = practice.hours.get(("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()], ())
            if not ranges or day in practice.holidays:
                continue
            opens = datetime.combine(day, ranges[0].opens, tzinfo=practice.tz)
            closes = datetime.combine(day, ranges[-1].closes or time(23, 59), tzinfo=practice.tz)
            lunch = datetime.combine(day, time(12, rng.randrange(0, 30)), tzinfo=practice.tz)
            marks = [(opens, "available", None), (closes, "offline", None)]
            if opens < lunch < closes - timedelta(minutes=30):
                marks[1:1] = [(lunch, "paused", "lunch"), (lunch + timedelta(minutes=30), "available", None)]
            rows += [dict(agent_id=agent_id, status=status, reason=reason, at=at.astimezone(timezone.utc))
                     for at, status, reason in marks]
    with session_factory() as session, session.begin():
        _no_statement_timeout(session)
        _bulk_insert(session, AgentStatusChange.__table__, rows)
    return len(rows)


def _no_statement_timeout(session: Session) -> None:
    """A bulk load's statements (COPY, the roll-ups' rebuild) may run longer than DATABASE_STATEMENT_TIMEOUT_SECONDS,
    which bounds the statements of webhooks and jobs: lift it for this transaction (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL statement_timeout = 0"))


def _bulk_insert(session: Session, table, rows: list[dict]) -> None:
    """Insert `rows` (dicts with the same keys) fast: PostgreSQL's COPY, else batched executemany."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        for chunk in _chunks(rows):
            session.execute(insert(table), chunk)
        return
    columns = list(rows[0])
    # COPY takes the values as they are: one type conversion per column, done here once.
    converters = [_copy_value(table.c[name].type) for name in columns]
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor:
        names = ", ".join(f'"{name}"' for name in columns)
        with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([convert(row[name]) for name, convert in zip(columns, converters)])


def _copy_value(column_type):
    from sqlalchemy import JSON

    if isinstance(column_type, JSON):
        import json

        return lambda value: None if value is None else json.dumps(value)
    return lambda value: value


def _chunks(rows: list[dict]) -> Iterator[list[dict]]:
    for start in range(0, len(rows), BATCH_ROWS):
        yield rows[start:start + BATCH_ROWS]

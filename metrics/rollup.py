"""Roll-ups: keep the facts and their sums per practice and local hour or day current, and rebuild them.

Every refresh recounts whole buckets from the facts, so running it again (a call's events arriving twice,
or in another order) gives the same rows. The writer calls `record_calls` at the end of its rebuild of a
batch of calls, in the same transaction; the status API calls `refresh_agent_time`; a callback attempt
calls `refresh_callback_day`. Each recount of a day's histograms (the connected waits, the callbacks'
reach times) also rewrites the practice's cumulative histograms from that day on (`refresh_cumulative`:
usually today's row only). `rebuild` recomputes everything from `calls`, `queue_events`, `messages`,
the callback tasks and the agents' status history (the demo generator, repairs).

Two transactions refreshing the same bucket at once would each recount without the other's fact, and the
later commit would win with a stale sum. A refresh therefore first locks the practice's row (the agent's,
for an agent's time) with FOR NO KEY UPDATE: it does not conflict with the key-share locks the inserts'
foreign keys take, so the other transaction's inserts do not wait, only its refresh does; PostgreSQL's
READ COMMITTED then shows the refresh the other's committed facts. SQLite serialises writers anyway.
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import Text, cast, delete, func, insert, select
from sqlalchemy.orm import Session

from calllog.writer import RebuiltCalls
from core.upsert import upsert_statement
from metrics import definitions as d
from metrics.facts import (CallView, PracticeRules, QueueRow, StatusRow, agent_facts, call_fact, closed_segments,
                           hourly_time)
from models import (Agent, AgentStatusChange, Call, CallbackTask, CallbackTaskAction, Message, Practice,
                    QueueEvent)
from models.metrics import (HISTOGRAM_NAMES, AgentStatsDaily, AgentTimeHourly, CallAgentFact, CallbackStatsDaily,
                            CallFact, CallStatsHourly, CumulativeHistogram, SkillStatsDaily)

log = logging.getLogger(__name__)

REBUILD_CHUNK = 2000  # calls per query and insert while rebuilding
REBUILD_WINDOW_DAYS = 14  # days of facts summed at a time while rebuilding
FACT_COLUMNS = tuple(c.name for c in CallFact.__table__.columns if c.name != "call_sid")
HourBucket = tuple[int, date, int]  # practice, local date, local hour
AgentDay = tuple[int, int, date]  # agent, practice, local date


# --- as calls end (the writer) ------------------------------------------------------------------------------

def record_rebuilt(batch: RebuiltCalls) -> None:
    """The call log rebuilt these calls: bring their facts and roll-ups up to
    date, in the same transaction."""
    record_calls(batch.session, batch.records)


def record_calls(session: Session, records: Iterable) -> None:
    """Bring the facts and roll-ups of these freshly rebuilt call records up to date (calllog.writer)."""
    records = list(records)
    if not records:
        return
    sids = [r.call_sid for r in records]
    practice_ids = {r.practice_id for r in records if r.practice_id is not None}
    _lock_practices(session, practice_ids)
    old_hours, old_days = _existing_buckets(session, sids)
    _lock_practices(session, {pid for pid, _, _ in old_hours} - practice_ids)
    rules = practice_rules(session, practice_ids | {pid for pid, _, _ in old_hours})
    views = [CallView.from_record(r) for r in records]
    new_hours, new_days = _write_facts(session, views, _queue_rows(session, sids), rules, replace=True)
    _refresh_call_hours(session, old_hours | new_hours)
    _refresh_agent_days(session, old_days | new_days)
    callback_days = {(r.practice_id, d.local_date_hour(r.callback_queued_at or r.started_at,
                                                      rules[r.practice_id].tz)[0])
                     for r in records if r.needs_callback and r.practice_id in rules}
    _refresh_callback_days(session, callback_days, rules)
    # The call-driven status rows (ringing, busy, wrap-up, missed) of these calls, written just before.
    changes: dict[int, datetime] = {}
    for agent_id, at in session.execute(select(AgentStatusChange.agent_id, func.min(AgentStatusChange.at))
                                        .where(AgentStatusChange.call_sid.in_(sids))
                                        .group_by(AgentStatusChange.agent_id)):
        changes[agent_id] = _aware(at)
    refresh_agent_time(session, changes)


def _existing_buckets(session: Session, sids: list[str]) -> tuple[set[HourBucket], set[AgentDay]]:
    """Where these calls were counted so far: a later event can move a call to another hour."""
    hours = {(row.practice_id, row.local_date, row.local_hour) for row in session.execute(
        select(CallFact.practice_id, CallFact.local_date, CallFact.local_hour).where(CallFact.call_sid.in_(sids)))}
    days = {(row.agent_id, row.practice_id, row.local_date) for row in session.execute(
        select(CallAgentFact.agent_id, CallAgentFact.practice_id, CallAgentFact.local_date)
        .where(CallAgentFact.call_sid.in_(sids)))}
    return hours, days


def _write_facts(session: Session, views: list[CallView], queue: Mapping[str, list[QueueRow]],
                 rules: Mapping[int, PracticeRules], replace: bool) -> tuple[set[HourBucket], set[AgentDay]]:
    """Write the facts of `views` (replacing theirs when `replace`); the buckets they now count in."""
    facts, agent_rows = [], []
    for view in views:
        practice = rules.get(view.practice_id) if view.practice_id is not None else None
        fact = call_fact(view, queue.get(view.call_sid, ()), practice) if practice is not None else None
        if fact is None:
            continue
        facts.append(fact)
        if fact["ended"]:  # agents' figures count ended calls, as the call roll-ups do
            agent_rows += agent_facts(view.call_sid, view.practice_id, fact["local_date"],
                                      queue.get(view.call_sid, ()))
    if replace:
        sids = [v.call_sid for v in views]
        kept = {f["call_sid"] for f in facts}
        gone = [sid for sid in sids if sid not in kept]
        if gone:  # no longer an offered call (its practice was resolved otherwise)
            session.execute(delete(CallFact).where(CallFact.call_sid.in_(gone)))
        session.execute(delete(CallAgentFact).where(CallAgentFact.call_sid.in_(sids)))
        if facts:
            session.execute(upsert_statement(session, CallFact, ("call_sid",), FACT_COLUMNS), facts)
    elif facts:
        session.execute(insert(CallFact.__table__), facts)
    if agent_rows:
        session.execute(insert(CallAgentFact.__table__), agent_rows)
    hours = {(f["practice_id"], f["local_date"], f["local_hour"]) for f in facts}
    days = {(a["agent_id"], a["practice_id"], a["local_date"]) for a in agent_rows}
    return hours, days


def _queue_rows(session: Session, sids: Iterable[str]) -> dict[str, list[QueueRow]]:
    rows: dict[str, list[QueueRow]] = defaultdict(list)
    sids = list(sids)
    if not sids:
        return rows
    for row in session.execute(
            select(QueueEvent.call_sid, QueueEvent.kind, QueueEvent.at, QueueEvent.agent_id, QueueEvent.wait_seconds,
                   QueueEvent.talk_seconds, QueueEvent.reason, QueueEvent.skill)
            .where(QueueEvent.call_sid.in_(sids)).order_by(QueueEvent.at, QueueEvent.id)):
        rows[row.call_sid].append(QueueRow(row.kind, _aware(row.at), row.agent_id, row.wait_seconds,
                                           row.talk_seconds, row.reason, row.skill))
    return rows


# --- recounting buckets -------------------------------------------------------------------------------------

def _refresh_call_hours(session: Session, buckets: Iterable[HourBucket]) -> None:
    """Recount call_stats_hourly for these (practice, local date, local hour) from the ended calls' facts."""
    by_day: dict[tuple[int, date], set[int]] = defaultdict(set)
    for practice_id, local_date, local_hour in buckets:
        by_day[(practice_id, local_date)].add(local_hour)
    for (practice_id, local_date), hours in sorted(by_day.items()):
        facts = session.execute(select(*_FACT_FIELDS).where(
            CallFact.practice_id == practice_id, CallFact.local_date == local_date,
            CallFact.local_hour.in_(sorted(hours)), CallFact.ended.is_(True))).all()
        session.execute(delete(CallStatsHourly).where(
            CallStatsHourly.practice_id == practice_id, CallStatsHourly.local_date == local_date,
            CallStatsHourly.local_hour.in_(sorted(hours))))
        rows = hour_rows(facts)
        if rows:
            session.execute(insert(CallStatsHourly.__table__), rows)
        _refresh_skill_day(session, practice_id, local_date)
    for practice_id in sorted({practice_id for practice_id, _ in by_day}):
        refresh_cumulative(session, "wait_seconds", practice_id,
                           min(local_date for pid, local_date in by_day if pid == practice_id))


_FACT_FIELDS = tuple(CallFact.__table__.columns)


def hour_rows(facts: Iterable) -> list[dict]:
    """call_stats_hourly rows summing `facts` (call_facts rows, or anything with the same attributes)."""
    sums: dict[HourBucket, dict] = {}
    for fact in facts:
        key = (fact.practice_id, fact.local_date, fact.local_hour)
        row = sums.get(key)
        if row is None:
            row = sums[key] = dict(
                practice_id=key[0], local_date=key[1], local_hour=key[2], calls_offered=0, answered_in_budget=0,
                handled_by_person=0, entered_queue=0, connected_from_queue=0, connected_in_service_level=0,
                wait_seconds_sum=0.0, longest_wait_seconds=None, abandoned=0, short_abandons=0, messages=0,
                urgent_messages=0, wait_histogram={})
        row["calls_offered"] += 1
        row["answered_in_budget"] += fact.answered_in_budget
        row["handled_by_person"] += fact.handled_by_person
        row["entered_queue"] += fact.entered_queue
        row["abandoned"] += fact.abandoned
        row["short_abandons"] += fact.short_abandon
        row["messages"] += fact.message
        row["urgent_messages"] += fact.urgent_message
        if fact.entered_queue and fact.wait_seconds is not None:
            longest = row["longest_wait_seconds"]
            row["longest_wait_seconds"] = fact.wait_seconds if longest is None else max(longest, fact.wait_seconds)
        if fact.connected_from_queue:
            row["connected_from_queue"] += 1
            row["connected_in_service_level"] += fact.connected_in_service_level
            if fact.wait_seconds is not None:
                row["wait_seconds_sum"] += fact.wait_seconds
                d.count_into(row["wait_histogram"], d.whole_seconds(fact.wait_seconds))
    return [sums[key] for key in sorted(sums)]


def _refresh_skill_day(session: Session, practice_id: int, local_date: date) -> None:
    """Recount skill_stats_daily for a practice's local day from the ended calls' facts that asked for a skill."""
    facts = session.execute(select(*_FACT_FIELDS).where(
        CallFact.practice_id == practice_id, CallFact.local_date == local_date, CallFact.ended.is_(True),
        CallFact.skill.is_not(None))).all()
    session.execute(delete(SkillStatsDaily).where(SkillStatsDaily.practice_id == practice_id,
                                                  SkillStatsDaily.local_date == local_date))
    rows = skill_rows(facts)
    if rows:
        session.execute(insert(SkillStatsDaily.__table__), rows)


def skill_rows(facts: Iterable) -> list[dict]:
    """skill_stats_daily rows summing the queue figures of `facts` that asked for a skill, per practice, local
    date and skill (the same counts as hour_rows, so service level and abandonment per skill mean the same)."""
    sums: dict[tuple[int, date, str], dict] = {}
    for fact in facts:
        if not fact.skill or not fact.entered_queue:
            continue
        key = (fact.practice_id, fact.local_date, fact.skill)
        row = sums.get(key)
        if row is None:
            row = sums[key] = dict(practice_id=key[0], local_date=key[1], skill=key[2], entered_queue=0,
                                   connected_from_queue=0, connected_in_service_level=0, wait_seconds_sum=0.0,
                                   abandoned=0, short_abandons=0)
        row["entered_queue"] += 1
        row["abandoned"] += fact.abandoned
        row["short_abandons"] += fact.short_abandon
        if fact.connected_from_queue:
            row["connected_from_queue"] += 1
            row["connected_in_service_level"] += fact.connected_in_service_level
            if fact.wait_seconds is not None:
                row["wait_seconds_sum"] += fact.wait_seconds
    return [sums[key] for key in sorted(sums)]


def _refresh_agent_days(session: Session, buckets: Iterable[AgentDay]) -> None:
    """Recount agent_stats_daily for these (agent, practice, local date) from call_agent_facts."""
    by_day: dict[tuple[int, date], set[int]] = defaultdict(set)
    for agent_id, practice_id, local_date in buckets:
        by_day[(practice_id, local_date)].add(agent_id)
    for (practice_id, local_date), agent_ids in sorted(by_day.items()):
        session.execute(delete(AgentStatsDaily).where(
            AgentStatsDaily.practice_id == practice_id, AgentStatsDaily.local_date == local_date,
            AgentStatsDaily.agent_id.in_(sorted(agent_ids))))
        session.execute(insert(AgentStatsDaily.__table__).from_select(_AGENT_DAY_COLUMNS, _agent_day_sums().where(
            CallAgentFact.practice_id == practice_id, CallAgentFact.local_date == local_date,
            CallAgentFact.agent_id.in_(sorted(agent_ids)))))


_AGENT_DAY_COLUMNS = ("agent_id", "practice_id", "local_date", "calls_handled", "talk_seconds_sum", "talks_timed",
                      "offers_missed")


def _agent_day_sums():
    return (select(CallAgentFact.agent_id, CallAgentFact.practice_id, CallAgentFact.local_date,
                   func.sum(CallAgentFact.calls_handled), func.sum(CallAgentFact.talk_seconds_sum),
                   func.sum(CallAgentFact.talks_timed), func.sum(CallAgentFact.offers_missed))
            .group_by(CallAgentFact.agent_id, CallAgentFact.practice_id, CallAgentFact.local_date))


def refresh_callback_day(session: Session, practice_id: int, at: datetime) -> None:
    """Recount the callback roll-up of the practice's local day holding `at` (callbacks.tasks: a task was
    closed or flagged then)."""
    _lock_practices(session, {practice_id})
    rules = practice_rules(session, {practice_id})
    if practice_id in rules:
        _refresh_callback_days(session, {(practice_id, d.local_date_hour(at, rules[practice_id].tz)[0])}, rules)


def _refresh_callback_days(session: Session, days: Iterable[tuple[int, date]],
                           rules: Mapping[int, PracticeRules]) -> None:
    """Recount callback_stats_daily for these (practice, local date): tasks opened, closed and flagged then."""
    for practice_id, local_date in sorted(set(days)):
        start, end = d.local_day_span(rules[practice_id].tz, local_date, local_date)
        opened = session.scalar(select(func.count()).select_from(CallbackTask).where(
            CallbackTask.practice_id == practice_id, CallbackTask.opened_at >= start, CallbackTask.opened_at < end))
        closed = session.execute(select(CallbackTask.opened_at, CallbackTask.closed_at, CallbackTask.closed_reason,
                                        CallbackTask.target_at).where(
            CallbackTask.practice_id == practice_id, CallbackTask.closed_at >= start,
            CallbackTask.closed_at < end)).all()
        flagged = session.scalar(select(func.count()).select_from(CallbackTaskAction).join(
            CallbackTask, CallbackTask.id == CallbackTaskAction.task_id).where(
            CallbackTaskAction.action == "flagged", CallbackTaskAction.at >= start, CallbackTaskAction.at < end,
            CallbackTask.practice_id == practice_id))
        session.execute(delete(CallbackStatsDaily).where(CallbackStatsDaily.practice_id == practice_id,
                                                         CallbackStatsDaily.local_date == local_date))
        row = callback_row(practice_id, local_date, opened, closed, flagged)
        if row is not None:
            session.execute(insert(CallbackStatsDaily.__table__), [row])
    days = set(days)
    for practice_id in sorted({practice_id for practice_id, _ in days}):
        refresh_cumulative(session, "reach_minutes", practice_id,
                           min(local_date for pid, local_date in days if pid == practice_id))


def callback_row(practice_id: int, local_date: date, opened: int, closed: Iterable, flagged: int) -> dict | None:
    """The callback_stats_daily row of one day; None when nothing happened that day.

    `closed`: the tasks closed that day, with opened_at, closed_at, closed_reason and target_at.
    """
    row = dict(practice_id=practice_id, local_date=local_date, opened=opened, closed=0, reached=0,
               reached_within_due=0, max_attempts_reached=flagged, reach_minutes_histogram={})
    for task in closed:
        row["closed"] += 1
        if task.closed_reason != "reached":
            continue
        closed_at, opened_at = _aware(task.closed_at), _aware(task.opened_at)
        row["reached"] += 1
        target_at = _aware(task.target_at) if task.target_at is not None else None
        row["reached_within_due"] += target_at is not None and closed_at <= target_at
        d.count_into(row["reach_minutes_histogram"], d.whole_minutes(closed_at - opened_at))
    if not (row["opened"] or row["closed"] or row["max_attempts_reached"]):
        return None
    return row


# --- cumulative histograms ---------------------------------------------------------------------------------

CUMULATIVE_WRITE_BATCH = 20  # rows per insert while rewriting cumulative histograms (each may be ~60 kB)


def refresh_cumulative(session: Session, name: str, practice_id: int, since: date) -> None:
    """Rewrite the practice's cumulative histogram `name` from the local date `since` on, from the day
    roll-ups (the day that changed is usually today: one row)."""
    source = (select(CallStatsHourly.local_date, cast(CallStatsHourly.wait_histogram, Text))
              .where(CallStatsHourly.practice_id == practice_id, CallStatsHourly.local_date >= since,
                     CallStatsHourly.connected_from_queue > 0)
              if name == "wait_seconds" else
              select(CallbackStatsDaily.local_date, cast(CallbackStatsDaily.reach_minutes_histogram, Text))
              .where(CallbackStatsDaily.practice_id == practice_id, CallbackStatsDaily.local_date >= since,
                     CallbackStatsDaily.reached > 0))
    c = CumulativeHistogram
    base_text = session.scalar(select(cast(c.counts, Text)).where(
        c.practice_id == practice_id, c.name == name, c.local_date < since).order_by(c.local_date.desc()).limit(1))
    running: dict = json.loads(base_text) if base_text else {}
    session.execute(delete(c).where(c.practice_id == practice_id, c.name == name, c.local_date >= since))
    batch: list[dict] = []
    day, changed = None, False
    for local_date, text in session.execute(source.order_by(source.selected_columns[0])).all():
        if local_date != day and changed:
            batch.append(dict(practice_id=practice_id, name=name, local_date=day, counts=dict(running)))
        day, changed = local_date, True
        d.add_histogram(running, json.loads(text))
        if len(batch) >= CUMULATIVE_WRITE_BATCH:
            session.execute(insert(c.__table__), batch)
            batch = []
    if changed:
        batch.append(dict(practice_id=practice_id, name=name, local_date=day, counts=dict(running)))
    if batch:
        session.execute(insert(c.__table__), batch)


# --- agents' time -------------------------------------------------------------------------------------------

def refresh_agent_time(session: Session, changes: Mapping[int, datetime]) -> None:
    """Recount agent_time_hourly for agents whose history changed from `changes[agent_id]` on (the status
    API's row, the call-driven rows of a batch); the hours from the interval those rows cut short on."""
    if not changes:
        return
    _lock_agents(session, set(changes))
    for agent_id in sorted(changes):
        _recount_agent_time(session, agent_id, changes[agent_id])


def _recount_agent_time(session: Session, agent_id: int, since: datetime | None) -> None:
    start = None
    if since is not None:
        # The interval a row at `since` cuts short began at the row before it; that row's hour may also hold
        # time of the row before that, so the recount reads from the row covering that hour's start.
        previous = session.scalar(select(func.max(AgentStatusChange.at)).where(
            AgentStatusChange.agent_id == agent_id, AgentStatusChange.at < since))
        start = d.floor_hour(_aware(previous) if previous is not None else since)
        covering = session.scalar(select(func.max(AgentStatusChange.at)).where(
            AgentStatusChange.agent_id == agent_id, AgentStatusChange.at <= start))
        read_from = _aware(covering) if covering is not None else start
    query = (select(AgentStatusChange.status, AgentStatusChange.at, AgentStatusChange.until)
             .where(AgentStatusChange.agent_id == agent_id).order_by(AgentStatusChange.at, AgentStatusChange.id))
    if start is not None:
        query = query.where(AgentStatusChange.at >= read_from)
    rows = [StatusRow(r.status, _aware(r.at), _aware(r.until) if r.until is not None else None)
            for r in session.execute(query)]
    old = delete(AgentTimeHourly).where(AgentTimeHourly.agent_id == agent_id)
    session.execute(old.where(AgentTimeHourly.hour_start >= start) if start is not None else old)
    hours = hourly_time(closed_segments(rows), since=start)
    if hours:
        session.execute(insert(AgentTimeHourly.__table__), [
            dict(agent_id=agent_id, hour_start=hour, available_seconds=seconds[0], paused_seconds=seconds[1])
            for hour, seconds in sorted(hours.items())])


# --- rebuilding ---------------------------------------------------------------------------------------------

def rebuild(session: Session, practice_ids: list[int] | None = None) -> None:
    """Recompute the facts of every inbound call of `practice_ids` (None: every practice; an empty list:
    none) from calls, queue_events and messages, then every roll-up; the caller commits."""
    if practice_ids is not None and not practice_ids:
        return
    rebuilding_all = practice_ids is None
    if practice_ids is None:
        practice_ids = list(session.scalars(select(Practice.id).order_by(Practice.id)))
    practice_ids = sorted(set(practice_ids))
    _lock_practices(session, set(practice_ids))
    rules = practice_rules(session, practice_ids)
    for model in (CumulativeHistogram, CallStatsHourly, SkillStatsDaily, AgentStatsDaily, CallbackStatsDaily,
                  CallAgentFact, CallFact):
        session.execute(delete(model).where(model.practice_id.in_(practice_ids)))
    calls = 0
    for chunk in _call_chunks(session, practice_ids):
        _write_facts(session, chunk, _queue_rows(session, [c.call_sid for c in chunk]), rules, replace=False)
        calls += len(chunk)
    for practice_id in practice_ids:
        _rebuild_call_hours(session, practice_id)
        _rebuild_callback_days(session, rules[practice_id])
        for name in HISTOGRAM_NAMES:
            refresh_cumulative(session, name, practice_id, date.min)
    session.execute(insert(AgentStatsDaily.__table__).from_select(
        _AGENT_DAY_COLUMNS, _agent_day_sums().where(CallAgentFact.practice_id.in_(practice_ids))))
    agent_ids = (set(session.scalars(select(Agent.id))) if rebuilding_all
                 else _agents_of(session, practice_ids))
    _lock_agents(session, agent_ids)
    for agent_id in sorted(agent_ids):
        _recount_agent_time(session, agent_id, None)
    log.info("metrics: rebuilt %d calls of %d practices, %d agents' time", calls, len(practice_ids), len(agent_ids))


def _call_chunks(session: Session, practice_ids: list[int]):
    """The inbound calls of the practices as CallViews, at most REBUILD_CHUNK at a time: one practice and
    one UTC day after another, each a range of ix_calls_practice_id_started_at."""
    for practice_id in practice_ids:
        first, last = session.execute(select(func.min(Call.started_at), func.max(Call.started_at))
                                      .where(Call.practice_id == practice_id)).one()
        if first is None:
            continue
        day = d.floor_hour(_aware(first)).replace(hour=0)
        while day <= _aware(last):
            following = day + timedelta(days=1)
            rows = session.execute(
                select(Call.call_sid, Call.practice_id, Call.direction, Call.started_at, Call.first_voice_at,
                       Call.answered_by, Call.ended_at, Message.id.label("message_id"), Message.urgent)
                .outerjoin(Message, (Message.call_sid == Call.call_sid) & Message.author_agent_id.is_(None))
                .where(Call.practice_id == practice_id, Call.started_at >= day, Call.started_at < following,
                       Call.direction == "inbound")).all()
            for start in range(0, len(rows), REBUILD_CHUNK):
                yield [CallView(r.call_sid, r.practice_id, r.direction, _aware(r.started_at),
                                _aware(r.first_voice_at) if r.first_voice_at is not None else None, r.answered_by,
                                r.ended_at is not None, r.message_id is not None, bool(r.urgent))
                       for r in rows[start:start + REBUILD_CHUNK]]
            day = following


def _rebuild_call_hours(session: Session, practice_id: int) -> None:
    """Every call_stats_hourly and skill_stats_daily row of the practice, REBUILD_WINDOW_DAYS of facts at a time."""
    first, last = session.execute(select(func.min(CallFact.local_date), func.max(CallFact.local_date))
                                  .where(CallFact.practice_id == practice_id)).one()
    if first is None:
        return
    day = first
    while day <= last:
        following = day + timedelta(days=REBUILD_WINDOW_DAYS)
        facts = session.execute(select(*_FACT_FIELDS).where(
            CallFact.practice_id == practice_id, CallFact.ended.is_(True), CallFact.local_date >= day,
            CallFact.local_date < following)).all()
        rows = hour_rows(facts)
        if rows:
            session.execute(insert(CallStatsHourly.__table__), rows)
        skills = skill_rows(facts)
        if skills:
            session.execute(insert(SkillStatsDaily.__table__), skills)
        day = following


def _rebuild_callback_days(session: Session, practice: PracticeRules) -> None:
    tz = practice.tz
    opened: dict[date, int] = defaultdict(int)
    closed: dict[date, list] = defaultdict(list)
    flagged: dict[date, int] = defaultdict(int)
    for task in session.execute(select(CallbackTask.opened_at, CallbackTask.closed_at, CallbackTask.closed_reason,
                                       CallbackTask.target_at).where(CallbackTask.practice_id == practice.id)):
        opened[d.local_date_hour(_aware(task.opened_at), tz)[0]] += 1
        if task.closed_at is not None:
            closed[d.local_date_hour(_aware(task.closed_at), tz)[0]].append(task)
    for (at,) in session.execute(select(CallbackTaskAction.at).join(
            CallbackTask, CallbackTask.id == CallbackTaskAction.task_id).where(
            CallbackTask.practice_id == practice.id, CallbackTaskAction.action == "flagged")):
        flagged[d.local_date_hour(_aware(at), tz)[0]] += 1
    rows = [row for day in sorted(set(opened) | set(closed) | set(flagged))
            if (row := callback_row(practice.id, day, opened.get(day, 0), closed.get(day, ()),
                                    flagged.get(day, 0))) is not None]
    if rows:
        session.execute(insert(CallbackStatsDaily.__table__), rows)


def _agents_of(session: Session, practice_ids: list[int]) -> set[int]:
    """The agents whose time may show for these practices: theirs, every-practice agents, and any agent
    the practices' calls were offered to."""
    from models import agent_practices

    ids = set(session.scalars(select(agent_practices.c.agent_id).where(
        agent_practices.c.practice_id.in_(practice_ids))))
    ids |= set(session.scalars(select(Agent.id).where(Agent.all_practices.is_(True))))
    ids |= set(session.scalars(select(QueueEvent.agent_id).where(
        QueueEvent.practice_id.in_(practice_ids), QueueEvent.agent_id.is_not(None)).distinct()))
    return ids


# --- shared -------------------------------------------------------------------------------------------------

def practice_rules(session: Session, practice_ids: Iterable[int]) -> dict[int, PracticeRules]:
    """The metrics' settings of these practices, by id (one query)."""
    practice_ids = sorted(set(practice_ids))
    if not practice_ids:
        return {}
    return {row.id: PracticeRules(row.id, row.timezone, row.ring_budget_seconds, row.service_level_seconds,
                                  row.short_abandon_seconds)
            for row in session.execute(select(Practice.id, Practice.timezone, Practice.ring_budget_seconds,
                                              Practice.service_level_seconds, Practice.short_abandon_seconds)
                                       .where(Practice.id.in_(practice_ids)))}


def _lock_practices(session: Session, practice_ids: set[int]) -> None:
    if practice_ids and session.get_bind().dialect.name == "postgresql":
        session.execute(select(Practice.id).where(Practice.id.in_(sorted(practice_ids))).order_by(Practice.id)
                        .with_for_update(key_share=True)).all()


def _lock_agents(session: Session, agent_ids: set[int]) -> None:
    if agent_ids and session.get_bind().dialect.name == "postgresql":
        session.execute(select(Agent.id).where(Agent.id.in_(sorted(agent_ids))).order_by(Agent.id)
                        .with_for_update(key_share=True)).all()


def _aware(value: datetime) -> datetime:
    """Core selects of a UTCDateTime column come back aware; min()/max() on SQLite come back as text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)

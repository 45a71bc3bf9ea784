"""A practice's own history as the staffing advice reads it, hour of the week by hour of the week.

Four things, each from rows the metrics already keep (metrics/): the calls offered to the queue (`call_facts`:
entered the queue, short abandons left out as the service level leaves them out), their handle time (talk from
`call_agent_facts`, wrap-up from the agents' status history, both of the calls of that hour), the callers' patience
(the time every queue caller held, over the abandons: the estimate of an exponential patience when the callers
answered or sent on at the maximum wait are only known to have held that long), and the agents who were on duty
(`agent_status_changes`: available, ringing, on a call or wrapping up; paused and offline are not taking calls).

Hours of the week are the practice's own: (weekday, hour) of its local clock. On the two days a year the clocks
change, the repeated hour holds two hours of calls and the skipped one none; the on-duty figure is measured over
each hour's true length.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from metrics.facts import StatusRow, closed_segments, open_segment
from models import Agent, AgentStatusChange, QueueEvent
from models.agent import agent_practices
from models.metrics import CallAgentFact, CallFact

HOURS_PER_DAY = 24
DAYS_PER_WEEK = 7
ON_DUTY_STATUSES = frozenset({"available", "ringing", "busy", "wrap-up"})  # taking calls

Slot = tuple[int, int]  # (weekday 0 = Monday .. 6, local hour 0..23)


def week_slots() -> list[Slot]:
    """The 168 hours of a week, Monday 00:00 first."""
    return [(day, hour) for day in range(DAYS_PER_WEEK) for hour in range(HOURS_PER_DAY)]


@dataclass
class HourSums:
    """What the weeks read hold for one hour of the week, added up over them."""

    offered: int = 0  # queue callers, short abandons left out
    handled: int = 0  # calls whose talk time is known
    handle_seconds: float = 0.0  # their talk and wrap-up


@dataclass
class CallHistory:
    """The weeks read (local dates first..last), by hour of the week, and the practice's callers' patience."""

    first: date
    last: date
    weeks: int  # weeks that held calls of the practice (at most the weeks asked for)
    hours: dict[Slot, HourSums] = field(default_factory=dict)
    abandons: int = 0
    queue_seconds: float = 0.0  # every queue caller's time holding (to connected, or to leaving)
    rings: int = 0  # calls connected whose offer was timed
    ring_seconds: float = 0.0  # their offers' time to the connection: the agent's phone ringing, the whisper

    @property
    def ring_mean_seconds(self) -> float:
        """The mean time from an agent's offer to the caller's connection (0 when no call was connected)."""
        return self.ring_seconds / self.rings if self.rings else 0.0

    def sums(self, slot: Slot) -> HourSums:
        """The hour's sums (zeros for an hour with no calls)."""
        return self.hours.get(slot) or HourSums()

    @property
    def handled(self) -> int:
        return sum(h.handled for h in self.hours.values())

    @property
    def handle_seconds(self) -> float:
        return sum(h.handle_seconds for h in self.hours.values())


def read_calls(session: Session, practice_id: int, agent_ids: Sequence[int], tz: ZoneInfo, first: date,
               last: date) -> CallHistory:
    """The practice's queue calls over local dates first..last, by hour of the week."""
    in_queue = and_(CallFact.entered_queue, CallFact.short_abandon.is_(False))
    rows = session.execute(
        select(CallFact.local_date, CallFact.local_hour,
               func.sum(case((in_queue, 1), else_=0)),
               func.sum(case((and_(in_queue, CallFact.abandoned), 1), else_=0)),
               func.sum(case((in_queue, func.coalesce(CallFact.wait_seconds, 0.0)), else_=0.0)))
        .where(CallFact.practice_id == practice_id, CallFact.local_date.between(first, last))
        .group_by(CallFact.local_date, CallFact.local_hour)).all()
    history = CallHistory(first, last, _weeks_with_calls(session, practice_id, first, last))
    for local_date, hour, offered, abandoned, waited in rows:
        history.hours.setdefault((local_date.weekday(), hour), HourSums()).offered += int(offered or 0)
        history.abandons += int(abandoned or 0)
        history.queue_seconds += float(waited or 0.0)
    talks = session.execute(
        select(CallFact.local_date, CallFact.local_hour, func.sum(CallAgentFact.talk_seconds_sum),
               func.sum(CallAgentFact.talks_timed))
        .join(CallAgentFact, CallAgentFact.call_sid == CallFact.call_sid)
        .where(CallFact.practice_id == practice_id, CallFact.local_date.between(first, last),
               CallAgentFact.talks_timed > 0)
        .group_by(CallFact.local_date, CallFact.local_hour)).all()
    for local_date, hour, talk_seconds, timed in talks:
        sums = history.hours.setdefault((local_date.weekday(), hour), HourSums())
        sums.handled += int(timed or 0)
        sums.handle_seconds += float(talk_seconds or 0.0)
    for (local_date, hour), seconds in _wrap_ups(session, practice_id, agent_ids, tz, first, last).items():
        history.hours.setdefault((local_date.weekday(), hour), HourSums()).handle_seconds += seconds
    history.rings, history.ring_seconds = _rings(session, practice_id, tz, first, last)
    return history


def _rings(session: Session, practice_id: int, tz: ZoneInfo, first: date, last: date) -> tuple[int, float]:
    """How many connections the queue events time, and their seconds from the agent's offer to the connection (the
    connected row's wait less its offer's: both count from the caller entering the queue)."""
    start = datetime.combine(first, time(0), tz).astimezone(timezone.utc)
    end = datetime.combine(last + timedelta(days=1), time(0), tz).astimezone(timezone.utc)
    rows = session.execute(
        select(QueueEvent.call_sid, QueueEvent.kind, QueueEvent.agent_id, QueueEvent.wait_seconds)
        .where(QueueEvent.practice_id == practice_id, QueueEvent.kind.in_(("offered", "connected")),
               QueueEvent.at >= start, QueueEvent.at < end)
        .order_by(QueueEvent.call_sid, QueueEvent.at, QueueEvent.id))
    offers: dict[tuple[str, int | None], float] = {}
    count, seconds = 0, 0.0
    for call_sid, kind, agent_id, wait in rows:
        if wait is None:
            continue
        if kind == "offered":
            offers[(call_sid, agent_id)] = wait  # a later offer to the same agent replaces an earlier one
        elif (offered := offers.get((call_sid, agent_id))) is not None and wait >= offered:
            count, seconds = count + 1, seconds + (wait - offered)
    return count, seconds


def _weeks_with_calls(session: Session, practice_id: int, first: date, last: date) -> int:
    """The weeks of first..last from the practice's first call on: a practice three weeks old is averaged over
    three weeks, not four."""
    earliest = session.scalar(select(func.min(CallFact.local_date)).where(
        CallFact.practice_id == practice_id, CallFact.local_date.between(first, last)))
    if earliest is None:
        return 0
    return ((last - monday_of(earliest)).days + 1 + DAYS_PER_WEEK - 1) // DAYS_PER_WEEK


def _wrap_ups(session: Session, practice_id: int, agent_ids: Sequence[int], tz: ZoneInfo, first: date,
              last: date) -> dict[tuple[date, int], float]:
    """Seconds of wrap-up after the practice's calls, by the call's local date and hour: each wrap-up row lasts
    to its end (`until`) or to the agent's next row, whichever comes first (an agent may end it early)."""
    if not agent_ids:
        return {}
    start = datetime.combine(first, time(0), tz).astimezone(timezone.utc)
    end = datetime.combine(last + timedelta(days=2), time(0), tz).astimezone(timezone.utc)  # wrap-ups after midnight
    rows = session.execute(
        select(AgentStatusChange.agent_id, AgentStatusChange.status, AgentStatusChange.at, AgentStatusChange.until,
               CallFact.local_date, CallFact.local_hour)
        .outerjoin(CallFact, and_(CallFact.call_sid == AgentStatusChange.call_sid,
                                  CallFact.practice_id == practice_id,
                                  CallFact.local_date.between(first, last)))
        .where(AgentStatusChange.agent_id.in_(agent_ids), AgentStatusChange.at >= start,
               AgentStatusChange.at < end)
        .order_by(AgentStatusChange.agent_id, AgentStatusChange.at, AgentStatusChange.id)).all()
    seconds: dict[tuple[date, int], float] = {}
    for row, following in zip(rows, [*rows[1:], None]):
        if row.status != "wrap-up" or row.local_date is None:
            continue
        ends = [aware(row.until)] if row.until is not None else []
        if following is not None and following.agent_id == row.agent_id:
            ends.append(aware(following.at))
        if ends:
            key = (row.local_date, row.local_hour)
            seconds[key] = seconds.get(key, 0.0) + max((min(ends) - aware(row.at)).total_seconds(), 0.0)
    return seconds


def practice_agents(session: Session, practice_id: int) -> list[int]:
    """The agents who answer for the practice (listed for it, or for every practice)."""
    listed = select(agent_practices.c.agent_id).where(agent_practices.c.practice_id == practice_id)
    return list(session.scalars(select(Agent.id).where(or_(Agent.all_practices.is_(True), Agent.id.in_(listed)))
                                .order_by(Agent.id)))


@dataclass(frozen=True)
class HourSpan:
    """One hour of the week on the practice's clock, as the UTC interval it covers (empty when the clocks skip
    it)."""

    slot: Slot
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return max((self.end - self.start).total_seconds(), 0.0)


def hour_spans(monday: date, tz: ZoneInfo) -> list[HourSpan]:
    """The 168 local hours of the week starting on `monday`, each as its UTC interval."""
    starts = [datetime.combine(monday + timedelta(days=day), time(hour), tz).astimezone(timezone.utc)
              for day, hour in week_slots()]
    starts.append(datetime.combine(monday + timedelta(days=DAYS_PER_WEEK), time(0), tz).astimezone(timezone.utc))
    return [HourSpan(slot, starts[i], max(starts[i + 1], starts[i])) for i, slot in enumerate(week_slots())]


def on_duty(session: Session, agent_ids: Sequence[int], spans: Sequence[HourSpan], now: datetime
            ) -> dict[Slot, float | None]:
    """Agents on duty in each hour: the agent-seconds taking calls over the hour's seconds (2.5: two agents all
    hour and a third for half of it). None for an hour not over yet, or skipped by the clocks."""
    if not spans:
        return {}
    start, end = spans[0].start, spans[-1].end
    seconds: dict[Slot, float] = {}
    for agent_id in agent_ids:
        for status, begin, finish in _agent_segments(session, agent_id, start, min(end, now)):
            if status in ON_DUTY_STATUSES:
                _spread(seconds, spans, begin, finish)
    return {span.slot: (None if span.end > now or span.seconds == 0 else
                        seconds.get(span.slot, 0.0) / span.seconds) for span in spans}


def _agent_segments(session: Session, agent_id: int, start: datetime, end: datetime
                    ) -> Iterable[tuple[str, datetime, datetime]]:
    """The agent's (status, from, to) over [start, end), from the row in force at `start` on."""
    if end <= start:
        return []
    in_force = session.scalar(select(func.max(AgentStatusChange.at)).where(
        AgentStatusChange.agent_id == agent_id, AgentStatusChange.at <= start))
    query = (select(AgentStatusChange.status, AgentStatusChange.at, AgentStatusChange.until)
             .where(AgentStatusChange.agent_id == agent_id, AgentStatusChange.at < end,
                    AgentStatusChange.at >= (aware(in_force) if in_force is not None else start))
             .order_by(AgentStatusChange.at, AgentStatusChange.id))
    rows = [StatusRow(r.status, aware(r.at), aware(r.until) if r.until is not None else None)
            for r in session.execute(query)]
    if not rows:
        return []
    segments = list(closed_segments(rows))
    status, since = open_segment(rows[-1])
    segments.append((status, since, end))
    return [(status, max(begin, start), min(finish, end)) for status, begin, finish in segments
            if finish > start and begin < end]


def _spread(seconds: dict[Slot, float], spans: Sequence[HourSpan], begin: datetime, finish: datetime) -> None:
    for span in spans:  # 168 spans: a bisect would save little beside the database reads
        overlap = (min(finish, span.end) - max(begin, span.start)).total_seconds()
        if overlap > 0:
            seconds[span.slot] = seconds.get(span.slot, 0.0) + overlap


def monday_of(day: date) -> date:
    """The Monday of `day`'s week (ISO weeks start on Monday)."""
    return day - timedelta(days=day.weekday())


def aware(value: datetime | str) -> datetime:
    """SQLite hands back naive UTC datetimes (and max() as text); PostgreSQL aware ones."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)

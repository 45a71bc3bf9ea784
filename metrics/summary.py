"""The managers' metrics for practices and a period: read from the roll-ups only, plus two live reads (the
callback tasks overdue now, and each agent's status since its last change).

A period is local dates, both included, in each practice's own time zone; several practices together add
up their own days (each practice's 1 November is its local day). Rates and percentiles come from
metrics.definitions, over the sums.

What a summary costs must not grow with the calls behind it (issue 5: 1,000,000 calls, under 100 ms, at
most 1.5x the time of 100,000): the database adds the hourly rows up (GROUP BY day, and hour), and the
period's histograms are two cumulative rows per practice (the last day's minus the one before the first),
so the rows read depend on the period's length only. Percentiles are therefore the period's, not each day's.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from core.db import database_errors_as_dependency_down
from metrics import definitions as d
from metrics.export import summary_csv
from metrics.errors import PracticeNotYours, PracticeRequired, PracticeUnknown
from practices.errors import practice_named
from metrics.menu_choices import menu_choice_counts
from metrics.facts import StatusRow, open_segment
from models import Agent, AgentStatusChange, CallbackTask, Practice, SurveyAnswer, agent_practices
from models.metrics import (AgentStatsDaily, AgentTimeHourly, CallbackStatsDaily, CallStatsHourly,
                            CumulativeHistogram, SkillStatsDaily)

ALL_PRACTICES = "all"  # ?practice=all: every practice together (admins)
MAX_PERIOD_DAYS = 366  # a longer period is refused (the roll-ups are per day; a year is plenty)
_CALL_SUMS = ("calls_offered", "answered_in_budget", "handled_by_person", "entered_queue", "connected_from_queue",
              "connected_in_service_level", "wait_seconds_sum", "abandoned", "short_abandons", "messages",
              "urgent_messages")
_SKILL_SUMS = ("entered_queue", "connected_from_queue", "connected_in_service_level", "wait_seconds_sum", "abandoned",
               "short_abandons")
_CALLBACK_SUMS = ("opened", "closed", "reached", "reached_within_due", "max_attempts_reached")


@dataclass(frozen=True)
class Viewer:
    """Who asks for metrics: admins see every practice; others the practices they answer for."""

    is_admin: bool
    all_practices: bool
    practice_ids: frozenset[int]

    def sees(self, practice_id: int) -> bool:
        """Whether the viewer may read this practice's metrics."""
        return self.is_admin or self.all_practices or practice_id in self.practice_ids


class _Sums:
    """Counts added up over call_stats_hourly and callback_stats_daily rows."""

    def __init__(self):
        self.calls = dict.fromkeys(_CALL_SUMS, 0)
        self.callbacks = dict.fromkeys(_CALLBACK_SUMS, 0)
        self.longest_wait: float | None = None
        self.waits: dict = {}  # {whole seconds: calls}, keys as the roll-ups' JSON has them
        self.reach_minutes: dict = {}

    def add_calls(self, row) -> None:
        """Add a row of sums over call_stats_hourly (its histogram apart: `waits`)."""
        for name in _CALL_SUMS:
            self.calls[name] += getattr(row, name) or 0
        if row.longest_wait_seconds is not None:
            self.longest_wait = max(self.longest_wait or 0.0, row.longest_wait_seconds)

    def add_sums(self, other: "_Sums") -> None:
        for name in _CALL_SUMS:
            self.calls[name] += other.calls[name]
        for name in _CALLBACK_SUMS:
            self.callbacks[name] += other.callbacks[name]
        if other.longest_wait is not None:
            self.longest_wait = max(self.longest_wait or 0.0, other.longest_wait)

    def add_callbacks(self, row) -> None:
        for name in _CALLBACK_SUMS:
            self.callbacks[name] += getattr(row, name)

    def call_figures(self, percentiles: bool = True) -> dict:
        """The call figures; `percentiles` only for the whole period (a day's would cost a sort each)."""
        c = self.calls
        figures = {
            "calls_offered": c["calls_offered"],
            "answered_within_ring_budget": d.answered_within_ring_budget(c["answered_in_budget"],
                                                                         c["calls_offered"]),
            "handled_by_person": c["handled_by_person"],
            "queue_entered": c["entered_queue"], "queue_connected": c["connected_from_queue"],
            "speed_of_answer_mean_seconds": d.mean_seconds(c["wait_seconds_sum"], c["connected_from_queue"]),
            "service_level": d.service_level(c["connected_in_service_level"], c["entered_queue"],
                                             c["short_abandons"]),
            "abandonment_rate": d.abandonment_rate(c["abandoned"], c["entered_queue"], c["short_abandons"]),
            "abandoned": c["abandoned"], "short_abandons": c["short_abandons"],
            "longest_wait_seconds": self.longest_wait,
            "messages": c["messages"], "urgent_messages": c["urgent_messages"],
        }
        if percentiles:
            figures["speed_of_answer_p90_seconds"] = d.nearest_rank(self.waits, d.P90)
        return figures

    def callback_figures(self, percentiles: bool = True) -> dict:
        """The callback figures; `percentiles` only for the whole period."""
        c = self.callbacks
        figures = {
            "callbacks_opened": c["opened"], "callbacks_closed": c["closed"], "callbacks_reached": c["reached"],
            "callbacks_reached_within_due": d.rate(c["reached_within_due"], c["reached"]),
            "callbacks_max_attempts": c["max_attempts_reached"],
        }
        if percentiles:
            figures["callback_reach_median_minutes"], figures["callback_reach_p90_minutes"] = d.nearest_ranks(
                self.reach_minutes, (d.MEDIAN, d.P90))
        return figures


class MetricsService:
    """The metrics document (JSON) and its CSV, for a list of practice ids and a period of local dates."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Callable[[], datetime]):
        self._session_factory = session_factory
        self._clock = clock

    def choose_practices(self, practice: str | None, viewer: Viewer) -> list[int]:
        """The practice ids `?practice=` names for this viewer: a slug, "all" (admins only), or nothing
        when the viewer answers for exactly one practice. PracticeRequired, PracticeUnknown,
        PracticeNotYours."""
        with database_errors_as_dependency_down(), self._session_factory() as session:
            slugs = dict(session.execute(select(Practice.slug, Practice.id)).all())
        if practice == ALL_PRACTICES:
            if not viewer.is_admin:
                raise PracticeNotYours(practice)
            return sorted(slugs.values())
        if practice is None:
            mine = sorted(pid for pid in slugs.values() if viewer.sees(pid))
            if viewer.is_admin or len(mine) != 1:
                raise PracticeRequired()
            return mine
        return [practice_named(practice, slugs.get(practice), viewer.sees,
                               all(viewer.sees(pid) for pid in slugs.values()), PracticeUnknown, PracticeNotYours)]

    def summary(self, practice_ids: list[int], date_from: date, date_to: date) -> dict:
        """Every metric of the practices over [date_from, date_to] (local dates, both included); several
        practices are added up, each over its own local days. An empty list counts nothing."""
        if date_to < date_from:
            raise ValueError("date_to is before date_from")
        ids = sorted(set(practice_ids))
        now = self._clock()
        with database_errors_as_dependency_down(), self._session_factory() as session:
            practices = session.execute(select(Practice.id, Practice.slug, Practice.timezone)
                                        .where(Practice.id.in_(ids)).order_by(Practice.slug)).all() if ids else []
            ids = [p.id for p in practices]
            hours = _call_rows(session, ids, date_from, date_to) if ids else _CallRows([], [])
            callbacks = _callback_rows(session, ids, date_from, date_to) if ids else []
            waits = _period_histogram(session, ids, "wait_seconds", date_from, date_to)
            reach = _period_histogram(session, ids, "reach_minutes", date_from, date_to)
            overdue = session.scalar(select(func.count()).select_from(CallbackTask).where(
                CallbackTask.practice_id.in_(ids), CallbackTask.status == "open",
                CallbackTask.due_at < now)) if ids else 0
            span = _utc_span([ZoneInfo(p.timezone) for p in practices], date_from, date_to)
            agents = self._agents(session, ids, date_from, date_to, span, now) if ids else []
            skills = _skill_rows(session, ids, date_from, date_to) if ids else []
            survey = _survey_rows(session, ids, date_from, date_to) if ids else []
            menu_choices = menu_choice_counts(session, ids, date_from, date_to)
        document = self._document([p.slug for p in practices], date_from, date_to, hours, callbacks, waits, reach,
                                  overdue, agents)
        _add_survey(document, survey)
        document["by_skill"] = [skill_figures(row) for row in skills]
        document["by_menu_choice"] = menu_choices
        return document

    def csv(self, practice_ids: list[int], date_from: date, date_to: date) -> str:
        """The same figures as `summary`, as CSV: a header, one row per day, one per agent."""
        return summary_csv(self.summary(practice_ids, date_from, date_to))

    # --- reading --------------------------------------------------------------------------------------------

    @staticmethod
    def _agents(session: Session, ids: list[int], date_from: date, date_to: date,
                span: tuple[datetime, datetime], now: datetime) -> list[dict]:
        """Per agent: its calls for these practices in the period, and its time available and paused over
        the period's UTC span (an agent's time is not split between the practices it answers for)."""
        stats = {row.agent_id: row for row in session.execute(
            select(AgentStatsDaily.agent_id, func.sum(AgentStatsDaily.calls_handled).label("calls_handled"),
                   func.sum(AgentStatsDaily.talk_seconds_sum).label("talk_seconds_sum"),
                   func.sum(AgentStatsDaily.talks_timed).label("talks_timed"),
                   func.sum(AgentStatsDaily.offers_missed).label("offers_missed"))
            .where(AgentStatsDaily.practice_id.in_(ids), AgentStatsDaily.local_date >= date_from,
                   AgentStatsDaily.local_date <= date_to).group_by(AgentStatsDaily.agent_id))}
        members = set(session.scalars(select(agent_practices.c.agent_id).where(
            agent_practices.c.practice_id.in_(ids))))
        people = {row.id: row for row in session.execute(
            select(Agent.id, Agent.name, Agent.role).where(or_(Agent.id.in_(members | set(stats)),
                                                               Agent.all_practices.is_(True))))}
        start, end = span
        time = {row.agent_id: [row.available or 0.0, row.paused or 0.0] for row in session.execute(
            select(AgentTimeHourly.agent_id, func.sum(AgentTimeHourly.available_seconds).label("available"),
                   func.sum(AgentTimeHourly.paused_seconds).label("paused"))
            .where(AgentTimeHourly.agent_id.in_(sorted(people)), AgentTimeHourly.hour_start >= start,
                   AgentTimeHourly.hour_start < end).group_by(AgentTimeHourly.agent_id))} if people else {}
        window_end = min(end, now)
        for agent_id in sorted(people):
            # Since its last change the agent is still in that state: the roll-up has only closed intervals.
            last = session.execute(select(AgentStatusChange.status, AgentStatusChange.at, AgentStatusChange.until)
                                   .where(AgentStatusChange.agent_id == agent_id)
                                   .order_by(AgentStatusChange.at.desc(), AgentStatusChange.id.desc())
                                   .limit(1)).first()
            if last is None:
                continue
            status, since = open_segment(StatusRow(last.status, last.at, last.until))
            seconds = (window_end - max(since, start)).total_seconds()
            column = 0 if status in d.AVAILABLE_STATUSES else 1 if status in d.PAUSED_STATUSES else None
            if seconds > 0 and column is not None:
                time.setdefault(agent_id, [0.0, 0.0])[column] += seconds
        listed = [p for p in people.values()
                  if p.id in stats or (p.role == "agent") or any(time.get(p.id, (0.0, 0.0)))]
        rows = []
        for person in sorted(listed, key=lambda p: (p.name, p.id)):
            stat = stats.get(person.id)
            available, paused = time.get(person.id, (0.0, 0.0))
            rows.append({
                "id": person.id, "name": person.name,
                "calls_handled": int(stat.calls_handled) if stat else 0,
                "talk_mean_seconds": d.mean_seconds(stat.talk_seconds_sum, int(stat.talks_timed)) if stat else None,
                "offers_missed": int(stat.offers_missed) if stat else 0,
                "available_seconds": round(available, d.SECONDS_DECIMALS),
                "paused_seconds": round(paused, d.SECONDS_DECIMALS),
            })
        return rows

    # --- the document ---------------------------------------------------------------------------------------

    @staticmethod
    def _document(slugs: list[str], date_from: date, date_to: date, hours: "_CallRows", callbacks: list,
                  waits: dict, reach: dict, overdue: int, agents: list[dict]) -> dict:
        total = _Sums()
        by_day: dict[date, _Sums] = defaultdict(_Sums)
        by_hour: dict[int, _Sums] = defaultdict(_Sums)
        by_weekday: dict[str, _Sums] = defaultdict(_Sums)
        for row in hours.days:
            by_day[row.local_date].add_calls(row)
            by_weekday[d.weekday_name(row.local_date)].add_calls(row)
        for row in hours.hours:
            by_hour[row.local_hour].add_calls(row)
        for row in callbacks:
            by_day[row.local_date].add_callbacks(row)
        for sums in by_day.values():  # the period: its days added up
            total.add_sums(sums)
        total.waits, total.reach_minutes = waits, reach
        days = []
        day = date_from
        while day <= date_to:
            sums = by_day.get(day) or _Sums()
            days.append({"date": day.isoformat(), "weekday": d.weekday_name(day),
                         **sums.call_figures(percentiles=False), **sums.callback_figures(percentiles=False)})
            day += timedelta(days=1)
        return {
            "practices": slugs, "from": date_from.isoformat(), "to": date_to.isoformat(),
            **total.call_figures(),
            **total.callback_figures(),
            "callbacks_overdue_now": overdue,
            "agents": agents,
            "by_hour": [_staffing({"hour": hour}, by_hour.get(hour)) for hour in range(24)],
            "by_weekday": [_staffing({"weekday": name}, by_weekday.get(name)) for name in d.WEEKDAYS],
            "days": days,
            "wait_distribution": d.wait_distribution(total.waits),
        }


@dataclass(frozen=True)
class _CallRows:
    """call_stats_hourly over a period: sums per local date, and sums per local hour."""

    days: list
    hours: list


def _call_rows(session: Session, ids: list[int], date_from: date, date_to: date) -> _CallRows:
    """The database adds the period's hourly rows up by day and by hour."""
    t = CallStatsHourly
    sums = [func.sum(getattr(t, name)).label(name) for name in _CALL_SUMS]
    longest = func.max(t.longest_wait_seconds).label("longest_wait_seconds")
    where = (t.practice_id.in_(ids), t.local_date >= date_from, t.local_date <= date_to)
    return _CallRows(
        days=session.execute(select(t.local_date, *sums, longest).where(*where).group_by(t.local_date)).all(),
        hours=session.execute(select(t.local_hour, *sums, longest).where(*where).group_by(t.local_hour)).all())


def _callback_rows(session: Session, ids: list[int], date_from: date, date_to: date) -> list:
    """callback_stats_daily over a period: each day's counts."""
    t = CallbackStatsDaily
    return session.execute(select(t.local_date, *(getattr(t, name) for name in _CALLBACK_SUMS)).where(
        t.practice_id.in_(ids), t.local_date >= date_from, t.local_date <= date_to)).all()


def _period_histogram(session: Session, ids: list[int], name: str, date_from: date, date_to: date) -> dict:
    """A histogram over the period, from each practice's cumulative histograms: the one at its last day
    minus the one before its first (read as text, parsed once each)."""
    c = CumulativeHistogram
    total: dict = {}
    for practice_id in ids:
        latest = select(cast(c.counts, Text)).where(c.practice_id == practice_id, c.name == name)
        upper = session.scalar(latest.where(c.local_date <= date_to).order_by(c.local_date.desc()).limit(1))
        if upper is None:
            continue
        lower = session.scalar(latest.where(c.local_date < date_from).order_by(c.local_date.desc()).limit(1))
        period = d.histogram_difference(json.loads(upper), json.loads(lower) if lower is not None else None)
        if len(ids) == 1:
            return period
        d.add_histogram(total, period)
    return total


def _survey_rows(session: Session, ids: list[int], date_from: date, date_to: date) -> list:
    """The survey's answers over a period of local dates, counted by day, agent and score (the database adds
    them up: the rows read grow with the period's days and agents, not with the answers)."""
    t = SurveyAnswer
    return session.execute(
        select(t.local_date, t.agent_id, t.score, func.count().label("answers"))
        .where(t.practice_id.in_(ids), t.local_date >= date_from, t.local_date <= date_to)
        .group_by(t.local_date, t.agent_id, t.score)).all()


def _add_survey(document: dict, rows: list) -> None:
    """The document's `survey` block: the period's answers, average score (None with no answer behind it) and
    distribution, and the same for each day of the period and each agent of the document."""
    total: dict[int, int] = {}
    by_day: dict[str, dict[int, int]] = defaultdict(dict)
    by_agent: dict[int, dict[int, int]] = defaultdict(dict)
    for row in rows:
        for counts in (total, by_day[row.local_date.isoformat()], by_agent[row.agent_id]):
            counts[row.score] = counts.get(row.score, 0) + row.answers
    document["survey"] = {
        **d.survey_figures(total),
        "days": [{"date": day["date"], **d.survey_figures(by_day.get(day["date"], {}))} for day in document["days"]],
        "agents": [{"id": agent["id"], "name": agent["name"], **d.survey_figures(by_agent.get(agent["id"], {}))}
                   for agent in document["agents"]],
    }


def _skill_rows(session: Session, ids: list[int], date_from: date, date_to: date) -> list:
    """skill_stats_daily over a period, added up per skill by the database (a row per skill)."""
    t = SkillStatsDaily
    return session.execute(select(t.skill, *(func.sum(getattr(t, name)).label(name) for name in _SKILL_SUMS))
                           .where(t.practice_id.in_(ids), t.local_date >= date_from, t.local_date <= date_to)
                           .group_by(t.skill).order_by(t.skill)).all()


def skill_figures(row) -> dict:
    """One skill's figures over the period: offered (the calls that asked for it and entered the queue),
    connected, speed of answer, service level and abandonment, by the same definitions as the practice's."""
    entered, connected = int(row.entered_queue or 0), int(row.connected_from_queue or 0)
    short, abandoned = int(row.short_abandons or 0), int(row.abandoned or 0)
    return {"skill": row.skill, "offered": entered, "connected": connected,
            "speed_of_answer_mean_seconds": d.mean_seconds(row.wait_seconds_sum or 0.0, connected),
            "service_level": d.service_level(int(row.connected_in_service_level or 0), entered, short),
            "abandonment_rate": d.abandonment_rate(abandoned, entered, short),
            "abandoned": abandoned, "short_abandons": short}


def _staffing(key: dict, sums: _Sums | None) -> dict:
    """Calls offered and abandonment of one hour of the day or one day of the week."""
    c = (sums or _Sums()).calls
    return {**key, "calls_offered": c["calls_offered"],
            "abandonment_rate": d.abandonment_rate(c["abandoned"], c["entered_queue"], c["short_abandons"]),
            "abandoned": c["abandoned"], "queue_entered": c["entered_queue"], "short_abandons": c["short_abandons"]}


def _utc_span(zones: list[ZoneInfo], date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """The UTC interval covering the period's local days in every zone (one zone: exactly its days)."""
    if not zones:
        return d.local_day_span(ZoneInfo("UTC"), date_from, date_to)
    spans = [d.local_day_span(zone, date_from, date_to) for zone in zones]
    return min(s for s, _ in spans), max(e for _, e in spans)

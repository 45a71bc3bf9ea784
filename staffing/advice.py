"""Staffing advice for one practice and one week: how many agents each hour needs, from the practice's own calls.

For each of the week's 168 hours (the practice's local clock): the calls offered to the queue in that hour of the
week, averaged over the weeks before it (4 unless asked otherwise; only weeks since the practice's first call);
their handle time (talk and wrap-up: the hour's own once it has MIN_TIMED_CALLS calls, else the mean of all the
weeks' calls); the callers' patience, one figure for the practice (hours seldom see enough abandons to tell one of
their own); the time from an agent's offer to the connection (the ring and the whisper), also one figure; then Erlang
C, or Erlang A once the patience is known, with that ring counted where it falls in Careline's queue
(staffing/model.py), for the fewest agents that reach the practice's target (`[practices.queue]
service_level_target` within `service_level_seconds`), and what the agents on duty in that hour the week before
would give: service level, average wait, share giving up, and the gap.

The formulas take whole agents: an hour with 2.5 agents on duty on average (a third agent for half of it) is read
as the nearest whole number of agents.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from core.db import database_errors_as_dependency_down
from models import Practice
from staffing import model
from staffing.history import (DAYS_PER_WEEK, CallHistory, hour_spans, monday_of, on_duty, practice_agents,
                              read_calls, week_slots)

DEFAULT_HISTORY_WEEKS = 4
HISTORY_WEEKS_RANGE = (1, 12)
MIN_TIMED_CALLS = 5  # an hour's own handle time once it has this many calls with a known talk time
MIN_ABANDONS = 5  # fewer abandons say too little of patience: Erlang C (nobody gives up) is used instead
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ISO_WEEK = re.compile(r"(\d{4})-W(\d{2})")
WEEK_YEARS = (1970, 9998)  # the history before a week and the links after it stay within Python's dates
# The columns of GET /api/staffing.csv, one row per hour of the week.
CSV_COLUMNS = ("day", "date", "hour", "calls_offered", "handle_seconds", "traffic_erlangs", "agents_needed",
               "agents_on_duty", "expected_service_level", "expected_wait_seconds", "expected_abandon_share", "gap",
               "short")


def parse_week(value: str) -> date:
    """"2026-W49" (an ISO week) -> the Monday it starts on; ValueError for anything else."""
    match = ISO_WEEK.fullmatch(value)
    if not match or not WEEK_YEARS[0] <= int(match[1]) <= WEEK_YEARS[1]:
        raise ValueError(value)
    return date.fromisocalendar(int(match[1]), int(match[2]), 1)  # ValueError for week 54, year 0...


def week_name(monday: date) -> str:
    """The ISO week of `monday`: "2026-W49"."""
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class Target:
    """The practice's service level: `share` of queue callers connected within `seconds`."""

    share: float
    seconds: int


class StaffingService:
    """Builds a practice's staffing advice for a week from its history (read-only)."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Callable[[], datetime]):
        self._session_factory = session_factory
        self._clock = clock

    def advice(self, practice_id: int, week: date | None = None, weeks: int = DEFAULT_HISTORY_WEEKS) -> dict:
        """The advice for the week starting on Monday `week` (None: the practice's current week), from the
        `weeks` weeks before it that are over."""
        now = self._clock()
        with database_errors_as_dependency_down(), self._session_factory() as session:
            practice = session.get(Practice, practice_id)
            tz = ZoneInfo(practice.timezone)
            today = now.astimezone(tz).date()
            monday = week or monday_of(today)
            # Only weeks that are over: planning next week on a Thursday reads the four weeks before this one.
            last = min(monday, monday_of(today)) - timedelta(days=1)
            first = last - timedelta(days=DAYS_PER_WEEK * weeks - 1)
            agents = practice_agents(session, practice_id)
            history = read_calls(session, practice_id, agents, tz, first, last)
            previous = monday - timedelta(days=DAYS_PER_WEEK)
            duty = on_duty(session, agents, hour_spans(previous, tz), now)
            target = Target(practice.service_level_target, practice.service_level_seconds)
            slug, name, zone = practice.slug, practice.name, practice.timezone
        patience = _patience(history)
        hours = [_hour(slot, monday, history, duty.get(slot), patience, target) for slot in week_slots()]
        return {
            "practice": slug, "practice_name": name, "timezone": zone,
            "week": week_name(monday), "week_start": monday.isoformat(),
            "week_end": (monday + timedelta(days=DAYS_PER_WEEK - 1)).isoformat(),
            "history": {"from": first.isoformat(), "to": last.isoformat(), "weeks_asked": weeks,
                        "weeks": history.weeks},
            "on_duty_week": {"from": previous.isoformat(),
                             "to": (previous + timedelta(days=DAYS_PER_WEEK - 1)).isoformat()},
            "target": {"service_level": target.share, "seconds": target.seconds},
            "model": "erlang-a" if patience is not None else "erlang-c",
            "patience_seconds": _round(patience, 1), "abandons": history.abandons,
            "ring_seconds": round(history.ring_mean_seconds, 1),
            "handle_seconds": _round(_mean(history.handle_seconds, history.handled), 1),
            "summary": _summary(hours),
            "hours": hours,
        }


def _patience(history: CallHistory) -> float | None:
    """Mean patience, if enough callers gave up to tell: every queue caller's holding time over the abandons
    (callers answered, or sent on at the maximum wait, held at least that long: the estimate of an exponential
    patience from such censored times)."""
    if history.abandons < MIN_ABANDONS:
        return None
    return history.queue_seconds / history.abandons


def _hour(slot, monday: date, history: CallHistory, agents_on_duty: float | None, patience: float | None,
          target: Target) -> dict:
    day, hour = slot
    sums = history.sums(slot)
    calls = sums.offered / history.weeks if history.weeks else 0.0
    if sums.handled >= MIN_TIMED_CALLS:
        handle, handle_from = sums.handle_seconds / sums.handled, "hour"
    else:
        handle, handle_from = _mean(history.handle_seconds, history.handled), "weeks"
    row = {"day": WEEKDAYS[day], "date": (monday + timedelta(days=day)).isoformat(), "hour": hour,
           "calls_offered": round(calls, 2), "handle_seconds": _round(handle, 1),
           "handle_from": handle_from if calls and handle is not None else None,
           "traffic_erlangs": None, "agents_needed": 0 if not calls else None,
           "agents_on_duty": _round(agents_on_duty, 2), "expected_service_level": None,
           "expected_wait_seconds": None, "expected_abandon_share": None, "gap": None, "short": False}
    if not calls or handle is None:
        return row  # no calls; or calls but no talk time known in all the weeks: nothing to size them by
    demand = model.HourDemand(calls, handle, history.ring_mean_seconds, patience)
    try:
        needed = model.agents_needed(demand, target.share, target.seconds)
    except ValueError:  # callers who give up during the ring alone miss the target: no number of agents reaches it
        needed = None
    row.update(traffic_erlangs=round(demand.traffic, 3), agents_needed=needed)
    if agents_on_duty is None:
        return row  # that hour last week is not over yet
    outlook = model.outlook(demand, math.floor(agents_on_duty + 0.5), target.seconds)
    row.update(expected_service_level=round(outlook.service_level, 4),
               expected_wait_seconds=_round(outlook.average_wait_seconds, 1),
               expected_abandon_share=round(outlook.abandon_share, 4),
               gap=None if needed is None else round(needed - agents_on_duty, 2),
               short=outlook.service_level < target.share)
    return row


def _summary(hours: list[dict]) -> dict:
    busy = [h for h in hours if h["calls_offered"]]
    return {
        "calls_offered": round(sum(h["calls_offered"] for h in hours), 2),
        "hours_with_calls": len(busy),
        "hours_short": sum(1 for h in hours if h["short"]),
        "agent_hours_needed": sum(h["agents_needed"] or 0 for h in hours),
        "agent_hours_on_duty": round(sum(h["agents_on_duty"] or 0.0 for h in hours), 2),
    }


def csv_rows(document: dict) -> list[list]:
    """The advice's hours as CSV rows (CSV_COLUMNS; empty cells for what is not known)."""
    return [[row[column] if column != "short" else str(row["short"]).lower() for column in CSV_COLUMNS]
            for row in document["hours"]]


def _mean(total: float, count: int) -> float | None:
    return total / count if count else None


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)

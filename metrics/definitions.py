"""The managers' metrics, defined once: what counts for each call, and the formulas over the counts.

Pure functions, no database: the facts (metrics.facts) decide each call's flags with the predicates below,
the roll-ups (metrics.rollup) only add counts up, and the summary (metrics.summary) turns sums into rates
and percentiles here. A rate with nothing behind it is None, never 0. The README's "Metrics" section says
the same in words; keep the two together.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

HANDLED_BY_PERSON = ("front-desk", "agent")  # calls.answered_by values where the caller reached a person
AVAILABLE_STATUSES = ("available",)  # agent_status_changes.status counted as time available
PAUSED_STATUSES = ("paused",)  # counted as time paused (a missed offer pauses the agent: reason "missed")
# Upper bounds (seconds, inclusive) of the speed-of-answer distribution's bars; None: everything longer.
WAIT_BUCKETS_SECONDS = (10, 30, 60, 120, 300, None)
SECONDS_DECIMALS = 1  # means of seconds are shown to a tenth of a second
MEDIAN, P90 = 0.5, 0.9
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()


# --- what counts for one call -------------------------------------------------------------------------------

def within_ring_budget(started_at: datetime, first_voice_at: datetime | None, ring_budget_seconds: float) -> bool:
    """The caller heard a person or the IVR at most `ring_budget_seconds` after the call reached Careline."""
    if first_voice_at is None:
        return False
    return (first_voice_at - started_at).total_seconds() <= ring_budget_seconds


def handled_by_person(answered_by: str | None) -> bool:
    """Connected to the front desk or an agent."""
    return answered_by in HANDLED_BY_PERSON


def within_service_level(wait_seconds: float | None, service_level_seconds: float) -> bool:
    """Connected from the queue at most `service_level_seconds` after entering it."""
    return wait_seconds is not None and wait_seconds <= service_level_seconds


def is_short_abandon(wait_seconds: float | None, short_abandon_seconds: float) -> bool:
    """A hang-up while holding within the first `short_abandon_seconds` (strictly less: 0 means none)."""
    return wait_seconds is not None and wait_seconds < short_abandon_seconds


# --- formulas over counts -----------------------------------------------------------------------------------

def rate(numerator: int, denominator: int) -> float | None:
    """numerator / denominator as a fraction; None when nothing was counted."""
    if denominator <= 0:
        return None
    return numerator / denominator


def answered_within_ring_budget(answered_in_budget: int, calls_offered: int) -> float | None:
    """Share of offered calls whose caller heard a person or the IVR within the ring budget."""
    return rate(answered_in_budget, calls_offered)


def service_level(connected_in_service_level: int, queue_entered: int, short_abandons: int) -> float | None:
    """Connected within service_level_seconds / (entered the queue - short abandons)."""
    return rate(connected_in_service_level, queue_entered - short_abandons)


def abandonment_rate(abandoned: int, queue_entered: int, short_abandons: int) -> float | None:
    """Hung up while holding (short abandons excluded) / (entered the queue - short abandons)."""
    return rate(abandoned, queue_entered - short_abandons)


def mean_seconds(total_seconds: float, count: int) -> float | None:
    """The mean of `count` durations adding up to `total_seconds`, to a tenth; None for no duration."""
    if count <= 0:
        return None
    return round(total_seconds / count, SECONDS_DECIMALS)


def whole_seconds(seconds: float) -> int:
    """A wait as the whole seconds it reached (rounded up: 12.2 s waited counts as 13)."""
    return max(0, math.ceil(round(seconds, 6)))


def whole_minutes(delta: timedelta) -> int:
    """A callback's time as the whole minutes it reached (rounded up)."""
    return max(0, math.ceil(round(delta.total_seconds() / 60, 6)))


def nearest_rank(histogram: Mapping[int | str, int], fraction: float) -> int | None:
    """The nearest-rank percentile of the values counted in `histogram` ({value: count}): the smallest
    value at or below which at least `fraction` of them fall; None when the histogram is empty."""
    return nearest_ranks(histogram, (fraction,))[0]


def nearest_ranks(histogram: Mapping[int | str, int], fractions: Iterable[float]) -> list[int | None]:
    """`nearest_rank` for several fractions at once (one sort, one pass over the values)."""
    fractions = list(fractions)
    counts: dict[int, int] = {}
    for value, count in histogram.items():
        if count > 0:
            key = int(value)
            counts[key] = counts.get(key, 0) + count
    total = sum(counts.values())
    if total == 0:
        return [None for _ in fractions]
    wanted = sorted((max(1, math.ceil(round(fraction * total, 9))), index) for index, fraction in enumerate(fractions))
    out: list[int | None] = [None] * len(fractions)
    seen, next_wanted = 0, 0
    for value in sorted(counts):
        seen += counts[value]
        while next_wanted < len(wanted) and seen >= wanted[next_wanted][0]:
            out[wanted[next_wanted][1]] = value
            next_wanted += 1
        if next_wanted == len(wanted):
            break
    return out


def merge_histograms(histograms: Iterable[Mapping[int | str, int]]) -> dict[int, int]:
    """Add histograms up ({value: count}; keys may be JSON's strings)."""
    merged: dict[int, int] = {}
    for histogram in histograms:
        for value, count in (histogram or {}).items():
            merged[int(value)] = merged.get(int(value), 0) + int(count)
    return merged


def add_histogram(into: dict, histogram: Mapping[int | str, int] | None) -> None:
    """Add `histogram` into `into`, in place, keeping its keys as they are (JSON's strings stay strings:
    the summary adds hundreds of roll-up histograms, and converts keys once, in nearest_rank)."""
    get = into.get
    for value, count in (histogram or {}).items():
        into[value] = get(value, 0) + count


def histogram_difference(later: Mapping, earlier: Mapping | None) -> dict:
    """`later` minus `earlier` (a cumulative histogram minus an earlier one of the same kind, whose values
    it holds all of): the counts in between; values left with no count are dropped."""
    if not earlier:
        return dict(later)
    get = earlier.get
    return {value: count - get(value, 0) for value, count in later.items() if count != get(value, 0)}


def count_into(histogram: dict[str, int], value: int) -> None:
    """Count one value into a JSON-ready histogram (string keys)."""
    key = str(value)
    histogram[key] = histogram.get(key, 0) + 1


def wait_distribution(histogram: Mapping[int | str, int]) -> list[dict]:
    """The connected waits in bars of WAIT_BUCKETS_SECONDS: each bar counts waits above the previous bound
    up to its own (whole seconds, inclusive); the last bar (None) everything longer."""
    bars = []
    lower = None
    merged = merge_histograms([histogram])
    for upper in WAIT_BUCKETS_SECONDS:
        calls = sum(count for value, count in merged.items()
                    if (lower is None or value > lower) and (upper is None or value <= upper))
        bars.append({"up_to_seconds": upper, "calls": calls})
        lower = upper
    return bars


# --- the survey after a call with an agent ------------------------------------------------------------------

SURVEY_SCORES = (1, 2, 3, 4, 5)  # "Press 1 (not at all) to 5 (very)": models.survey.SURVEY_SCORES, the stored range
SURVEY_DECIMALS = 2  # an average score is shown to a hundredth


def survey_figures(counts: Mapping[int | str, int]) -> dict:
    """The answers counted by score ({score: answers}): how many, their average (None with no answer behind
    it, never 0) and the distribution, one bar per score from 1 to 5."""
    merged = merge_histograms([counts])
    answers = sum(merged.get(score, 0) for score in SURVEY_SCORES)
    total = sum(score * merged.get(score, 0) for score in SURVEY_SCORES)
    return {"answers": answers,
            "average": None if answers == 0 else round(total / answers, SURVEY_DECIMALS),
            "distribution": [{"score": score, "answers": merged.get(score, 0)} for score in SURVEY_SCORES]}


# --- time ---------------------------------------------------------------------------------------------------

def local_date_hour(instant: datetime, tz: ZoneInfo) -> tuple[date, int]:
    """The practice's local date and hour (0..23) of `instant`: where a call is counted."""
    local = instant.astimezone(tz)
    return local.date(), local.hour


def local_day_span(tz: ZoneInfo, first: date, last: date) -> tuple[datetime, datetime]:
    """The local dates `first`..`last` (both included) as a half-open UTC interval [start, end): from the
    first day's local midnight to the local midnight after the last (a 23- or 25-hour day stays one day)."""
    start = datetime.combine(first, time(0), tz).astimezone(timezone.utc)
    end = datetime.combine(last + timedelta(days=1), time(0), tz).astimezone(timezone.utc)
    return start, end


def floor_hour(instant: datetime) -> datetime:
    """The start of the UTC hour holding `instant`."""
    utc = instant.astimezone(timezone.utc)
    return utc.replace(minute=0, second=0, microsecond=0)


def split_by_utc_hour(start: datetime, end: datetime) -> Iterator[tuple[datetime, float]]:
    """[start, end) cut at UTC hours: (hour start, seconds within that hour)."""
    hour = floor_hour(start)
    while hour < end:
        following = hour + timedelta(hours=1)
        seconds = (min(end, following) - max(start, hour)).total_seconds()
        if seconds > 0:
            yield hour, seconds
        hour = following


def weekday_name(day: date) -> str:
    """"mon" .. "sun"."""
    return WEEKDAYS[day.weekday()]

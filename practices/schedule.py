"""Office hours in the practice's own time zone: open now, when it next opens, the week as spoken.

Times are compared on the local wall clock, so a daylight-saving change moves nothing: 08:00 is 08:00
on both sides of it. A holiday is closed all day, whatever its weekday says.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from practices.snapshot import DAYS, OpeningRange, PracticeSnapshot

LOOKAHEAD_DAYS = 14  # past this, "when do you open" has no useful answer for a caller


def is_open(practice: PracticeSnapshot, now: datetime) -> bool:
    """Whether the office is open at `now` (an aware datetime)."""
    local = now.astimezone(practice.tz)
    if local.date() in practice.holidays:
        return False
    clock = local.time().replace(tzinfo=None)
    return any(r.opens <= clock and (r.closes is None or clock < r.closes)
               for r in practice.hours.get(DAYS[local.weekday()], ()))


def next_opening(practice: PracticeSnapshot, now: datetime) -> datetime | None:
    """The next time the office opens after `now`, in the practice's zone; None if not within two weeks."""
    local = now.astimezone(practice.tz)
    for offset in range(LOOKAHEAD_DAYS + 1):
        day = local.date() + timedelta(days=offset)
        if day in practice.holidays:
            continue
        for opening in practice.hours.get(DAYS[day.weekday()], ()):
            opens_at = datetime.combine(day, opening.opens, tzinfo=practice.tz)
            if opens_at > local:
                return opens_at
    return None


def weekly_hours(practice: PracticeSnapshot) -> list[tuple[tuple[str, ...], tuple[OpeningRange, ...]]]:
    """Open days in week order, consecutive days with the same hours grouped: [(("mon", ..., "thu"), ranges)]."""
    groups: list[tuple[list[str], tuple[OpeningRange, ...]]] = []
    previous_day_open = False
    for day in DAYS:
        ranges = practice.hours.get(day, ())
        if not ranges:
            previous_day_open = False
            continue
        if previous_day_open and groups[-1][1] == ranges:
            groups[-1][0].append(day)
        else:
            groups.append(([day], ranges))
        previous_day_open = True
    return [(tuple(days), ranges) for days, ranges in groups]

"""Office hours in the practice's time zone: open or not, the next opening, and the week as grouped."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from practices.schedule import is_open, next_opening, weekly_hours
from practices.snapshot import PracticeSnapshot, parse_hours

CHICAGO = ZoneInfo("America/Chicago")


def practice(hours: dict[str, str], holidays: tuple[str, ...] = (), tz: str = "America/Chicago") -> PracticeSnapshot:
    return PracticeSnapshot(id=1, slug="maple", name="Maple Clinic", timezone=tz, languages=("en",),
                            front_desk=None, ring_budget_seconds=15,
                            hours={day: parse_hours(text) for day, text in hours.items()},
                            holidays=frozenset(date.fromisoformat(d) for d in holidays), message_max_seconds=120)


WEEKDAYS = {day: "08:00-17:00" for day in ("mon", "tue", "wed", "thu")} | {"fri": "08:00-12:00"}


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHICAGO)


@pytest.mark.parametrize("when, expected", [
    (local(2026, 11, 24, 7, 59), False),   # Tuesday, before opening
    (local(2026, 11, 24, 8, 0), True),     # opening minute
    (local(2026, 11, 24, 16, 59), True),
    (local(2026, 11, 24, 17, 0), False),   # closing time is closed
    (local(2026, 11, 27, 12, 30), False),  # Friday afternoon
    (local(2026, 11, 28, 10, 0), False),   # Saturday: not listed, closed
])
def test_is_open_on_the_local_wall_clock(when, expected):
    assert is_open(practice(WEEKDAYS), when) is expected


def test_is_open_judges_in_the_practice_zone_not_utc():
    # 15:30 UTC on Tuesday is 09:30 in Chicago (open) and 10:30 in New York.
    now = datetime(2026, 11, 24, 15, 30, tzinfo=timezone.utc)
    assert is_open(practice(WEEKDAYS), now)
    assert not is_open(practice({"tue": "11:00-17:00"}, tz="America/New_York"), now)


def test_a_holiday_is_closed_all_day():
    assert not is_open(practice(WEEKDAYS, holidays=("2026-12-24",)), local(2026, 12, 24, 10, 0))


def test_all_day_hours_run_to_midnight():
    all_day = practice({"sat": "00:00-24:00"})
    assert is_open(all_day, local(2026, 11, 28, 0, 0)) and is_open(all_day, local(2026, 11, 28, 23, 59))
    assert not is_open(all_day, local(2026, 11, 29, 0, 0))


def test_split_day_is_closed_at_lunch():
    split = practice({"mon": "08:00-12:00, 13:00-17:00"})
    assert not is_open(split, local(2026, 11, 23, 12, 30))
    assert next_opening(split, local(2026, 11, 23, 12, 30)) == local(2026, 11, 23, 13, 0)


@pytest.mark.parametrize("now, expected", [
    (local(2026, 11, 24, 6, 0), local(2026, 11, 24, 8, 0)),    # early today
    (local(2026, 11, 24, 20, 0), local(2026, 11, 25, 8, 0)),   # tonight -> tomorrow
    (local(2026, 11, 27, 14, 0), local(2026, 11, 30, 8, 0)),   # Friday afternoon -> Monday
])
def test_next_opening(now, expected):
    assert next_opening(practice(WEEKDAYS), now) == expected


def test_next_opening_skips_holidays():
    hours = practice(WEEKDAYS, holidays=("2026-12-24", "2026-12-25"))
    assert next_opening(hours, local(2026, 12, 23, 18, 0)) == local(2026, 12, 28, 8, 0)


def test_next_opening_is_none_when_never_open_within_two_weeks():
    assert next_opening(practice({}), local(2026, 11, 24, 10, 0)) is None


def test_daylight_saving_change_keeps_local_opening_hours():
    # Sunday 2027-03-14 the clocks go forward in Chicago; Monday still opens at 08:00 local (13:00 UTC, not 14:00).
    opens = next_opening(practice(WEEKDAYS), local(2027, 3, 12, 18, 0))
    assert opens == local(2027, 3, 15, 8, 0)
    assert opens.astimezone(timezone.utc).hour == 13
    # 2026-11-01 the clocks went back: 08:30 local on Monday 2 November is open (14:30 UTC).
    assert is_open(practice(WEEKDAYS), datetime(2026, 11, 2, 14, 30, tzinfo=timezone.utc))


def test_weekly_hours_groups_consecutive_days_with_the_same_hours():
    week = weekly_hours(practice(WEEKDAYS | {"sat": "09:00-12:00"}))
    assert [(days, len(ranges)) for days, ranges in week] == [
        (("mon", "tue", "wed", "thu"), 1), (("fri",), 1), (("sat",), 1)]


def test_weekly_hours_does_not_group_across_a_closed_day():
    week = weekly_hours(practice({"mon": "08:00-17:00", "wed": "08:00-17:00"}))
    assert [days for days, _ in week] == [("mon",), ("wed",)]

"""By when a callback is due (callbacks.due.callback_due_at): pure, in the practice's own time zone."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from practices.snapshot import CallbackSettings, PracticeSnapshot, parse_hours
from callbacks.due import NEVER_OPEN_FALLBACK, callback_due_at

CHICAGO = ZoneInfo("America/Chicago")
UTC = timezone.utc


def practice(hours=None, holidays=(), callbacks=CallbackSettings()) -> PracticeSnapshot:
    hours = hours if hours is not None else {"mon": "08:00-17:00", "tue": "08:00-17:00", "wed": "08:00-17:00",
                                             "thu": "08:00-17:00", "fri": "08:00-12:00"}
    return PracticeSnapshot(id=1, slug="lakeside", name="Lakeside", timezone="America/Chicago", languages=("en",),
                            front_desk=None, ring_budget_seconds=15,
                            hours={day: parse_hours(text) for day, text in hours.items()},
                            holidays=frozenset(holidays), message_max_seconds=120, callbacks=callbacks)


def local(*args) -> datetime:
    return datetime(*args, tzinfo=CHICAGO)


@pytest.mark.parametrize("left_at", [local(2026, 11, 24, 10, 0), local(2026, 11, 24, 23, 30),
                                     local(2026, 11, 28, 3, 0)])
def test_given_urgent_then_due_in_15_minutes_day_or_night(left_at):
    assert callback_due_at(practice(), left_at, urgent=True) == left_at + timedelta(minutes=15)


def test_given_routine_in_office_hours_then_due_in_2_hours():
    assert callback_due_at(practice(), local(2026, 11, 24, 10, 0), urgent=False) == local(2026, 11, 24, 12, 0)


def test_given_routine_when_the_office_closes_within_2_hours_then_due_next_open_day_at_10():
    # Tuesday 16:00: +2 h is after the 17:00 close, so Wednesday 10:00.
    assert callback_due_at(practice(), local(2026, 11, 24, 16, 0), urgent=False) == local(2026, 11, 25, 10, 0)


def test_given_routine_after_hours_then_due_at_10_the_next_open_day():
    assert callback_due_at(practice(), local(2026, 11, 24, 20, 0), urgent=False) == local(2026, 11, 25, 10, 0)


def test_given_routine_on_friday_afternoon_then_due_monday_at_10_in_the_practice_zone():
    due = callback_due_at(practice(), local(2026, 11, 27, 13, 0), urgent=False)
    assert due == local(2026, 11, 30, 10, 0)
    assert due.astimezone(UTC) == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)


def test_given_a_holiday_before_the_weekend_then_due_the_open_day_after_both():
    # Thursday 24 Dec 16:00; Friday 25 Dec is a holiday, then the weekend: Monday 28 Dec 10:00.
    due = callback_due_at(practice(holidays={date(2026, 12, 25)}), local(2026, 12, 24, 16, 0), urgent=False)
    assert due == local(2026, 12, 28, 10, 0)


def test_given_the_autumn_dst_change_over_the_weekend_then_10_local_on_monday():
    # Friday 30 Oct 2026 13:00 CDT (UTC-5); clocks go back on Sunday 1 Nov; Monday 10:00 CST is 16:00 UTC.
    due = callback_due_at(practice(), local(2026, 10, 30, 13, 0), urgent=False)
    assert due.astimezone(UTC) == datetime(2026, 11, 2, 16, 0, tzinfo=UTC)


def test_given_the_spring_dst_change_over_the_weekend_then_10_local_on_monday():
    # Friday 12 Mar 2027 13:00 CST (UTC-6); clocks go forward on Sunday 14 Mar; Monday 10:00 CDT is 15:00 UTC.
    due = callback_due_at(practice(), local(2027, 3, 12, 13, 0), urgent=False)
    assert due.astimezone(UTC) == datetime(2027, 3, 15, 15, 0, tzinfo=UTC)


def test_given_an_office_opening_after_the_next_day_hour_then_due_at_its_opening():
    late = practice(hours={day: "11:00-19:00" for day in ("mon", "tue", "wed", "thu", "fri")})
    assert callback_due_at(late, local(2026, 11, 24, 21, 0), urgent=False) == local(2026, 11, 25, 11, 0)


def test_given_the_practice_settings_then_they_are_used():
    settings = CallbackSettings(urgent_due_minutes=5, routine_due_minutes=60, next_day_due_by=time(9, 0))
    p = practice(callbacks=settings)
    assert callback_due_at(p, local(2026, 11, 24, 10, 0), urgent=True) == local(2026, 11, 24, 10, 5)
    assert callback_due_at(p, local(2026, 11, 24, 10, 0), urgent=False) == local(2026, 11, 24, 11, 0)
    assert callback_due_at(p, local(2026, 11, 24, 20, 0), urgent=False) == local(2026, 11, 25, 9, 0)


def test_given_a_practice_never_open_then_due_within_a_day():
    left = local(2026, 11, 24, 10, 0)
    assert callback_due_at(practice(hours={}), left, urgent=False) == left + NEVER_OPEN_FALLBACK

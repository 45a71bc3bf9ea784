"""By when a patient who did not reach a person must be called back: a pure function of the practice's
settings and office hours, in its own time zone.

- urgent: within `urgent_due_minutes` (default 15), day or night;
- routine, left in office hours: within `routine_due_minutes` (default 120), if the office is still open
  then; otherwise as for a message left after hours;
- routine, left after hours (or on a holiday): by `next_day_due_by` (default 10:00) local time on the next
  open day, or at its opening when that is later.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from practices import schedule
from practices.snapshot import PracticeSnapshot

NEVER_OPEN_FALLBACK = timedelta(hours=24)  # a practice with no office hours in sight still gets a due time


def callback_due_at(practice: PracticeSnapshot, left_at: datetime, urgent: bool) -> datetime:
    """When a callback for a call at `left_at` is due."""
    settings = practice.callbacks
    if urgent:
        return left_at + timedelta(minutes=settings.urgent_due_minutes)
    if schedule.is_open(practice, left_at):
        within = left_at + timedelta(minutes=settings.routine_due_minutes)
        if schedule.is_open(practice, within):
            return within
    opening = schedule.next_opening(practice, left_at)
    if opening is None:
        return left_at + NEVER_OPEN_FALLBACK
    local = opening.astimezone(practice.tz)
    by = datetime.combine(local.date(), settings.next_day_due_by, tzinfo=practice.tz)
    return max(by, opening)

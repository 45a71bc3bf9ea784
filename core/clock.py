"""Careline's one clock. The app, its jobs and the scheduling of its jobs read the time through a `Clock`.

A process holds one (`Services.clock`): the system clock in production, a settable one in the tests, which
move it to office hours, holidays and escalation times whatever the real date is. RQ reads the wall clock
for its own retries, so Careline's worker runs jobs of a class that schedules them on this clock instead
(`careline.worker`).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, in UTC, from the operating system: the clock of a running Careline."""
    return datetime.now(timezone.utc)

"""What Careline's flows may ask of the background worker. The flows receive a `Scheduler` through their
constructors; `jobs.schedule.RqScheduler` is the one implementation (RQ, on Careline's clock).

Every method is best effort and never raises: when Redis refuses, what was to run is not lost, a sweep
finds it (the queue sweep, the follow-up sweep) or the next event asks again (the call-log drain).
"""
from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Scheduler(Protocol):
    """Background work, by what it is for; each job takes ids only (RQ logs arguments, patient data must not)."""

    def drain_call_log(self) -> None:
        """Move the call events waiting in Redis into the database, after the settings' short delay."""

    def wrap_up_end(self, agent_id: int, at: datetime) -> None:
        """Offer the agent the next caller when its wrap-up ends at `at`."""

    def page_step(self, page_id: int, step: int, at: datetime | None = None) -> None:
        """Run step `step` of an on-call page at `at` (now when None)."""

    def send_sms(self, sms_ids: list[int]) -> None:
        """Send these queued SMS now."""

"""The RQ worker class Careline's Procfile runs: jobs run in the worker's own process, kept warm, and their
retries are scheduled on Careline's clock.

RQ's default worker forks a work horse for every job, which then imports Careline (half a second of CPU)
and opens its database engine afresh, compiling every statement again. Careline's jobs are its own code,
short and bounded by their job_timeout, so they run in the worker process (RQ's SimpleWorker): imports,
connections and SQLAlchemy's statement cache carry over from one job to the next (measured with bench/).

RQ schedules a retry at its own `now()` (the wall clock) plus the Retry's interval. Careline schedules
everything else on its one clock (`core.clock`): pages' escalations, wrap-up ends, the call-log drain.
The jobs this worker runs are `ClockedJob`s, whose retries are scheduled on that same clock, so a retry
is due `interval` seconds after the failure by the clock the rest of Careline reads. In production the two
clocks are the same; in the tests the clock is moved, and the retries move with it.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from rq import SimpleWorker
from rq.job import Job, JobStatus

import calllog.jobs  # noqa: F401 - imported once, before the first job
import queueing.jobs  # noqa: F401
from careline import services
from core.clock import Clock

log = logging.getLogger(__name__)


class ClockedJob(Job):
    """An RQ job whose retries are scheduled on `clock` (a class attribute: RQ builds jobs from the class)."""

    clock: Clock = staticmethod(lambda: services.current().clock())

    def retry(self, queue, pipeline) -> None:
        """RQ's Job.retry, with the retry's time read from Careline's clock instead of the wall clock."""
        interval = self.get_retry_interval()
        if not interval:
            super().retry(queue, pipeline)
            return
        self.retries_left = (self.retries_left or 1) - 1
        at = self.clock() + timedelta(seconds=interval)
        self.set_status(JobStatus.SCHEDULED)
        queue.schedule_job(self, at, pipeline=pipeline)
        log.info("job %s (%s): retry at %s, %s left", self.id, self.func_name, at.isoformat(), self.retries_left)


def clocked_job_class(clock: Clock) -> type[ClockedJob]:
    """A ClockedJob class that reads `clock`."""
    return type("ClockedJob", (ClockedJob,), {"clock": staticmethod(clock)})


class CarelineWorker(SimpleWorker):
    """rq.SimpleWorker running ClockedJobs, started with `rq worker -w careline.worker.CarelineWorker`.

    `clock` defaults to the process's services' clock (the system clock when started by `rq worker`).
    """

    def __init__(self, *args, clock: Clock | None = None, **kwargs):
        kwargs["job_class"] = clocked_job_class(clock) if clock else ClockedJob
        super().__init__(*args, **kwargs)

"""The RQ worker class Careline's Procfile runs: jobs run in the worker's own process, kept warm, receive the
worker's services, and their retries are scheduled on Careline's clock.

RQ's default worker forks a work horse for every job, which then imports Careline (half a second of CPU)
and opens its database engine afresh, compiling every statement again. Careline's jobs are its own code,
short and bounded by their job_timeout, so they run in the worker process (RQ's SimpleWorker): imports,
connections and SQLAlchemy's statement cache carry over from one job to the next (measured with bench/).

The worker builds Careline's services once, when it starts (`careline.services.Services.build`, with an
app for the URLs its jobs give Twilio), and every job function receives them as its first argument
(`jobs`): no job looks them up.

RQ schedules a retry at its own `now()` (the wall clock) plus the Retry's interval. Careline schedules
everything else on its one clock (`core.clock`): pages' escalations, wrap-up ends, the call-log drain.
The worker's jobs schedule their retries on that same clock, so a retry is due `interval` seconds after the
failure by the clock the rest of Careline reads. In production the two clocks are the same; in the tests
the clock is moved, and the retries move with it.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from rq import SimpleWorker
from rq.job import Job, JobStatus

from careline.app import create_app
from careline.services import Services
from core.config import Config

log = logging.getLogger(__name__)


class CarelineJob(Job):
    """An RQ job that runs with the worker's `services` and schedules its retries on their clock.

    RQ builds jobs from the worker's job class, so the services are a class attribute: `job_class_for`
    makes the class of one worker."""

    services: Services

    def _execute(self):
        """RQ's Job._execute, with the worker's services as the job function's first argument."""
        return self.func(self.services, *self.args, **self.kwargs)

    def retry(self, queue, pipeline) -> None:
        """RQ's Job.retry, with the retry's time read from Careline's clock instead of the wall clock."""
        interval = self.get_retry_interval()
        if not interval:
            super().retry(queue, pipeline)
            return
        self.retries_left = (self.retries_left or 1) - 1
        at = self.services.now() + timedelta(seconds=interval)
        self.set_status(JobStatus.SCHEDULED)
        queue.schedule_job(self, at, pipeline=pipeline)
        log.info("job %s (%s): retry at %s, %s left", self.id, self.func_name, at.isoformat(), self.retries_left)


def job_class_for(services: Services) -> type[CarelineJob]:
    """A CarelineJob class whose jobs run with `services`."""
    return type("CarelineJob", (CarelineJob,), {"services": services})


class CarelineWorker(SimpleWorker):
    """rq.SimpleWorker running CarelineJobs, started with `rq worker -w careline.worker.CarelineWorker`.

    `services` defaults to services built here from the environment, once for the worker's life.
    """

    def __init__(self, *args, services: Services | None = None, **kwargs):
        if services is None:
            services = Services.build(Config.from_env())
            create_app(services=services)  # binds the services' URLs to the web app's routes
        kwargs["job_class"] = job_class_for(services)
        super().__init__(*args, **kwargs)
        self.services = services

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

import redis
from rq import SimpleWorker
from rq.exceptions import DeserializationError
from rq.job import Job, JobStatus
from rq.job_lifecycle import call_exception_handlers

from careline.app import create_app
from careline.services import Services
from core import telemetry
from core.config import Config
from core.heartbeats import record_heartbeat
from core.logs import configure_logging, logged_as, redact_traceback
from core.redis_durability import check_redis_durability
from core.redis_reconnect import reconnect_with_backoff, stop_waiting
from jobs.schedule import LOG_CONTEXT_META

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


def failed_job_ttl(asked: int | None) -> int:
    """Seconds a failed job is kept: what it asked for, at most FAILED_JOB_TTL_SECONDS (RQ's -1, forever, too)."""
    if asked is None or asked < 0:
        return FAILED_JOB_TTL_SECONDS
    return min(asked, FAILED_JOB_TTL_SECONDS)


def job_log_context(job: Job) -> dict[str, str]:
    """What the job's log lines carry: the request id, CallSid and practice of the request (or job) that enqueued
    it (jobs.schedule.ContextCarryingJob), and the job's own id as request id when nothing enqueued it so."""
    meta = job.meta.get(LOG_CONTEXT_META) if isinstance(job.meta, dict) else None
    context = dict(meta) if isinstance(meta, dict) else {}
    context.setdefault("request_id", job.id)
    return context


def job_class_for(services: Services) -> type[CarelineJob]:
    """A CarelineJob class whose jobs run with `services`."""
    return type("CarelineJob", (CarelineJob,), {"services": services})


# An idle worker beats before each blocking wait for a job, and waits worker_ttl - 15 s (RQ): with 35 s, every
# 20 s, well within STATUS_HEARTBEAT_LIMIT_SECONDS (RQ's default, 420 s, would wait 405 s between beats).
WORKER_TTL_SECONDS = 35
# A failed job (its traceback among it) is kept in Redis this many seconds at most: RQ's default is a year. A job
# may ask for less (jobs.calllog keeps a failed drain a day).
FAILED_JOB_TTL_SECONDS = 7 * 24 * 3600
SCHEDULER_STOP_SECONDS = 3  # seconds a stopping worker waits for its scheduler process before killing it
# How long the thread that listens for RQ's commands (kill-horse, shutdown) waits for one before it looks again
# whether the worker is stopping. RQ's 60 s was the time a worker could take to stop (see subscribe).
PUBSUB_POLL_SECONDS = 1.0


class CarelineWorker(SimpleWorker):
    """rq.SimpleWorker running CarelineJobs, started with `rq worker -w careline.worker.CarelineWorker`.

    `services` defaults to services built here from the environment, once for the worker's life.

    It lives through a Redis outage: its connection (and its scheduler process's, and its pubsub thread's)
    waits for Redis with backoff (core/redis_reconnect.py), so the loop that RQ would end on the first
    connection error carries on once Redis answers. Each of RQ's heartbeats also notes Careline's, on
    Careline's clock (core/heartbeats.py), which `GET /status` reads.
    """

    def __init__(self, *args, services: Services | None = None, **kwargs):
        built_here = services is None
        if services is None:
            services = Services.build(Config.from_env())
            create_app(services=services)  # binds the services' URLs to the web app's routes
            check_redis_durability(services.redis, services.config)  # as the web process does (wsgi.py)
        kwargs["job_class"] = job_class_for(services)
        kwargs["worker_ttl"] = min(kwargs.get("worker_ttl") or WORKER_TTL_SECONDS, WORKER_TTL_SECONDS)
        super().__init__(*args, **kwargs)
        self.services = services
        # A worker given its services (the tests' burst workers) leaves their connection as it is.
        self._owns_connection = built_here
        if built_here:
            reconnect_with_backoff(self.connection, services.config.REDIS_RECONNECT_MAX_SECONDS)
        # As the web process logs (create_app does it too): `rq worker` set up RQ's own handlers before this.
        configure_logging(services.config.LOG_LEVEL, services.config.LOG_FORMAT)

    def subscribe(self) -> None:
        """RQ's, with the listening thread looking every PUBSUB_POLL_SECONDS instead of every 60 s. RQ's teardown
        unsubscribes, then stops the thread, and redis-py 8 waits for it to end: a thread that read the reply to
        UNSUBSCRIBE before the stop waited up to its 60 s for a subscription again, and the worker with it (a
        burst worker took over a minute now and then under load; every stop of a deployed worker could)."""
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(sleep_time=PUBSUB_POLL_SECONDS, daemon=True,
                                                       exception_handler=self._pubsub_exception_handler)

    def perform_job(self, job: Job, queue, execution) -> bool:
        """RQ's, with the job's failure kept FAILED_JOB_TTL_SECONDS at most, however it was enqueued, and its log
        lines carrying the request id, CallSid and practice of who enqueued it (`job_log_context`)."""
        job.failure_ttl = failed_job_ttl(job.failure_ttl)
        with logged_as(**job_log_context(job)):
            return super().perform_job(job, queue, execution)

    def handle_exception(self, job: Job, *exc_info) -> None:
        """RQ's: log the failure, then run the exception handlers. RQ puts the whole traceback in the message;
        here it goes as the record's exc_info, which Careline's logging redacts (core/logs.py)."""
        try:
            func_name = job.func_name
        except DeserializationError:
            func_name = "<DeserializationError>"
        telemetry.jobs_failed.labels(job=func_name).inc()
        self.log.error("Worker %s: job %s: exception raised while executing (%s)", self.name, job.id, func_name,
                       exc_info=exc_info if exc_info and exc_info[0] is not None else None)
        call_exception_handlers(self._exc_handlers, job, *exc_info)

    def handle_job_failure(self, job: Job, queue, started_job_registry=None, exc_string: str = "",
                           execution=None) -> None:
        """RQ's, storing the traceback with each exception's text withheld (RQ keeps it in Redis with the failed
        job, its Result and its webhooks), for FAILED_JOB_TTL_SECONDS at most."""
        job.failure_ttl = failed_job_ttl(job.failure_ttl)
        super().handle_job_failure(job, queue, started_job_registry=started_job_registry,
                                   exc_string=redact_traceback(exc_string) if exc_string else exc_string,
                                   execution=execution)

    def request_stop(self, signum, frame) -> None:
        """RQ's warm shutdown; from now on Redis is tried once, not waited for, so that a worker told to stop
        while Redis is away stops (a job running finishes first, as RQ has it)."""
        if self._owns_connection:
            stop_waiting(self.connection)
        super().request_stop(signum, frame)

    def stop_scheduler(self) -> None:
        """RQ's, without waiting more than SCHEDULER_STOP_SECONDS for a scheduler process that is waiting for
        Redis (it looks at its stop flag only between two rounds)."""
        process = self.scheduler._process
        if process is None or not process.pid:
            return
        process.terminate()
        process.join(SCHEDULER_STOP_SECONDS)
        if process.is_alive():
            log.warning("worker %s: its scheduler process did not stop in %d s (Redis away?); killing it",
                        self.name, SCHEDULER_STOP_SECONDS)
            process.kill()
            process.join()

    def register_death(self) -> None:
        """RQ's, without failing on a Redis that is away: RQ's registry forgets a worker whose key expires."""
        if self._owns_connection:
            stop_waiting(self.connection)
        try:
            super().register_death()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("worker %s: Redis does not answer (%s); stopping all the same", self.name,
                        type(exc).__name__)

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
        """RQ's heartbeat (between jobs, and before each wait for one), then Careline's."""
        super().heartbeat(timeout, pipeline)
        record_heartbeat(pipeline if pipeline is not None else self.connection, "worker", self.name,
                         self.services.now())

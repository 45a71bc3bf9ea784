"""`RqScheduler`: the flows' `core.schedule.Scheduler` on RQ. Jobs are enqueued by reference to their
functions in this package; times come from Careline's clock (`enqueue_at`), never RQ's own."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import redis
from rq import Queue
from rq.job import Job

from core.clock import Clock
from core.logs import log_context
from jobs import calllog, paging, queue, sms

log = logging.getLogger(__name__)


LOG_CONTEXT_META = "log_context"  # the job's meta key: the log context of the request or job that enqueued it


class ContextCarryingJob(Job):
    """An RQ job that keeps the log context of whoever enqueued it (request id, CallSid, practice) in its meta,
    so the worker's lines for it name the request that set it going (careline/worker.py). Ids only: no data."""

    @classmethod
    def create(cls, *args, meta: dict | None = None, **kwargs):
        context = log_context()
        if context:
            meta = {**(meta or {}), LOG_CONTEXT_META: context}
        return super().create(*args, meta=meta, **kwargs)


def whole_second_after(at: datetime) -> datetime:
    """`at`, rounded up to a whole second.

    RQ keeps a scheduled job's time in whole seconds rounded down (ScheduledJobRegistry scores it with
    calendar.timegm), and its scheduler releases what is due once a second: a job due at 10.6 s may run at 10.0 s.
    A wrap-up's dispatch run that early finds the agent still wrapping up and offers nobody, and the agent then
    idles until a hold turn or a new caller (up to a hold clip's length) while callers wait: found by the staffing
    benchmark, where it cost 2 to 6 points of service level.
    """
    whole = at.replace(microsecond=0)
    return whole if whole == at else whole + timedelta(seconds=1)


class RqScheduler:
    """Enqueues Careline's jobs on `jobs` (an RQ queue); `drain_delay_seconds` gathers call events a moment."""

    def __init__(self, jobs: Queue, clock: Clock, drain_delay_seconds: float):
        self._jobs = jobs
        self._clock = clock
        self._drain_delay_seconds = drain_delay_seconds

    def drain_call_log(self) -> None:
        """Run the drain after the delay, so the events of that moment are written as one batch.

        Called when an event set the drain flag anew. If this fails, nothing is lost: the events stay in the
        stream, and the cron process's periodic drain (or the next event's) writes them. A drain that fails
        (the database down) is retried by RQ.
        """
        options = dict(job_timeout=calllog.DRAIN_JOB_TIMEOUT_SECONDS, result_ttl=60, retry=calllog.RETRY,
                       failure_ttl=calllog.FAILURE_TTL_SECONDS)
        try:
            if self._drain_delay_seconds > 0:
                at = self._clock() + timedelta(seconds=self._drain_delay_seconds)
                self._jobs.enqueue_at(at, calllog.drain_call_events, **options)
            else:
                self._jobs.enqueue(calllog.drain_call_events, **options)
        except redis.RedisError as exc:
            log.warning("could not schedule the call-log drain (%s)", type(exc).__name__)

    def wrap_up_end(self, agent_id: int, at: datetime) -> None:
        """Dispatch for the agent when its wrap-up ends (RQ's scheduler, in the worker, enqueues it then).

        If this fails the agent is not lost: it is free from `at` on, and the next hold turn or sweep offers it.
        """
        try:
            self._jobs.enqueue_at(whole_second_after(at), queue.dispatch_for_agent, int(agent_id),
                                  job_timeout=queue.JOB_TIMEOUT_SECONDS,
                                  result_ttl=60, retry=queue.RETRY)
        except redis.RedisError as exc:
            log.warning("agent %s: could not schedule the end of its wrap-up (%s)", agent_id, type(exc).__name__)

    def page_step(self, page_id: int, step: int, at: datetime | None = None) -> None:
        """Run step `step` of the page at `at` (now when None). If Redis fails the sweep runs it when due."""
        options = dict(job_timeout=paging.JOB_TIMEOUT_SECONDS, retry=paging.RETRY)
        try:
            if at is None:
                self._jobs.enqueue(paging.run_page_step, int(page_id), int(step), **options)
            else:
                self._jobs.enqueue_at(at, paging.run_page_step, int(page_id), int(step), **options)
        except redis.RedisError as exc:
            log.warning("page=%s step %s could not be scheduled (%s); the sweep will run it", page_id, step,
                        type(exc).__name__)

    def send_sms(self, sms_ids: list[int]) -> None:
        """Have the worker send these SMS now. If Redis fails, the rows stay pending and the sweep sends them."""
        for sms_id in sms_ids:
            try:
                self._jobs.enqueue(sms.send_sms, int(sms_id), job_timeout=sms.JOB_TIMEOUT_SECONDS, retry=sms.RETRY,
                                   result_ttl=300)
            except redis.RedisError as exc:
                log.warning("sms=%s could not be enqueued (%s); the sweep will send it", sms_id, type(exc).__name__)

"""RQ jobs of the call log. They take no arguments: RQ logs a job's arguments, and patient data must not."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import redis
from rq import Queue

from careline import services

log = logging.getLogger(__name__)

DRAIN_JOB_TIMEOUT_SECONDS = 600


def drain_call_events() -> int:
    """Move the call events waiting in Redis into the database."""
    return services.current().calllog_writer.drain()


def schedule_drain(queue: Queue, delay_seconds: float, now: datetime) -> None:
    """Run the drain `delay_seconds` after `now` (Careline's clock), so the events of that time are written as
    one batch.

    Called when an event set the drain flag anew. If this fails, nothing is lost: the events stay in the
    stream, the flag expires, and the next event schedules the drain again.
    """
    try:
        if delay_seconds > 0:
            queue.enqueue_at(now + timedelta(seconds=delay_seconds), drain_call_events,
                             job_timeout=DRAIN_JOB_TIMEOUT_SECONDS, result_ttl=60)
        else:
            queue.enqueue(drain_call_events, job_timeout=DRAIN_JOB_TIMEOUT_SECONDS, result_ttl=60)
    except redis.RedisError as exc:
        log.warning("could not schedule the call-log drain (%s)", type(exc).__name__)

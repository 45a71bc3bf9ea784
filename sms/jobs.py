"""RQ jobs that send SMS. They take the outbound_sms row's id only: RQ logs arguments, patient data must not
be there."""
from __future__ import annotations

import logging

import redis
from rq import Queue, Retry

from careline import services

log = logging.getLogger(__name__)

RETRY = Retry(max=3, interval=[10, 60, 300])  # seconds between tries; with the first, sms.outbox.MAX_SEND_ATTEMPTS
JOB_TIMEOUT_SECONDS = 60


def send_sms(sms_id: int) -> str:
    """Send one queued SMS; raises (so RQ retries) while Twilio fails and tries remain."""
    from sms.outbox import SmsSender

    current = services.current()
    return SmsSender(current.session_factory, lambda: current.twilio, current.clock).send(sms_id)


def enqueue_sms(queue: Queue, sms_ids: list[int]) -> None:
    """Have the worker send these SMS now. If Redis fails, the rows stay pending and the sweep sends them."""
    for sms_id in sms_ids:
        try:
            queue.enqueue(send_sms, int(sms_id), job_timeout=JOB_TIMEOUT_SECONDS, retry=RETRY, result_ttl=300)
        except redis.RedisError as exc:
            log.warning("sms=%s could not be enqueued (%s); the sweep will send it", sms_id, type(exc).__name__)

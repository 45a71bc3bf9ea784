"""RQ jobs of the call queue. They take ids only: RQ logs a job's arguments, and patient data must not.

`sweep_queues` runs every SWEEP_INTERVAL_SECONDS from RQ's cron scheduler (`careline/cron.py`, the
Procfile's `cron` process): it removes callers whose calls ended unnoticed and dispatches every practice,
so a missed trigger (a lost status callback, a worker that died mid-job, a wrap-up job that never ran)
leaves no caller or agent stuck for longer than that.
"""
from __future__ import annotations

import logging
from datetime import datetime

import redis
from rq import Queue, Retry

from careline import services

log = logging.getLogger(__name__)

SWEEP_INTERVAL_SECONDS = 15
# A caller's hold loop touches it every hold turn (a clip, 12 s) and while an agent's phone rings for it
# (agent_ring_seconds, at most 60, plus Twilio's 5 s and the whisper); a caller not seen for this long has
# no live call behind it.
STALE_AFTER_SECONDS = 120
JOB_TIMEOUT_SECONDS = 60
RETRY = Retry(max=3, interval=[1, 5, 15])  # seconds between tries


def dispatch_for_agent(agent_id: int) -> int:
    """Offer the agent the next caller (its wrap-up ended); returns how many callers were matched."""
    current = services.current()
    return len(current.dispatcher.dispatch_for_agent(agent_id, current.clock()).matches)


def sweep_queues() -> int:
    """Remove callers whose calls ended unnoticed, then dispatch every practice; returns how many went."""
    from ivr.queue_steps import abandoned_event  # the call flow owns what an abandon logs

    current = services.current()
    now = current.clock()
    removed = current.queue.sweep(now, STALE_AFTER_SECONDS)
    for gone in removed:
        log.warning("call=%s removed from the queue by the sweep (no hold turn for %s s)", gone.call_sid,
                    STALE_AFTER_SECONDS)
    current.calllog.append([abandoned_event(gone, now) for gone in removed])
    current.dispatcher.dispatch(current.directory.practice_ids(), now)
    return len(removed)


def schedule_wrap_up_end(queue: Queue, agent_id: int, at: datetime) -> None:
    """Dispatch for the agent when its wrap-up ends (RQ's scheduler, in the worker, enqueues it then).

    If this fails the agent is not lost: it is free from `at` on, and the next hold turn or sweep offers it.
    """
    try:
        queue.enqueue_at(at, dispatch_for_agent, int(agent_id), job_timeout=JOB_TIMEOUT_SECONDS, result_ttl=60,
                         retry=RETRY)
    except redis.RedisError as exc:
        log.warning("agent %s: could not schedule the end of its wrap-up (%s)", agent_id, type(exc).__name__)

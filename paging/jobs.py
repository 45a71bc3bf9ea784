"""RQ jobs of paging: each step of a page runs from RQ's scheduler (`enqueue_at`), so an escalation waits in
Redis, not in a process, and survives a worker restart. They take ids only (RQ logs arguments)."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import redis
from rq import Queue, Retry
from sqlalchemy import and_, or_, select

from careline import services
from core.db import session_scope

log = logging.getLogger(__name__)

RETRY = Retry(max=3, interval=[5, 30, 120])  # seconds between tries of a step (the database was down)
JOB_TIMEOUT_SECONDS = 60
LATE_AFTER = timedelta(seconds=90)  # a step (or a first send) this late has lost its job: the sweep runs it
RETRY_LOST_AFTER = timedelta(minutes=30)  # past RQ's last retry (sms.jobs.RETRY): a pending SMS lost its retries
SWEEP_INTERVAL_SECONDS = 60


def run_page_step(page_id: int, step: int) -> int:
    """Run one step of a page, send its SMS, schedule the next; returns how many SMS it queued."""
    from paging.escalation import run_step
    from sms.jobs import enqueue_sms

    current = services.current()
    with session_scope(current.session_factory) as session:
        run = run_step(session, page_id, step, current.clock())
    if run is None:
        return 0
    if run.reschedule_at is not None:
        schedule_page_step(current.jobs, page_id, step, run.reschedule_at)
        return 0
    enqueue_sms(current.jobs, run.sms_ids)
    if run.next_step is not None:
        schedule_page_step(current.jobs, page_id, *run.next_step)
    return len(run.sms_ids)


def schedule_page_step(queue: Queue, page_id: int, step: int, at: datetime | None = None) -> None:
    """Run step `step` of the page at `at` (now when None). If Redis fails the sweep runs it when due."""
    try:
        if at is None:
            queue.enqueue(run_page_step, int(page_id), int(step), job_timeout=JOB_TIMEOUT_SECONDS, retry=RETRY)
        else:
            queue.enqueue_at(at, run_page_step, int(page_id), int(step), job_timeout=JOB_TIMEOUT_SECONDS,
                             retry=RETRY)
    except redis.RedisError as exc:
        log.warning("page=%s step %s could not be scheduled (%s); the sweep will run it", page_id, step,
                    type(exc).__name__)


def sweep_follow_ups() -> int:
    """Run page steps and send SMS whose jobs were lost (Redis was down when they were due); returns how many."""
    from models import OnCallPage, OutboundSms
    from sms.jobs import enqueue_sms

    current = services.current()
    late = current.clock() - LATE_AFTER
    with current.session_factory() as session:
        pages = session.execute(select(OnCallPage.id, OnCallPage.step).where(
            OnCallPage.status == "open", OnCallPage.next_step_at < late)).all()
        unsent = list(session.scalars(select(OutboundSms.id).where(
            OutboundSms.status == "pending", or_(
                and_(OutboundSms.attempts == 0, OutboundSms.created_at < late),
                OutboundSms.created_at < current.clock() - RETRY_LOST_AFTER))))
    for page_id, step in pages:
        log.warning("page=%s step %s is late; running it now", page_id, step)
        schedule_page_step(current.jobs, page_id, step)
    enqueue_sms(current.jobs, unsent)
    return len(pages) + len(unsent)

"""Paging's jobs: each step of a page runs from RQ's scheduler (`enqueue_at`), so an escalation waits in
Redis, not in a process, and survives a worker restart; a sweep runs what Redis lost."""
from __future__ import annotations

import logging
from datetime import timedelta

from rq import Retry
from sqlalchemy import and_, or_, select

from core.db import session_scope
from jobs import JobServices
from models import OnCallPage, OutboundSms
from paging.escalation import run_step

log = logging.getLogger(__name__)

RETRY = Retry(max=3, interval=[5, 30, 120])  # seconds between tries of a step (the database was down)
JOB_TIMEOUT_SECONDS = 60
LATE_AFTER = timedelta(seconds=90)  # a step (or a first send) this late has lost its job: the sweep runs it
RETRY_LOST_AFTER = timedelta(minutes=30)  # past RQ's last retry (jobs.sms.RETRY): a pending SMS lost its retries
SWEEP_INTERVAL_SECONDS = 60


def run_page_step(services: JobServices, page_id: int, step: int) -> int:
    """Run one step of a page, send its SMS, schedule the next; returns how many SMS it queued."""
    with session_scope(services.session_factory) as session:
        run = run_step(session, page_id, step, services.clock())
    if run is None:
        return 0
    if run.reschedule_at is not None:
        services.scheduler.page_step(page_id, step, run.reschedule_at)
        return 0
    services.scheduler.send_sms(run.sms_ids)
    if run.next_step is not None:
        services.scheduler.page_step(page_id, *run.next_step)
    return len(run.sms_ids)


def sweep_follow_ups(services: JobServices) -> int:
    """Run page steps and send SMS whose jobs were lost (Redis was down when they were due); returns how many."""
    late = services.clock() - LATE_AFTER
    with services.session_factory() as session:
        pages = session.execute(select(OnCallPage.id, OnCallPage.step).where(
            OnCallPage.status == "open", OnCallPage.next_step_at < late)).all()
        unsent = list(session.scalars(select(OutboundSms.id).where(
            OutboundSms.status == "pending", or_(
                and_(OutboundSms.attempts == 0, OutboundSms.created_at < late),
                OutboundSms.created_at < services.clock() - RETRY_LOST_AFTER))))
    for page_id, step in pages:
        log.warning("page=%s step %s is late; running it now", page_id, step)
        services.scheduler.page_step(page_id, step)
    services.scheduler.send_sms(unsent)
    return len(pages) + len(unsent)

"""A page's escalation: who is paged at each step, the steps as they run, and acknowledgements.

The steps, `escalation_minutes` apart (default 10), until someone acknowledges:
  0. the first on-call provider;  1. the first provider again;  2, 3, ... each next provider in order;
  last: every manager of the practice (by SMS, those with a phone).
Each step's SMS is queued in the outbox (sms.outbox) and sent by its own job; each step runs from RQ's
scheduler (jobs.paging), and the page row says which step is next, so a step that runs twice, late or
after an acknowledgement does nothing.

A failed SMS is not a page: when every SMS of the step that ran last failed (Twilio refused it for good, the
number opted out, or the status callback said undelivered/failed), the next step is due at once
(`escalate_failed_step`), not after the interval; keyed by the step's number, so a repeated or late failure
never skips a step, and a step the timer already ran does not run again.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import telemetry
from core.upsert import insert_ignoring_duplicates
from models import Agent, Message, OnCallPage, OnCallProvider, OutboundSms, PageEvent, Practice, agent_practices
from sms.outbox import QueuedSms, queue_sms

log = logging.getLogger(__name__)

SEND_FAILED = ("failed", "opted-out")  # OutboundSms.status of an SMS Twilio never took
NOT_DELIVERED = ("undelivered", "failed")  # OutboundSms.delivery_status of one it took and could not deliver
EARLY_TOLERANCE = timedelta(seconds=1)  # a step job may start this much before its time
ACK_STEP = -1  # the step of an acknowledgement's event


@dataclass(frozen=True)
class Target:
    """Someone a step pages: an on-call provider or a manager."""

    kind: str  # provider | manager
    id: int
    phone: str

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class StepRun:
    """What running a step did: the SMS to send now, and the next step with its time (None: the last)."""

    sms_ids: list[int]
    next_step: tuple[int, datetime] | None
    reschedule_at: datetime | None = None  # the step is not due yet (a job ran early)


def plan(providers: list[Target], managers: list[Target]) -> list[list[Target]]:
    """Who each step pages (see the module's docstring); the last step, the managers, may page nobody."""
    steps: list[list[Target]] = []
    if providers:
        steps += [[providers[0]], [providers[0]]]
        steps += [[provider] for provider in providers[1:]]
    steps.append(managers)
    return steps


def open_pages(session: Session, messages: list[tuple[int, int]], now: datetime) -> list[int]:
    """Open a page for each (message id, practice id) without one; returns the pages whose first step is
    still to run (to start now)."""
    if not messages:
        return []
    session.execute(insert_ignoring_duplicates(session, OnCallPage, ("message_id",)), [
        dict(practice_id=practice_id, message_id=message_id, status="open", step=0, created_at=now,
             next_step_at=now) for message_id, practice_id in messages])
    return list(session.scalars(select(OnCallPage.id).where(
        OnCallPage.message_id.in_([m for m, _ in messages]), OnCallPage.status == "open", OnCallPage.step == 0)))


def targets(session: Session, practice_id: int) -> tuple[list[Target], list[Target]]:
    """The practice's on-call providers in order, and its managers with a phone: what `plan` pages."""
    providers = [Target("provider", p.id, p.phone) for p in session.scalars(
        select(OnCallProvider).where(OnCallProvider.practice_id == practice_id).order_by(OnCallProvider.position))]
    managers = [Target("manager", a.id, a.phone) for a in session.scalars(
        select(Agent).join(agent_practices, agent_practices.c.agent_id == Agent.id)
        .where(agent_practices.c.practice_id == practice_id, Agent.role == "manager", Agent.phone.is_not(None),
               Agent.deactivated_at.is_(None))  # a deactivated manager is paged no more
        .order_by(Agent.id))]
    return providers, managers


def run_step(session: Session, page_id: int, step: int, now: datetime) -> StepRun | None:
    """Run step `step` of page `page_id` if it is the next one and due; None when there is nothing to do."""
    page = session.scalars(select(OnCallPage).where(OnCallPage.id == page_id).with_for_update()).one_or_none()
    if page is None or page.status != "open" or page.step != step:
        return None
    if page.next_step_at is not None and now + EARLY_TOLERANCE < page.next_step_at:
        return StepRun([], None, reschedule_at=page.next_step_at)
    practice = session.get(Practice, page.practice_id)
    if step > 0:  # nobody acknowledged the steps before (or their SMS failed): the page escalates
        telemetry.pages_escalated.labels(practice=practice.slug if practice else "-").inc()
    providers, managers = targets(session, page.practice_id)
    steps = plan(providers, managers)
    paged = steps[step] if step < len(steps) else []
    purpose = "manager-alert" if step == len(steps) - 1 else "page"
    sms_ids = queue_sms(session, [
        QueuedSms(key=f"page:{page.id}:{step}:{t.label}", purpose=purpose, practice_id=page.practice_id,
                  to_number=t.phone, message_id=page.message_id, page_id=page.id) for t in paged], now)
    if not paged:
        session.execute(insert_ignoring_duplicates(session, PageEvent, ("page_id", "step", "target")), [
            dict(page_id=page.id, step=step, kind="no-one", target="managers" if purpose != "page" else "providers",
                 at=now)])
        log.critical("page=%s practice=%s step %s: nobody to page (no on-call provider or manager phone)",
                     page.id, practice.slug if practice else page.practice_id, step)
    else:
        log.warning("page=%s step %s: paging %s", page.id, step, ", ".join(t.label for t in paged))
    page.step = step + 1
    if page.step < len(steps):
        page.next_step_at = now + timedelta(minutes=practice.escalation_minutes)
        return StepRun(sms_ids, (page.step, page.next_step_at))
    page.status, page.next_step_at = "exhausted", None
    return StepRun(sms_ids, None)


def record_page_sms(session: Session, sms: OutboundSms, now: datetime) -> None:
    """The outbox's hook: a page's SMS was sent, or failed for good: log it as the page's event."""
    _, page_id, step, kind, target_id = sms.key.split(":")
    session.execute(insert_ignoring_duplicates(session, PageEvent, ("page_id", "step", "target")), [
        dict(page_id=int(page_id), step=int(step), kind="sent" if sms.status == "sent" else "send-failed",
             target=f"{kind}:{target_id}", at=now, sms_id=sms.id)])


def sms_failed(sms: OutboundSms) -> bool:
    """True when the SMS reached nobody: refused, opted out, or reported undelivered."""
    return sms.status in SEND_FAILED or sms.delivery_status in NOT_DELIVERED


def page_sms_step(sms: OutboundSms) -> tuple[int, int]:
    """(page id, step) of a page's SMS, from its key "page:PAGE:STEP:KIND:ID"."""
    _, page_id, step, *_ = sms.key.split(":")
    return int(page_id), int(step)


def escalate_failed_step(session: Session, sms: OutboundSms, now: datetime) -> tuple[int, int] | None:
    """`sms` failed: when it belongs to the step that ran last of an open page and every SMS of that step
    failed, make the next step due now; returns (page id, step) to run now, or None."""
    page_id, step = page_sms_step(sms)
    page = session.scalars(select(OnCallPage).where(OnCallPage.id == page_id).with_for_update()).one_or_none()
    if page is None or page.status != "open" or page.step != step + 1:
        return None  # acknowledged, exhausted, or the timer ran the next step already
    siblings = session.scalars(select(OutboundSms).where(
        OutboundSms.page_id == page_id, OutboundSms.key.like(f"page:{page_id}:{step}:%"))).all()
    if not all(sms_failed(other) for other in siblings):
        return None  # someone of this step was paged
    page.next_step_at = now
    log.warning("page=%s step %s: its SMS failed; step %s runs now", page_id, step, page.step)
    return page_id, page.step


def acknowledge(session: Session, page: OnCallPage, by: str, now: datetime) -> bool:
    """Mark `page` acknowledged by `by` ("provider:ID", "agent:ID"); False when it already was."""
    if page.status == "acknowledged":
        return False
    page.status, page.acknowledged_at, page.acknowledged_by, page.next_step_at = "acknowledged", now, by, None
    session.execute(insert_ignoring_duplicates(session, PageEvent, ("page_id", "step", "target")), [
        dict(page_id=page.id, step=ACK_STEP, kind="acknowledged", target=by, at=now)])
    log.info("page=%s acknowledged by %s", page.id, by)
    practice = session.get(Practice, page.practice_id)
    telemetry.pages_acknowledged.labels(practice=practice.slug if practice else "-").inc()
    return True


def acknowledge_by_phone(session: Session, phone: str, now: datetime) -> list[int]:
    """A reply from `phone`: acknowledge every unacknowledged page that paged it; returns their ids."""
    labels = {f"provider:{pid}": f"provider:{pid}" for pid in session.scalars(
        select(OnCallProvider.id).where(OnCallProvider.phone == phone))}
    labels |= {f"manager:{aid}": f"agent:{aid}"
               for aid in session.scalars(select(Agent.id).where(Agent.phone == phone))}
    if not labels:
        return []
    rows = session.execute(select(PageEvent.page_id, PageEvent.target).where(
        PageEvent.target.in_(labels), PageEvent.kind == "sent")).all()
    by_page = {}
    for page_id, target in rows:
        by_page.setdefault(page_id, labels[target])
    acknowledged = []
    for page in session.scalars(select(OnCallPage).where(OnCallPage.id.in_(by_page),
                                                         OnCallPage.status != "acknowledged").with_for_update()):
        if acknowledge(session, page, by_page[page.id], now):
            acknowledged.append(page.id)
    return acknowledged


def page_message(session: Session, page_id: int) -> Message | None:
    """The message a page is about."""
    page = session.get(OnCallPage, page_id)
    return session.get(Message, page.message_id) if page else None

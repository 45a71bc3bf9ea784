"""The pages worklist (the console's /console/pages): each page with its steps as they ran, who each SMS went
to and what became of it, the next step and when it is due, and who acknowledged it. Names, never numbers:
a phone number has no place on a screen that lists pages."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from models import Agent, OnCallPage, OnCallProvider, OutboundSms, PageEvent, Practice
from paging.escalation import NOT_DELIVERED, page_sms_step, plan, sms_failed, targets

LIST_LIMIT = 200  # pages one screen lists, open ones first


@dataclass(frozen=True)
class StepLine:
    """One SMS of a step (or a step that paged nobody)."""

    step: int
    kind: str  # provider | manager | no-one
    name: str
    at: datetime  # when it was sent (or when the step ran, for one not sent)
    outcome: str  # sending | retrying | sent | delivered | failed: not delivered | not sent | nobody to page
    failed: bool
    detail: str = ""  # why it failed (Twilio's error code, STOP)
    failed_at: datetime | None = None  # when Twilio reported it undelivered (after it was sent)


@dataclass(frozen=True)
class PageLine:
    """One page as the worklist shows it."""

    id: int
    practice_slug: str
    practice_name: str
    timezone: str
    message_id: int
    status: str
    created_at: datetime
    steps: list[StepLine]
    next_step: int | None  # the step number still to run (open pages)
    next_step_at: datetime | None
    next_targets: list[str]  # who the next step pages, by kind and name
    acknowledged_at: datetime | None
    acknowledged_by: str | None  # a name


def _outcome(sms: OutboundSms) -> tuple[str, str]:
    if sms.status == "failed" and not sms.attempts:
        return "not sent", "no longer needed: acknowledged before it went out"
    if sms.status == "opted-out":
        return "failed: not delivered", "the number replied STOP"
    if sms_failed(sms):
        code = f"Twilio error {sms.error_code}" if sms.error_code else ""
        return "failed: not delivered", code
    if sms.status == "pending":
        return ("retrying", f"Twilio refused {sms.attempts} time(s)") if sms.attempts else ("sending", "")
    return ("delivered", "") if sms.delivery_status == "delivered" else ("sent", "")


def page_lines(session: Session, practice_ids: set[int], status: str | None,
               page_ids: list[int] | None = None) -> list[PageLine]:
    """The pages of `practice_ids` (empty: none), open first, then newest; `status` keeps one status,
    `page_ids` these pages only (the API's list: every page it lists, however many)."""
    if not practice_ids or page_ids == []:
        return []
    query = (select(OnCallPage, Practice).join(Practice, Practice.id == OnCallPage.practice_id)
             .where(OnCallPage.practice_id.in_(practice_ids))
             .order_by(case((OnCallPage.status == "open", 0), else_=1), OnCallPage.created_at.desc(),
                       OnCallPage.id.desc()))
    if status is not None:
        query = query.where(OnCallPage.status == status)
    if page_ids is not None:
        query = query.where(OnCallPage.id.in_(page_ids))
    rows = session.execute(query.limit(LIST_LIMIT if page_ids is None else len(page_ids))).all()
    page_ids = [page.id for page, _ in rows]
    if not page_ids:
        return []
    sms_rows = session.scalars(select(OutboundSms).where(OutboundSms.page_id.in_(page_ids))
                               .order_by(OutboundSms.created_at, OutboundSms.id)).all()
    no_one = session.scalars(select(PageEvent).where(PageEvent.page_id.in_(page_ids),
                                                     PageEvent.kind == "no-one")).all()
    practices = {practice.id for _, practice in rows}
    providers = dict(session.execute(select(OnCallProvider.id, OnCallProvider.name)
                                     .where(OnCallProvider.practice_id.in_(practices))).all())
    agent_ids = {int(sms.key.split(":")[4]) for sms in sms_rows if sms.key.split(":")[3] == "manager"}
    agent_ids |= {int(page.acknowledged_by.split(":")[1]) for page, _ in rows
                  if page.acknowledged_by and page.acknowledged_by.startswith("agent:")}
    plans = {pid: plan(*targets(session, pid)) for pid in practices}
    for steps in plans.values():
        agent_ids |= {t.id for step in steps for t in step if t.kind == "manager"}
    agents = dict(session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(agent_ids))).all())

    def name(kind: str, target_id: int) -> str:
        found = providers.get(target_id) if kind == "provider" else agents.get(target_id)
        return found or f"{kind} #{target_id} (no longer listed)"

    steps_of: dict[int, list[StepLine]] = {}
    for sms in sms_rows:
        page_id, step = page_sms_step(sms)
        kind, target_id = sms.key.split(":")[3], int(sms.key.split(":")[4])
        outcome, detail = _outcome(sms)
        reported = sms.delivery_status_at if sms.delivery_status in NOT_DELIVERED else None
        steps_of.setdefault(page_id, []).append(StepLine(
            step, kind, name(kind, target_id), sms.sent_at or sms.created_at, outcome,
            outcome.startswith("failed"), detail, reported))
    for event in no_one:
        steps_of.setdefault(event.page_id, []).append(StepLine(
            event.step, "no-one", f"no {event.target} to page", event.at, "nobody to page", True))

    lines = []
    for page, practice in rows:
        steps = sorted(steps_of.get(page.id, []), key=lambda line: (line.step, line.at))
        upcoming = plans[practice.id][page.step] if page.status == "open" and page.step < len(
            plans[practice.id]) else []
        by = page.acknowledged_by
        by_name = None
        if by:
            kind, _, ident = by.partition(":")
            by_name = name("provider" if kind == "provider" else "manager", int(ident)) if ident.isdigit() else by
        lines.append(PageLine(
            id=page.id, practice_slug=practice.slug, practice_name=practice.name, timezone=practice.timezone,
            message_id=page.message_id, status=page.status, created_at=page.created_at, steps=steps,
            next_step=page.step if page.status == "open" else None,
            next_step_at=page.next_step_at if page.status == "open" else None,
            next_targets=[f"{t.kind} {name(t.kind, t.id)}" for t in upcoming],
            acknowledged_at=page.acknowledged_at, acknowledged_by=by_name))
    return lines

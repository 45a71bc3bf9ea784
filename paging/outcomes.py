"""What becomes of a page's SMS, as the outbox and Twilio's delivery reports tell it: the step's event, and,
when the SMS failed, the next step at once (`escalation.escalate_failed_step`), started once the failure is
committed so that the step's job finds the page's new time."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from core.schedule import Scheduler
from models import OutboundSms
from paging.escalation import escalate_failed_step, record_page_sms, sms_failed
from sms.outbox import FollowUp


class PageSmsOutcomes:
    """The outbox's result hook and the delivery reports' failure hook for "page" and "manager-alert" SMS."""

    def __init__(self, scheduler: Scheduler):
        self._scheduler = scheduler

    def sent_or_failed(self, session: Session, sms: OutboundSms, now: datetime) -> FollowUp | None:
        """The outbox sent the SMS or gave up on it: record the step's event; a failure escalates now."""
        record_page_sms(session, sms, now)
        return self.undelivered(session, sms, now) if sms_failed(sms) else None

    def undelivered(self, session: Session, sms: OutboundSms, now: datetime) -> FollowUp | None:
        """The SMS reached nobody: the page's next step runs now (once)."""
        due = escalate_failed_step(session, sms, now)
        if due is None:
            return None
        page_id, step = due
        return lambda: self._scheduler.page_step(page_id, step)

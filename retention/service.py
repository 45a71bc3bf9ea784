"""Deleting what each practice keeps no longer ([practices.retention]), on Careline's clock.

A run takes each practice in turn, with its own days, and in this order:
1. Recordings older than `recordings_days`: deleted at Twilio through the REST API (`recordings(sid).delete()`,
   answered 204; a 404 means Twilio has it no more, which is as good), then in Careline: the message keeps its row
   without the recording's URL (`recording_deleted_at` says when). Twilio failing (5xx, a timeout) leaves that
   recording, and its message's URL, to the next run; it is counted and logged by its RecordingSid only.
2. Messages older than `messages_days`, with what hangs on them: read receipts, handlings, pages (their steps and
   SMS), receipt SMS, a complaint (with its history). A recorded message whose recording is still at Twilio
   stays until step 1 deleted it there, so Careline never forgets a recording it has not deleted. Agents' unsaved drafts of that age go too.
3. Closed callback tasks whose last call is older than `messages_days`, with their calls and history (an open task
   is work not done: it stays). SMS (sent and received) older than `messages_days`.
4. Calls older than `calls_days` that no message still refers to, with their events.
5. Callers (a patient's number) no call, message or callback task refers to any longer.
Calls to no practice's number follow RETENTION_DEFAULTS. A run that deleted anything writes one audit row
("retention.run", its counts in `details`, by the command's operator or by Careline itself). Audit rows are never
deleted here, nor the metrics' facts
and roll-ups (counts without a number or a name), nor SMS opt-outs (a STOP must outlive the messages before it).

Rows go in batches of BATCH_ROWS, each batch its own transaction, so a long backlog never holds locks for long.
Running twice, or on two hosts at once, changes nothing more than running once: every step selects by age what is
still there, and Twilio's 404 for a recording deleted already counts as deleted.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, not_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from audit.actors import SYSTEM, Actor
from audit.trail import AuditTrail
from core.db import session_scope
from models import (Call, CallbackTask, CallbackTaskAction, CallbackTaskCall, CallEvent, Caller, Complaint,
                    ComplaintChange, InboundSms, Message, MessageDraft, MessageHandling, MessageRead, OnCallPage,
                    OutboundSms, PageEvent, Practice, PracticeNumber)
from practices.loader import RETENTION_DEFAULTS

log = logging.getLogger(__name__)

BATCH_ROWS = 500  # rows deleted per transaction
RECORDINGS_PER_BATCH = 50  # recordings deleted at Twilio before their messages are updated (one request each)


@dataclass
class RetentionReport:
    """What one run deleted, counted over every practice."""

    recordings_deleted: int = 0  # at Twilio (or found gone there) and cleared from their messages
    recordings_failed: int = 0  # Twilio failed: left to the next run
    messages: int = 0
    pages: int = 0
    sms: int = 0  # outbound and inbound
    drafts: int = 0
    callback_tasks: int = 0
    calls: int = 0
    call_events: int = 0
    callers: int = 0

    def counts(self) -> dict[str, int]:
        """Each count by name (what the command prints, the job logs and the audit row keeps)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def summary(self) -> str:
        """One line: every count, by name; no patient data."""
        return ", ".join(f"{name} {count}" for name, count in self.counts().items())


@dataclass(frozen=True)
class _Retention:
    practice_id: int | None  # None: calls to no practice's number
    recordings_days: int
    messages_days: int
    calls_days: int


class RetentionService:
    """Deletes recordings (at Twilio and in Careline) and rows past each practice's retention.

    `twilio()` gives Twilio's REST client; `clock` is Careline's; `audit` records each run that deleted anything.
    """

    def __init__(self, session_factory: sessionmaker[Session], twilio: Callable[[], Client],
                 clock: Callable[[], datetime], audit: AuditTrail, batch_rows: int = BATCH_ROWS):
        self._session_factory = session_factory
        self._twilio = twilio
        self._clock = clock
        self._audit = audit
        self._batch_rows = batch_rows

    def run(self, actor: Actor = SYSTEM) -> RetentionReport:
        """Delete what is past its time for every practice; returns the counts. `actor`: who ran it, for the
        audit row (Careline itself for the cron's job)."""
        now = self._clock()
        report = RetentionReport()
        with self._session_factory() as session:
            rules = [_Retention(*row) for row in session.execute(
                select(Practice.id, Practice.recordings_days, Practice.messages_days, Practice.calls_days)
                .order_by(Practice.id))]
        for rule in rules:
            self._delete_recordings(rule, now, report)
            self._delete_messages(rule, now, report)
            self._delete_callback_tasks(rule, now, report)
            self._delete_sms(rule, now, report)
            self._delete_calls(rule, now, report)
        no_practice = _Retention(None, **RETENTION_DEFAULTS)
        self._delete_calls(no_practice, now, report)
        self._delete_unclaimed_inbound_sms(now - timedelta(days=no_practice.messages_days), report)
        self._delete_callers(report)
        log.info("retention: %s", report.summary())
        if any(report.counts().values()):
            self._audit.record(actor, "retention.run", details=report.counts())
        return report

    # -- 1. recordings -------------------------------------------------------------------------------------------

    def _delete_recordings(self, rule: _Retention, now: datetime, report: RetentionReport) -> None:
        cutoff = now - timedelta(days=rule.recordings_days)
        after_id = 0
        while True:
            with self._session_factory() as session:
                due = session.execute(
                    select(Message.id, Message.recording_sid)
                    .where(Message.practice_id == rule.practice_id, Message.author_agent_id.is_(None),
                           Message.recording_url.is_not(None), Message.created_at < cutoff, Message.id > after_id)
                    .order_by(Message.id).limit(RECORDINGS_PER_BATCH)).all()
            if not due:
                return
            after_id = due[-1].id
            # Twilio first, with no transaction open meanwhile; only what Twilio no longer has is cleared here.
            deleted = [message_id for message_id, recording_sid in due
                       if self._delete_at_twilio(message_id, recording_sid)]
            report.recordings_failed += len(due) - len(deleted)
            if deleted:
                with session_scope(self._session_factory) as session:
                    session.execute(update(Message).where(Message.id.in_(deleted))
                                    .values(recording_url=None, recording_deleted_at=now)
                                    .execution_options(synchronize_session=False))
                report.recordings_deleted += len(deleted)

    def _delete_at_twilio(self, message_id: int, recording_sid: str) -> bool:
        """Delete one recording at Twilio; True when Twilio no longer has it (deleted now, or 404)."""
        try:
            self._twilio().recordings(recording_sid).delete()
        except TwilioRestException as exc:
            if exc.status == 404:
                return True  # deleted already (an earlier run, or by hand): as good as deleted now
            log.warning("retention: recording %s of message %s not deleted, Twilio answered %s; left to the next "
                        "run", recording_sid, message_id, exc.status)
            return False
        except (TwilioException, OSError) as exc:  # requests' connection errors and timeouts are OSErrors
            log.warning("retention: recording %s of message %s not deleted, Twilio did not answer (%s); left to the "
                        "next run", recording_sid, message_id, type(exc).__name__)
            return False
        return True

    # -- 2. messages and what hangs on them ----------------------------------------------------------------------

    def _delete_messages(self, rule: _Retention, now: datetime, report: RetentionReport) -> None:
        cutoff = now - timedelta(days=rule.messages_days)
        # A recorded message whose recording Twilio still has is kept until step 1 deleted it there.
        recording_kept = and_(Message.author_agent_id.is_(None), Message.recording_url.is_not(None))
        due = (select(Message.id).where(Message.practice_id == rule.practice_id, Message.created_at < cutoff,
                                        not_(recording_kept)))
        while ids := self._next_ids(due.order_by(Message.id)):
            with session_scope(self._session_factory) as session:
                pages = select(OnCallPage.id).where(OnCallPage.message_id.in_(ids)).scalar_subquery()
                session.execute(delete(PageEvent).where(PageEvent.page_id.in_(pages)))
                report.sms += _count(session.execute(delete(OutboundSms).where(
                    or_(OutboundSms.message_id.in_(ids), OutboundSms.page_id.in_(pages)))))
                report.pages += _count(session.execute(delete(OnCallPage).where(OnCallPage.message_id.in_(ids))))
                session.execute(delete(MessageRead).where(MessageRead.message_id.in_(ids)))
                session.execute(delete(MessageHandling).where(MessageHandling.message_id.in_(ids)))
                # A complaint is its message's: it goes with it, its history first.
                complaints = select(Complaint.id).where(Complaint.message_id.in_(ids)).scalar_subquery()
                session.execute(delete(ComplaintChange).where(ComplaintChange.complaint_id.in_(complaints)))
                session.execute(delete(Complaint).where(Complaint.message_id.in_(ids)))
                report.messages += _count(session.execute(delete(Message).where(Message.id.in_(ids))))
        with session_scope(self._session_factory) as session:  # a practice has few drafts: one statement
            report.drafts += _count(session.execute(delete(MessageDraft).where(
                MessageDraft.practice_id == rule.practice_id, MessageDraft.updated_at < cutoff)))

    # -- 3. callback tasks and SMS ---------------------------------------------------------------------------------

    def _delete_callback_tasks(self, rule: _Retention, now: datetime, report: RetentionReport) -> None:
        cutoff = now - timedelta(days=rule.messages_days)
        due = select(CallbackTask.id).where(CallbackTask.practice_id == rule.practice_id,
                                            CallbackTask.status == "closed", CallbackTask.last_call_at < cutoff)
        while ids := self._next_ids(due.order_by(CallbackTask.id)):
            with session_scope(self._session_factory) as session:
                session.execute(delete(CallbackTaskCall).where(CallbackTaskCall.task_id.in_(ids)))
                session.execute(delete(CallbackTaskAction).where(CallbackTaskAction.task_id.in_(ids)))
                report.callback_tasks += _count(session.execute(delete(CallbackTask).where(CallbackTask.id.in_(ids))))

    def _delete_sms(self, rule: _Retention, now: datetime, report: RetentionReport) -> None:
        cutoff = now - timedelta(days=rule.messages_days)
        outbound = select(OutboundSms.id).where(OutboundSms.practice_id == rule.practice_id,
                                                OutboundSms.created_at < cutoff)
        while ids := self._next_ids(outbound.order_by(OutboundSms.id)):
            with session_scope(self._session_factory) as session:
                session.execute(update(PageEvent).where(PageEvent.sms_id.in_(ids)).values(sms_id=None)
                                .execution_options(synchronize_session=False))
                report.sms += _count(session.execute(delete(OutboundSms).where(OutboundSms.id.in_(ids))))
        numbers = select(PracticeNumber.e164).where(PracticeNumber.practice_id == rule.practice_id)
        inbound = select(InboundSms.message_sid).where(InboundSms.to_number.in_(numbers),
                                                       InboundSms.received_at < cutoff)
        self._delete_inbound(inbound, report)

    def _delete_unclaimed_inbound_sms(self, cutoff: datetime, report: RetentionReport) -> None:
        """SMS sent to a number no practice has (any longer), by the default days."""
        inbound = select(InboundSms.message_sid).where(
            InboundSms.to_number.not_in(select(PracticeNumber.e164)), InboundSms.received_at < cutoff)
        self._delete_inbound(inbound, report)

    def _delete_inbound(self, due, report: RetentionReport) -> None:
        while sids := self._next_ids(due.order_by(InboundSms.message_sid)):
            with session_scope(self._session_factory) as session:
                report.sms += _count(session.execute(delete(InboundSms).where(InboundSms.message_sid.in_(sids))))

    # -- 4. calls and their events ---------------------------------------------------------------------------------

    def _delete_calls(self, rule: _Retention, now: datetime, report: RetentionReport) -> None:
        cutoff = now - timedelta(days=rule.calls_days)
        of_practice = (Call.practice_id == rule.practice_id if rule.practice_id is not None
                       else Call.practice_id.is_(None))
        due = select(Call.call_sid).where(of_practice, Call.started_at < cutoff,
                                          ~exists().where(Message.call_sid == Call.call_sid))
        while sids := self._next_ids(due.order_by(Call.call_sid)):
            with session_scope(self._session_factory) as session:
                report.call_events += _count(session.execute(delete(CallEvent).where(CallEvent.call_sid.in_(sids))))
                session.execute(delete(CallbackTaskCall).where(CallbackTaskCall.call_sid.in_(sids)))
                report.calls += _count(session.execute(delete(Call).where(Call.call_sid.in_(sids))))

    # -- 5. callers ---------------------------------------------------------------------------------------------------

    def _delete_callers(self, report: RetentionReport) -> None:
        unclaimed = and_(~exists().where(Call.caller_id == Caller.id), ~exists().where(Message.caller_id == Caller.id),
                         ~exists().where(CallbackTask.caller_id == Caller.id))
        after_id = 0
        # By id, onwards: a caller who called again meanwhile is not deleted (checked again in the delete) and not
        # looked at twice.
        while ids := self._next_ids(select(Caller.id).where(unclaimed, Caller.id > after_id).order_by(Caller.id)):
            after_id = ids[-1]
            with session_scope(self._session_factory) as session:
                report.callers += _count(session.execute(delete(Caller).where(Caller.id.in_(ids), unclaimed)))

    def _next_ids(self, query) -> list:
        """The next batch of keys `query` selects (the rows still there: each batch deletes the one before)."""
        with self._session_factory() as session:
            return list(session.scalars(query.limit(self._batch_rows)))


def _count(result) -> int:
    return max(result.rowcount or 0, 0)

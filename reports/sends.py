"""Sending the morning report: once a day per practice, at its local `at` (the sweep), and when asked (the CLI).

Each practice's report for a local day is one `report_sends` row, unique by (practice, report day): the minutely
sweep inserts the row once the practice's local time reaches `at` (yesterday's report), so a missed minute or a
restart still sends it, once. A worker job sends it; a failed try goes back to `queued` and RQ retries the job
(jobs.reports.RETRY) until MAX_SEND_ATTEMPTS, then the row is `failed` with the last error's class. A job claims
the row (`queued` -> `sending`) before it sends, so two jobs for one row send it once.

Nothing of a report is logged: ids, the practice's slug, the day, counts and exception classes only.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from audit.actors import Actor
from audit.trail import AuditTrail
from core.db import database_errors_as_dependency_down, session_scope
from core.upsert import insert_ignoring_duplicates
from metrics.summary import MetricsService
from models import Practice, ReportSend
from reports.content import MorningReport, build_report, local_label, previous_local_day
from reports.errors import (MailNotConfigured, ReportDayNotOver, ReportNotConfigured, ReportPracticeUnknown,
                            ReportSendFailed)
from reports.mail import Attachment, SmtpMailer, compose
from reports.render import email_html, email_text, report_pdf

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 4  # the first try and RQ's three retries (jobs.reports.RETRY)
LATE_AFTER = timedelta(seconds=90)  # a queued report not tried by then lost its job: the sweep enqueues it again
RETRY_LOST_AFTER = timedelta(minutes=30)  # past RQ's longest retry wait: a queued retry that never came
SENDING_LOST_AFTER = timedelta(minutes=10)  # past the job's timeout: the worker died while sending


@dataclass(frozen=True)
class SendView:
    """One row of `report_sends`, as the console lists it."""

    id: int
    practice_slug: str
    practice_name: str
    report_date: date
    status: str
    attempts: int
    last_error: str | None
    queued_at: str  # local, with its zone
    sent_at: str | None


@dataclass(frozen=True)
class PracticeReporting:
    """A practice as the report page lists it: who it is, and its [practices.report] (None: none)."""

    id: int
    slug: str
    name: str
    timezone: str
    report_at: str | None
    report_to: tuple[str, ...]


@dataclass(frozen=True)
class SendResult:
    """What `send_now` did: the row, its status, and the error's class when it failed."""

    send_id: int
    status: str
    recipients: int
    error: str | None


class ReportService:
    """Builds, renders and sends the practices' morning reports.

    `mailer` is None when SMTP_URL is not set (the reports are shown in the console, never sent); `report_url`
    gives the console's URL of a report, for the e-mail's footer."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Callable[[], datetime], audit: AuditTrail,
                 metrics: MetricsService, mailer: SmtpMailer | None, sender: str,
                 report_url: Callable[[str, date], str] | None = None):
        self._session_factory = session_factory
        self._clock = clock
        self._audit = audit
        self._metrics = metrics
        self._mailer = mailer
        self._sender = sender
        self._report_url = report_url

    @property
    def can_send(self) -> bool:
        """Whether SMTP_URL and REPORT_FROM are set."""
        return self._mailer is not None and bool(self._sender)

    # --- reading ---------------------------------------------------------------------------------------------

    def report(self, practice_id: int, day: date, reader: Actor | None = None) -> MorningReport:
        """The report of the practice for its local `day`; a reader's view of it is audited as one
        `report.read` row with its messages' count and ids, in the transaction that reads them."""
        now = self._clock()
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            report = build_report(session, self._metrics, practice_id, day, now)
            if reader is not None:
                self._audit.append(session, reader, "report.read", "report", day.isoformat(), practice_id, {
                    "count": len(report.messages), "message_ids": [message.id for message in report.messages]})
        return report

    def practices(self) -> list[PracticeReporting]:
        """Every practice, by name, with its report's settings (the console keeps the ones a person may see)."""
        with database_errors_as_dependency_down(), self._session_factory() as session:
            rows = session.execute(select(Practice.id, Practice.slug, Practice.name, Practice.timezone,
                                          Practice.report_at, Practice.report_to).order_by(Practice.name)).all()
        return [PracticeReporting(row.id, row.slug, row.name, row.timezone, row.report_at,
                                  tuple(row.report_to or ())) for row in rows]

    def yesterday(self, practice_id: int) -> date:
        """The practice's local day before today: the day its next report covers."""
        with database_errors_as_dependency_down(), self._session_factory() as session:
            zone = session.scalar(select(Practice.timezone).where(Practice.id == practice_id))
        return previous_local_day(self._clock(), ZoneInfo(zone))

    def recent_sends(self, practice_ids: list[int], limit: int = 30) -> list[SendView]:
        """The last `limit` sends of these practices, newest report day first."""
        if not practice_ids:
            return []
        with database_errors_as_dependency_down(), self._session_factory() as session:
            rows = session.execute(
                select(ReportSend, Practice.slug, Practice.name, Practice.timezone)
                .join(Practice, Practice.id == ReportSend.practice_id)
                .where(ReportSend.practice_id.in_(practice_ids))
                .order_by(ReportSend.report_date.desc(), ReportSend.id.desc()).limit(limit)).all()
        views = []
        for send, slug, name, zone_name in rows:
            zone = ZoneInfo(zone_name)
            views.append(SendView(
                id=send.id, practice_slug=slug, practice_name=name, report_date=send.report_date,
                status=send.status, attempts=send.attempts, last_error=send.last_error,
                queued_at=local_label(send.queued_at, zone),
                sent_at=local_label(send.sent_at, zone) if send.sent_at else None))
        return views

    # --- the daily sweep -------------------------------------------------------------------------------------

    def due(self) -> list[int]:
        """Queue the reports due now (each practice's yesterday, once its local time reached `at`) and return
        the ids of the rows to send: the ones just queued and any whose job was lost."""
        now = self._clock()
        with session_scope(self._session_factory) as session:
            practices = session.execute(select(Practice.id, Practice.timezone, Practice.report_at).where(
                Practice.report_at.is_not(None), Practice.report_to.is_not(None))).all()
            rows = []
            for practice in practices:
                local = now.astimezone(ZoneInfo(practice.timezone))
                # Wall-clock time of the practice's zone: on a spring-forward day an `at` inside the skipped
                # hour is reached at its end; on a fall-back day the row's uniqueness keeps it to one send.
                if local.time() >= time.fromisoformat(practice.report_at):
                    rows.append(dict(practice_id=practice.id, report_date=local.date() - timedelta(days=1),
                                     status="queued", attempts=0, queued_at=now, recipients=0))
            if rows:
                session.execute(insert_ignoring_duplicates(session, ReportSend, ("practice_id", "report_date")),
                                rows)
            # A worker that died while sending leaves its row `sending`: it is queued again, and sent.
            died = list(session.scalars(select(ReportSend.id).where(
                ReportSend.status == "sending", ReportSend.claimed_at < now - SENDING_LOST_AFTER)))
            if died:
                session.execute(update(ReportSend).where(ReportSend.id.in_(died), ReportSend.status == "sending")
                                .values(status="queued").execution_options(synchronize_session=False))
                log.warning("report_send=%s: the worker died while sending; queued again", died)
            waiting = session.scalars(select(ReportSend.id).where(ReportSend.status == "queued", or_(
                and_(ReportSend.attempts == 0, or_(ReportSend.queued_at == now,
                                                   ReportSend.queued_at < now - LATE_AFTER)),
                and_(ReportSend.attempts > 0, ReportSend.claimed_at < now - RETRY_LOST_AFTER))))
            return sorted(set(waiting) | set(died))

    # --- sending ---------------------------------------------------------------------------------------------

    def send(self, send_id: int) -> str:
        """The worker's job: send the queued report `send_id`; returns its status. Raises ReportSendFailed while
        tries remain, so RQ retries it."""
        return self._send(send_id, from_statuses=("queued",), last_try=False)

    def send_now(self, slug: str, day: date | None = None) -> SendResult:
        """Send the practice's report for `day` (default: its yesterday) now, in this process, once: a report
        already sent is sent again. ReportPracticeUnknown, ReportNotConfigured, ReportDayNotOver,
        MailNotConfigured."""
        if not self.can_send:
            raise MailNotConfigured("SMTP_URL and REPORT_FROM must be set to send reports")
        now = self._clock()
        with session_scope(self._session_factory) as session:
            practice = session.scalars(select(Practice).where(Practice.slug == slug)).one_or_none()
            if practice is None:
                raise ReportPracticeUnknown(slug)
            if not practice.report_to:
                raise ReportNotConfigured(slug)
            latest = previous_local_day(now, ZoneInfo(practice.timezone))
            day = day or latest
            if day > latest:
                raise ReportDayNotOver(day, latest)
            session.execute(insert_ignoring_duplicates(session, ReportSend, ("practice_id", "report_date")), [
                dict(practice_id=practice.id, report_date=day, status="queued", attempts=0, queued_at=now,
                     recipients=0)])
            send_id = session.scalar(select(ReportSend.id).where(ReportSend.practice_id == practice.id,
                                                                 ReportSend.report_date == day))
        status = self._send(send_id, from_statuses=("queued", "sent", "failed"), last_try=True)
        with self._session_factory() as session:
            row = session.get(ReportSend, send_id)
            return SendResult(send_id, status, row.recipients, row.last_error if status != "sent" else None)

    def _send(self, send_id: int, from_statuses: tuple[str, ...], last_try: bool) -> str:
        now = self._clock()
        with session_scope(self._session_factory) as session:
            claimed = session.execute(update(ReportSend).where(
                ReportSend.id == send_id, ReportSend.status.in_(from_statuses))
                .values(status="sending", attempts=ReportSend.attempts + 1, claimed_at=now)
                .execution_options(synchronize_session=False)).rowcount
            row = session.get(ReportSend, send_id)
            if row is None:
                return "missing"
            if not claimed:
                return row.status  # sent already, failed for good, or another job holds it
            practice_id, day, attempt = row.practice_id, row.report_date, row.attempts
            to = tuple(session.scalar(select(Practice.report_to).where(Practice.id == practice_id)) or ())
        error = None
        try:
            if not self.can_send:
                raise MailNotConfigured("SMTP_URL or REPORT_FROM is not set")
            if not to:
                raise ReportNotConfigured(str(practice_id))
            accepted = self._mailer.send(self._message(practice_id, day, to))
        except Exception as exc:  # noqa: BLE001 - any failure is a failed try: kept by its class, retried
            error = type(exc).__name__
        if error is not None:  # outside the except: RQ keeps the traceback, and the SMTP server's text stays out
            return self._failed(send_id, attempt, error, last_try)
        with session_scope(self._session_factory) as session:
            row = session.get(ReportSend, send_id)
            row.status, row.sent_at, row.last_error, row.recipients = "sent", self._clock(), None, accepted
        log.info("report_send=%s practice=%s day=%s sent to %s of %s address(es), attempt %s", send_id, practice_id,
                 day.isoformat(), accepted, len(to), attempt)
        return "sent"

    def _message(self, practice_id: int, day: date, to: tuple[str, ...]):
        now = self._clock()
        with database_errors_as_dependency_down(), self._session_factory() as session:
            report = build_report(session, self._metrics, practice_id, day, now)
        url = self._report_url(report.slug, day) if self._report_url else None
        pdf = Attachment(f"careline-report-{report.slug}-{day.isoformat()}.pdf", report_pdf(report, now))
        return compose(self._sender, to, report.subject, email_text(report), email_html(report, url), pdf, now)

    def _failed(self, send_id: int, attempt: int, error: str, last_try: bool) -> str:
        final = last_try or attempt >= MAX_SEND_ATTEMPTS
        with session_scope(self._session_factory) as session:
            row = session.get(ReportSend, send_id)
            row.status, row.last_error = ("failed" if final else "queued"), error[:100]
        if final:
            log.error("report_send=%s FAILED after %s attempt(s): %s", send_id, attempt, error)
            return "failed"
        log.warning("report_send=%s attempt %s failed: %s; RQ retries it", send_id, attempt, error)
        raise ReportSendFailed(f"report_send {send_id}: attempt {attempt} failed ({error})")

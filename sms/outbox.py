"""Careline's outgoing SMS: each is queued once as a row (keyed by what it is for), then sent by an RQ job
that retries with backoff; the row says what became of it, so none is lost silently.

A body is rendered when it is sent, by the package the SMS belongs to (the sender's `renderers`, wired by
the composition root): the row keeps no text, so no patient data sits in it or in RQ's job arguments (only
the row's id).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from twilio.base.exceptions import TwilioRestException

from core import telemetry
from core.db import session_scope
from core.upsert import insert_ignoring_duplicates
from models import OutboundSms, PracticeNumber, SmsOptOut
from sms.errors import SendFailed

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 4  # the first try and RQ's retries (jobs.sms.RETRY)
TWILIO_UNSUBSCRIBED = 21610  # "Attempt to send to unsubscribed recipient": the number replied STOP
# Twilio refusals that another try cannot fix: invalid or unreachable number, not a mobile, not permitted.
PERMANENT_ERRORS = frozenset({21211, 21612, 21614, 21408, 21606, 21610})

# Renders an SMS's body when it is sent; None: nothing to send any more.
Renderer = Callable[[Session, OutboundSms], "str | None"]
# Told once the SMS was sent or failed for good, with Careline's time, in the transaction that records it; may
# return a follow-up (e.g. scheduling a job) to run once that transaction has committed.
FollowUp = Callable[[], None]
ResultHook = Callable[[Session, OutboundSms, datetime], "FollowUp | None"]


@dataclass(frozen=True)
class QueuedSms:
    """An SMS to queue: its key says what it is for, so queueing it twice queues it once."""

    key: str
    purpose: str
    practice_id: int | None
    to_number: str
    message_id: int | None = None
    page_id: int | None = None


def queue_sms(session: Session, items: list[QueuedSms], now: datetime) -> list[int]:
    """Insert the SMS not queued yet; returns the ids of every given key still pending (to enqueue)."""
    if not items:
        return []
    session.execute(insert_ignoring_duplicates(session, OutboundSms, ("key",)), [
        dict(key=i.key, purpose=i.purpose, practice_id=i.practice_id, to_number=i.to_number,
             message_id=i.message_id, page_id=i.page_id, status="pending", attempts=0, created_at=now)
        for i in items])
    return list(session.scalars(select(OutboundSms.id).where(
        OutboundSms.key.in_([i.key for i in items]), OutboundSms.status == "pending", OutboundSms.attempts == 0)))


class SmsSender:
    """Sends one queued SMS through Twilio's REST API, honouring STOP.

    `renderers` (by purpose) write the bodies; `result_hooks` (by purpose) are told what became of an SMS.
    `status_callback` gives the URL Twilio reports each SMS's delivery to (MessageStatus; "": none asked).
    """

    def __init__(self, session_factory: sessionmaker[Session], twilio_factory: Callable, clock: Callable[[], datetime],
                 renderers: Mapping[str, Renderer], result_hooks: Mapping[str, ResultHook],
                 status_callback: Callable[[], str] = lambda: ""):
        self._session_factory = session_factory
        self._twilio = twilio_factory
        self._clock = clock
        self._renderers = dict(renderers)
        self._result_hooks = dict(result_hooks)
        self._status_callback = status_callback

    def send(self, sms_id: int) -> str:
        """Send the SMS `sms_id` if it is still pending; returns its status. Raises SendFailed to be retried."""
        follow_ups: list[FollowUp] = []
        status = self._send(sms_id, follow_ups)  # raises before any follow-up runs when nothing was committed
        for follow_up in follow_ups:
            follow_up()
        return status

    def _send(self, sms_id: int, follow_ups: list[FollowUp]) -> str:
        with session_scope(self._session_factory) as session:
            sms = session.get(OutboundSms, sms_id)
            if sms is None or sms.status != "pending":
                return sms.status if sms is not None else "missing"
            if session.get(SmsOptOut, sms.to_number) is not None:
                follow_ups += self._finish(session, sms, "opted-out")
                log.info("sms=%s purpose=%s not sent: the number opted out (STOP)", sms.id, sms.purpose)
                return sms.status
            body = self._renderers[sms.purpose](session, sms)
            if body is None:
                follow_ups += self._finish(session, sms, "failed")
                log.info("sms=%s purpose=%s not sent: nothing to say any more", sms.id, sms.purpose)
                return sms.status
            from_number = _practice_number(session, sms.practice_id)
            # Claimed by counting the attempt: a second job for the same row finds the count moved and stops.
            claimed = session.execute(update(OutboundSms).where(
                OutboundSms.id == sms.id, OutboundSms.status == "pending", OutboundSms.attempts == sms.attempts)
                .values(attempts=sms.attempts + 1).execution_options(synchronize_session=False)).rowcount
            attempt, to_number = sms.attempts + 1, sms.to_number
        if not claimed:
            return "pending"
        # StatusCallback: Twilio posts MessageStatus (sent, delivered, undelivered, failed) there as it learns it.
        callback = self._status_callback()
        try:
            sent = self._twilio().messages.create(to=to_number, from_=from_number, body=body,
                                                  **({"status_callback": callback} if callback else {}))
        except TwilioRestException as exc:
            return self._failed(sms_id, attempt, exc.code, exc.status, follow_ups)
        except Exception as exc:  # noqa: BLE001 - timeouts, connection errors: retried like a 5xx
            return self._failed(sms_id, attempt, None, type(exc).__name__, follow_ups)
        with session_scope(self._session_factory) as session:
            sms = session.get(OutboundSms, sms_id)
            sms.message_sid, sms.sent_at = sent.sid, self._clock()
            follow_ups += self._finish(session, sms, "sent")
        log.info("sms=%s purpose=%s sent as %s", sms_id, sms.purpose if sms else "-", sent.sid)
        telemetry.sms_sent.labels(purpose=sms.purpose if sms else "-").inc()
        return "sent"

    def _failed(self, sms_id: int, attempt: int, code: int | None, what, follow_ups: list[FollowUp]) -> str:
        permanent = code in PERMANENT_ERRORS
        last = permanent or attempt >= MAX_SEND_ATTEMPTS
        with session_scope(self._session_factory) as session:
            sms = session.get(OutboundSms, sms_id)
            sms.error_code = code
            if code == TWILIO_UNSUBSCRIBED:
                session.execute(insert_ignoring_duplicates(session, SmsOptOut, ("phone",)),
                                [dict(phone=sms.to_number, opted_out_at=self._clock())])
                follow_ups += self._finish(session, sms, "opted-out")
            elif last:
                follow_ups += self._finish(session, sms, "failed")
            purpose = sms.purpose
        if last:
            log.error("sms=%s purpose=%s FAILED for good after %s attempt(s): Twilio %s (%s)", sms_id, purpose,
                      attempt, code or "-", what)
            if code != TWILIO_UNSUBSCRIBED:
                telemetry.sms_failed.labels(purpose=purpose, stage="send").inc()
            return "opted-out" if code == TWILIO_UNSUBSCRIBED else "failed"
        log.warning("sms=%s purpose=%s attempt %s failed: Twilio %s (%s); RQ retries it", sms_id, purpose, attempt,
                    code or "-", what)
        raise SendFailed(f"sms {sms_id}: attempt {attempt} failed")

    def _finish(self, session: Session, sms: OutboundSms, status: str) -> list[FollowUp]:
        """Record the SMS's end; returns its hook's follow-up, to run once this has committed."""
        sms.status = status
        hook = self._result_hooks.get(sms.purpose)
        follow_up = hook(session, sms, self._clock()) if hook else None
        return [follow_up] if follow_up else []


def _practice_number(session: Session, practice_id: int | None) -> str:
    """The number an SMS comes from: the practice's first number, the one patients know."""
    number = session.scalars(select(PracticeNumber.e164).where(PracticeNumber.practice_id == practice_id)
                             .order_by(PracticeNumber.e164).limit(1)).first()
    if number is None:
        raise SendFailed(f"practice {practice_id} has no number to send from")
    return number

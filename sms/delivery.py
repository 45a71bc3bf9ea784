"""What Twilio's status callback says of a sent SMS (MessageStatus): kept on its outbound_sms row, found by its
MessageSid; an SMS Twilio accepted and then could not deliver (undelivered, failed) is told to its purpose's
hook (a page goes to its next step at once: `paging.outcomes`).

Twilio may post a status twice, or out of order (a "sent" after the "delivered"): the first final status
(delivered, undelivered, failed) stays, so a late or repeated callback changes nothing and calls no hook twice.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core import telemetry
from core.db import database_errors_as_dependency_down, session_scope
from models import OutboundSms
from sms.outbox import FollowUp, ResultHook

log = logging.getLogger(__name__)

KEPT_STATUSES = ("sent", "delivered", "undelivered", "failed")  # Twilio's others (queued, sending...) pass by
FINAL_STATUSES = ("delivered", "undelivered", "failed")
NOT_DELIVERED = ("undelivered", "failed")


class SmsDeliveries:
    """Records Twilio's delivery reports; `failure_hooks` (by purpose) hear of an SMS that was not delivered."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Callable[[], datetime],
                 failure_hooks: Mapping[str, ResultHook]):
        self._session_factory = session_factory
        self._clock = clock
        self._failure_hooks = dict(failure_hooks)

    def record(self, message_sid: str, status: str, error_code: int | None) -> bool:
        """Keep what the callback said of `message_sid`; True when it changed the row (False: unknown SMS, a
        status not kept, or a repeat or late one)."""
        status = status.strip().lower()
        if status not in KEPT_STATUSES:
            return False
        follow_ups: list[FollowUp] = []
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            sms = session.scalars(select(OutboundSms).where(OutboundSms.message_sid == message_sid)
                                  .with_for_update()).first()
            if sms is None or sms.delivery_status in FINAL_STATUSES or sms.delivery_status == status:
                return False
            sms.delivery_status, sms.delivery_status_at = status, self._clock()
            if status in NOT_DELIVERED:
                sms.error_code = error_code if error_code is not None else sms.error_code
                log.error("sms=%s purpose=%s NOT DELIVERED: Twilio says %s (%s)", sms.id, sms.purpose, status,
                          error_code or "-")
                telemetry.sms_failed.labels(purpose=sms.purpose, stage="delivery").inc()
                hook = self._failure_hooks.get(sms.purpose)
                follow_up = hook(session, sms, self._clock()) if hook else None
                follow_ups += [follow_up] if follow_up else []
            else:
                log.info("sms=%s purpose=%s %s", sms.id, sms.purpose, status)
        for follow_up in follow_ups:
            follow_up()
        return True

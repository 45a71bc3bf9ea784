"""An SMS someone sent to a practice number: STOP and START for the caller receipts, or a provider's reply
that acknowledges a page. Each MessageSid is handled once; its text is never stored."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from core.db import database_errors_as_dependency_down, session_scope
from core.upsert import insert_ignoring_duplicates
from models import InboundSms, SmsOptOut
from sms.keywords import Reply, classify

log = logging.getLogger(__name__)


# Acknowledges the open page sent to this number, if any (paging's); True when it did.
Acknowledge = Callable[[Session, str, datetime], bool]


class InboundSmsService:
    """Handles Twilio's incoming-message webhook; `acknowledge` is paging's, for a provider's reply."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Callable[[], datetime],
                 acknowledge: Acknowledge):
        self._session_factory = session_factory
        self._clock = clock
        self._acknowledge = acknowledge

    def receive(self, message_sid: str, from_number: str, to_number: str, body: str) -> str:
        """Handle one inbound SMS; returns what it was handled as ("repeat" for a MessageSid seen before)."""
        now = self._clock()
        reply = classify(body)
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            if session.get(InboundSms, message_sid) is not None:
                return "repeat"
            handled_as = self._act(session, reply, from_number, now)
            session.execute(insert_ignoring_duplicates(session, InboundSms, ("message_sid",)), [dict(
                message_sid=message_sid, from_number=from_number, to_number=to_number, handled_as=handled_as,
                received_at=now)])
        log.info("sms %s from a number handled as %s", message_sid, handled_as)
        return handled_as

    def _act(self, session: Session, reply: Reply, from_number: str, now: datetime) -> str:
        if reply == Reply.OPT_OUT:
            session.execute(insert_ignoring_duplicates(session, SmsOptOut, ("phone",)),
                            [dict(phone=from_number, opted_out_at=now)])
            return "opt-out"
        if reply == Reply.OPT_IN:
            session.execute(delete(SmsOptOut).where(SmsOptOut.phone == from_number))
            return "opt-in"
        if reply == Reply.OTHER and self._acknowledge(session, from_number, now):
            return "acknowledgement"
        return "ignored"

"""The SMS a page sends: the practice, "urgent", the callback number and a link to the message in Careline.
Never the message's content: an SMS is not a safe place for it."""
from __future__ import annotations

from sqlalchemy.orm import Session

from careline import services
from models import Message, OnCallPage, OutboundSms, Practice

PAGE = ("Careline URGENT: {practice} has an urgent after-hours message{again}. Callback number: {number}. "
        "Message: {link} . Reply to this text to acknowledge.")
MANAGER_ALERT = ("Careline URGENT: an urgent after-hours message for {practice} was not acknowledged by the "
                 "on-call provider. Callback number: {number}. Message: {link} . Reply to acknowledge.")


def message_link(message_id: int) -> str:
    """Where a person reads the message in Careline (it asks them to sign in)."""
    base = services.current().config.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}/api/messages/{message_id}"


def page_body(session: Session, sms: OutboundSms) -> str | None:
    """The text of a page's SMS; None when the page was acknowledged meanwhile (nothing to send)."""
    page = session.get(OnCallPage, sms.page_id)
    message = session.get(Message, sms.message_id)
    if page is None or message is None or page.status == "acknowledged":
        return None
    practice = session.get(Practice, page.practice_id)
    values = dict(practice=practice.name, number=message.from_number, link=message_link(message.id))
    if sms.purpose == "manager-alert":
        return MANAGER_ALERT.format(**values)
    step = int(sms.key.split(":")[2])
    return PAGE.format(again=" (page repeated)" if step > 0 else "", **values)

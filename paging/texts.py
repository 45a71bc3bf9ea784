"""The SMS a page sends: the practice, "urgent", the callback number and a link to the message in Careline.
Never the message's content: an SMS is not a safe place for it."""
from __future__ import annotations

from sqlalchemy.orm import Session

from core.links import Links
from models import Message, OnCallPage, OutboundSms, Practice

PAGE = ("Careline URGENT: {practice} has an urgent after-hours message{again}. Callback number: {number}. "
        "Message: {link} . Reply to this text to acknowledge.")
MANAGER_ALERT = ("Careline URGENT: an urgent after-hours message for {practice} was not acknowledged by the "
                 "on-call provider. Callback number: {number}. Message: {link} . Reply to acknowledge.")


class PageTexts:
    """Renders the SMS of pages (the sender's renderer for "page" and "manager-alert")."""

    def __init__(self, links: Links):
        self._links = links

    def message_link(self, message_id: int) -> str:
        """Where a person reads the message in Careline (it asks them to sign in)."""
        return (self._links.url("api.read_message", message_id=message_id)
                or self._links.path("api.read_message", message_id=message_id))

    def body(self, session: Session, sms: OutboundSms) -> str | None:
        """The text of a page's SMS; None when the page was acknowledged meanwhile (nothing to send)."""
        page = session.get(OnCallPage, sms.page_id)
        message = session.get(Message, sms.message_id)
        if page is None or message is None or page.status == "acknowledged":
            return None
        practice = session.get(Practice, page.practice_id)
        values = dict(practice=practice.name, number=message.from_number, link=self.message_link(message.id))
        if sms.purpose == "manager-alert":
            return MANAGER_ALERT.format(**values)
        step = int(sms.key.split(":")[2])
        return PAGE.format(again=" (page repeated)" if step > 0 else "", **values)

"""The SMS a page sends: the practice, "urgent message" and a link; never the caller's number, name or what they
said (an SMS stays on the phone, at Twilio and at the carrier). A provider's link (`paging.links`) shows the
message once they type their PIN; a manager's alert links to the message in the console, behind their sign-in."""
from __future__ import annotations

from sqlalchemy.orm import Session

from core.links import Links
from models import OnCallPage, OutboundSms, Practice
from paging.links import PageLinks

PAGE = ("Careline: {practice} has an urgent message for you{again}. Open it with your PIN: {link} . "
        "Reply to this text to acknowledge.")
MANAGER_ALERT = ("Careline: an urgent message for {practice} was not acknowledged by the on-call provider. "
                 "Sign in to read it: {link} . Reply to acknowledge.")


class PageTexts:
    """Renders the SMS of pages (the sender's renderer for "page" and "manager-alert")."""

    def __init__(self, links: Links, page_links: PageLinks):
        self._links = links
        self._page_links = page_links

    def _url(self, endpoint: str, **values) -> str:
        return self._links.url(endpoint, **values) or self._links.path(endpoint, **values)

    def body(self, session: Session, sms: OutboundSms) -> str | None:
        """The text of a page's SMS; None when the page was acknowledged meanwhile (nothing to send). A
        provider's SMS gets a new link each time it is rendered (its token exists in clear only in the body)."""
        page = session.get(OnCallPage, sms.page_id)
        if page is None or page.status == "acknowledged":
            return None
        practice = session.get(Practice, page.practice_id)
        if sms.purpose == "manager-alert":
            return MANAGER_ALERT.format(practice=practice.name,
                                        link=self._url("console.message", message_id=page.message_id))
        _, _, step, kind, target_id = sms.key.split(":")
        token = self._page_links.issue(session, page, f"{kind}:{target_id}", sms.to_number, sms.id)
        return PAGE.format(practice=practice.name, again=" (page repeated)" if int(step) > 0 else "",
                           link=self._url("page_link.open", token=token))

"""Errors of paging."""
from __future__ import annotations


class PageNotFound(LookupError):
    """No page has this id."""

    def __init__(self, page_id: int):
        super().__init__("no page has this id")
        self.page_id = page_id


class PageLinkUnusable(LookupError):
    """A page's link that opens nothing: its token is unknown, or it expired, or it locked."""


class PageLinkNotFound(PageLinkUnusable):
    """No link has this token (mistyped, or never issued)."""

    def __init__(self):
        super().__init__("This link is not valid. Check that it was copied whole from the text message.")


class PageLinkExpired(PageLinkUnusable):
    """The link's time is over (PAGE_LINK_HOURS after its SMS was sent)."""

    def __init__(self):
        super().__init__("This link has expired. Call the answering service to hear the message.")


class PageLinkLocked(PageLinkUnusable):
    """Too many wrong PINs were typed on this link: it opens no more."""

    def __init__(self):
        super().__init__("This link is locked after too many wrong PINs. Call the answering service to hear "
                         "the message.")


class NoPinSet(PermissionError):
    """The person the link was sent to has no PIN yet, so nothing can open it."""

    def __init__(self):
        super().__init__("You have no PIN for this practice yet. Ask the answering service to set one up "
                         "(careline oncall pin), then open this link again.")


class WrongPin(PermissionError):
    """The PIN typed is not the person's; `tries_left` more before the link locks."""

    def __init__(self, tries_left: int):
        super().__init__(f"That PIN is not right. {tries_left} {'try' if tries_left == 1 else 'tries'} left "
                         "before this link locks.")
        self.tries_left = tries_left


class PinRejected(ValueError):
    """A PIN being set is not 6 to 12 digits, or the phone is not an on-call provider of the practice."""

"""Errors of complaints; the web layer (the JSON API, the console) decides what a person sees."""
from __future__ import annotations

from practices.errors import PracticeNotYours, PracticeUnknown  # noqa: F401 - the list's filter raises them


class ComplaintError(Exception):
    """Base of the complaints' errors."""


class ComplaintNotFound(ComplaintError):
    """No complaint has this id."""

    def __init__(self, complaint_id: int):
        super().__init__(f"no complaint has the id {complaint_id}")
        self.complaint_id = complaint_id


class ComplaintNotYours(ComplaintError):
    """The complaint belongs to a practice the user does not answer for."""

    def __init__(self, complaint_id: int):
        super().__init__("you do not answer for this complaint's practice")
        self.complaint_id = complaint_id


class ComplaintManagersOnly(ComplaintError):
    """Moving a complaint is a manager's (or an admin's) work; agents take them at the desk."""

    def __init__(self, complaint_id: int):
        super().__init__("only a manager of the complaint's practice may move it")
        self.complaint_id = complaint_id


class TransitionNotAllowed(ComplaintError):
    """The complaint cannot go to that state from the one it is in (one step forward at a time)."""

    def __init__(self, complaint_id: int, state: str, wanted: str, allowed: str | None):
        following = f"; it can go to {allowed!r}" if allowed else "; it is closed"
        super().__init__(f"a complaint {state!r} cannot go to {wanted!r}{following}")
        self.complaint_id = complaint_id
        self.state = state
        self.wanted = wanted
        self.allowed = allowed


class ComplaintFieldInvalid(ComplaintError):
    """A move's field is missing or wrong: `field` says which."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field

"""Errors of reading messages and playing their recordings; the web layer decides what a client hears."""
from __future__ import annotations

from practices.errors import PracticeNotYours, PracticeUnknown  # noqa: F401 - a message list's filter raises them


class MessageError(Exception):
    """Base of the errors of reading messages and playing their recordings."""


class MessageNotFound(MessageError):
    """No message has this id."""

    def __init__(self, message_id: int):
        super().__init__(f"no message has the id {message_id}")
        self.message_id = message_id


class MessageNotYours(MessageError):
    """The message belongs to a practice the user does not answer for."""

    def __init__(self, message_id: int):
        super().__init__("you do not answer for this message's practice")
        self.message_id = message_id


class RecordingNotFound(MessageError):
    """Twilio has no such recording (404): deleted there, or never kept."""

    def __init__(self, message_id: int):
        super().__init__("Twilio no longer has this message's recording")
        self.message_id = message_id


class RecordingUnavailable(MessageError):
    """Twilio failed, refused or did not answer; `status` is Twilio's HTTP status when it answered."""

    def __init__(self, message_id: int, status: int | None = None):
        super().__init__("the recording could not be fetched from Twilio; try again shortly")
        self.message_id = message_id
        self.status = status

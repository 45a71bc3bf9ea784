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

    def __init__(self, message_id: int, description: str = "Twilio no longer has this message's recording"):
        super().__init__(description)
        self.message_id = message_id


class MessageHasNoRecording(RecordingNotFound):
    """An agent took this message during the call: there is no recording to play."""

    def __init__(self, message_id: int):
        super().__init__(message_id, "an agent took this message during the call; it has no recording")


class RecordingDeleted(RecordingNotFound):
    """Retention deleted this message's recording (at Twilio and in Careline) past its practice's recordings_days."""

    def __init__(self, message_id: int):
        super().__init__(message_id, "this message's recording was deleted at the end of its practice's retention "
                                     "period")


class RecordingUnavailable(MessageError):
    """Twilio failed, refused or did not answer; `status` is Twilio's HTTP status when it answered."""

    def __init__(self, message_id: int, status: int | None = None):
        super().__init__("the recording could not be fetched from Twilio; try again shortly")
        self.message_id = message_id
        self.status = status


class RecordingsBusy(MessageError):
    """This web process relays as many recordings as it may at once (RECORDING_STREAMS_PER_PROCESS): the rest of
    its threads stay for Twilio's webhooks. The player may ask again in a moment."""

    def __init__(self, message_id: int, limit: int):
        super().__init__(f"{limit} recordings are playing through this server already; try again in a moment")
        self.message_id = message_id
        self.limit = limit


class RangeNotSatisfiable(MessageError):
    """The byte range a player asked of the recording lies beyond its end (Twilio answered 416);
    `content_range` is Twilio's `bytes */LENGTH`, which the player needs to ask again."""

    def __init__(self, message_id: int, content_range: str | None):
        super().__init__("the recording has no such byte range")
        self.message_id = message_id
        self.content_range = content_range


class MessageAlreadyHandled(MessageError):
    """Someone marked this message handled already (once is enough; their note stays)."""

    def __init__(self, message_id: int, agent_id: int | None, handled_at):
        super().__init__("this message was handled already")
        self.message_id = message_id
        self.agent_id = agent_id
        self.handled_at = handled_at


class TakenMessageError(Exception):
    """Base of the errors of taking a message during a call (and of its draft)."""


class NotYourCall(TakenMessageError):
    """The call is not connected, and was never connected, to this agent: no message or draft of it here."""

    def __init__(self, call_sid: str):
        super().__init__("this call is not yours: it is not, and was not, connected to you")
        self.call_sid = call_sid


class FieldInvalid(TakenMessageError):
    """One field of a message's form (or draft) is missing, unknown or wrong; the description never repeats
    the value (patient data)."""

    def __init__(self, field: str, description: str):
        super().__init__(description)
        self.field = field


class MessageAlreadyTaken(TakenMessageError):
    """The agent saved a message for this call already (a repeated save, or a late draft)."""

    def __init__(self, call_sid: str, message_id: int):
        super().__init__("you saved a message for this call already")
        self.call_sid = call_sid
        self.message_id = message_id


class DraftNotFound(TakenMessageError):
    """The agent keeps no draft for this call."""

    def __init__(self, call_sid: str):
        super().__init__("no draft of a message for this call")
        self.call_sid = call_sid

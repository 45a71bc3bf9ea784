"""Errors of callback tasks; the web layer (the JSON API, the voice webhooks) decides what a client hears."""
from __future__ import annotations

from datetime import datetime


class CallbackError(Exception):
    """Base of the callback tasks' errors."""


class TaskNotFound(CallbackError):
    """No callback task has this id."""

    def __init__(self, task_id: int):
        super().__init__(f"no callback task has the id {task_id}")
        self.task_id = task_id


class TaskNotYours(CallbackError):
    """The task belongs to a practice the user does not answer for."""

    def __init__(self, task_id: int):
        super().__init__("you do not answer for this task's practice")
        self.task_id = task_id


class PracticeUnknown(CallbackError):
    """A filter names a practice slug that no practice has."""

    def __init__(self, slug: str):
        super().__init__("no practice has this slug")
        self.slug = slug


class PracticeNotYours(CallbackError):
    """A filter names a practice the user does not answer for."""

    def __init__(self, slug: str):
        super().__init__("you do not answer for this practice")
        self.slug = slug


class TaskClosed(CallbackError):
    """The task was closed already: nothing more can be done with it."""

    def __init__(self, task_id: int, closed_reason: str | None):
        super().__init__("this callback task is closed")
        self.task_id = task_id
        self.closed_reason = closed_reason


class TaskClaimed(CallbackError):
    """Another agent holds the task until `until`."""

    def __init__(self, task_id: int, agent_id: int, until: datetime):
        super().__init__("another agent is working on this callback task")
        self.task_id = task_id
        self.agent_id = agent_id
        self.until = until


class CallInProgress(CallbackError):
    """Another request placed (or is placing) this task's call, and Twilio may still be ringing its agent."""

    def __init__(self, task_id: int, agent_id: int | None, until: datetime | None):
        super().__init__("a call for this callback task was just placed; wait for it to ring")
        self.task_id = task_id
        self.agent_id = agent_id
        self.until = until


class AgentUnreachable(CallbackError):
    """The agent has neither a phone nor a Twilio Client identity: Careline cannot ring it."""

    def __init__(self, agent_id: int):
        super().__init__("your profile has no phone and no Twilio Client identity to ring")
        self.agent_id = agent_id


class NoNumberToCall(CallbackError):
    """The caller withheld its number (or it is not E.164): there is nobody to dial."""

    def __init__(self, task_id: int):
        super().__init__("this task has no callback number that can be dialled")
        self.task_id = task_id


class PracticeHasNoNumber(CallbackError):
    """The practice has no number to show as the caller ID."""

    def __init__(self, practice_id: int):
        super().__init__("the practice has no number to call from")
        self.practice_id = practice_id


class TwilioUnavailable(CallbackError):
    """Twilio refused the call or did not answer; `status`/`code` are Twilio's when it answered."""

    def __init__(self, task_id: int, status: int | None = None, code: int | None = None):
        super().__init__("Twilio did not place the call; try again shortly")
        self.task_id = task_id
        self.status = status
        self.code = code


# -- messages: reading them and playing their recordings (voicemail.access) ----------------------------------

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

"""Errors of callback tasks; the web layer (the JSON API, the voice webhooks) decides what a client hears."""
from __future__ import annotations

from datetime import datetime

from practices.errors import PracticeNotYours, PracticeUnknown  # noqa: F401 - a task list's filter raises them


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




class TaskAssigned(CallbackError):
    """A manager gave the task to another agent: only that agent works it (until a manager reassigns it)."""

    def __init__(self, task_id: int, agent_id: int):
        super().__init__("a manager assigned this callback task to another agent")
        self.task_id = task_id
        self.agent_id = agent_id


class ManagersOnly(CallbackError):
    """Reassigning or closing a task without reaching the patient is a manager's decision."""

    def __init__(self, task_id: int):
        super().__init__("only a manager of the task's practice may do this")
        self.task_id = task_id


class TaskFieldInvalid(CallbackError):
    """A manager's action named a field that cannot be used: `field` says which."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


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

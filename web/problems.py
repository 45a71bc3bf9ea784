"""The one table of domain errors as answers: each error class, its HTTP status, its stable `error_id` and the
details a client may see. The JSON API answers them as JSON, the console as pages, the webhooks as TwiML.

A domain package raises its errors (`*/errors.py`) without knowing who listens; only the entry points look them
up here, so an error id is written once. An error not in the table is a fault: a 500, or the voice webhooks'
apology.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from agents import errors as agents
from audit import errors as audit
from callbacks import errors as callbacks
from complaints import errors as complaints
from core.errors import DependencyDown
from ivr import errors as ivr
from metrics import errors as metrics
from paging import errors as paging
from practices import errors as practices
from voicemail import errors as voicemail


@dataclass(frozen=True)
class Problem:
    """One domain error as an entry point answers it."""

    status: int
    error_id: str
    description: str | None  # the error's sentence; None when the JSON carries only the details
    details: dict  # what names the thing that went wrong (ids, a slug, a field), as JSON values
    sentence: str  # what a person reads on a page (the console)
    prompt: str | None  # what a person on a call hears instead of the apology (webhooks.callback_calls.AGENT_PROMPTS)

    def body(self) -> dict:
        """The JSON answer, as every ApiError's: `{"error_id": ..., "details": {"description": ..., ...}}`."""
        described = {} if self.description is None else {"description": self.description}
        return {"error_id": self.error_id, "details": {**described, **self.details}}


def _fields(*names: str, **renamed: str) -> Callable[[Exception], dict]:
    """Details read from the error's attributes: `names` as they are, `renamed` as detail=attribute."""
    pairs = [(name, name) for name in names] + list(renamed.items())
    return lambda exc: {detail: _json_value(getattr(exc, attribute)) for detail, attribute in pairs}


def _json_value(value):
    return value.isoformat() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class Row:
    """How the entry points answer one error class (and its subclasses)."""

    status: int
    error_id: str
    details: Callable[[Exception], dict] = lambda exc: {}
    described: bool = True  # the JSON's details.description is the error's own sentence, str(exc)
    sentence: Callable[[Exception], str] = str  # the console page's sentence
    prompt: str | None = None  # a callback call's agent hears this prompt and the call ends (else: the fault one)

    def problem(self, exc: Exception) -> Problem:
        """`exc` as this row answers it."""
        return Problem(self.status, self.error_id, str(exc) if self.described else None, self.details(exc),
                       self.sentence(exc), self.prompt)


TABLE: dict[type[Exception], Row] = {
    DependencyDown: Row(503, "service-unavailable", lambda exc: {"dependency": str(exc)}, described=False,
                        sentence=lambda exc: f"Careline cannot reach its {exc} right now. Try again in a minute."),
    # A practice a request names (a list's filter, a report's choice).
    practices.PracticeUnknown: Row(404, "practice-not-found", _fields(practice="slug")),
    practices.PracticeNotYours: Row(403, "forbidden", _fields(practice="slug")),
    agents.NoSuchAgent: Row(404, "agent-not-found", _fields("agent_id")),
    audit.AuditQueryInvalid: Row(400, "invalid-field", _fields("field")),
    agents.AgentDeactivated: Row(409, "agent-deactivated", _fields("agent_id"),
                                 sentence=lambda exc: "This account is deactivated."),
    agents.NoClientIdentity: Row(409, "no-client-identity", _fields("agent_id"),
                                 sentence=lambda exc: "You have no softphone: ask an admin to give you a client "
                                                      "identity, or take calls on your phone."),
    agents.SoftphoneNotConfigured: Row(503, "softphone-not-configured", _fields("missing"),
                                       sentence=lambda exc: "The softphone is not set up on this Careline yet."),
    metrics.PracticeRequired: Row(400, "invalid-field", lambda exc: {"field": "practice"}),
    voicemail.MessageNotFound: Row(404, "message-not-found", _fields("message_id")),
    voicemail.MessageNotYours: Row(403, "forbidden", _fields("message_id")),
    voicemail.RecordingNotFound: Row(404, "recording-not-found", _fields("message_id")),
    voicemail.RecordingDeleted: Row(410, "recording-deleted", _fields("message_id")),  # by retention
    voicemail.RecordingUnavailable: Row(502, "recording-unavailable", _fields("message_id", twilio_status="status")),
    voicemail.RecordingsBusy: Row(503, "recordings-busy", _fields("message_id", "limit"),
                                  sentence=lambda exc: "Too many recordings are playing right now. Try again in a "
                                                       "moment."),
    voicemail.RangeNotSatisfiable: Row(416, "range-not-satisfiable", _fields("message_id")),
    voicemail.MessageAlreadyHandled: Row(409, "message-already-handled",
                                         _fields("message_id", "handled_at", handled_by="agent_id"),
                                         sentence=lambda exc: "Someone marked this message handled already."),
    # A message an agent takes during a call, and its draft.
    voicemail.NotYourCall: Row(403, "forbidden", _fields("call_sid")),
    voicemail.FieldInvalid: Row(400, "invalid-field", _fields("field")),
    voicemail.MessageAlreadyTaken: Row(409, "message-already-taken", _fields("call_sid", "message_id")),
    voicemail.DraftNotFound: Row(404, "draft-not-found", _fields("call_sid")),
    callbacks.TaskNotFound: Row(404, "task-not-found", _fields("task_id"), prompt="task_unknown"),
    callbacks.TaskNotYours: Row(403, "forbidden", _fields("task_id")),
    callbacks.TaskClaimed: Row(409, "task-claimed", _fields("task_id", "until", claimed_by="agent_id")),
    callbacks.TaskClosed: Row(409, "task-closed", _fields("task_id", "closed_reason"), prompt="task_closed"),
    callbacks.TaskAssigned: Row(409, "task-assigned", _fields("task_id", assigned_to="agent_id")),
    callbacks.ManagersOnly: Row(403, "forbidden", _fields("task_id")),
    callbacks.TaskFieldInvalid: Row(400, "invalid-field", _fields("field")),
    callbacks.CallInProgress: Row(409, "call-in-progress", _fields("task_id", "agent_id", "until")),
    callbacks.AgentUnreachable: Row(409, "agent-unreachable", _fields("agent_id")),
    callbacks.NoNumberToCall: Row(409, "no-callback-number", _fields("task_id")),
    callbacks.PracticeHasNoNumber: Row(409, "practice-has-no-number", _fields("practice_id")),
    callbacks.TwilioUnavailable: Row(502, "twilio-unavailable",
                                     _fields("task_id", twilio_status="status", twilio_code="code")),
    complaints.ComplaintNotFound: Row(404, "complaint-not-found", _fields("complaint_id")),
    complaints.ComplaintNotYours: Row(403, "forbidden", _fields("complaint_id")),
    complaints.ComplaintManagersOnly: Row(403, "forbidden", _fields("complaint_id")),
    complaints.ComplaintFieldInvalid: Row(400, "invalid-field", _fields("field")),
    complaints.TransitionNotAllowed: Row(409, "transition-not-allowed",
                                         _fields("complaint_id", "state", "allowed", to="wanted")),
    ivr.CallNotConnected: Row(409, "call-not-connected", _fields("call_sid")),
    ivr.CallNotYours: Row(403, "forbidden", _fields("call_sid")),
    ivr.NotTheCallsAgent: Row(403, "forbidden", _fields("call_sid")),
    ivr.NoOnCallProvider: Row(409, "no-on-call-provider", _fields("call_sid")),
    ivr.PatchInProgress: Row(409, "patch-in-progress", _fields("call_sid")),
    ivr.PatchFailed: Row(502, "twilio-unavailable", _fields("call_sid")),
    paging.PageNotFound: Row(404, "page-not-found", _fields("page_id")),
    # A page's link (/p/TOKEN), as the provider's phone shows it.
    paging.PageLinkNotFound: Row(404, "page-link-not-found"),
    paging.PageLinkExpired: Row(410, "page-link-expired"),
    paging.PageLinkLocked: Row(403, "page-link-locked"),
    paging.NoPinSet: Row(403, "no-pin-set"),
    paging.WrongPin: Row(403, "wrong-pin", _fields("tries_left")),
}


def problem_for(exc: BaseException) -> Problem | None:
    """`exc` as the table answers it (its nearest class in the table), or None for a fault."""
    for cls in type(exc).__mro__:
        row = TABLE.get(cls)
        if row is not None:
            return row.problem(exc)
    return None

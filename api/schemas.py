"""The JSON API's requests and answers as marshmallow schemas, each declared once: `api/openapi.py` turns them into
the OpenAPI document's components (apispec), and the tests check every answer against them. The views still parse
their own input (their errors name the field: `invalid-field`); these schemas describe, they do not parse."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from models import ATTEMPT_OUTCOMES, COMPLAINT_STATES, PAGE_STATUSES, ROLES, TASK_STATUSES

TIME = {"format": "date-time"}


def _time(**kwargs) -> fields.String:
    """An ISO 8601 time with its UTC offset (null when `allow_none`)."""
    return fields.String(metadata=TIME, **kwargs)


def _nullable_string(**kwargs) -> fields.String:
    return fields.String(allow_none=True, **kwargs)


class Error(Schema):
    """Every error: a stable kebab-case `error_id` and the `details` naming what went wrong."""

    error_id = fields.String(required=True)
    details = fields.Dict(required=True, metadata={"description": "`description` (a sentence) and the names of "
                                                                  "what went wrong: a field, an id, a slug"})


class User(Schema):
    """A user as the API shows it; `practices` is "*" for every practice."""

    id = fields.Integer(required=True)
    email = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    practices = fields.Raw(required=True, metadata={"oneOf": [{"type": "string", "enum": ["*"]},
                                                              {"type": "array", "items": {"type": "string"}}]})


class AgentState(Schema):
    """An agent's live state, as the queue knows it."""

    status = fields.String(required=True)
    reason = _nullable_string(required=True)
    idle_since = _time(required=True, allow_none=True)
    wrap_up_until = _time(required=True, allow_none=True)
    call_sid = _nullable_string(required=True)


class AgentWithState(User):
    languages = fields.List(fields.String(), required=True)
    state = fields.Nested(AgentState, required=True)


class AgentList(Schema):
    agents = fields.List(fields.Nested(AgentWithState), required=True)


class StatusRequest(Schema):
    """Set a status: available, paused or offline, with a reason for the last two."""

    status = fields.String(required=True, validate=validate.OneOf(("available", "paused", "offline")))
    reason = _nullable_string(validate=validate.Length(max=200))


class StatusChanged(Schema):
    id = fields.Integer(required=True)
    requested = fields.String(required=True)
    changed = fields.Boolean(required=True)
    state = fields.Nested(AgentState, required=True)


class MyStatus(Schema):
    id = fields.Integer(required=True)
    state = fields.Nested(AgentState, required=True)
    at = _time(required=True)


class MyDay(Schema):
    since = _time(required=True)
    calls_handled = fields.Integer(required=True)
    talk_mean_seconds = fields.Float(required=True, allow_none=True)
    offers_missed = fields.Integer(required=True)


class AuditPage(Schema):
    events = fields.List(fields.Dict(), required=True)
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    next_offset = fields.Integer(required=True, allow_none=True)


class TaskCall(Schema):
    call_sid = fields.String(required=True)
    reason = _nullable_string(required=True)
    added_at = _time(required=True, allow_none=True)
    closed_at = _time(required=True, allow_none=True)


class TaskAction(Schema):
    id = fields.Integer(required=True)
    action = fields.String(required=True)
    agent_id = fields.Integer(required=True, allow_none=True)
    at = _time(required=True, allow_none=True)
    outcome = _nullable_string(required=True)
    call_sid = _nullable_string(required=True)
    details = fields.Raw(required=True, allow_none=True)


class CallbackTask(Schema):
    """A callback task; `actions` (its history) only when one task is asked for."""

    id = fields.Integer(required=True)
    practice = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(TASK_STATUSES))
    urgent = fields.Boolean(required=True)
    callback_number = _nullable_string(required=True)
    call_count = fields.Integer(required=True)
    opened_at = _time(required=True, allow_none=True)
    last_call_at = _time(required=True, allow_none=True)
    due_at = _time(required=True, allow_none=True)
    target_at = _time(required=True, allow_none=True)
    overdue = fields.Boolean(required=True)
    attempts = fields.Integer(required=True)
    needs_manager = fields.Boolean(required=True)
    claimed_by = fields.Integer(required=True, allow_none=True)
    claimed_until = _time(required=True, allow_none=True)
    calls = fields.List(fields.Nested(TaskCall), required=True)
    message_ids = fields.List(fields.Integer(), required=True)
    closed_at = _time(required=True, allow_none=True)
    closed_reason = _nullable_string(required=True)
    closed_by = fields.Integer(required=True, allow_none=True)
    assigned_to = fields.Integer(required=True, allow_none=True)
    close_note = _nullable_string(required=True)
    actions = fields.List(fields.Nested(TaskAction))


class CallbackList(Schema):
    callbacks = fields.List(fields.Nested(CallbackTask), required=True)
    total = fields.Integer(required=True)
    limit = fields.Integer()
    offset = fields.Integer()
    next_offset = fields.Integer(allow_none=True)


class CallStarted(Schema):
    call_sid = fields.String(required=True)


class AttemptRequest(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(ATTEMPT_OUTCOMES))


class ReassignRequest(Schema):
    agent_id = fields.Integer(required=True)


class CloseRequest(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class OnCallPatched(Schema):
    call_sid = fields.String(required=True)
    provider_id = fields.Integer(required=True)
    agent_id = fields.Integer(required=True)


class VoiceToken(Schema):
    token = fields.String(required=True)
    identity = fields.String(required=True)
    expires_at = _time(required=True)


class MessageForm(Schema):
    """The practice's message form's fields as one object (`"message_type": "complaint"` opens a complaint)."""

    class Meta:
        unknown = "include"


class MessageTaken(Schema):
    id = fields.Integer(required=True)
    fields_ = fields.Dict(required=True, data_key="fields")
    message_type = fields.String(required=True)
    complaint_id = fields.Integer(required=True, allow_none=True)


class MessageDraft(Schema):
    call_sid = fields.String(required=True)
    fields_ = fields.Dict(required=True, data_key="fields")
    updated_at = _time(required=True)


class DraftPractice(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    timezone = fields.String(required=True)
    message_fields = fields.List(fields.Raw(), required=True)


class UnfinishedDraft(MessageDraft):
    practice = fields.Nested(DraftPractice, required=True)


class DraftList(Schema):
    drafts = fields.List(fields.Nested(UnfinishedDraft), required=True)


class Transcription(Schema):
    status = _nullable_string(required=True)
    text = _nullable_string(required=True)


class Handling(Schema):
    agent_id = fields.Integer(required=True, allow_none=True)
    agent_name = _nullable_string(required=True)
    at = _time(required=True)
    note = fields.String(required=True)


class MessageRead(Schema):
    agent_id = fields.Integer(required=True)
    agent_name = _nullable_string(required=True)
    at = _time(required=True)


class Message(Schema):
    """A message; `reads` (everyone's first read) only when one message is asked for."""

    id = fields.Integer(required=True)
    practice = fields.String(required=True)
    call_sid = fields.String(required=True)
    created_at = _time(required=True)
    from_ = _nullable_string(required=True, data_key="from")
    language = _nullable_string(required=True)
    urgent = fields.Boolean(required=True)
    after_hours = fields.Boolean(required=True)
    duration_seconds = fields.Integer(required=True, allow_none=True)
    recording_status = _nullable_string(required=True)
    transcription = fields.Nested(Transcription, required=True)
    recording_url = _nullable_string(required=True)
    author_agent_id = fields.Integer(required=True, allow_none=True)
    fields_ = fields.Dict(required=True, allow_none=True, data_key="fields")
    recording_deleted_at = _time(required=True, allow_none=True)
    author_name = _nullable_string(required=True)
    read_at = _time(required=True, allow_none=True)
    status = fields.String(required=True)
    handled = fields.Nested(Handling, required=True, allow_none=True)
    reads = fields.List(fields.Nested(MessageRead))


class MessageList(Schema):
    messages = fields.List(fields.Nested(Message), required=True)


class UnreadCount(Schema):
    unread = fields.Integer(required=True)
    practices = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class HandledRequest(Schema):
    note = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class PageStep(Schema):
    step = fields.Integer(required=True)
    kind = fields.String(required=True)
    name = _nullable_string(required=True)
    at = _time(required=True)
    outcome = _nullable_string(required=True)
    failed = fields.Boolean(required=True)
    detail = _nullable_string(required=True)
    failed_at = _time(required=True, allow_none=True)


class PageEvent(Schema):
    kind = fields.String(required=True)
    step = fields.Integer(required=True, allow_none=True)
    target = _nullable_string(required=True)
    at = _time(required=True)


class Page(Schema):
    """A page to the on-call provider (no patient data: the message has that)."""

    id = fields.Integer(required=True)
    practice = fields.String(required=True)
    message_id = fields.Integer(required=True, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(PAGE_STATUSES))
    next_step = fields.Integer(required=True)
    created_at = _time(required=True)
    next_step_at = _time(required=True, allow_none=True)
    acknowledged_at = _time(required=True, allow_none=True)
    acknowledged_by = _nullable_string(required=True, metadata={"description": "who: agent:ID, or the provider by SMS"})
    steps = fields.List(fields.Nested(PageStep), required=True)
    events = fields.List(fields.Nested(PageEvent), required=True)


class PageList(Schema):
    pages = fields.List(fields.Nested(Page), required=True)


class PageAcknowledged(Schema):
    page = fields.Nested(Page, required=True)
    changed = fields.Boolean(required=True)


class QueuedCaller(Schema):
    call_sid = fields.String(required=True)
    position = fields.Integer(required=True, allow_none=True)
    state = fields.String(required=True)
    wait_seconds = fields.Float(required=True)
    urgent = fields.Boolean(required=True)
    language = _nullable_string(required=True)
    skill = _nullable_string(required=True)
    number = _nullable_string(required=True, metadata={"description": "masked: only the last digits"})
    agent_id = fields.Integer(required=True, allow_none=True)


class QueuedAgent(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    reason = _nullable_string(required=True)
    idle_since = _time(required=True, allow_none=True)


class PracticeName(Schema):
    slug = fields.String(required=True)
    name = fields.String(required=True)


class PracticeQueue(Schema):
    practice = fields.Nested(PracticeName, required=True)
    callers = fields.List(fields.Nested(QueuedCaller), required=True)
    agents = fields.Dict(keys=fields.String(), values=fields.List(fields.Nested(QueuedAgent)), required=True)


class QueueView(Schema):
    practices = fields.List(fields.Nested(PracticeQueue), required=True)


class ComplaintMessage(Schema):
    class Meta:
        unknown = "include"

    created_at = _time(allow_none=True)


class ComplaintChange(Schema):
    id = fields.Integer(required=True)
    from_ = _nullable_string(required=True, data_key="from")
    to = fields.String(required=True)
    agent_id = fields.Integer(required=True, allow_none=True)
    agent_name = _nullable_string(required=True)
    at = _time(required=True)
    note = _nullable_string(required=True)


class Complaint(Schema):
    """A complaint; `message` (the patient's words) and `history` only when one complaint is asked for."""

    id = fields.Integer(required=True)
    practice = fields.String(required=True)
    message_id = fields.Integer(required=True, allow_none=True)
    source = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(COMPLAINT_STATES))
    next_state = _nullable_string(required=True)
    received_at = _time(required=True)
    due_at = _time(required=True, allow_none=True)
    overdue = fields.Boolean(required=True)
    age_seconds = fields.Float(required=True)
    owner_id = fields.Integer(required=True, allow_none=True)
    owner_name = _nullable_string(required=True)
    action_taken = _nullable_string(required=True)
    patient_told = _nullable_string(required=True)
    informed_at = _time(required=True, allow_none=True)
    closed_at = _time(required=True, allow_none=True)
    message = fields.Nested(ComplaintMessage, allow_none=True)
    history = fields.List(fields.Nested(ComplaintChange))


class ComplaintList(Schema):
    complaints = fields.List(fields.Nested(Complaint), required=True)


class ComplaintStateRequest(Schema):
    state = fields.String(required=True, validate=validate.OneOf(COMPLAINT_STATES))
    note = _nullable_string()
    action_taken = _nullable_string()
    patient_told = _nullable_string()


class MetricsSummary(Schema):
    """Every call-answer metric over the period; a rate with no calls behind it is null."""

    class Meta:
        unknown = "include"


def _share(**kwargs) -> fields.Float:
    return fields.Float(validate=validate.Range(0, 1), **kwargs)


class StaffingHour(Schema):
    """One hour of the week on the practice's clock: its demand, the agents it needs, and what the agents on duty
    in that hour the week before would give (null where nothing is known)."""

    day = fields.String(required=True, validate=validate.OneOf(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]))
    date = fields.Date(required=True)
    hour = fields.Integer(required=True, validate=validate.Range(0, 23))
    calls_offered = fields.Float(required=True, metadata={"description": "queue calls in this hour of the week, "
                                                                           "the mean over the weeks read"})
    handle_seconds = fields.Float(required=True, allow_none=True, metadata={"description": "talk + wrap-up"})
    handle_from = fields.String(required=True, allow_none=True, validate=validate.OneOf(["hour", "weeks"]))
    traffic_erlangs = fields.Float(required=True, allow_none=True)
    agents_needed = fields.Integer(required=True, allow_none=True)
    agents_on_duty = fields.Float(required=True, allow_none=True, metadata={
        "description": "agents taking calls in this hour the week before, on average; null: not over yet"})
    expected_service_level = _share(required=True, allow_none=True)
    expected_wait_seconds = fields.Float(required=True, allow_none=True, metadata={
        "description": "mean wait of answered callers; null also when the queue would grow without end"})
    expected_abandon_share = _share(required=True, allow_none=True)
    gap = fields.Float(required=True, allow_none=True, metadata={"description": "agents needed - on duty"})
    short = fields.Boolean(required=True, metadata={"description": "the agents on duty would miss the target"})


class StaffingRange(Schema):
    from_ = fields.Date(required=True, data_key="from")
    to = fields.Date(required=True)


class StaffingHistory(StaffingRange):
    weeks_asked = fields.Integer(required=True)
    weeks = fields.Integer(required=True, metadata={"description": "weeks that held the practice's calls"})


class StaffingTarget(Schema):
    service_level = _share(required=True)
    seconds = fields.Integer(required=True)


class StaffingSummary(Schema):
    calls_offered = fields.Float(required=True)
    hours_with_calls = fields.Integer(required=True)
    hours_short = fields.Integer(required=True)
    agent_hours_needed = fields.Integer(required=True)
    agent_hours_on_duty = fields.Float(required=True)


class StaffingAdvice(Schema):
    """How many agents each hour of one week needs, from the practice's own calls (Erlang C, or Erlang A when
    its callers' patience is known)."""

    practice = fields.String(required=True)
    practice_name = fields.String(required=True)
    timezone = fields.String(required=True)
    week = fields.String(required=True, validate=validate.Regexp(r"^\d{4}-W\d{2}$"))
    week_start = fields.Date(required=True)
    week_end = fields.Date(required=True)
    history = fields.Nested(StaffingHistory, required=True)
    on_duty_week = fields.Nested(StaffingRange, required=True)
    target = fields.Nested(StaffingTarget, required=True)
    model = fields.String(required=True, validate=validate.OneOf(["erlang-a", "erlang-c"]))
    patience_seconds = fields.Float(required=True, allow_none=True)
    abandons = fields.Integer(required=True)
    ring_seconds = fields.Float(required=True, metadata={"description": "mean time from an agent's offer to the "
                                                                          "connection (ring and whisper)"})
    handle_seconds = fields.Float(required=True, allow_none=True)
    summary = fields.Nested(StaffingSummary, required=True)
    hours = fields.List(fields.Nested(StaffingHour), required=True, validate=validate.Length(equal=168))

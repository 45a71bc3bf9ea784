"""SQLAlchemy models; every table is created by the Alembic migrations in `migrations/`."""
from models.agent import ROLES, Agent, agent_practices
from models.agent_status import AGENT_STATUSES, AgentStatusChange
from models.audit import AUDIT_VIAS, AuditChainHead, AuditEvent
from models.base import Base, UTCDateTime, utcnow
from models.complaint import COMPLAINT_SOURCES, COMPLAINT_STATES, MESSAGE_KINDS, Complaint, ComplaintChange
from models.call import ANSWERED_BY, DIRECTIONS, OUTCOMES, Call, CallEvent, Caller
from models.menu_choice import CallMenuChoice
from models.message import (ATTEMPT_OUTCOMES, CLOSING_OUTCOMES, TASK_ACTIONS, TASK_STATUSES, TRANSCRIPTION_STATUSES,
                            CallbackTask, CallbackTaskAction, CallbackTaskCall, Message, MessageDraft)
from models.inbox import HANDLED_NOTE_MAX_CHARS, MessageHandling, MessageRead
from models.metrics import (AgentStatsDaily, AgentTimeHourly, CallbackStatsDaily, CallFact, CallStatsHourly,
                            SkillStatsDaily)
from models.paging import PAGE_EVENT_KINDS, PAGE_STATUSES, OnCallPage, PageEvent
from models.page_link import OnCallPin, PageLink
from models.sms import SMS_PURPOSES, SMS_STATUSES, InboundSms, OutboundSms, SmsOptOut
from models.practice import OnCallProvider, Practice, PracticeAudio, PracticeNumber
from models.queue_event import QUEUE_EVENT_KINDS, QueueEvent
from models.report import REPORT_SEND_STATUSES, ReportSend
from models.survey import SURVEY_SCORES, SurveyAnswer
from models.token import ApiToken

__all__ = [
    "COMPLAINT_SOURCES", "COMPLAINT_STATES", "MESSAGE_KINDS", "Complaint", "ComplaintChange",
    "AUDIT_VIAS", "AuditChainHead", "AuditEvent",
    "HANDLED_NOTE_MAX_CHARS", "MessageHandling", "MessageRead",
    "AgentStatsDaily", "AgentTimeHourly", "CallFact", "CallStatsHourly", "CallbackStatsDaily", "SkillStatsDaily",
    "ATTEMPT_OUTCOMES", "CLOSING_OUTCOMES", "DIRECTIONS", "PAGE_EVENT_KINDS", "PAGE_STATUSES", "SMS_PURPOSES",
    "SMS_STATUSES", "TASK_ACTIONS", "TRANSCRIPTION_STATUSES", "CallbackTaskAction", "InboundSms",
    "MessageDraft",
    "OnCallPage", "OnCallPin", "OutboundSms", "PageEvent", "PageLink", "SmsOptOut",
    "AGENT_STATUSES", "ANSWERED_BY", "OUTCOMES", "ROLES", "TASK_STATUSES", "Agent", "AgentStatusChange", "ApiToken",
    "Base", "Call", "CallEvent", "Caller", "CallbackTask", "CallbackTaskCall", "Message", "OnCallProvider",
    "REPORT_SEND_STATUSES", "ReportSend", "SURVEY_SCORES", "SurveyAnswer",
    "CallMenuChoice", "Practice", "PracticeAudio",
    "PracticeNumber", "QUEUE_EVENT_KINDS", "QueueEvent", "UTCDateTime", "agent_practices", "utcnow",
]

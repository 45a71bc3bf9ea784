"""SQLAlchemy models; every table is created by the Alembic migrations in `migrations/`."""
from models.agent import ROLES, Agent, agent_practices
from models.agent_status import AGENT_STATUSES, AgentStatusChange
from models.base import Base, UTCDateTime, utcnow
from models.call import ANSWERED_BY, OUTCOMES, Call, CallEvent, Caller
from models.message import TASK_STATUSES, CallbackTask, CallbackTaskCall, Message
from models.practice import OnCallProvider, Practice, PracticeNumber
from models.queue_event import QUEUE_EVENT_KINDS, QueueEvent
from models.token import ApiToken

__all__ = [
    "AGENT_STATUSES", "ANSWERED_BY", "OUTCOMES", "ROLES", "TASK_STATUSES", "Agent", "AgentStatusChange", "ApiToken",
    "Base", "Call", "CallEvent", "Caller", "CallbackTask", "CallbackTaskCall", "Message", "OnCallProvider",
    "Practice", "PracticeNumber", "QUEUE_EVENT_KINDS", "QueueEvent", "UTCDateTime", "agent_practices", "utcnow",
]

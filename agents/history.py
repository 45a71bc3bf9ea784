"""The history of agents' live states: one row per change, written by whoever makes the change.

The API writes the changes an agent or manager asks for (`agents.status`); the call flow writes ringing,
busy, wrap-up and a missed offer (paused, "missed") through the same function, in the transaction that
belongs to its own step.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from models import AgentStatusChange
from queueing.model import AgentStatus


def record_status_change(session: Session, agent_id: int, status: AgentStatus | str, at: datetime,
                         reason: str | None = None) -> AgentStatusChange:
    """Add to `session` that the agent is `status` from `at` on (the caller commits); `at` must be aware."""
    if at.tzinfo is None:
        raise ValueError("a status change needs an aware time")
    row = AgentStatusChange(agent_id=int(agent_id), status=AgentStatus(status).value, reason=reason or None, at=at)
    session.add(row)
    return row

"""Agents' status history: one row per change of an agent's live state, with its time, for the metrics."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime

# Every status the live queue gives an agent (queueing.model.AgentStatus; a unit test keeps them equal).
# A missed offer is "paused" with the reason "missed".
AGENT_STATUSES = ("offline", "available", "paused", "ringing", "busy", "wrap-up")
STATUS_REASON_MAX_LENGTH = 200  # characters


class AgentStatusChange(Base):
    """From `at` on, the agent was `status` (with `reason`, for paused or offline), until its next row.

    A wrap-up row ends by itself at `until` (the agent is available from then) unless a later row comes
    first. Rows the API writes have no `call_sid`; rows the call flow causes (ringing, busy, wrap-up, a
    missed offer, an offer cancelled by the caller) carry the call and the call event they come from, so
    the call-log writer adds each once.
    """

    __tablename__ = "agent_status_changes"
    __table_args__ = (
        CheckConstraint("status IN ('offline', 'available', 'paused', 'ringing', 'busy', 'wrap-up')",
                        name="status_known"),
        # An agent's history in time order, and the state it was in at a given instant.
        Index("ix_agent_status_changes_agent_id_at", "agent_id", "at"),
        UniqueConstraint("call_sid", "event_key"),  # NULLs (the API's rows) never conflict
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(STATUS_REASON_MAX_LENGTH))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # wrap-up only: when it ends by itself
    call_sid: Mapped[str | None] = mapped_column(String(34))
    event_key: Mapped[str | None] = mapped_column(String(64))

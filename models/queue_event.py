"""What happened to callers in the live-agent queue, one row per event, for the metrics.

Rows are derived by the call-log writer from the call events the queue's steps append (kinds starting
`queue-`, and `agent-call-ended`), keyed by the event's dedupe key, so a retried webhook or a second drain
adds nothing. Every row has its practice and time; the columns that do not apply to a kind are NULL.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime

# entered: joined the queue (`urgent`, `language`, `skill`, `position`)
# offered: an agent's phone started ringing for the caller (`agent_id`, `wait_seconds` so far)
# connected: the agent accepted (`agent_id`, `wait_seconds`: from entering to the answer)
# no-answer: the agent did not accept within agent_ring_seconds (`agent_id`)
# abandoned: the caller hung up while holding or being offered (`wait_seconds`)
# left-by-key: the caller pressed a key to leave (`reason`: message | callback; `wait_seconds`)
# max-wait: the caller reached max_wait_seconds and was taken out (`wait_seconds`)
# no-agents: nobody was on duty: the caller asked for someone and did not enter, or was holding when the
#   last agent went off duty (`wait_seconds`)
# talk-ended: the agent's call with the caller ended (`agent_id`, `talk_seconds`)
QUEUE_EVENT_KINDS = ("entered", "offered", "connected", "no-answer", "abandoned", "left-by-key", "max-wait",
                     "no-agents", "talk-ended")


class QueueEvent(Base):
    """One event of one caller in a practice's queue."""

    __tablename__ = "queue_events"
    __table_args__ = (
        CheckConstraint("kind IN ('entered', 'offered', 'connected', 'no-answer', 'abandoned', 'left-by-key', "
                        "'max-wait', 'no-agents', 'talk-ended')", name="kind_known"),
        UniqueConstraint("call_sid", "event_key"),
        # The metrics read a practice's events over a period, and an agent's.
        Index("ix_queue_events_practice_id_at", "practice_id", "at"),
        Index("ix_queue_events_agent_id_at", "agent_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(34))
    event_key: Mapped[str] = mapped_column(String(64))  # the call event's dedupe key
    practice_id: Mapped[int | None] = mapped_column(ForeignKey("practices.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str | None] = mapped_column(String(8))
    skill: Mapped[str | None] = mapped_column(String(64))  # the skill the caller asked for (a menu's queue entry)
    position: Mapped[int | None] = mapped_column(Integer)
    wait_seconds: Mapped[float | None] = mapped_column(Float)
    talk_seconds: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(16))

"""Pages to the on-call provider about an urgent after-hours message, and every step of their escalation."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime

PAGE_STATUSES = ("open", "acknowledged", "exhausted")
# sent / send-failed: an SMS of one step to a provider or a manager; acknowledged: by SMS reply or the API;
# no-one: a step had nobody to page (no provider, no manager with a phone).
PAGE_EVENT_KINDS = ("sent", "send-failed", "acknowledged", "no-one")


class OnCallPage(Base):
    """One page: its message, where the escalation is (`step`), and when the next step is due."""

    __tablename__ = "on_call_pages"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'acknowledged', 'exhausted')", name="status_known"),
        Index("ix_on_call_pages_status_next_step_at", "status", "next_step_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    step: Mapped[int] = mapped_column(Integer, default=0)  # the next step of paging.escalation.plan to run
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_step_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))  # "provider:ID" or "agent:ID"


class PageEvent(Base):
    """A step of a page: who was paged or who acknowledged, when, and the SMS it sent."""

    __tablename__ = "page_events"
    __table_args__ = (
        CheckConstraint("kind IN ('sent', 'send-failed', 'acknowledged', 'no-one')", name="kind_known"),
        # One SMS per step and person: a retried job finds the row and does not page twice.
        UniqueConstraint("page_id", "step", "target"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("on_call_pages.id", ondelete="CASCADE"), index=True)
    step: Mapped[int] = mapped_column(Integer)  # -1 for an acknowledgement
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(64))  # "provider:ID", "manager:ID", "ack:..."
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    sms_id: Mapped[int | None] = mapped_column(ForeignKey("outbound_sms.id", ondelete="SET NULL"))

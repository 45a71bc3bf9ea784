"""The call log: callers, calls, and the append-only events every call record is built from."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime

ANSWERED_BY = ("front-desk", "ivr", "agent")
# in-progress: not ended yet; answered: reached a person; message: left a message;
# callback: asked (in the queue) to be called back; hung-up: ended without reaching a person, leaving a
# message or asking for a callback; unknown-number: no practice owns `To`.
DIRECTIONS = ("inbound", "outbound")  # outbound: an agent's callback from Careline
OUTCOMES = ("in-progress", "answered", "message", "callback", "hung-up", "unknown-number")


class Caller(Base):
    """A patient's number, E.164; callers are recognised across calls by it."""

    __tablename__ = "callers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)


class Call(Base):
    """One row per Twilio call, rebuilt from its events by `calllog.record.build_call_record`."""

    __tablename__ = "calls"
    __table_args__ = (
        CheckConstraint("answered_by IN ('front-desk', 'ivr', 'agent')", name="answered_by_known"),
        CheckConstraint("outcome IN ('in-progress', 'answered', 'message', 'callback', 'hung-up', "
                        "'unknown-number')",
                        name="outcome_known"),
        CheckConstraint("direction IN ('inbound', 'outbound')", name="direction_known"),
        Index("ix_calls_practice_id_started_at", "practice_id", "started_at"),
    )

    call_sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    practice_id: Mapped[int | None] = mapped_column(ForeignKey("practices.id", ondelete="SET NULL"))
    caller_id: Mapped[int | None] = mapped_column(ForeignKey("callers.id"), index=True)
    from_number: Mapped[str] = mapped_column(String(64))  # E.164 when it is one, else as Twilio sent it
    to_number: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_voice_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the caller heard a person or the IVR
    answered_by: Mapped[str | None] = mapped_column(String(16))
    after_hours: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str | None] = mapped_column(String(8))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str] = mapped_column(String(16))
    status: Mapped[str | None] = mapped_column(String(16))  # Twilio's last CallStatus
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(8), default="inbound", server_default="inbound")


class CallEvent(Base):
    """One step of a call, as Twilio told it; append-only, deduplicated by (call_sid, dedupe_key)."""

    __tablename__ = "call_events"
    __table_args__ = (UniqueConstraint("call_sid", "dedupe_key"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(34))
    kind: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict] = mapped_column(JSON)

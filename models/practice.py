"""Practices, the numbers patients call, and their on-call providers."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (JSON, Boolean, CheckConstraint, Float, ForeignKey, Integer, LargeBinary, String, UniqueConstraint,
                        false)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, UTCDateTime, utcnow


class Practice(Base):
    __tablename__ = "practices"
    __table_args__ = (
        CheckConstraint("ring_budget_seconds BETWEEN 5 AND 60", name="ring_budget_range"),
        CheckConstraint("message_max_seconds BETWEEN 10 AND 3600", name="message_max_range"),
        # Retention: a recording goes no later than its message, a message no later than its call.
        CheckConstraint("recordings_days >= 1 AND recordings_days <= messages_days AND messages_days <= calls_days",
                        name="retention_order"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    languages: Mapped[list] = mapped_column(JSON)  # ["en", "es"]; the first is the default
    front_desk: Mapped[str | None] = mapped_column(String(20))  # E.164
    ring_budget_seconds: Mapped[int] = mapped_column(Integer)
    hours: Mapped[dict] = mapped_column(JSON)  # {"mon": "08:00-17:00", ...}; a missing day is closed
    holidays: Mapped[list] = mapped_column(JSON)  # ["2026-12-25", ...], local dates
    max_wait_seconds: Mapped[int] = mapped_column(Integer)
    announce_every_seconds: Mapped[int] = mapped_column(Integer)
    agent_ring_seconds: Mapped[int] = mapped_column(Integer)
    wrap_up_seconds: Mapped[int] = mapped_column(Integer)
    service_level_seconds: Mapped[int] = mapped_column(Integer)
    short_abandon_seconds: Mapped[int] = mapped_column(Integer)
    message_max_seconds: Mapped[int] = mapped_column(Integer)
    # [practices.after_hours] and [practices.callbacks] (practices.loader has the defaults)
    escalation_minutes: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    urgent_callback_minutes: Mapped[int] = mapped_column(Integer, default=15, server_default="15")
    routine_callback_minutes: Mapped[int] = mapped_column(Integer, default=120, server_default="120")
    next_day_callback_by: Mapped[str] = mapped_column(String(5), default="10:00", server_default="10:00")
    callback_retry_minutes: Mapped[list] = mapped_column(JSON, default=lambda: [15, 60], server_default="[15, 60]")
    callback_max_attempts: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    # [[practices.message_fields]]: the form of a message an agent takes, as a list of {name, label, kind,
    # required, choices}; NULL when the file gives none (practices.snapshot.DEFAULT_MESSAGE_FIELDS).
    message_fields: Mapped[list | None] = mapped_column(JSON)
    # [practices.report]: the morning report's local time ("08:00") and its addresses; NULL: no report sent.
    report_at: Mapped[str | None] = mapped_column(String(5))
    report_to: Mapped[list | None] = mapped_column(JSON)
    # [practices.retention]: days a recording, a message (with its callback task, page, SMS), and a call (with its
    # events) are kept; then `careline retention run` deletes them (retention/). practices.loader has the defaults.
    recordings_days: Mapped[int] = mapped_column(Integer, default=90, server_default="90")
    messages_days: Mapped[int] = mapped_column(Integer, default=2555, server_default="2555")
    calls_days: Mapped[int] = mapped_column(Integer, default=2555, server_default="2555")
    # [practices.skills] fallback_seconds: then any agent of the practice may take a caller who asked for a skill.
    skill_fallback_seconds: Mapped[int] = mapped_column(Integer, default=60, server_default="60")
    # [practices.complaints]: days within which a complaint's patient is told what was done (its due time).
    complaint_respond_days: Mapped[int] = mapped_column(Integer, default=5, server_default="5")
    # [practices.survey] enabled: callers who talked with an agent are asked one question (ivr.survey).
    survey_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # [practices.queue] service_level_target: the share of queue callers the staffing advice (staffing/) sizes
    # each hour's agents to connect within service_level_seconds.
    service_level_target: Mapped[float] = mapped_column(Float, default=0.8, server_default="0.8")
    # [[practices.menu]]: the practice's own menu, as a list of entries (practices.loader.menu_as_json; nested
    # under a submenu's "menu"); NULL: the built-in menu.
    menu: Mapped[list | None] = mapped_column(JSON)
    # [practices.voice.<language>]: {"en": {"voice": "Polly.Joanna", "greeting": {"url": ...} or {"sha256": ...,
    # "ext": "wav"}}}; NULL: Twilio's default voice and the spoken greeting.
    voice: Mapped[dict | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    numbers: Mapped[list["PracticeNumber"]] = relationship(
        back_populates="practice", cascade="all, delete-orphan", order_by="PracticeNumber.e164")
    on_call: Mapped[list["OnCallProvider"]] = relationship(
        back_populates="practice", cascade="all, delete-orphan", order_by="OnCallProvider.position")


class PracticeNumber(Base):
    """A number patients dial; Twilio's `To`. One number belongs to one practice."""

    __tablename__ = "practice_numbers"

    e164: Mapped[str] = mapped_column(String(20), primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"), index=True)

    practice: Mapped[Practice] = relationship(back_populates="numbers")


class OnCallProvider(Base):
    """An after-hours provider; `position` is the order of escalation, from 0."""

    __tablename__ = "on_call_providers"
    __table_args__ = (UniqueConstraint("practice_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20))

    practice: Mapped[Practice] = relationship(back_populates="on_call")


class PracticeAudio(Base):
    """A recorded greeting or prompt a configuration file gave, kept by its content's SHA-256 and served by Careline
    at /voice/audio/<sha256>.<ext> (the URL changes only when the sound does, so Twilio may cache it)."""

    __tablename__ = "practice_audio"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(32))  # audio/wav or audio/mpeg
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

"""Messages patients leave, and callback tasks that keep them from being forgotten."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime

TASK_STATUSES = ("open", "closed")


class Message(Base):
    """A recorded message; one per call at most. The audio stays at Twilio (`recording_url`)."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    call_sid: Mapped[str] = mapped_column(String(34), unique=True)
    caller_id: Mapped[int | None] = mapped_column(ForeignKey("callers.id"))
    from_number: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    duration_seconds: Mapped[int] = mapped_column(Integer)
    recording_sid: Mapped[str] = mapped_column(String(34), unique=True)
    recording_url: Mapped[str] = mapped_column(String(300))
    recording_status: Mapped[str | None] = mapped_column(String(16))  # from the recording status callback
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CallbackTask(Base):
    """A caller to call back: one open task per caller and practice; later calls join it."""

    __tablename__ = "callback_tasks"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'closed')", name="status_known"),
        # At most one open task per caller and practice. Withheld numbers (caller_id NULL) each get their own.
        Index("uq_callback_tasks_open_caller", "practice_id", "caller_id", unique=True,
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"), index=True)
    caller_id: Mapped[int | None] = mapped_column(ForeignKey("callers.id"))
    callback_number: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8), default="open")
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    call_count: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_call_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CallbackTaskCall(Base):
    """A call that joined a callback task; a call joins one task at most."""

    __tablename__ = "callback_task_calls"

    call_sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("callback_tasks.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(16))  # message | callback | hung-up
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)

"""The morning report's sends: one row per practice and report day, so each day's report is sent once."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime

# queued: waiting for the worker (or its retry); sending: a worker holds it now; sent: the SMTP server took it;
# failed: every try failed (the last error's class is kept).
REPORT_SEND_STATUSES = ("queued", "sending", "sent", "failed")


class ReportSend(Base):
    """One morning report of a practice for one local day (`report_date`, the day it covers). The row keeps what
    became of it, never its content: the report is rebuilt from the messages and metrics when it is sent or shown,
    and `last_error` is an exception's class name (never an SMTP server's text, which may quote an address)."""

    __tablename__ = "report_sends"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'sending', 'sent', 'failed')", name="status_known"),
        UniqueConstraint("practice_id", "report_date"),
        Index("ix_report_sends_queued_at", "queued_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    report_date: Mapped[date] = mapped_column(Date)  # the practice's local day the report covers
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(100))  # the last failure's exception class
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the last try began
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recipients: Mapped[int] = mapped_column(Integer, default=0)  # how many addresses it went to

"""Text messages: those Careline sends (receipts to callers, pages), those it receives, and opt-outs."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime

SMS_PURPOSES = ("receipt", "page", "manager-alert")
# pending: not sent yet (or being retried); sent: Twilio accepted it; opted-out: the number replied STOP;
# failed: Twilio refused it for good, or every retry failed.
SMS_STATUSES = ("pending", "sent", "opted-out", "failed")
# What Twilio's status callback (MessageStatus) last said of a sent SMS: sent to the carrier, delivered to the
# phone, or undelivered/failed after Twilio accepted it (the phone never got it). None: no callback yet.
SMS_DELIVERY_STATUSES = ("sent", "delivered", "undelivered", "failed")


class OutboundSms(Base):
    """One SMS Careline means to send, keyed by what it is for (`key`), so it is sent once. No body is
    kept: it is rebuilt from its subject, and a caller's number or a page's content has no place here."""

    __tablename__ = "outbound_sms"
    __table_args__ = (
        CheckConstraint("purpose IN ('receipt', 'page', 'manager-alert')", name="purpose_known"),
        CheckConstraint("status IN ('pending', 'sent', 'opted-out', 'failed')", name="status_known"),
        CheckConstraint("delivery_status IN ('sent', 'delivered', 'undelivered', 'failed')", name="delivery_known"),
        # Retention deletes a practice's SMS by age, and a message's or a page's with it (retention/).
        Index("ix_outbound_sms_practice_id_created_at", "practice_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # e.g. "receipt:message:12", "page:3:1:provider:7"
    purpose: Mapped[str] = mapped_column(String(16))
    practice_id: Mapped[int | None] = mapped_column(ForeignKey("practices.id", ondelete="SET NULL"))
    to_number: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"),
                                                   index=True)  # its subject
    page_id: Mapped[int | None] = mapped_column(ForeignKey("on_call_pages.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[int | None] = mapped_column(Integer)  # Twilio's error code of the last failure
    message_sid: Mapped[str | None] = mapped_column(String(34), index=True)  # status callbacks find it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivery_status: Mapped[str | None] = mapped_column(String(16))  # SMS_DELIVERY_STATUSES, from the callback
    delivery_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InboundSms(Base):
    """An SMS someone sent to a practice number, by MessageSid (Twilio may send the webhook twice). Only
    what Careline did with it is kept, never its text."""

    __tablename__ = "inbound_sms"
    __table_args__ = (
        CheckConstraint("handled_as IN ('opt-out', 'opt-in', 'acknowledgement', 'ignored')", name="handled_known"),
    )

    message_sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    from_number: Mapped[str] = mapped_column(String(64))
    to_number: Mapped[str] = mapped_column(String(64))
    handled_as: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SmsOptOut(Base):
    """A number that replied STOP (or another opt-out keyword): Careline sends it nothing until START."""

    __tablename__ = "sms_opt_outs"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    opted_out_at: Mapped[datetime] = mapped_column(UTCDateTime)

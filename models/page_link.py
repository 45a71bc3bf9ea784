"""The short link a page's SMS carries instead of the message, and the on-call providers' PINs that open it.

An SMS is not a safe place for patient data (it stays on the phone, at Twilio and at the carrier): a page's SMS
says only the practice, "urgent message" and a link. The link's token is stored as its SHA-256 only, as API
tokens are (`models.token`); the message shows once the provider types their PIN (`OnCallPin`, a salted hash).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime


class PageLink(Base):
    """One link of one page's SMS to one person: where it leads (the page), whose PIN opens it (the practice and
    the phone it was sent to), until when, and the wrong PINs typed so far (the link locks at a limit)."""

    __tablename__ = "page_links"
    __table_args__ = (
        # 64 hex characters: a raw token can never be stored here by mistake.
        CheckConstraint("length(token_hash) = 64", name="token_hash_is_sha256_hex"),
        CheckConstraint("failed_pins >= 0", name="failed_pins_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("on_call_pages.id", ondelete="CASCADE"), index=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    # Who was paged ("provider:ID", as PageEvent.target) and the phone the SMS went to: the PIN is that phone's
    # for the practice (providers' rows are replaced when the on-call list changes; their phones stay).
    target: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(20))
    sms_id: Mapped[int | None] = mapped_column(ForeignKey("outbound_sms.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    failed_pins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OnCallPin(Base):
    """The PIN an on-call provider types to open a page's link: per practice and phone, as a salted hash
    (werkzeug's `generate_password_hash`), set by `careline oncall pin PRACTICE PHONE`."""

    __tablename__ = "on_call_pins"
    __table_args__ = (PrimaryKeyConstraint("practice_id", "phone"),)

    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20))
    pin_hash: Mapped[str] = mapped_column(String(256))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime)

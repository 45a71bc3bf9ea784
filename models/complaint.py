"""Complaints (issue 16): a message that is a complaint (taken at the desk as one, or left in the menu's complaints
mailbox) is acted on and the patient told what was done; each change of its state is kept with who and when."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, EncryptedText, UTCDateTime

# In order: a complaint moves one step forward at a time, and only forward.
COMPLAINT_STATES = ("received", "being-looked-at", "patient-informed", "closed")
COMPLAINT_SOURCES = ("desk", "recorded")  # taken by an agent at the desk; left in the menu's complaints mailbox
MESSAGE_KINDS = ("message", "complaint")  # messages.kind


class Complaint(Base):
    """One complaint, on the message that carries the patient's words (its `fields` or its recording): one per
    message. Due by `due_at` (received + the practice's [practices.complaints] respond_within_days): by then the
    patient should have been told what was done."""

    __tablename__ = "complaints"
    __table_args__ = (
        CheckConstraint("state IN ('received', 'being-looked-at', 'patient-informed', 'closed')", name="state_known"),
        CheckConstraint("source IN ('desk', 'recorded')", name="source_known"),
        # The complaints list reads a practice's complaints by state, oldest first.
        Index("ix_complaints_practice_id_state_received_at", "practice_id", "state", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    # Retention deletes a message with what hangs on it: its complaint (and the complaint's history) too.
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    source: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(24), default="received")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Who looks after it: the manager who took it to "being looked at".
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    # About a patient, free text: encrypted. What was done about it, and what the patient was told.
    action_taken: Mapped[str | None] = mapped_column(EncryptedText)
    patient_told: Mapped[str | None] = mapped_column(EncryptedText)
    informed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ComplaintChange(Base):
    """One change of a complaint's state, with who (an agent; NULL for Careline itself) and when."""

    __tablename__ = "complaint_changes"
    __table_args__ = (
        CheckConstraint("to_state IN ('received', 'being-looked-at', 'patient-informed', 'closed')",
                        name="to_state_known"),
        Index("ix_complaint_changes_complaint_id_at", "complaint_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"))
    from_state: Mapped[str | None] = mapped_column(String(24))  # NULL: the complaint was received
    to_state: Mapped[str] = mapped_column(String(24))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(EncryptedText)  # the mover's note: encrypted

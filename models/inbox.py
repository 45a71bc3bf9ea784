"""The messages inbox: who read a message first when (read receipts), and a message handled with a note.

Both live beside `messages` rather than in it: a read is per person (many per message), and "handled" happens
once, by whoever gets there first; its primary key on the message makes a second mark a conflict, not a race.
The audit trail (`audit_events`) still records every list, read and play; these tables answer "read by whom"
and "handled by whom" without scanning it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, EncryptedText, UTCDateTime

HANDLED_NOTE_MAX_CHARS = 1000  # characters of a handled message's note


class MessageRead(Base):
    """The first time a person opened a message (a read receipt); later reads are in the audit log only."""

    __tablename__ = "message_reads"
    __table_args__ = (
        # The unread count of one person: their reads, by message.
        Index("ix_message_reads_agent_id_message_id", "agent_id", "message_id"),
    )

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    first_read_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MessageHandling(Base):
    """A message handled (dealt with) by someone, when, and their note; at most one per message."""

    __tablename__ = "message_handlings"

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    # Who handled it; an agent since deleted leaves the mark and its note (NULL).
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"), index=True)
    handled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(EncryptedText)  # free text about a patient: encrypted

"""Messages patients leave (recorded by the IVR, or taken by an agent during the call), the drafts of the ones
being taken, and callback tasks that keep them from being forgotten."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint,
                        false, text)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, EncryptedJSON, EncryptedText, UTCDateTime

TASK_STATUSES = ("open", "closed")
# pending: asked of Twilio, its callback not here yet; completed / failed: Twilio's TranscriptionStatus.
# NULL: not asked (Twilio transcribes US English only).
TRANSCRIPTION_STATUSES = ("pending", "completed", "failed")
ATTEMPT_OUTCOMES = ("reached", "voicemail", "no-answer", "wrong-number")
CLOSING_OUTCOMES = ("reached", "wrong-number")
# What a task's history records; nothing else changes a task.
TASK_ACTIONS = ("opened", "call-added", "claimed", "call-started", "attempt", "flagged", "reassigned", "closed")


class Message(Base):
    """A message for a practice: recorded by the IVR (its audio stays at Twilio, `recording_url`), or taken by
    an agent during the call (`author_agent_id`, its form's `fields`, no recording). A call has at most one
    recorded message, and at most one taken by each agent on it."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    call_sid: Mapped[str] = mapped_column(String(34))
    caller_id: Mapped[int | None] = mapped_column(ForeignKey("callers.id"), index=True)  # retention's callers check
    # The number to call back: the caller's for a recorded message, the one the caller gave for a taken one.
    from_number: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)  # the recording's; NULL without one
    recording_sid: Mapped[str | None] = mapped_column(String(34), unique=True)
    recording_url: Mapped[str | None] = mapped_column(String(300))
    recording_status: Mapped[str | None] = mapped_column(String(16))  # from the recording status callback
    # Retention (retention/): the recording was deleted at Twilio past its practice's recordings_days; its
    # `recording_url` is then cleared (`recording_sid` stays: an id, not patient data, that audit rows name).
    recording_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    transcription_status: Mapped[str | None] = mapped_column(String(16))  # TRANSCRIPTION_STATUSES or NULL
    transcription_sid: Mapped[str | None] = mapped_column(String(34))
    transcription_text: Mapped[str | None] = mapped_column(EncryptedText)  # the patient's words: encrypted
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    after_hours: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Taken by an agent: who took it (an agent with messages is kept, not deleted), and the form's values
    # (encrypted: a name, what the caller said).
    author_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    fields: Mapped[dict | None] = mapped_column(EncryptedJSON)
    # The mailbox of the practice's menu the caller chose ([[practices.menu]] action "message"); NULL: the built-in
    # menu's message, or one taken by an agent.
    mailbox: Mapped[str | None] = mapped_column(String(64))
    # message | complaint (models.complaint.MESSAGE_KINDS): a complaint's message also has its `complaints` row.
    kind: Mapped[str] = mapped_column(String(16), default="message", server_default="message")

    __table_args__ = (
        CheckConstraint("transcription_status IN ('pending', 'completed', 'failed')", name="transcription_known"),
        CheckConstraint("kind IN ('message', 'complaint')", name="kind_known"),
        # A message has its recording (or had it, until retention deleted it), or its author.
        CheckConstraint("author_agent_id IS NOT NULL OR (recording_sid IS NOT NULL AND duration_seconds IS NOT NULL "
                        "AND (recording_url IS NOT NULL OR recording_deleted_at IS NOT NULL))",
                        name="recorded_or_taken"),
        # GET /api/messages reads a practice's messages newest first, since a time.
        Index("ix_messages_practice_id_created_at", "practice_id", "created_at"),
        # One recorded message per call (the call log saves it by CallSid), one taken message per agent and call.
        Index("uq_messages_call_sid_recorded", "call_sid", unique=True,
              sqlite_where=text("author_agent_id IS NULL"), postgresql_where=text("author_agent_id IS NULL")),
        UniqueConstraint("call_sid", "author_agent_id"),
    )


# The rows of a recorded message (the partial unique index's condition, for ON CONFLICT).
RECORDED = text("author_agent_id IS NULL")


class MessageDraft(Base):
    """The form of a message an agent is taking, as typed so far: one per agent and call, kept until the message
    is saved (the call may end first)."""

    __tablename__ = "message_drafts"

    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"), index=True)
    fields: Mapped[dict] = mapped_column(EncryptedJSON)  # as typed so far: encrypted like the message's
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


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
    caller_id: Mapped[int | None] = mapped_column(ForeignKey("callers.id"), index=True)  # retention's callers check
    callback_number: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8), default="open")
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    call_count: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_call_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # By when the patient should be called: the practice's target (urgent or routine) from the first call;
    # an unanswered attempt moves it to the retry time. `target_at` keeps the first one, for the metrics.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    target_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # unanswered attempts so far
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    needs_manager: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # the maximum attempts were reached
    closed_reason: Mapped[str | None] = mapped_column(String(16))  # reached | wrong-number | manager
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    # A manager gave the task to this agent (issue 13): held for them until it is closed or reassigned.
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    # A manager's reason for closing it (closed_reason manager); free text about a patient: encrypted.
    close_note: Mapped[str | None] = mapped_column(EncryptedText)


class CallbackTaskCall(Base):
    """A call that joined a callback task; a call joins one task at most."""

    __tablename__ = "callback_task_calls"

    call_sid: Mapped[str] = mapped_column(String(34), primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("callback_tasks.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(16))  # message | callback | hung-up
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # its task was closed


class CallbackTaskAction(Base):
    """One change of a callback task, with who (an agent; NULL for Careline itself) and when."""

    __tablename__ = "callback_task_actions"
    __table_args__ = (
        CheckConstraint("action IN ('opened', 'call-added', 'claimed', 'call-started', 'attempt', 'flagged', "
                        "'reassigned', 'closed')", name="action_known"),
        Index("ix_callback_task_actions_task_id_at", "task_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("callback_tasks.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16))  # attempts: ATTEMPT_OUTCOMES
    call_sid: Mapped[str | None] = mapped_column(String(34))
    details: Mapped[dict | None] = mapped_column(EncryptedJSON)  # a manager's closing reason among them: encrypted

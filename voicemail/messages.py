"""Save a message from its call record; idempotent by CallSid and RecordingSid."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from careline.upsert import insert_ignoring_duplicates
from models import Message


def save_message(session: Session, *, practice_id: int, call_sid: str, caller_id: int | None, from_number: str,
                 language: str, message: dict, created_at: datetime) -> Message:
    """Insert the call's message if it is not there yet, then bring its urgent flag and status up to date."""
    session.execute(insert_ignoring_duplicates(session, Message, ["call_sid"], dict(
        practice_id=practice_id, call_sid=call_sid, caller_id=caller_id, from_number=from_number,
        language=language, urgent=bool(message.get("urgent")), duration_seconds=int(message["duration"]),
        recording_sid=message["recording_sid"], recording_url=message["recording_url"], created_at=created_at)))
    saved = session.scalars(select(Message).where(Message.call_sid == call_sid)).one()
    if message.get("urgent") and not saved.urgent:
        saved.urgent = True  # urgent only ever goes on: a retried or late "not urgent" never clears it
    return saved


def record_recording_status(session: Session, recording_sid: str, status: str) -> None:
    """Store the recording status callback's RecordingStatus on the message it belongs to, if kept."""
    saved = session.scalars(select(Message).where(Message.recording_sid == recording_sid)).one_or_none()
    if saved is not None and saved.recording_status != status:
        saved.recording_status = status

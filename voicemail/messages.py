"""Save messages from call records, a batch at a time; idempotent by CallSid and RecordingSid."""
from __future__ import annotations

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from careline.upsert import insert_ignoring_duplicates
from models import Message


def save_messages(session: Session, messages: list[dict]) -> None:
    """Insert the messages not there yet (keyed by call_sid), then set urgent where a message became urgent.

    Each dict holds Message's columns. Urgent only ever goes on: a retried or late "not urgent" never
    clears it.
    """
    if not messages:
        return
    session.execute(insert_ignoring_duplicates(session, Message, ("call_sid",)), messages)
    urgent = [m["call_sid"] for m in messages if m["urgent"]]
    if urgent:
        session.execute(update(Message).where(Message.call_sid.in_(urgent), Message.urgent.is_(False))
                        .values(urgent=True).execution_options(synchronize_session=False))


def record_recording_statuses(session: Session, statuses: dict[str, str]) -> None:
    """Store each recording status callback's RecordingStatus on the message it belongs to, if one was kept."""
    for recording_sid, status in statuses.items():
        session.execute(update(Message).where(
            Message.recording_sid == recording_sid,
            or_(Message.recording_status.is_(None), Message.recording_status != status))
            .values(recording_status=status).execution_options(synchronize_session=False))

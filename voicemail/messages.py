"""Save messages from call records, a batch at a time; idempotent by CallSid and RecordingSid."""
from __future__ import annotations

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from core.upsert import insert_ignoring_duplicates
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


TRANSCRIPTION_RANK = {"failed": 0, "completed": 1}  # a completed transcription is never replaced by a failure


def record_transcriptions(session: Session, callbacks: list[dict]) -> None:
    """Store Twilio's transcription callbacks on their messages: text and status, once, whatever their order.

    A message stands without its transcription: one that never arrives leaves it "pending", one that failed
    marks it "failed"; a repeated callback changes nothing.
    """
    best: dict[str, dict] = {}
    for data in callbacks:
        status = data.get("status")
        if status not in TRANSCRIPTION_RANK or not data.get("recording_sid"):
            continue
        current = best.get(data["recording_sid"])
        if current is None or TRANSCRIPTION_RANK[status] > TRANSCRIPTION_RANK[current["status"]]:
            best[data["recording_sid"]] = data
    for recording_sid, data in best.items():
        text = (data.get("text") or None) if data["status"] == "completed" else None
        condition = [Message.recording_sid == recording_sid,
                     or_(Message.transcription_status.is_(None), Message.transcription_status != "completed")]
        session.execute(update(Message).where(*condition).values(
            transcription_status=data["status"], transcription_text=text,
            transcription_sid=data.get("transcription_sid")).execution_options(synchronize_session=False))

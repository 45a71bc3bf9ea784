"""Save recorded messages from call records, a batch at a time; idempotent by CallSid and RecordingSid. (The
messages agents take during a call are saved by `voicemail.taken`; a call may hold both.) A recording whose
Record action never arrived is a message too: from its status callback, or from the reconciliation with
Twilio's recordings (`voicemail.reconcile`); `calllog.record.kept_message_event` says which event."""
from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from calllog.record import RECORDING_RECONCILED, RECORDING_STATUS, CallRecord, kept_message_event
from calllog.writer import RebuiltCalls
from complaints.service import NewComplaint, open_complaints
from core.crypto import Sealed
from core.upsert import insert_ignoring_duplicates
from models import MESSAGE_KINDS, Message
from models.message import RECORDED


def keep_messages(batch: RebuiltCalls) -> None:
    """The call log rebuilt these calls: save their messages, their recordings' and transcriptions' news."""
    session, events = batch.session, batch.events
    save_messages(session, [
        _message_row(r, batch.caller_ids.get(r.from_number), events[r.call_sid])
        for r in batch.records if r.message is not None and r.practice_id is not None])
    record_recording_statuses(session, {
        row.data["recording_sid"]: row.data["status"]
        for r in batch.records for row in events[r.call_sid]
        if row.kind in (RECORDING_STATUS, RECORDING_RECONCILED) and row.data.get("status")})
    record_transcriptions(session, [
        row.data for r in batch.records for row in events[r.call_sid] if row.kind == "transcription"])


def _message_row(record: CallRecord, caller_id: int | None, rows) -> dict:
    message = record.message
    created_at = kept_message_event(rows).occurred_at  # the Record action's, else when the recording was known
    return dict(practice_id=record.practice_id, call_sid=record.call_sid, caller_id=caller_id,
                from_number=record.from_number, language=record.language or "en", urgent=bool(message.get("urgent")),
                duration_seconds=int(message["duration"]), recording_sid=message["recording_sid"],
                recording_url=message["recording_url"], created_at=created_at, after_hours=record.after_hours,
                transcription_status="pending" if message.get("transcription_requested") else None,
                kind=message_kind(message), mailbox=message.get("mailbox") or None)


def message_kind(message: dict) -> str:
    """What a recorded message is: the Record action's event says `kind` ("complaint" when the caller chose the
    practice's complaints mailbox in its menu); "message" otherwise."""
    kind = message.get("kind")
    return kind if kind in MESSAGE_KINDS else "message"


def save_messages(session: Session, messages: list[dict]) -> None:
    """Insert the recorded messages not there yet (keyed by call_sid), then set urgent where one became urgent.

    Each dict holds Message's columns. Urgent only ever goes on: a retried or late "not urgent" never
    clears it.
    """
    if not messages:
        return
    messages = [{**m, "kind": m.get("kind") or "message"} for m in messages]
    session.execute(insert_ignoring_duplicates(session, Message, ("call_sid",), index_where=RECORDED), messages)
    open_recorded_complaints(session, [m["call_sid"] for m in messages if m["kind"] == "complaint"])
    urgent = [m["call_sid"] for m in messages if m["urgent"]]
    if urgent:
        session.execute(update(Message).where(Message.call_sid.in_(urgent), Message.author_agent_id.is_(None),
                                              Message.urgent.is_(False))
                        .values(urgent=True).execution_options(synchronize_session=False))


def open_recorded_complaints(session: Session, call_sids: list[str]) -> None:
    """A recorded message that is a complaint opens its complaint (once, whoever saves it first)."""
    if not call_sids:
        return
    rows = session.execute(select(Message.id, Message.practice_id, Message.created_at).where(
        Message.call_sid.in_(call_sids), Message.author_agent_id.is_(None), Message.kind == "complaint")).all()
    open_complaints(session, [NewComplaint(row.id, row.practice_id, "recorded", row.created_at, None)
                              for row in rows])


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
        text = _transcription_text(data) if data["status"] == "completed" else None
        condition = [Message.recording_sid == recording_sid,
                     or_(Message.transcription_status.is_(None), Message.transcription_status != "completed")]
        session.execute(update(Message).where(*condition).values(
            transcription_status=data["status"], transcription_text=text,
            transcription_sid=data.get("transcription_sid")).execution_options(synchronize_session=False))


def _transcription_text(data: dict) -> str | None:
    """A transcription event's text for its message: the token the webhook made (stored as it is, never
    decrypted here), or the plaintext of an event written before the text was encrypted (the column encrypts
    it)."""
    if data.get("text_sealed"):
        return Sealed(data["text_sealed"])
    return data.get("text") or None

"""What a saved message sets in motion: a page to the on-call provider for an urgent after-hours message,
and the receipt SMS that tells the caller when to expect the callback. (For a recorded message; one an agent
takes sets the same in motion itself, `voicemail.taken`.)"""
from __future__ import annotations

from sqlalchemy import select

from calllog.writer import RebuiltCalls
from core.phone import is_e164
from models import Message
from paging.escalation import open_pages
from sms.outbox import queue_sms
from voicemail.receipts import receipt_for


def page_and_receipt(batch: RebuiltCalls) -> None:
    """Open a page for each urgent after-hours message, and queue each ended call's message receipt; their
    ids go to `batch.follow_ups`, started once the call log's transaction has committed."""
    records = batch.records
    with_message = [r.call_sid for r in records if r.message is not None and r.practice_id is not None]
    if not with_message:
        return
    now = max(r.ended_at or r.started_at for r in records)
    messages = batch.session.execute(select(Message.id, Message.call_sid, Message.practice_id, Message.urgent,
                                            Message.after_hours, Message.from_number)
                                     .where(Message.call_sid.in_(with_message),
                                            Message.author_agent_id.is_(None))).all()
    pages = open_pages(batch.session, [(m.id, m.practice_id) for m in messages if m.urgent and m.after_hours], now)
    ended = {r.call_sid for r in records if r.ended_at is not None}
    receipts = queue_sms(batch.session, [receipt_for(m.id, m.practice_id, m.from_number) for m in messages
                                         if m.call_sid in ended and is_e164(m.from_number)], now)
    batch.follow_ups.page_ids += pages
    batch.follow_ups.sms_ids += receipts

"""The SMS a caller gets after leaving a message: received, and by when to expect the callback, in the
caller's language. Queued when the call has ended (so the urgency the caller chose is known), sent by the
outbox, which honours STOP."""
from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.prompts import prompts_for
from models import CallbackTask, CallbackTaskCall, Message, OutboundSms, Practice
from practices.store import snapshot_from_model
from sms.outbox import QueuedSms


def receipt_for(message_id: int, practice_id: int, caller_number: str) -> QueuedSms:
    """The receipt SMS of one message, keyed by the message (queued once)."""
    return QueuedSms(key=f"receipt:{message_id}", purpose="receipt", practice_id=practice_id,
                     to_number=caller_number, message_id=message_id)


def receipt_body(session: Session, sms: OutboundSms) -> str | None:
    """The receipt's text at the time it is sent, from the callback task's due time."""
    message = session.get(Message, sms.message_id)
    if message is None:
        return None
    practice = session.get(Practice, message.practice_id)
    snapshot = snapshot_from_model(practice)
    language = message.language if message.language in snapshot.languages else snapshot.default_language
    prompts = prompts_for(language)
    task = session.scalars(select(CallbackTask).join(CallbackTaskCall, CallbackTaskCall.task_id == CallbackTask.id)
                           .where(CallbackTaskCall.call_sid == message.call_sid)).first()
    now = sms.created_at  # queued moments before it is sent
    return prompts.text("sms_receipt", practice=practice.name, when=_when(prompts, snapshot, task, now))


def _when(prompts, practice, task: CallbackTask | None, now: datetime) -> str:
    if task is None or task.due_at is None or task.due_at <= now:
        return prompts.text("sms_soon")
    if task.urgent:
        # Whole minutes, rounded up: a promise never earlier than the task's due time ("within 14 minutes"
        # for 14.4 minutes left would break it).
        minutes = math.ceil((task.due_at - now).total_seconds() / 60)
        if minutes <= 1:
            return prompts.text("sms_within_a_minute")
        return prompts.text("sms_within_minutes", minutes=str(minutes))
    local_due, local_now = task.due_at.astimezone(practice.tz), now.astimezone(practice.tz)
    return prompts.text("sms_by", when=prompts.speak_reopening(local_due, local_now))

"""Callback tasks: every call that did not reach a person joins the caller's one open task."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import CallbackTask, CallbackTaskCall


def attach_call(session: Session, *, practice_id: int, caller_id: int | None, callback_number: str,
                call_sid: str, reason: str, urgent: bool, at: datetime) -> CallbackTask:
    """Join the call to the caller's open task for the practice, opening one if there is none.

    A call joins one task once: a retried event finds its link and only refreshes reason and urgency.
    Two first calls racing to open a task meet the partial unique index; the writer retries its
    transaction and the second call then joins the first one's task.
    """
    link = session.get(CallbackTaskCall, call_sid)
    if link is not None:
        task = session.get(CallbackTask, link.task_id)
        if link.reason != reason and reason == "message":
            link.reason = reason
        if urgent and not task.urgent:
            task.urgent = True
        return task
    task = None
    if caller_id is not None:
        task = session.scalars(select(CallbackTask).where(
            CallbackTask.practice_id == practice_id, CallbackTask.caller_id == caller_id,
            CallbackTask.status == "open")).one_or_none()
    if task is None:
        task = CallbackTask(practice_id=practice_id, caller_id=caller_id, callback_number=callback_number,
                            status="open", urgent=urgent, call_count=0, opened_at=at, last_call_at=at)
        session.add(task)
        session.flush()
    task.call_count += 1
    task.last_call_at = max(task.last_call_at, at)
    if urgent and not task.urgent:
        task.urgent = True
    session.add(CallbackTaskCall(call_sid=call_sid, task_id=task.id, reason=reason, added_at=at))
    session.flush()
    return task

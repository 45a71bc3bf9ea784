"""Callback tasks: every call that did not reach a person joins the caller's one open task."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import CallbackTask, CallbackTaskCall


@dataclass(frozen=True)
class Attachment:
    """A call that needs a callback, as its record says."""

    practice_id: int
    caller_id: int | None  # None: withheld caller ID, so the call gets a task of its own
    callback_number: str
    call_sid: str
    reason: str  # "message" or "hung-up"
    urgent: bool
    at: datetime


def attach_calls(session: Session, attachments: list[Attachment]) -> None:
    """Join each call to its caller's open task for the practice, opening one where there is none.

    A call joins one task once: a retried event finds its link and only refreshes reason and urgency.
    Two writers racing to open the same task meet the partial unique index; the writer retries its
    transaction, and the second call then joins the first one's task.
    """
    if not attachments:
        return
    links = {link.call_sid: link for link in session.scalars(select(CallbackTaskCall).where(
        CallbackTaskCall.call_sid.in_([a.call_sid for a in attachments])))}
    linked_tasks = {task.id: task for task in session.scalars(select(CallbackTask).where(
        CallbackTask.id.in_({link.task_id for link in links.values()})).order_by(CallbackTask.id)
        .with_for_update())} if links else {}
    new = sorted((a for a in attachments if a.call_sid not in links), key=lambda a: (a.at, a.call_sid))
    caller_ids = {a.caller_id for a in new if a.caller_id is not None}
    # FOR UPDATE: another writer adding to the same task waits for this one, so no count is lost.
    open_tasks = {(t.practice_id, t.caller_id): t for t in session.scalars(select(CallbackTask).where(
        CallbackTask.caller_id.in_(caller_ids), CallbackTask.status == "open")
        .order_by(CallbackTask.id).with_for_update())} if caller_ids else {}

    for attachment in attachments:
        link = links.get(attachment.call_sid)
        if link is None:
            continue
        if link.reason != attachment.reason and attachment.reason == "message":
            link.reason = attachment.reason
        if attachment.urgent:
            linked_tasks[link.task_id].urgent = True

    tasks = []
    for attachment in new:
        key = (attachment.practice_id, attachment.caller_id)
        task = open_tasks.get(key) if attachment.caller_id is not None else None
        if task is None:
            task = CallbackTask(practice_id=attachment.practice_id, caller_id=attachment.caller_id,
                                callback_number=attachment.callback_number, status="open",
                                urgent=attachment.urgent, call_count=0, opened_at=attachment.at,
                                last_call_at=attachment.at)
            session.add(task)
            if attachment.caller_id is not None:
                open_tasks[key] = task
        task.call_count += 1
        task.last_call_at = max(task.last_call_at, attachment.at)
        task.urgent = task.urgent or attachment.urgent
        tasks.append(task)
    session.flush()  # the new tasks get their ids
    session.add_all(CallbackTaskCall(call_sid=a.call_sid, task_id=task.id, reason=a.reason, added_at=a.at)
                    for a, task in zip(new, tasks))
    session.flush()

"""Callback tasks: every call that did not reach a person joins the caller's one open task.

A task is due by the practice's target for its first call (`callbacks.due`); an urgent call joining it
later brings the due time forward to that call's urgent target, never back.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from callbacks.due import callback_due_at
from calllog.writer import RebuiltCalls
from models import CallbackTask, CallbackTaskAction, CallbackTaskCall, Practice
from practices.snapshot import PracticeSnapshot
from practices.store import snapshot_from_model

log = logging.getLogger(__name__)


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
    due_minutes: int | None = None  # the menu's mailbox gives its own callback target ([[practices.menu]] due_minutes)


def attach_from_calls(batch: RebuiltCalls) -> None:
    """The call log rebuilt these calls: join each that did not reach a person to its caller's task."""
    needing = [r for r in batch.records if r.needs_callback]
    if not needing:
        return
    # The practices' settings give the tasks' due times (callbacks.due).
    practices = {p.id: snapshot_from_model(p) for p in batch.session.scalars(
        select(Practice).where(Practice.id.in_({r.practice_id for r in needing}))
        .options(selectinload(Practice.numbers)))}
    attach_calls(batch.session, [
        Attachment(practice_id=r.practice_id, caller_id=batch.caller_ids.get(r.from_number),
                   callback_number=r.from_number, call_sid=r.call_sid,
                   reason=r.outcome if r.outcome in ("message", "callback") else "hung-up", urgent=r.urgent,
                   # a caller who asked for a callback in the queue keeps its place: its arrival there
                   at=r.callback_queued_at or r.started_at,
                   due_minutes=(r.message or {}).get("due_minutes"))
        for r in needing], practices)


def attach_calls(session: Session, attachments: list[Attachment],
                 practices: Mapping[int, PracticeSnapshot]) -> None:
    """Join each call to its caller's open task for the practice, opening one where there is none.

    `practices` (by id) gives the due times. A call joins one task once: a retried event finds its link
    and only refreshes reason and urgency (an urgent call brings its open task's due time forward), and
    writes no action again: `opened` and `call-added` are written with the link, once.
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
        task = linked_tasks[link.task_id]
        if attachment.urgent and not task.urgent:
            # Only when the task becomes urgent: every later rebuild of this call (a late recording or
            # transcription callback) would otherwise undo the retry time an agent's attempt set.
            task.urgent = True
            if task.status == "open":
                _bring_forward(task, _due_at(practices, attachment, urgent=True))

    tasks = []
    for attachment in new:
        key = (attachment.practice_id, attachment.caller_id)
        task = open_tasks.get(key) if attachment.caller_id is not None else None
        opened = task is None
        if opened:
            due_at = _due_at(practices, attachment, urgent=attachment.urgent)
            task = CallbackTask(practice_id=attachment.practice_id, caller_id=attachment.caller_id,
                                callback_number=attachment.callback_number, status="open",
                                urgent=attachment.urgent, call_count=0, opened_at=attachment.at,
                                last_call_at=attachment.at, due_at=due_at, target_at=due_at, attempts=0,
                                needs_manager=False)
            session.add(task)
            if attachment.caller_id is not None:
                open_tasks[key] = task
        elif attachment.urgent:
            _bring_forward(task, _due_at(practices, attachment, urgent=True))
        task.call_count += 1
        task.last_call_at = max(task.last_call_at, attachment.at)
        task.urgent = task.urgent or attachment.urgent
        tasks.append((task, opened))
    session.flush()  # the new tasks get their ids
    session.add_all(CallbackTaskCall(call_sid=a.call_sid, task_id=task.id, reason=a.reason, added_at=a.at)
                    for a, (task, _) in zip(new, tasks))
    # Careline itself (agent_id NULL) opened the task or added the call, at the call's time.
    session.add_all(CallbackTaskAction(task_id=task.id, action="opened" if opened else "call-added", agent_id=None,
                                       at=a.at, call_sid=a.call_sid,
                                       details={"reason": a.reason, "urgent": a.urgent})
                    for a, (task, opened) in zip(new, tasks))
    session.flush()


def _due_at(practices: Mapping[int, PracticeSnapshot], attachment: Attachment, urgent: bool) -> datetime:
    """The callback target of one call; due at once when its practice is not known (it was just deleted)."""
    practice = practices.get(attachment.practice_id)
    if practice is None:
        log.warning("call=%s practice %s not given: its callback is due at once", attachment.call_sid,
                    attachment.practice_id)
        return attachment.at
    if attachment.due_minutes and not urgent:
        return attachment.at + timedelta(minutes=int(attachment.due_minutes))
    return callback_due_at(practice, attachment.at, urgent)


def _bring_forward(task: CallbackTask, due_at: datetime) -> None:
    """An urgent call joined: the task is due by that call's urgent target if that is sooner."""
    task.due_at = due_at if task.due_at is None else min(task.due_at, due_at)
    task.target_at = due_at if task.target_at is None else min(task.target_at, due_at)

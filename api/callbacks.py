"""The JSON API's endpoints about callback tasks: list (paged) and read them, claim one, call the patient from
Careline, record what came of an attempt; a manager reassigns a task or closes it with a reason."""
from __future__ import annotations

import functools
from datetime import datetime

from flask import current_app, jsonify, request

from api import bp
from api.auth import current_user, token_required
from api.errors import InvalidBody, InvalidField, check_query
from agents.users import answers_for
from models import ATTEMPT_OUTCOMES, TASK_STATUSES
from callbacks.tasks import CallbackTaskService, TaskView
from web.audit import record_read

LIST_QUERY = ("practice", "status", "urgent", "overdue", "mine", "limit", "offset")
ATTEMPT_FIELDS = ("outcome",)
REASSIGN_FIELDS = ("agent_id",)
CLOSE_FIELDS = ("reason",)
MAX_LIMIT = 100  # tasks per page at most
MANAGER_ROLES = ("manager", "admin")
FLAGS = {"true": True, "1": True, "false": False, "0": False}


def _service() -> CallbackTaskService:
    return current_app.extensions["careline"].callback_tasks


def _may_see():
    return functools.partial(answers_for, current_user())


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def task_json(task: TaskView) -> dict:
    """A task as the API shows it; `actions` only for one task."""
    body = {
        "id": task.id, "practice": task.practice_slug, "status": task.status, "urgent": task.urgent,
        "callback_number": task.callback_number, "call_count": task.call_count,
        "opened_at": _iso(task.opened_at), "last_call_at": _iso(task.last_call_at), "due_at": _iso(task.due_at),
        "target_at": _iso(task.target_at), "overdue": task.overdue, "attempts": task.attempts,
        "needs_manager": task.needs_manager, "claimed_by": task.claimed_by,
        "claimed_until": _iso(task.claimed_until),
        "calls": [{"call_sid": call.call_sid, "reason": call.reason, "added_at": _iso(call.added_at),
                   "closed_at": _iso(call.closed_at)} for call in task.calls],
        "message_ids": task.message_ids, "closed_at": _iso(task.closed_at), "closed_reason": task.closed_reason,
        "closed_by": task.closed_by, "assigned_to": task.assigned_to, "close_note": task.close_note,
    }
    if task.actions is not None:
        body["actions"] = [{"id": a.id, "action": a.action, "agent_id": a.agent_id, "at": _iso(a.at),
                            "outcome": a.outcome, "call_sid": a.call_sid, "details": a.details}
                           for a in task.actions]
    return body


def _flag(name: str) -> bool | None:
    value = request.args.get(name)
    if value is None:
        return None
    if value.lower() not in FLAGS:
        raise InvalidField(name, f"{name} must be true or false", allowed=["true", "false"])
    return FLAGS[value.lower()]


def _count(name: str, low: int, high: int | None) -> int | None:
    value = request.args.get(name)
    if value is None:
        return None
    if not value.isdigit() or int(value) < low or (high is not None and int(value) > high):
        bounds = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise InvalidField(name, f"{name} must be a whole number {bounds}")
    return int(value)


def _list_query() -> dict:
    """`?practice=SLUG&status=open|closed&urgent=true|false&overdue=true|false&mine=true|false&limit=N&offset=N`;
    400 naming the field."""
    check_query(request.args, LIST_QUERY)
    status = request.args.get("status")
    if status is not None and status not in TASK_STATUSES:
        raise InvalidField("status", f"status must be one of {', '.join(TASK_STATUSES)}", allowed=list(TASK_STATUSES))
    practice = request.args.get("practice")
    if practice is not None and not practice.strip():
        raise InvalidField("practice", "practice must be a practice's slug")
    mine = current_user().id if _flag("mine") else None
    limit, offset = _count("limit", 1, MAX_LIMIT), _count("offset", 0, None)
    if offset is not None and limit is None:
        raise InvalidField("offset", "give limit with offset")
    return {"practice": practice, "status": status, "urgent": _flag("urgent"), "overdue": _flag("overdue"),
            "mine": mine, "limit": limit, "offset": offset or 0}


def _object_body(fields: tuple[str, ...]) -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidBody(f'the body must be a JSON object: {{"{fields[0]}": ...}}')
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise InvalidField(unknown[0], f"unknown field; the fields are {', '.join(fields)}")
    return body


def _is_manager() -> bool:
    return current_user().role in MANAGER_ROLES


def _attempt_body() -> str:
    """The body `{"outcome": "reached" | "voicemail" | "no-answer" | "wrong-number"}`; 400 naming the field."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidBody('the body must be a JSON object: {"outcome": ...}')
    unknown = sorted(set(body) - set(ATTEMPT_FIELDS))
    if unknown:
        raise InvalidField(unknown[0], "unknown field; the only field is outcome")
    outcome = body.get("outcome")
    if not isinstance(outcome, str) or outcome not in ATTEMPT_OUTCOMES:
        raise InvalidField("outcome", f"outcome must be one of {', '.join(ATTEMPT_OUTCOMES)}",
                           allowed=list(ATTEMPT_OUTCOMES))
    return outcome


@bp.get("/callbacks")
@token_required()
def list_callbacks():
    """The user's practices' callback tasks, urgent first, then by due time, with how many match (`total`);
    every one without `limit`, else one page (`limit`, `offset`, `next_offset` or null). 200; 400; 401; 403;
    404; 503."""
    query = _list_query()
    page = _service().page(_may_see(), **query)
    record_read(current_user(), "callbacks.list", details={
        "count": len(page.tasks), "total": page.total, "task_ids": [task.id for task in page.tasks],
        "filter": {name: value for name, value in query.items() if value is not None}})
    body = {"callbacks": [task_json(task) for task in page.tasks], "total": page.total}
    if page.limit is not None:
        following = page.offset + len(page.tasks)
        body.update(limit=page.limit, offset=page.offset, next_offset=following if following < page.total else None)
    return jsonify(body)


@bp.get("/callbacks/<int:task_id>")
@token_required()
def get_callback(task_id: int):
    """One callback task with its history of actions. 200; 401; 403 for another practice's; 404; 503."""
    task = _service().get(task_id, _may_see())
    record_read(current_user(), "callback.read", "callback", task.id, task.practice_id)
    return jsonify(task_json(task))


@bp.post("/callbacks/<int:task_id>/claim")
@token_required()
def claim_callback(task_id: int):
    """Hold the task for 5 minutes (again: renew it). 200 with the task; 401; 403; 404; 409; 503."""
    task = _service().claim(task_id, current_user().id, _may_see())
    return _task_answer(task, "callback.claim")


@bp.post("/callbacks/<int:task_id>/call")
@token_required()
def call_callback(task_id: int):
    """Claim the task, ring the user, then the patient; one call at a time. 202 {"call_sid"}; 401; 403; 404;
    409; 502; 503."""
    call_sid = _service().start_call(task_id, current_user().id, _may_see())
    record_read(current_user(), "callback.call", "callback", task_id, details={"call_sid": call_sid})
    return jsonify(call_sid=call_sid), 202


@bp.post("/callbacks/<int:task_id>/attempts")
@token_required()
def record_callback_attempt(task_id: int):
    """Record an attempt's outcome; reached/wrong-number close the task. 200; 400; 401; 403; 404; 409; 503."""
    outcome = _attempt_body()
    task = _service().record_attempt(task_id, current_user().id, outcome, _may_see())
    return _task_answer(task, "callback.attempt")


@bp.post("/callbacks/<int:task_id>/reassign")
@token_required()
def reassign_callback(task_id: int):
    """A manager gives the task to another agent of its practice: `{"agent_id": N}`. 200 with the task; 400
    naming the field; 401; 403 (agents; another practice's task); 404; 409 closed; 503."""
    body = _object_body(REASSIGN_FIELDS)
    task = _service().reassign(task_id, current_user().id, _is_manager(), body.get("agent_id"), _may_see())
    return _task_answer(task, "callback.reassign")


@bp.post("/callbacks/<int:task_id>/close")
@token_required()
def close_callback(task_id: int):
    """A manager closes the task without reaching the patient: `{"reason": "..."}` (1 to 500 characters).
    200 with the task; 400 naming the field; 401; 403 (agents; another practice's task); 404; 409 closed; 503."""
    body = _object_body(CLOSE_FIELDS)
    task = _service().close(task_id, current_user().id, _is_manager(), body.get("reason"), _may_see())
    return _task_answer(task, "callback.close")


def _task_answer(task: TaskView, action: str):
    """The task after an action, as JSON (with the patient's number): the action and that read, audited."""
    record_read(current_user(), action, "callback", task.id, task.practice_id)
    return jsonify(task_json(task))

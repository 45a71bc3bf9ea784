"""The callbacks worklist (issue 13) at /console/callbacks, for agents and managers: every open callback task of
the user's practices, 25 a page, urgent first then by due time; filters (practice, urgent, overdue, mine); each
task's state (who holds it, until when, in the practice's zone) and its actions as forms: claim, call now (Careline
rings the agent, then the patient from the practice's number, as POST /api/callbacks/ID/call), record the outcome;
a task at its last attempt is flagged in words; managers reassign it or close it with a reason. A task's page
(/console/callbacks/ID) shows its history of actions.

Every action is a POST form with the CSRF token, answered by a 303 back to the list (or the task's page) with a
notice; a refusal that is part of the work (another agent holds it, it was closed meanwhile, Twilio is down) is
shown as a notice too, while another practice's task is a 403 page and an unknown one a 404.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app, flash, get_flashed_messages, redirect, render_template, request, url_for

from agents.users import ApiUser, answers_for
from callbacks import errors as task_errors
from callbacks.tasks import CallbackTaskService, TaskView
from console import bp
from console.dashboard import PracticeOption, visible_practices
from console.errors import ConsoleError
from console.views import desk_user_required
from models import ATTEMPT_OUTCOMES
from web.audit import record_read
from web.problems import problem_for

log = logging.getLogger(__name__)

PER_PAGE = 25  # tasks a page
MANAGER_ROLES = ("manager", "admin")
OUTCOME_LABELS = {"reached": "Reached the patient", "voicemail": "Left a voicemail", "no-answer": "No answer",
                  "wrong-number": "Wrong number"}
ACTION_LABELS = {"opened": "Opened", "call-added": "Another call joined", "claimed": "Claimed",
                 "call-started": "Call started", "attempt": "Attempt recorded", "flagged": "Flagged for a manager",
                 "reassigned": "Reassigned", "closed": "Closed"}
CLOSED_LABELS = {"reached": "Reached the patient", "wrong-number": "Wrong number", "manager": "Closed by a manager"}
# Refusals that are part of working the list: shown as a notice on the page the agent came from.
WORK_REFUSALS = (task_errors.TaskClaimed, task_errors.TaskClosed, task_errors.TaskAssigned,
                 task_errors.CallInProgress, task_errors.AgentUnreachable, task_errors.NoNumberToCall,
                 task_errors.PracticeHasNoNumber, task_errors.TwilioUnavailable)
TIME_FORMAT = "%b %d, %Y, %H:%M %Z"  # "Nov 24, 2026, 20:00 CST": always with the practice's zone


class BadRequest(ConsoleError):
    """A filter or a form's field of the worklist is malformed; the sentence names it."""

    status = 400
    error_id = "invalid-field"


def _service() -> CallbackTaskService:
    return current_app.extensions["careline"].callback_tasks


def _may_see(user: ApiUser):
    return lambda practice_id: answers_for(user, practice_id)


def _is_manager(user: ApiUser) -> bool:
    return user.role in MANAGER_ROLES


def local_time(moment: datetime | None, zone: str) -> str:
    """`moment` in the practice's zone, saying which ("Nov 24, 2026, 20:00 CST"); "—" for none."""
    if moment is None:
        return "—"
    return moment.astimezone(ZoneInfo(zone)).strftime(TIME_FORMAT)


@dataclass(frozen=True)
class Row:
    """A task as the page shows it."""

    task: TaskView
    practice: PracticeOption
    opened: str
    due: str
    claimed_until: str | None
    holder: str | None  # who holds the claim
    assignee: str | None  # who a manager gave it to
    mine: bool  # held by or assigned to the user
    assigned_to_you: bool  # a manager gave it to the user
    workable: bool  # the user may claim, call, record an outcome
    closed: str | None  # when it was closed, in the zone


def _rows(user: ApiUser, tasks: list[TaskView], practices: dict[int, PracticeOption]) -> list[Row]:
    names = _service().names([t.claimed_by for t in tasks] + [t.assigned_to for t in tasks])
    rows = []
    for task in tasks:
        practice = practices[task.practice_id]
        zone = practice.timezone
        mine = user.id in (task.claimed_by, task.assigned_to)
        held_by_other = task.claimed_by is not None and task.claimed_by != user.id
        assigned_other = task.assigned_to is not None and task.assigned_to != user.id
        rows.append(Row(task=task, practice=practice, opened=local_time(task.opened_at, zone),
                        due=local_time(task.due_at, zone),
                        claimed_until=local_time(task.claimed_until, zone) if task.claimed_until else None,
                        holder=names.get(task.claimed_by), assignee=names.get(task.assigned_to), mine=mine,
                        assigned_to_you=task.assigned_to == user.id,
                        workable=task.status == "open" and not held_by_other and not assigned_other,
                        closed=local_time(task.closed_at, zone) if task.closed_at else None))
    return rows


def _flag_arg(name: str) -> bool | None:
    value = request.args.get(name, "")
    if value == "":
        return None
    if value not in ("true", "false"):
        raise BadRequest(f"{name} must be true or false")
    return value == "true"


def _page_number() -> int:
    value = request.args.get("page", "1") or "1"
    if not value.isdigit() or int(value) < 1:
        raise BadRequest("page must be a whole number from 1")
    return int(value)


def _back(default: str) -> str:
    """Where a form returns to: a page of this worklist, never elsewhere."""
    target = request.form.get("next", "")
    if target.startswith("/console/callbacks") and "\\" not in target and not target.startswith("//"):
        return target
    return default


def _assignees(user: ApiUser, rows: list[Row]) -> dict[int, list]:
    """For a manager, each shown practice's agents (a reassignment's choices)."""
    if not _is_manager(user):
        return {}
    return {practice_id: _service().assignable(practice_id)
            for practice_id in sorted({row.task.practice_id for row in rows if row.task.status == "open"})}


@bp.get("/callbacks")
@desk_user_required
def callbacks(user: ApiUser):
    """The worklist: `?practice=SLUG&urgent=true|false&overdue=true&mine=true&page=N`, 25 open tasks a page.
    200; 303 to sign-in; 400 for a bad filter; 403 for a practice not theirs; 404 for an unknown one; 503."""
    practices = visible_practices(_services().session_factory, user)
    by_id = {practice.id: practice for practice in practices}
    practice = request.args.get("practice") or None
    urgent, overdue, mine = _flag_arg("urgent"), _flag_arg("overdue"), _flag_arg("mine")
    number = _page_number()
    page = _service().page(_may_see(user), practice=practice, status="open", urgent=urgent,
                           overdue=True if overdue else None, mine=user.id if mine else None,
                           limit=PER_PAGE, offset=(number - 1) * PER_PAGE)
    rows = _rows(user, page.tasks, by_id)
    record_read(user, "callbacks.list", practice_id=None, details={
        "count": len(page.tasks), "total": page.total, "task_ids": [task.id for task in page.tasks],
        "filter": {"practice": practice, "urgent": urgent, "overdue": overdue, "mine": mine, "page": number}})
    pages = max(1, math.ceil(page.total / PER_PAGE))
    filters = {"practice": practice or "", "urgent": "" if urgent is None else str(urgent).lower(),
               "overdue": "true" if overdue else "", "mine": "true" if mine else ""}
    kept = {key: value for key, value in filters.items() if value}
    return render_template(
        "callbacks.html", user=user, rows=rows, practices=practices, filters=filters, total=page.total,
        page_number=number, pages=pages, first=page.offset + 1, last=page.offset + len(rows),
        previous_url=url_for("console.callbacks", **kept, page=number - 1) if number > 1 else None,
        next_url=url_for("console.callbacks", **kept, page=number + 1) if number < pages else None,
        manager=_is_manager(user), assignees=_assignees(user, rows), outcomes=OUTCOME_LABELS,
        closed_labels=CLOSED_LABELS, here=request.full_path.rstrip("?"), notices=get_flashed_messages(True))


@bp.get("/callbacks/<int:task_id>")
@desk_user_required
def callback_detail(user: ApiUser, task_id: int):
    """One task with its history of actions, and its actions. 200; 303 to sign-in; 403 for another
    practice's task; 404; 503."""
    task = _service().get(task_id, _may_see(user))
    practices = {p.id: p for p in visible_practices(_services().session_factory, user)}
    (row,) = _rows(user, [task], practices)
    names = _service().names([a.agent_id for a in task.actions] +
                             [a.details.get("to") for a in task.actions if a.details and a.details.get("to")])
    zone = row.practice.timezone
    history = [{"at": local_time(a.at, zone), "who": names.get(a.agent_id, "Careline") if a.agent_id else "Careline",
                "what": ACTION_LABELS.get(a.action, a.action), "detail": _detail(a, names)} for a in task.actions]
    record_read(user, "callback.read", "callback", task.id, task.practice_id)
    return render_template("callback_task.html", user=user, row=row, history=history, manager=_is_manager(user),
                           assignees=_assignees(user, [row]), outcomes=OUTCOME_LABELS, closed_labels=CLOSED_LABELS,
                           here=request.path, notices=get_flashed_messages(True))


def _detail(action, names: dict[int, str]) -> str:
    """What an entry of the history says beyond its kind (no number, no message text)."""
    details = action.details or {}
    if action.action == "attempt":
        return f"{OUTCOME_LABELS.get(action.outcome, action.outcome)} (unanswered attempts: {details.get('attempts')})"
    if action.action == "reassigned":
        return f"to {names.get(details.get('to'), 'agent ' + str(details.get('to')))}"
    if action.action == "closed":
        label = CLOSED_LABELS.get(action.outcome, action.outcome or "")
        return f"{label}: {details['reason']}" if details.get("reason") else label
    if action.action == "flagged":
        return f"after {details.get('attempts')} of {details.get('max_attempts')} attempts"
    if action.action == "call-started":
        return "Twilio did not place the call" if details.get("failed") else \
            ("rang the softphone" if details.get("ring") == "client" else "rang the agent's phone")
    return ""


def _services():
    return current_app.extensions["careline"]


def _act(user: ApiUser, task_id: int, work, done: str):
    """Run one action; 303 back with `done` (or the refusal) as a notice."""
    back = _back(url_for("console.callbacks"))
    try:
        work()
    except WORK_REFUSALS as exc:
        problem = problem_for(exc)
        log.info("console: task=%s action refused for agent %s: %s", task_id, user.id, problem.error_id)
        flash(f"Task {task_id}: {problem.sentence}", "error")
    else:
        flash(done, "done")
    return redirect(back, 303)


@bp.post("/callbacks/<int:task_id>/claim")
@desk_user_required
def callback_claim(user: ApiUser, task_id: int):
    """Claim the task for 5 minutes. 303 back; 403; 404; 503."""
    return _act(user, task_id, lambda: _service().claim(task_id, user.id, _may_see(user)),
                f"Task {task_id} is yours for 5 minutes.")


@bp.post("/callbacks/<int:task_id>/call")
@desk_user_required
def callback_call(user: ApiUser, task_id: int):
    """Call now: Careline rings the user's softphone or phone, then the patient from the practice's number
    (as POST /api/callbacks/ID/call). 303 back; 403; 404; 503."""
    return _act(user, task_id, lambda: _service().start_call(task_id, user.id, _may_see(user)),
                f"Task {task_id}: Careline is ringing you; answer and press 1 to call the patient, "
                "then record the outcome.")


@bp.post("/callbacks/<int:task_id>/attempt")
@desk_user_required
def callback_attempt(user: ApiUser, task_id: int):
    """Record an attempt's outcome (reached / voicemail / no-answer / wrong-number). 303 back; 400 naming the
    field; 403; 404; 503."""
    outcome = request.form.get("outcome", "")
    if outcome not in ATTEMPT_OUTCOMES:
        raise BadRequest(f"outcome must be one of {', '.join(ATTEMPT_OUTCOMES)}")
    return _act(user, task_id, lambda: _service().record_attempt(task_id, user.id, outcome, _may_see(user)),
                f"Task {task_id}: {OUTCOME_LABELS[outcome].lower()} recorded.")


@bp.post("/callbacks/<int:task_id>/reassign")
@desk_user_required
def callback_reassign(user: ApiUser, task_id: int):
    """A manager gives the task to another agent of its practice (`agent_id`). 303 back; 400 naming the field;
    403 for agents and another practice's task; 404; 503."""
    value = request.form.get("agent_id", "")
    agent_id = int(value) if value.isdigit() else None

    def work():
        task = _service().reassign(task_id, user.id, _is_manager(user), agent_id, _may_see(user))
        names = _service().names([task.assigned_to])
        flash(f"Task {task_id} is assigned to {names.get(task.assigned_to)}.", "done")

    back = _back(url_for("console.callbacks"))
    try:
        work()
    except WORK_REFUSALS as exc:
        flash(f"Task {task_id}: {problem_for(exc).sentence}", "error")
    return redirect(back, 303)


@bp.post("/callbacks/<int:task_id>/close")
@desk_user_required
def callback_close(user: ApiUser, task_id: int):
    """A manager closes the task with a reason (`reason`). 303 back; 400 naming the field; 403 for agents and
    another practice's task; 404; 503."""
    reason = request.form.get("reason", "")
    return _act(user, task_id, lambda: _service().close(task_id, user.id, _is_manager(user), reason,
                                                        _may_see(user)),
                f"Task {task_id} is closed.")

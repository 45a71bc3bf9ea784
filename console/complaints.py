"""The complaints worklist (issue 16) at /console/complaints, for managers and admins: the open complaints of their
practices, oldest first, with their age and whether the patient should have been told by now (due, overdue); a
complaint's page (/console/complaints/ID) shows what the patient said, its history (who moved it, when) and the one
form that moves it a step forward with the notes that step needs (being looked at; patient informed: what was done
and what the patient was told; closed).

A move is a POST form with the CSRF token, answered by a 303 back to the complaint's page with a notice; a move
that is no longer possible (someone moved it meanwhile) or a missing note is shown as a notice too; another
practice's complaint is a 403 page and an unknown one a 404.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app, flash, get_flashed_messages, redirect, render_template, request, url_for

from agents.users import ApiUser, answers_for
from complaints import errors as complaint_errors
from complaints.service import ComplaintService, ComplaintView
from console import bp
from console.dashboard import COMPLAINT_STATE_LABELS as STATE_LABELS, PracticeOption, age_text, visible_practices
from console.views import console_user_required
from web.audit import record_read
from web.problems import problem_for

log = logging.getLogger(__name__)

TIME_FORMAT = "%b %d, %Y, %H:%M %Z"  # "Nov 24, 2026, 20:00 CST": always with the practice's zone
MANAGER_ROLES = ("manager", "admin")
SOURCE_LABELS = {"desk": "Taken at the desk", "recorded": "Recorded message"}
# Refusals that are part of the work: shown as a notice on the complaint's page.
MOVE_REFUSALS = (complaint_errors.TransitionNotAllowed, complaint_errors.ComplaintFieldInvalid)


def _service() -> ComplaintService:
    return current_app.extensions["careline"].complaints


def _may_see(user: ApiUser):
    return lambda practice_id: answers_for(user, practice_id)


def local_time(moment: datetime | None, zone: str) -> str:
    """`moment` in the practice's zone, saying which; "—" for none."""
    if moment is None:
        return "—"
    return moment.astimezone(ZoneInfo(zone)).strftime(TIME_FORMAT)


def due_state(complaint: ComplaintView) -> str:
    """Where a complaint stands against its due time, in words."""
    if complaint.overdue:
        return "Overdue"
    if complaint.state in ("patient-informed", "closed"):
        return "Patient informed"
    return "Due"


@dataclass(frozen=True)
class Row:
    """A complaint as the pages show it."""

    complaint: ComplaintView
    practice: PracticeOption
    received: str
    due: str
    age: str
    due_state: str
    state: str


def _row(complaint: ComplaintView, practices: dict[int, PracticeOption]) -> Row:
    practice = practices[complaint.practice_id]
    return Row(complaint, practice, local_time(complaint.received_at, practice.timezone),
               local_time(complaint.due_at, practice.timezone), age_text(complaint.age_seconds), due_state(complaint),
               STATE_LABELS.get(complaint.state, complaint.state))


@bp.get("/complaints")
@console_user_required
def complaints(user: ApiUser):
    """The open complaints of one's practices, oldest first: `?practice=SLUG&overdue=true`. 200; 303 to sign-in;
    403 for agents and a practice not theirs; 404 for an unknown practice; 503."""
    options = visible_practices(current_app.extensions["careline"].session_factory, user)
    practices = {p.id: p for p in options}
    practice = request.args.get("practice") or None
    overdue = request.args.get("overdue") == "true"
    found = _service().list(_may_see(user), practice=practice, overdue=True if overdue else None, open_only=True)
    record_read(user, "complaints.list", details={"count": len(found),
                                                  "complaint_ids": [complaint.id for complaint in found],
                                                  "filter": {"practice": practice, "overdue": overdue}})
    return render_template("complaints.html", user=user, rows=[_row(c, practices) for c in found],
                           practices=options, filters={"practice": practice or "", "overdue": overdue},
                           notices=get_flashed_messages(True))


@bp.get("/complaints/<int:complaint_id>")
@console_user_required
def complaint_detail(user: ApiUser, complaint_id: int):
    """One complaint: what the patient said, its history, the form that moves it. 200; 303 to sign-in; 403 for
    agents and another practice's complaint; 404; 503."""
    complaint = _service().get(complaint_id, _may_see(user))
    practices = {p.id: p for p in visible_practices(current_app.extensions["careline"].session_factory, user)}
    row = _row(complaint, practices)
    zone = row.practice.timezone
    history = [{"at": local_time(change.at, zone), "who": change.agent_name or "Careline",
                "what": STATE_LABELS.get(change.to_state, change.to_state), "note": change.note or ""}
               for change in complaint.changes]
    record_read(user, "complaint.read", "complaint", complaint.id, complaint.practice_id)
    return render_template("complaint.html", user=user, row=row, history=history, labels=STATE_LABELS,
                           source=SOURCE_LABELS.get(complaint.source, complaint.source),
                           message_time=local_time(complaint.message["created_at"], zone),
                           manager=user.role in MANAGER_ROLES, notices=get_flashed_messages(True))


@bp.post("/complaints/<int:complaint_id>/state")
@console_user_required
def complaint_move(user: ApiUser, complaint_id: int):
    """Move the complaint a step forward (`state`, with `note`, `action_taken`, `patient_told`). 303 back to its
    page with a notice; 403 for agents and another practice's complaint; 404; 503."""
    state = request.form.get("state", "")
    try:
        moved = _service().move(complaint_id, user.id, user.role in MANAGER_ROLES, state, _may_see(user),
                        note=request.form.get("note") or None,
                        action_taken=request.form.get("action_taken") if state == "patient-informed" else None,
                        patient_told=request.form.get("patient_told") if state == "patient-informed" else None)
    except MOVE_REFUSALS as exc:
        problem = problem_for(exc)
        log.info("console: complaint=%s move refused for agent %s: %s", complaint_id, user.id, problem.error_id)
        flash(f"Complaint {complaint_id} not moved: {problem.sentence}", "error")
    else:
        record_read(user, "complaint.move", "complaint", moved.id, moved.practice_id, details={"state": moved.state})
        flash(f"Complaint {complaint_id} is now: {STATE_LABELS.get(state, state).lower()}.", "done")
    return redirect(url_for("console.complaint_detail", complaint_id=complaint_id), 303)

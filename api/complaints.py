"""The JSON API's endpoints about complaints: list them (by practice, state, overdue), read one with its message and
history, and (managers, admins) move one a step forward with the notes that step needs."""
from __future__ import annotations

import functools
from datetime import datetime

from flask import current_app, jsonify, request

from agents.users import answers_for
from api import bp
from api.auth import current_user, token_required
from api.errors import InvalidBody, InvalidField, check_query
from complaints.service import ComplaintService, ComplaintView
from models import COMPLAINT_STATES
from web.audit import record_read

LIST_QUERY = ("practice", "state", "overdue")
STATE_FIELDS = ("state", "note", "action_taken", "patient_told")
MANAGER_ROLES = ("manager", "admin")
FLAGS = {"true": True, "1": True, "false": False, "0": False}


def _service() -> ComplaintService:
    return current_app.extensions["careline"].complaints


def _may_see():
    return functools.partial(answers_for, current_user())


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def complaint_json(complaint: ComplaintView) -> dict:
    """A complaint as the API shows it; `message` and `history` only for one complaint."""
    body = {
        "id": complaint.id, "practice": complaint.practice_slug, "message_id": complaint.message_id,
        "source": complaint.source, "state": complaint.state, "next_state": complaint.next_state,
        "received_at": _iso(complaint.received_at), "due_at": _iso(complaint.due_at), "overdue": complaint.overdue,
        "age_seconds": complaint.age_seconds, "owner_id": complaint.owner_id, "owner_name": complaint.owner_name,
        "action_taken": complaint.action_taken, "patient_told": complaint.patient_told,
        "informed_at": _iso(complaint.informed_at), "closed_at": _iso(complaint.closed_at),
    }
    if complaint.message is not None:
        body["message"] = {**complaint.message, "created_at": _iso(complaint.message["created_at"])}
    if complaint.changes is not None:
        body["history"] = [{"id": c.id, "from": c.from_state, "to": c.to_state, "agent_id": c.agent_id,
                            "agent_name": c.agent_name, "at": _iso(c.at), "note": c.note} for c in complaint.changes]
    return body


def _list_query() -> dict:
    """`?practice=SLUG&state=STATE&overdue=true|false`; 400 naming the field."""
    check_query(request.args, LIST_QUERY)
    state = request.args.get("state")
    if state is not None and state not in COMPLAINT_STATES:
        raise InvalidField("state", f"state must be one of {', '.join(COMPLAINT_STATES)}",
                           allowed=list(COMPLAINT_STATES))
    practice = request.args.get("practice")
    if practice is not None and not practice.strip():
        raise InvalidField("practice", "practice must be a practice's slug")
    overdue = request.args.get("overdue")
    if overdue is not None and overdue.lower() not in FLAGS:
        raise InvalidField("overdue", "overdue must be true or false", allowed=["true", "false"])
    return {"practice": practice, "state": state, "overdue": None if overdue is None else FLAGS[overdue.lower()]}


def _state_body() -> dict:
    """`{"state": ..., "note": ..., "action_taken": ..., "patient_told": ...}`; 400 naming the field."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidBody('the body must be a JSON object: {"state": ...}')
    unknown = sorted(set(body) - set(STATE_FIELDS))
    if unknown:
        raise InvalidField(unknown[0], f"unknown field; the fields are {', '.join(STATE_FIELDS)}")
    return body


@bp.get("/complaints")
@token_required()
def list_complaints():
    """The user's practices' complaints, oldest first (at most 500), each with its due time and whether it is
    overdue. 200; 400; 401; 403 for another practice; 404 for an unknown one (admins); 503."""
    query = _list_query()
    complaints = _service().list(_may_see(), **query)
    record_read(current_user(), "complaints.list", details={
        "count": len(complaints), "complaint_ids": [complaint.id for complaint in complaints],
        "filter": {name: value for name, value in query.items() if value is not None}})
    return jsonify(complaints=[complaint_json(complaint) for complaint in complaints])


@bp.get("/complaints/<int:complaint_id>")
@token_required()
def get_complaint(complaint_id: int):
    """One complaint with its message (the patient's words) and its history. 200; 401; 403 for another practice's;
    404; 503."""
    complaint = _service().get(complaint_id, _may_see())
    record_read(current_user(), "complaint.read", "complaint", complaint.id, complaint.practice_id)
    return jsonify(complaint_json(complaint))


@bp.post("/complaints/<int:complaint_id>/state")
@token_required()
def move_complaint(complaint_id: int):
    """A manager moves the complaint one step forward: `{"state": "being-looked-at", "note"?}`, `{"state":
    "patient-informed", "action_taken", "patient_told", "note"?}`, `{"state": "closed", "note"?}`. 200 with the
    complaint; 400 naming the field; 401; 403 (agents; another practice's); 404; 409 `transition-not-allowed`;
    503."""
    body = _state_body()
    user = current_user()
    complaint = _service().move(complaint_id, user.id, user.role in MANAGER_ROLES, body.get("state"), _may_see(),
                                note=body.get("note"), action_taken=body.get("action_taken"),
                                patient_told=body.get("patient_told"))
    record_read(user, "complaint.move", "complaint", complaint.id, complaint.practice_id,
                details={"state": complaint.state})
    return jsonify(complaint_json(complaint))

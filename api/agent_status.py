"""The JSON API's endpoints about agents' status: set one's own or an agent's, list every agent's."""
from __future__ import annotations

import logging

from flask import current_app, jsonify, request

from agents.status import AgentStatusService
from api import bp
from api.auth import acting_on, current_user, token_required
from api.errors import InvalidBody, InvalidField
from agents.users import all_users, may_act_on
from api.views import user_json
from models.agent_status import STATUS_REASON_MAX_LENGTH
from queueing.model import AgentStatus, AgentView
from queueing.overview import iso_time

log = logging.getLogger(__name__)

STATUS_FIELDS = ("status", "reason")
# The statuses a person sets (queueing.model.SETTABLE; the rest come from calls), in the order the API lists them.
SETTABLE_NAMES = tuple(status.value for status in (AgentStatus.AVAILABLE, AgentStatus.PAUSED, AgentStatus.OFFLINE))


def _service() -> AgentStatusService:
    return current_app.extensions["careline"].agent_status


def state_json(view: AgentView | None) -> dict:
    """An agent's live state; an agent the queue does not know is offline (where every agent starts)."""
    if view is None:
        return {"status": AgentStatus.OFFLINE.value, "reason": None, "idle_since": None, "wrap_up_until": None,
                "call_sid": None}
    return {"status": view.status.value, "reason": view.reason, "idle_since": iso_time(view.idle_since),
            "wrap_up_until": iso_time(view.wrap_up_until), "call_sid": view.call_sid}


def _status_body() -> tuple[AgentStatus, str | None]:
    """The body `{"status": "available" | "paused" | "offline", "reason": "..."}`; 400 naming the field."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidBody('the body must be a JSON object: {"status": ..., "reason": ...}')
    unknown = sorted(set(body) - set(STATUS_FIELDS))
    if unknown:
        raise InvalidField(unknown[0], f"unknown field; the fields are {' and '.join(STATUS_FIELDS)}")
    status = body.get("status")
    if not isinstance(status, str) or status not in SETTABLE_NAMES:
        raise InvalidField("status", f"status must be one of {', '.join(SETTABLE_NAMES)}",
                           allowed=list(SETTABLE_NAMES))
    reason = body.get("reason")
    if reason is not None:
        if not isinstance(reason, str):
            raise InvalidField("reason", "reason must be a string")
        if len(reason) > STATUS_REASON_MAX_LENGTH:
            raise InvalidField("reason", f"reason must be at most {STATUS_REASON_MAX_LENGTH} characters",
                               max_length=STATUS_REASON_MAX_LENGTH)
        reason = reason.strip() or None
        if reason is not None and status == AgentStatus.AVAILABLE:
            # The queue keeps no reason for an available agent: refuse rather than drop it silently.
            raise InvalidField("reason", "a reason goes with paused or offline, not available")
    return AgentStatus(status), reason


def _set_status(agent_id: int):
    status, reason = _status_body()
    # NoSuchAgent when the agent was deleted since the request was authenticated: 404 (web/problems.py).
    result = _service().set_status(agent_id, status, reason)
    if agent_id != current_user().id:
        log.info("api: agent %s (%s) set agent %s %s", current_user().id, current_user().role, agent_id, status)
    return jsonify(id=agent_id, requested=result.requested.value, changed=result.changed,
                   state=state_json(result.live))


@bp.post("/agents/me/status")
@token_required()
def set_my_status():
    """Set one's own status (available, paused, offline). 200 with the live state; 400; 401; 503."""
    return _set_status(current_user().id)


@bp.get("/agents/me/status")
@token_required()
def my_status():
    """One's own live state (what the queue says), as the desk shows it. 200; 401; 503."""
    me = current_user().id
    return jsonify(id=me, state=state_json(_service().live_states([me]).get(me)),
                   at=current_app.extensions["careline"].now().isoformat())


@bp.get("/agents/me/day")
@token_required()
def my_day():
    """One's shift so far (the last 12 hours): calls handled, average talk, offers missed. 200; 401; 503."""
    day = current_app.extensions["careline"].agent_days.of(current_user().id)
    return jsonify(since=day.since.isoformat(), calls_handled=day.calls_handled,
                   talk_mean_seconds=day.talk_mean_seconds, offers_missed=day.offers_missed)


@bp.post("/agents/<int:agent_id>/status")
@token_required()
def set_agent_status(agent_id: int):
    """Set the status of an agent one may act on (`agents.users.may_act_on`). 200; 400; 401; 403; 404; 503."""
    return _set_status(acting_on(agent_id).id)


@bp.get("/agents")
@token_required(roles=("manager", "admin"))
def list_agents():
    """Every agent the user may act on, with its live state. 200; 401; 403 for an agent; 503."""
    actor = current_user()
    users = [user for user in all_users(current_app.extensions["careline"].session_factory)
             if may_act_on(actor, user)]
    states = _service().live_states(user.id for user in users)
    return jsonify(agents=[{**user_json(user), "languages": list(user.languages),
                            "state": state_json(states.get(user.id))} for user in users])

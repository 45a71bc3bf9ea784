"""The JSON API's view of the call queue: per practice, the callers waiting and the agents by status."""
from __future__ import annotations

import logging

from flask import current_app, jsonify, request

from api import bp
from api.agent_status import iso_time
from api.auth import current_user, token_required
from api.errors import NotAllowed, PracticeNotFound
from agents.users import answers_for
from queueing.overview import AgentLine, CallerLine, PracticeQueue, QueueOverview

log = logging.getLogger(__name__)


def _caller_json(caller: CallerLine) -> dict:
    return {"call_sid": caller.call_sid, "position": caller.position, "state": caller.state.value,
            "wait_seconds": caller.wait_seconds, "urgent": caller.urgent, "language": caller.language,
            "number": caller.masked_number, "agent_id": caller.agent_id}


def _agent_json(agent: AgentLine) -> dict:
    return {"id": agent.agent_id, "name": agent.name, "reason": agent.reason, "idle_since": iso_time(agent.idle_since)}


def _practice_queue_json(queue: PracticeQueue) -> dict:
    return {"practice": {"slug": queue.practice.slug, "name": queue.practice.name},
            "callers": [_caller_json(caller) for caller in queue.callers],
            "agents": {status.value: [_agent_json(agent) for agent in agents]
                       for status, agents in queue.agents.items()}}


@bp.get("/queue")
@token_required()
def queue_view():
    """The queues of the practices the user answers for (an admin: all), or of `?practice=SLUG`.
    200; 401; 403 for a practice not theirs; 404 for an unknown slug; 503."""
    services = current_app.extensions["careline"]
    overview = QueueOverview(services.session_factory, services.queue, services.clock)
    user, slug = current_user(), request.args.get("practice")
    practices = overview.practices()
    if slug is None:
        chosen = [practice for practice in practices if answers_for(user, practice.id)]
    else:
        chosen = [practice for practice in practices if practice.slug == slug]
        if not chosen:
            raise PracticeNotFound("no practice has this slug", practice=slug)
        if not answers_for(user, chosen[0].id):
            log.info("api: agent %s (%s) refused %s %s: not their practice", user.id, user.role, request.method,
                     request.path)
            raise NotAllowed("you do not answer for this practice", practice=slug)
    return jsonify(practices=[_practice_queue_json(queue) for queue in overview.view(chosen)])

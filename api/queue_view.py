"""The JSON API's view of the call queue: per practice, the callers waiting and the agents by status."""
from __future__ import annotations

import logging

from flask import current_app, jsonify, request

from api import bp
from api.auth import current_user, token_required
from api.errors import NotAllowed, PracticeNotFound
from agents.users import answers_for
from queueing.overview import practice_queue_json

log = logging.getLogger(__name__)


@bp.get("/queue")
@token_required()
def queue_view():
    """The queues of the practices the user answers for (an admin: all), or of `?practice=SLUG`.
    200; 401; 403 for a practice not theirs, and for an unknown slug (so slugs cannot be probed) except to one who
    sees every practice (404); 503."""
    services = current_app.extensions["careline"]
    overview = services.queue_overview
    user, slug = current_user(), request.args.get("practice")
    practices = overview.practices()
    if slug is None:
        chosen = [practice for practice in practices if answers_for(user, practice.id)]
    else:
        chosen = [practice for practice in practices if practice.slug == slug]
        if not chosen and all(answers_for(user, practice.id) for practice in practices):
            raise PracticeNotFound("no practice has this slug", practice=slug)
        if not chosen or not answers_for(user, chosen[0].id):
            log.info("api: agent %s (%s) refused %s %s: not their practice", user.id, user.role, request.method,
                     request.path)
            raise NotAllowed("you do not answer for this practice", practice=slug)
    return jsonify(practices=[practice_queue_json(queue) for queue in overview.view(chosen)])

"""The JSON API's endpoints about users: who am I, and one agent."""
from __future__ import annotations

from flask import jsonify

from api import bp
from api.auth import acting_on, current_user, token_required
from agents.users import ApiUser


def user_json(user: ApiUser) -> dict:
    """A user as the API shows it; `practices` is "*" for every practice."""
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role,
            "practices": "*" if user.all_practices else list(user.practice_slugs)}


@bp.get("/me")
@token_required()
def me():
    """The user the token belongs to. 200; 401 without a valid token; 503 when the database is down."""
    return jsonify(user_json(current_user()))


@bp.get("/agents/<int:agent_id>")
@token_required()
def agent(agent_id: int):
    """One agent the user may act on (`agents.users.may_act_on`). 200; 401; 403; 404 (admins only); 503."""
    return jsonify(user_json(acting_on(agent_id)))

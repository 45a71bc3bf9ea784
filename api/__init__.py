"""The JSON API at /api: clients authenticate with an API token (`careline token create EMAIL`)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from api.errors import ApiError, NotAuthenticated
from core.errors import DependencyDown

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.app_errorhandler(ApiError)
def _api_error(exc: ApiError):
    response = jsonify(error_id=exc.error_id, details=exc.details)
    response.status_code = exc.status
    if isinstance(exc, NotAuthenticated):
        # RFC 6750: the challenge names the scheme, and the error once the client sent credentials.
        challenge = 'Bearer realm="careline"'
        if exc.bearer_error:
            challenge += f', error="{exc.bearer_error}"'
        response.headers["WWW-Authenticate"] = challenge
    return response


@bp.errorhandler(DependencyDown)
def _dependency_down(exc: DependencyDown):
    return jsonify(error_id="service-unavailable", details={"dependency": str(exc)}), 503


# The routes register themselves on `bp`.
from api import agent_status, callbacks, calls, messages, metrics, pages, queue_view, views  # noqa: E402,F401

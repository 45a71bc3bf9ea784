"""The JSON API at /api: clients authenticate with an API token (`careline token create EMAIL`)."""
from __future__ import annotations

import logging

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import NotFound

from api.errors import ApiError, NotAuthenticated
from web.problems import TABLE, problem_for

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.app_errorhandler(ApiError)
def _api_error(exc: ApiError):
    response = jsonify(error_id=exc.error_id, details=exc.details)
    response.status_code = exc.status
    if isinstance(exc, NotAuthenticated):
        # RFC 6750: the challenge names the scheme, and the error once the client sent credentials.
        challenge = 'Bearer realm="careline"'
        if exc.bearer_description:
            challenge += f', error_description="{exc.bearer_description}"'
        if exc.bearer_error:
            challenge += f', error="{exc.bearer_error}"'
        response.headers["WWW-Authenticate"] = challenge
    return response


# The largest id a row can have: ids are INTEGER columns (PostgreSQL's int4). A larger id in a path names nothing;
# passed on, it overflows the database driver (a 500 on SQLite, found by tests/integration/test_api_fuzz.py).
ID_MAX = 2**31 - 1


@bp.url_value_preprocessor
def _ids_in_range(endpoint, values):
    """A path's id beyond any row's (`ID_MAX`) is 404 not-found, as a path that names nothing."""
    for name, value in (values or {}).items():
        if name.endswith("_id") and isinstance(value, int) and value > ID_MAX:
            raise NotFound(f"no {name.removesuffix('_id')} has this id")


def _domain_error(exc: Exception):
    """A domain error (a flow's `errors.py`) as JSON, as the one table says (`web/problems.py`)."""
    problem = problem_for(exc)
    if problem.status == 403 and "user" in g:
        log.info("api: agent %s (%s) refused %s %s: not their practice", g.user.id, g.user.role, request.method,
                 request.path)
    return jsonify(problem.body()), problem.status


for _error in TABLE:
    bp.register_error_handler(_error, _domain_error)


# The routes register themselves on `bp`.
from api import agent_status, audit, callbacks, calls, desk, messages, metrics, pages, queue_view, views  # noqa: E402,F401
from api import complaints  # noqa: E402,F401
from api import staffing  # noqa: E402,F401
from api import openapi  # noqa: E402,F401  (last: it describes the routes above)

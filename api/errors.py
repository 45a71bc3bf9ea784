"""Errors of the JSON API itself (its tokens, its requests' fields). The blueprint (`api/__init__.py`) renders them
as JSON, and the flows' errors as the one table says (`web/problems.py`)."""
from __future__ import annotations


class ApiError(Exception):
    """An error a client gets back as `{"error_id": ..., "details": {...}}` with `status`."""

    status = 400
    error_id = "bad-request"

    def __init__(self, description: str, **details):
        super().__init__(description)
        self.details = {"description": description, **details}


class NotAuthenticated(ApiError):
    """No valid token: missing, malformed, unknown or revoked (the client is not told which)."""

    status = 401
    error_id = "unauthorized"

    def __init__(self, description: str, bearer_error: str | None = None, bearer_description: str | None = None):
        super().__init__(description)
        self.bearer_error = bearer_error  # RFC 6750's `error` of the WWW-Authenticate challenge, if any
        self.bearer_description = bearer_description  # its `error_description`, when the client may be told why


class CsrfFailed(ApiError):
    """A change sent with the console's session cookie but without the page's CSRF token."""

    status = 400
    error_id = "csrf-failed"


class NotAllowed(ApiError):
    """A valid token whose user may not do this."""

    status = 403
    error_id = "forbidden"


class AgentNotFound(ApiError):
    """The agent a request names does not exist (told only to those who may see every agent)."""

    status = 404
    error_id = "agent-not-found"


class PracticeNotFound(ApiError):
    """The practice a request names does not exist."""

    status = 404
    error_id = "practice-not-found"


class InvalidBody(ApiError):
    """The request's body is not the JSON object the endpoint takes."""

    error_id = "invalid-body"


class InvalidField(ApiError):
    """One field of the request (body or query) is missing, unknown or wrong; `details.field` names it."""

    error_id = "invalid-field"

    def __init__(self, field: str, description: str, **details):
        super().__init__(description, field=field, **details)


def check_query(args, parameters: tuple[str, ...]) -> None:
    """400 invalid-field naming the first query parameter that is not one of `parameters`, or one given twice."""
    unknown = sorted(set(args) - set(parameters))
    if unknown:
        raise InvalidField(unknown[0], f"unknown query parameter; the parameters are {', '.join(parameters)}")
    for name in parameters:
        if len(args.getlist(name)) > 1:
            raise InvalidField(name, f"give {name} once")

"""The JSON API's audit trail, for admins: `GET /api/audit`, the rows that match, a page at a time."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import current_app, jsonify, request

from api import bp
from api.auth import current_user, token_required
from api.errors import InvalidField, PracticeNotFound, check_query
from audit.trail import SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX, AuditQuery
from web.audit import record_read

AUDIT_READERS = ("admin",)
AUDIT_QUERY = ("from", "to", "agent", "action", "practice", "limit", "offset")


@bp.get("/audit")
@token_required(AUDIT_READERS)
def audit_events():
    """The audit trail's rows, oldest first: `?from=ISO&to=ISO` (half-open; UTC without an offset), `agent=ID`,
    `action=KIND`, `practice=SLUG|ID`, `limit=N` (1..1000, default 100), `offset=N`; `next_offset` or null.
    200; 400 `invalid-field`; 401; 403 unless admin; 404 unknown practice slug; 503."""
    check_query(request.args, AUDIT_QUERY)
    where = AuditQuery(since=_moment("from"), until=_moment("to"), agent_id=_number("agent", 1),
                       action=request.args.get("action") or None, practice_id=_practice())
    limit = _number("limit", 1, SEARCH_LIMIT_MAX) or SEARCH_LIMIT_DEFAULT
    offset = _number("offset", 0) or 0
    services = current_app.extensions["careline"]
    events, more = services.audit.search(where, limit, offset)
    # Reading the trail is itself recorded (after the page is read, so the page does not include its own row).
    record_read(current_user(), "audit.list", details={"count": len(events), "offset": offset,
                                                       "filter": {k: v for k, v in request.args.items()}})
    response = jsonify(events=events, limit=limit, offset=offset, next_offset=offset + limit if more else None)
    response.headers["Cache-Control"] = "no-store"
    return response


def _moment(name: str) -> datetime | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidField(name, f"{name} must be an ISO 8601 time, e.g. 2026-12-01T00:00:00Z or 2026-12-01") \
            from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _number(name: str, low: int, high: int | None = None) -> int | None:
    value = request.args.get(name)
    if value is None:
        return None
    if not value.isdigit() or int(value) < low or (high is not None and int(value) > high):
        raise InvalidField(name, f"{name} must be a whole number from {low}" + (f" to {high}" if high else ""))
    return int(value)


def _practice() -> int | None:
    """`practice`: a slug, or a practice's id (rows outlive their practice: an id still finds them)."""
    value = request.args.get("practice")
    if not value:
        return None
    if value.isdigit():
        return int(value)
    directory = current_app.extensions["careline"].directory
    for practice_id in directory.practice_ids():
        practice = directory.get(practice_id)
        if practice is not None and practice.slug == value:
            return practice_id
    raise PracticeNotFound("no practice has this slug", practice=value)

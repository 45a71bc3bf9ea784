"""The JSON API's metrics for managers: GET /api/metrics (JSON) and GET /api/metrics.csv (the same as CSV)."""
from __future__ import annotations

import re
from datetime import date

from flask import Response, current_app, jsonify, request

from api import bp
from api.auth import current_user, token_required
from api.errors import InvalidField, check_query
from metrics.summary import MAX_PERIOD_DAYS, MetricsService, Viewer
from web.audit import record_read

PARAMETERS = ("practice", "from", "to")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
READERS = ("manager", "admin")  # agents do not read the metrics


def _service() -> MetricsService:
    return current_app.extensions["careline"].metrics


def metrics_viewer() -> Viewer:
    """Who asks, as the metrics (and the staffing advice, over the same practices) see them."""
    user = current_user()
    return Viewer(is_admin=user.role == "admin", all_practices=user.all_practices, practice_ids=user.practice_ids)


def _date(name: str) -> date:
    value = request.args.get(name)
    if value is None:
        raise InvalidField(name, f"{name} is required: a local date, YYYY-MM-DD")
    try:
        if not ISO_DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidField(name, f"{name} must be a date, YYYY-MM-DD") from None


def _query() -> tuple[str | None, date, date]:
    """`?practice=SLUG|all&from=YYYY-MM-DD&to=YYYY-MM-DD`; 400 invalid-field naming the parameter."""
    check_query(request.args, PARAMETERS)
    practice = request.args.get("practice")
    if practice is not None and not practice.strip():
        raise InvalidField("practice", "practice must be a practice's slug, or all")
    date_from, date_to = _date("from"), _date("to")
    if date_to < date_from:
        raise InvalidField("to", "to must not be before from")
    if (date_to - date_from).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidField("to", f"the period may be at most {MAX_PERIOD_DAYS} days", max_days=MAX_PERIOD_DAYS)
    return practice, date_from, date_to


def _chosen() -> tuple[list[int], date, date]:
    practice, date_from, date_to = _query()
    return _service().choose_practices(practice, metrics_viewer()), date_from, date_to


@bp.get("/metrics")
@token_required(READERS)
def metrics_summary():
    """The call-answer metrics of a practice (admins: practice=all) over local dates from..to, both
    included. 200; 400 invalid-field; 401; 403 for an agent or a practice not theirs; 404; 503."""
    practice_ids, date_from, date_to = _chosen()
    return jsonify(_service().summary(practice_ids, date_from, date_to))


@bp.get("/metrics.csv")
@token_required(READERS)
def metrics_csv():
    """The same metrics as CSV: a header, one row per day, one per agent, one per skill. 200 text/csv; 400;
    401; 403; 404; 503."""
    practice_ids, date_from, date_to = _chosen()
    body = _service().csv(practice_ids, date_from, date_to)
    practice = request.args.get("practice") or "mine"
    record_read(current_user(), "export.csv", "metrics", practice, details={
        "practice_ids": sorted(practice_ids), "from": date_from.isoformat(), "to": date_to.isoformat()})
    name = re.sub(r"[^A-Za-z0-9_-]", "-", practice)
    filename = f"careline-metrics-{name}-{date_from.isoformat()}-{date_to.isoformat()}.csv"
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store, private"})

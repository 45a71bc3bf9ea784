"""The JSON API's staffing advice for managers: GET /api/staffing (JSON) and GET /api/staffing.csv (the same hours
as CSV), for one practice and one ISO week."""
from __future__ import annotations

import csv
import io

from flask import Response, current_app, jsonify, request

from api import bp
from api.auth import current_user, token_required
from api.errors import InvalidField, check_query
from api.metrics import READERS, metrics_viewer
from metrics.summary import ALL_PRACTICES
from staffing.advice import CSV_COLUMNS, DEFAULT_HISTORY_WEEKS, HISTORY_WEEKS_RANGE, csv_rows, parse_week
from web.audit import record_read

PARAMETERS = ("practice", "week", "weeks")


def _query() -> tuple[int, object, int]:
    """`?practice=SLUG&week=YYYY-Www&weeks=N`; 400 invalid-field naming the parameter."""
    check_query(request.args, PARAMETERS)
    practice = request.args.get("practice")
    if practice is not None and (not practice.strip() or practice == ALL_PRACTICES):
        raise InvalidField("practice", "practice must be one practice's slug: staffing is advised practice by practice")
    week = request.args.get("week")
    monday = None
    if week is not None:
        try:
            monday = parse_week(week)
        except ValueError:
            raise InvalidField("week", "week must be an ISO week, YYYY-Www (e.g. 2026-W49)") from None
    weeks = request.args.get("weeks", str(DEFAULT_HISTORY_WEEKS))
    low, high = HISTORY_WEEKS_RANGE
    if not weeks.isascii() or not weeks.isdigit() or not low <= int(weeks) <= high:
        raise InvalidField("weeks", f"weeks must be a whole number of weeks of history, {low} to {high}")
    ids = current_app.extensions["careline"].metrics.choose_practices(practice, metrics_viewer())
    return ids[0], monday, int(weeks)


@bp.get("/staffing")
@token_required(READERS)
def staffing_advice():
    """How many agents each hour of the week needs to reach the practice's service-level target, from its own
    calls (Erlang C, or Erlang A once its callers' patience is known), beside the agents on duty the week before.
    200; 400 invalid-field; 401; 403 for an agent or a practice not theirs; 404; 503."""
    practice_id, monday, weeks = _query()
    return jsonify(current_app.extensions["careline"].staffing.advice(practice_id, monday, weeks))


@bp.get("/staffing.csv")
@token_required(READERS)
def staffing_csv():
    """The same advice as CSV: a header and one row per hour of the week. 200 text/csv; 400; 401; 403; 404; 503."""
    practice_id, monday, weeks = _query()
    document = current_app.extensions["careline"].staffing.advice(practice_id, monday, weeks)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(["" if cell is None else cell for cell in row] for row in csv_rows(document))
    record_read(current_user(), "export.csv", "staffing", document["practice"], details={
        "week": document["week"], "weeks": weeks})
    filename = f"careline-staffing-{document['practice']}-{document['week']}.csv"
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store, private"})

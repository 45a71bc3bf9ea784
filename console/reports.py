"""The practice's morning report in the console (issue 13): `/console/reports?practice=SLUG&date=YYYY-MM-DD` shows
the report of any local day, the same HTML the e-mail carries (`reports.render`), and the practice's recent sends
with their status (a failed one marked, with its error's class).

Managers and admins open it (`console_user_required`); a person sees only the practices they answer for
(`agents.users.answers_for`): another practice's report is 403, an unknown slug 403 too (404 for an admin), so
slugs cannot be probed. Reading a report is audited (`report.read`, with its messages' count and ids).
"""
from __future__ import annotations

from datetime import date

from flask import current_app, render_template, request
from agents.users import ApiUser, answers_for
from console import bp
from console.errors import ConsoleError, NotAllowed, PracticeUnknown
from console.views import console_user_required
from reports.render import report_html
from reports.sends import PracticeReporting, ReportService
from web.audit import request_actor

QUERY_FIELDS = ("practice", "date")
RECENT_SENDS = 30  # rows of the sends table


class ReportFieldInvalid(ConsoleError):
    """A bad `practice` or `date`; `details.field` names it."""

    error_id = "invalid-field"

    def __init__(self, field: str, description: str):
        super().__init__(f"{field}: {description}", field=field)


def _service() -> ReportService:
    return current_app.extensions["careline"].reports


def _practices(user: ApiUser) -> list[PracticeReporting]:
    """The practices this person answers for (an admin: all), by name."""
    return [practice for practice in _service().practices() if answers_for(user, practice.id)]


@bp.get("/reports")
@console_user_required
def reports(user: ApiUser):
    """The morning report of `?practice=SLUG` (default: the first of one's practices) for `?date=YYYY-MM-DD`
    (default: the practice's yesterday), and the practice's recent sends. 200; 303 to sign-in; 400 naming a bad
    field; 403 for agents and another practice's report; 404 (admins) for an unknown slug; 503."""
    unknown = sorted(set(request.args) - set(QUERY_FIELDS))
    if unknown:
        raise ReportFieldInvalid(unknown[0], "is not a parameter of this page (practice, date)")
    practices = _practices(user)
    slug = request.args.get("practice", "").strip()
    if slug:
        chosen = next((p for p in practices if p.slug == slug), None)
        if chosen is None:
            if user.role == "admin":
                raise PracticeUnknown(f"No practice has the slug {slug!r}.")
            raise NotAllowed("This report is not of one of your practices.")
    elif practices:
        chosen = practices[0]
    else:
        raise NotAllowed("You answer for no practice, so there is no report to show.")
    service = _service()
    yesterday = service.yesterday(chosen.id)
    given = request.args.get("date", "").strip()
    if given:
        try:
            day = date.fromisoformat(given)
        except ValueError:
            raise ReportFieldInvalid("date", f"{given!r} is not a date like 2026-12-02") from None
        if len(given) != 10:
            raise ReportFieldInvalid("date", f"{given!r} is not a date like 2026-12-02")
        if day > yesterday:
            raise ReportFieldInvalid("date", f"{given} has not ended yet in {chosen.timezone}: the latest "
                                             f"report is of {yesterday.isoformat()}")
    else:
        day = yesterday
    report = service.report(chosen.id, day, reader=request_actor(user))
    return render_template(
        "reports.html", user=user, practices=practices, chosen=chosen, day=day, latest=yesterday,
        report=report, report_body=report_html(report), sends=service.recent_sends([chosen.id], RECENT_SENDS),
        mail_configured=service.can_send)

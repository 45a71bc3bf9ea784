"""The pages worklist (issue 13): the pages of the practices a person answers for, open ones first, each with
its escalation steps (who was texted when, whether the SMS was sent, delivered or failed), the next step and
when it is due, the message it is about, and who acknowledged it; "Acknowledge" stops the escalation.

Every role that answers for a practice may open it (`desk_user_required`); which pages a person sees, and
may acknowledge, is `agents.users.answers_for` (a page of another practice: 403).
"""
from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app, redirect, render_template, request, url_for

from agents.users import ApiUser, answers_for
from console import bp
from console.errors import ConsoleError, NotAllowed
from console.views import desk_user_required
from models import PAGE_STATUSES
from paging.service import PageService
from web.audit import record_read

log = logging.getLogger(__name__)

STATUS_CHOICES = {"": "All (open first)", "open": "Open", "acknowledged": "Acknowledged", "exhausted": "Exhausted"}


class PageFilterInvalid(ConsoleError):
    """A filter of the worklist's form is not one it offers; `details.field` names it."""

    error_id = "invalid-filter"


def _service() -> PageService:
    return current_app.extensions["careline"].pages


def _practices(user: ApiUser) -> list:
    """The practices `user` answers for, as the directory knows them, by name."""
    directory = current_app.extensions["careline"].directory
    found = [directory.get(pid) for pid in directory.practice_ids() if answers_for(user, pid)]
    return sorted((p for p in found if p is not None), key=lambda p: p.name)


@bp.app_template_filter("page_time")
def page_time(moment: datetime | None, timezone: str, with_date: bool = False) -> str:
    """A time in the practice's zone, saying which: "20:14 EST", or "Nov 24, 20:14 EST" with the date."""
    if moment is None:
        return "—"
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%b} {local.day}, {local:%H:%M %Z}" if with_date else f"{local:%H:%M %Z}"


@bp.get("/pages")
@desk_user_required
def pages(user: ApiUser):
    """The pages worklist, `?status=open|acknowledged|exhausted&practice=SLUG`, open pages first. 200; 303 to
    sign-in; 400 naming a bad filter; 403 for a practice not theirs; 503."""
    status = request.args.get("status", "")
    if status and status not in PAGE_STATUSES:
        raise PageFilterInvalid(f"status must be one of {', '.join(PAGE_STATUSES)}", field="status")
    practices = _practices(user)
    slug = request.args.get("practice", "")
    chosen = {p.id for p in practices}
    if slug:
        matching = [p.id for p in practices if p.slug == slug]
        if not matching:
            log.info("console: agent %s refused the pages of a practice not theirs", user.id)
            raise NotAllowed("You do not answer for this practice.")
        chosen = set(matching)
    lines = _service().worklist(chosen, status or None)
    record_read(user, "pages.list", details={
        "count": len(lines), "page_ids": [line.id for line in lines],
        "filter": {name: value for name, value in (("practice", slug), ("status", status)) if value}})
    return render_template("pages.html", user=user, lines=lines, practices=practices, practice=slug,
                           status=status, statuses=STATUS_CHOICES, now=current_app.extensions["careline"].now(),
                           acknowledged=request.args.get("acknowledged", type=int))


@bp.post("/pages/<int:page_id>/acknowledge")
@desk_user_required
def acknowledge_page(user: ApiUser, page_id: int):
    """Acknowledge a page from the worklist (its escalation stops). 303 back to the list; 400 without the
    form's CSRF token; 403 for a page of another practice; 404; 503."""
    service = _service()
    if not answers_for(user, service.practice_of(page_id)):
        log.info("console: agent %s refused acknowledging page %s: not their practice", user.id, page_id)
        raise NotAllowed("You do not answer for this page's practice.")
    _, changed = service.acknowledge(page_id, user.id)
    log.info("console: agent %s acknowledged page %s%s", user.id, page_id, "" if changed else " (already was)")
    status = request.form.get("status", "")
    practice = request.form.get("practice", "")
    return redirect(url_for("console.pages", status=status if status in PAGE_STATUSES else None,
                            practice=practice or None, acknowledged=page_id), 303)

"""The JSON API's endpoints about pages to the on-call provider: list them, acknowledge one."""
from __future__ import annotations

import logging

from flask import current_app, jsonify, request

from api import bp
from api.auth import current_user, token_required
from api.errors import InvalidField, NotAllowed, PracticeNotFound
from agents.users import answers_for
from models import PAGE_STATUSES
from paging.service import PageService
from web.audit import record_read

log = logging.getLogger(__name__)


def _service() -> PageService:
    return current_app.extensions["careline"].pages


def visible_practice_ids(slug: str | None) -> set[int]:
    """The practices the current user answers for, or the one `slug` names (403 if not theirs; an unknown slug is
    403 alike, so slugs cannot be probed, except 404 to one who sees every practice)."""
    services, user = current_app.extensions["careline"], current_user()
    ids = services.directory.practice_ids()
    visible = {pid for pid in ids if answers_for(user, pid)}
    if slug is None:
        return visible
    chosen = [pid for pid in ids if services.directory.get(pid).slug == slug]
    if not chosen and visible == set(ids):
        raise PracticeNotFound("no practice has this slug", practice=slug)
    if not chosen or chosen[0] not in visible:
        log.info("api: agent %s refused %s %s: not their practice", user.id, request.method, request.path)
        raise NotAllowed("you do not answer for this practice", practice=slug)
    return {chosen[0]}


@bp.get("/pages")
@token_required()
def list_pages():
    """Pages of the user's practices (or `?practice=SLUG`), `?status=open|acknowledged|exhausted`, newest first,
    each with its steps. 200; 400; 401; 403; 404; 503."""
    status = request.args.get("status")
    if status is not None and status not in PAGE_STATUSES:
        raise InvalidField("status", f"status must be one of {', '.join(PAGE_STATUSES)}", allowed=list(PAGE_STATUSES))
    practice = request.args.get("practice")
    pages = _service().list(visible_practice_ids(practice), status)
    record_read(current_user(), "pages.list", details={
        "count": len(pages), "page_ids": [page["id"] for page in pages],
        "filter": {name: value for name, value in (("practice", practice), ("status", status)) if value}})
    return jsonify(pages=pages)


@bp.post("/pages/<int:page_id>/acknowledge")
@token_required()
def acknowledge_page(page_id: int):
    """Acknowledge a page (its escalation stops). 200 with the page and `changed`; 401; 403; 404; 503."""
    service = _service()
    if not answers_for(current_user(), service.practice_of(page_id)):
        raise NotAllowed("you do not answer for this page's practice", page_id=page_id)
    page, changed = service.acknowledge(page_id, current_user().id)
    return jsonify(page=page, changed=changed)

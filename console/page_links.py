"""The page a page's SMS links to (/p/TOKEN), on the on-call provider's phone: it asks for their PIN, then shows
the message (the callback number to call, what the caller said, the recording, when) and lets them acknowledge
the page (a reply to the SMS still does too). The flow is `paging.links.PageLinks`; this module parses, calls
it and renders.

No console session here: the path's token is the secret a forged cross-site form cannot know (so no CSRF
token), and the right PIN gives a cookie scoped to the link's own path (HttpOnly, SameSite=Strict) that opens
the message for PAGE_LINK_VIEW_MINUTES. Nothing is cached, and no Referer carries the token elsewhere.
"""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, make_response, redirect, render_template, request, url_for
from werkzeug.exceptions import MethodNotAllowed

from paging.errors import NoPinSet, WrongPin
from paging.links import Client, PageLinks
from voicemail.access import Reader
from voicemail.errors import RangeNotSatisfiable
from web.problems import TABLE, problem_for
from web.recordings import recording_response

log = logging.getLogger(__name__)

bp = Blueprint("page_link", __name__, url_prefix="/p", template_folder="templates")

GRANT_COOKIE = "careline_page_link"
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
                           "media-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'none'")


def _links() -> PageLinks:
    return current_app.extensions["careline"].page_links


def _client() -> Client:
    return Client(request.remote_addr or "", request.headers.get("User-Agent", ""))


def _grant() -> str | None:
    return request.cookies.get(GRANT_COOKIE)


@bp.after_request
def _security_headers(response):
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Cache-Control"] = "no-store, private"  # a patient's message stays off every cache
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the path: never sent on
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _problem_page(exc: Exception):
    problem = problem_for(exc)
    return render_template("page_link.html", state=problem.error_id, sentence=problem.sentence,
                           token=None), problem.status


for _error in TABLE:
    bp.register_error_handler(_error, _problem_page)


@bp.get("/<token>", endpoint="open")
def show_link(token: str):
    """The link's page: the message when this browser typed the right PIN lately (audited), else the PIN form.
    200; 403 locked or no PIN; 404 unknown; 410 expired; 503."""
    message = _links().view(token, _grant(), _client())
    if message is not None:
        return render_template("page_link.html", state="message", message=message, token=token,
                               acknowledged=request.args.get("acknowledged") == "1")
    info = _links().info(token, _client())
    if not info.has_pin:
        return _problem_page(NoPinSet())
    return render_template("page_link.html", state="pin", info=info, token=token, error=None)


@bp.post("/<token>")
def enter_pin(token: str):
    """The PIN form: the right PIN opens the message (303 to the link's page, with the cookie); a wrong one shows
    the form again with the tries left (403). 403 locked or no PIN; 404; 410; 503."""
    try:
        grant = _links().enter_pin(token, request.form.get("pin", ""), _client())
    except WrongPin as exc:
        info = _links().info(token, _client())
        return render_template("page_link.html", state="pin", info=info, token=token, error=str(exc)), 403
    response = redirect(url_for("page_link.open", token=token), 303)
    config = current_app.extensions["careline"].config
    response.set_cookie(GRANT_COOKIE, grant, max_age=config.PAGE_LINK_VIEW_MINUTES * 60,
                        path=url_for("page_link.open", token=token), httponly=True, samesite="Strict",
                        secure=config.PUBLIC_BASE_URL.startswith("https://"))
    return response


@bp.post("/<token>/acknowledge")
def acknowledge(token: str):
    """Acknowledge the page (its escalation stops), as the person the link was sent to. 303 back to the page
    (without a valid cookie: to the PIN form); 403; 404; 410; 503."""
    changed = _links().acknowledge(token, _grant(), _client())
    if changed is None:
        return redirect(url_for("page_link.open", token=token), 303)
    return redirect(url_for("page_link.open", token=token, acknowledged=1), 303)


@bp.get("/<token>/recording")
def recording(token: str):
    """The message's recording, through Careline's relay (audited as a play by this link). 200; 206; 403
    without the PIN's cookie; 404; 410; 416; 502; 503."""
    if request.method == "HEAD":
        raise MethodNotAllowed(valid_methods=["GET"])  # a HEAD would fetch the audio and audit a play
    access = _links().recording_access(token, _grant(), _client())
    if access is None:
        return make_response("Type your PIN on the link's page first.", 403)
    reader = Reader(agent_id=None, practice_ids=frozenset({access.practice_id}), actor=access.actor)
    try:
        media = current_app.extensions["careline"].messages.open_recording(
            reader, access.message_id, request.headers.get("Range"))
    except RangeNotSatisfiable as exc:
        response = make_response("", 416)
        if exc.content_range:
            response.headers["Content-Range"] = exc.content_range
        return response
    return recording_response(media)

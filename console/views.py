"""The console's pages: sign-in, sign-out, the dashboard and the live queue's JSON for its script."""
from __future__ import annotations

import functools
import logging

from flask import current_app, jsonify, redirect, render_template, request, session, url_for

from agents.users import ApiUser
from console import bp
from console.dashboard import DashboardService
from console.errors import NotAllowed, NotSignedIn
from console.period import PERIOD_LABELS
from web.sessions import signed_in_user

log = logging.getLogger(__name__)

CONSOLE_ROLES = ("manager", "admin")
SIGN_IN_REFUSED = "That email and password do not match an account that may sign in here."
EMAIL_MAX_LENGTH = 254  # characters, as agents.email


def _services():
    return current_app.extensions["careline"]


def _dashboard_service() -> DashboardService:
    return _services().dashboard


def console_user_required(view):
    """Decorate a page: without a session, to the sign-in page (JSON: 401); agents get 403."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        user = signed_in_user()
        if user is None:
            if request.endpoint == "console.queue_json":
                raise NotSignedIn("sign in again")
            return redirect(url_for("console.sign_in", next=request.full_path.rstrip("?")), 303)
        if user.role not in CONSOLE_ROLES:
            log.info("console: agent %s (%s) refused %s: role", user.id, user.role, request.path)
            raise NotAllowed("The dashboard is for practice managers and admins.")
        return view(user, *args, **kwargs)

    return wrapper


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a console page of this site, never another site."""
    if target and target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("console.dashboard")


@bp.get("/sign-in")
def sign_in():
    """The sign-in form. 200; 303 to the dashboard when already signed in."""
    if signed_in_user() is not None:
        return redirect(_safe_next(request.args.get("next")), 303)
    return render_template("sign_in.html", email="", error=None, next=request.args.get("next", ""))


@bp.post("/sign-in")
def sign_in_submit():
    """Check email and password; on success a fresh session and 303 to the dashboard. 401 with one message
    for every failure; 429 after too many failures for the email; 400 without the form's CSRF token."""
    email = request.form.get("email", "").strip().lower()[:EMAIL_MAX_LENGTH]
    password = request.form.get("password", "")
    target = request.form.get("next", "")
    throttle = _services().sign_in_throttle
    if throttle.refused(email):
        log.info("console: sign-in refused: too many failures for this email")
        return render_template("sign_in.html", email=email, next=target,
                               error="Too many failed sign-ins. Wait 15 minutes and try again."), 429
    found = _services().passwords.verify(email, password) if email else None
    if found is None:
        throttle.record_failure(email)
        log.info("console: sign-in failed")
        return render_template("sign_in.html", email=email, next=target, error=SIGN_IN_REFUSED), 401
    throttle.clear(email)
    # A new session from scratch: nothing from before sign-in (a planted session, an old CSRF token) survives.
    session.clear()
    session.permanent = True
    session["agent_id"] = found.user.id
    session["password_marker"] = found.password_marker
    log.info("console: agent %s (%s) signed in", found.user.id, found.user.role)
    return redirect(_safe_next(target), 303)


@bp.post("/sign-out")
def sign_out():
    """End the session. 303 to the sign-in page; 400 without the form's CSRF token."""
    user = signed_in_user()
    session.clear()
    if user is not None:
        log.info("console: agent %s signed out", user.id)
    return redirect(url_for("console.sign_in"), 303)


@bp.get("/")
@console_user_required
def dashboard(user: ApiUser):
    """The dashboard of `?practice=SLUG|all&period=today|7d|30d|custom&from=&to=`. 200; 303 to sign-in;
    403 for agents and practices not theirs; 404 (admins) for an unknown practice; 400 for a bad period; 503."""
    board = _dashboard_service().build(user, request.args)
    return render_template("dashboard.html", board=board, periods=PERIOD_LABELS)


@bp.get("/queue.json")
@console_user_required
def queue_json(user: ApiUser):
    """The live queue of `?practice=SLUG|all`, as GET /api/queue shows it, for the dashboard's script.
    200; 401 without a session; 403; 404; 503 when Redis or the database is down."""
    service = _dashboard_service()
    _, selection = service.selection(user, request.args.get("practice"))
    return jsonify(service.queue_json(selection))

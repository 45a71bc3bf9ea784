"""The console's pages: sign-in, sign-out, the dashboard and the live queue's JSON for its script."""
from __future__ import annotations

import functools
import logging

from flask import current_app, jsonify, redirect, render_template, request, session, url_for

from agents.users import ApiUser
from console import bp, vendor
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


def _landing(user: ApiUser | None) -> str:
    """Where a person starts: agents at the desk, managers and admins at the dashboard (both open to them)."""
    if user is not None and user.role not in CONSOLE_ROLES:
        return url_for("console.desk")
    return url_for("console.dashboard")


def _safe_next(target: str | None, user: ApiUser | None = None) -> str:
    """Where to go after signing in: a console page of this site, never another site."""
    if target and target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return _landing(user)


@bp.get("/sign-in")
def sign_in():
    """The sign-in form. 200; 303 to the dashboard when already signed in."""
    user = signed_in_user()
    if user is not None:
        return redirect(_safe_next(request.args.get("next"), user), 303)
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
    return redirect(_safe_next(target, found.user), 303)


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


def desk_user_required(view):
    """Decorate a desk page: without a session, to the sign-in page; every role may open the desk."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        user = signed_in_user()
        if user is None:
            return redirect(url_for("console.sign_in", next=request.full_path.rstrip("?")), 303)
        return view(user, *args, **kwargs)

    return wrapper


@bp.get("/desk")
@desk_user_required
def desk(user: ApiUser):
    """The answering desk: presence, the offer and its screen pop, the softphone, the message form, the
    agent's day, the queue and colleagues. 200; 303 to sign-in without a session."""
    return render_template("desk.html", user=user, pause_reasons=_services().config.pause_reasons,
                           dashboard=user.role in CONSOLE_ROLES,
                           softphone=_services().voice_tokens.available_to(user.id))


@bp.get("/vendor/twilio-voice.js")
def twilio_voice_sdk():
    """Twilio's Voice JavaScript SDK (the global `Twilio.Device`) for the desk's softphone, from node_modules.
    200; 304; 404 when `make install` (npm ci) has not installed it."""
    return vendor.send_script(vendor.TWILIO_VOICE)


@bp.app_template_global()
def twilio_voice_url() -> str:
    """The SDK's URL with its installed version, so browsers keep it until an upgrade (`console.vendor`)."""
    return url_for("console.twilio_voice_sdk", v=vendor.TWILIO_VOICE.version())


# A count a page shows beside its link in the top bar (the messages' unread count): endpoint -> badge(user),
# registered by the page's module; a badge that cannot be read (the database down) is left out.
NAV_BADGES: dict = {}


@bp.app_template_global()
def nav_badge(endpoint: str, user) -> str | None:
    badge = NAV_BADGES.get(endpoint)
    if badge is None:
        return None
    try:
        return badge(user)
    except Exception as exc:  # noqa: BLE001 - the top bar never fails a page
        log.warning("console: the %s badge was not read (%s)", endpoint, type(exc).__name__)
        return None

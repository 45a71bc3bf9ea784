"""The console's pages: sign-in, sign-out, the dashboard and the live queue's JSON for its script."""
from __future__ import annotations

import functools
import logging

from flask import current_app, jsonify, redirect, render_template, request, session, url_for

from agents.passwords import ConsoleUser
from agents.second_factor import SECOND_FACTOR_ROLES
from agents.users import ApiUser
from console import bp, vendor
from console.dashboard import DashboardService
from console.errors import NotAllowed, NotSignedIn, SignInUnavailable
from console.period import PERIOD_LABELS
from web.sessions import session_notice, signed_in_user

log = logging.getLogger(__name__)

CONSOLE_ROLES = ("manager", "admin")
SIGN_IN_REFUSED = "That email and password do not match an account that may sign in here."
TOO_MANY_ATTEMPTS = "Too many sign-in attempts for this account or from this address. Wait 15 minutes and try again."
NO_SECOND_FACTOR = ("Managers and admins sign in with a code from an authenticator app too, and this account has "
                    "none yet. Ask an admin to run: careline user totp {email}")
CODE_REFUSED = "That code does not match, or it was used already. Enter the code your app shows now."
SECOND_FACTOR_EXPIRED = "That sign-in took too long. Sign in again with your email and password."
SECOND_FACTOR_PENDING = "second_factor"  # the session's key for a sign-in waiting for its code
SECOND_FACTOR_PENDING_SECONDS = 5 * 60  # seconds from a right password to its code, then sign in again
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
    """Count the attempt, then check email and password: on success a fresh session and 303 to the dashboard, or
    303 to the code's form for a person with a second factor. 401 with one message for every failure; 403 for a
    manager or admin without a second factor; 429 past the attempts' limits, whether the account exists or not;
    503 while the attempts cannot be counted; 400 without the form's CSRF token."""
    email = request.form.get("email", "").strip().lower()[:EMAIL_MAX_LENGTH]
    password = request.form.get("password", "")
    target = request.form.get("next", "")
    refused = _counted_attempt(email)
    if refused is not None:
        return render_template("sign_in.html", email=email, next=target, error=refused[0]), refused[1]
    found = _services().passwords.verify(email, password) if email else None
    if found is None:
        log.info("console: sign-in failed")
        return render_template("sign_in.html", email=email, next=target, error=SIGN_IN_REFUSED), 401
    if _services().second_factors.enrolled(found.user.id):
        # The password was right; the session holds only that, until the code comes (sign_in_code_submit).
        session.clear()
        session[SECOND_FACTOR_PENDING] = {"agent_id": found.user.id, "marker": found.password_marker,
                                          "since": _services().now().timestamp(), "next": target}
        log.info("console: agent %s (%s) passed the password, asked for the code", found.user.id, found.user.role)
        return redirect(url_for("console.sign_in_code"), 303)
    if found.user.role in SECOND_FACTOR_ROLES:
        log.info("console: agent %s (%s) refused: no second factor", found.user.id, found.user.role)
        return render_template("sign_in.html", email=email, next=target,
                               error=NO_SECOND_FACTOR.format(email=found.user.email)), 403
    return _signed_in(found, target)


@bp.get("/sign-in/code")
def sign_in_code():
    """The second factor's form, after a right password. 200; 303 to the sign-in form without one."""
    if _pending_sign_in() is None:
        return redirect(url_for("console.sign_in"), 303)
    return render_template("sign_in_code.html", error=None)


@bp.post("/sign-in/code")
def sign_in_code_submit():
    """Count the attempt, then check the code: on success a fresh session and 303 to where sign-in was going.
    401 for a wrong or used code, or without a password checked in the last minutes (then the sign-in form);
    429 past the attempts' limits; 503 while they cannot be counted; 400 without the form's CSRF token."""
    pending = _pending_sign_in()
    if pending is None:
        session.pop(SECOND_FACTOR_PENDING, None)
        return render_template("sign_in.html", email="", next="", error=SECOND_FACTOR_EXPIRED), 401
    found, target = pending
    refused = _counted_attempt(found.user.email)
    if refused is not None:
        return render_template("sign_in_code.html", error=refused[0]), refused[1]
    if not _services().second_factors.verify(found.user.id, request.form.get("code", "")):
        log.info("console: agent %s (%s) refused: wrong or used code", found.user.id, found.user.role)
        return render_template("sign_in_code.html", error=CODE_REFUSED), 401
    return _signed_in(found, target)


def _counted_attempt(email: str) -> tuple[str, int] | None:
    """Count one sign-in attempt on `email` from this request's address (console/throttle.py); the page's
    sentence and status when it may not be checked, None when it may."""
    try:
        attempt = _services().sign_in_throttle.attempt(email, request.remote_addr or "")
    except SignInUnavailable as exc:
        return exc.description, exc.status
    if not attempt.allowed:
        log.info("console: sign-in refused: too many attempts (this account %d, this address %d)",
                 attempt.account_count, attempt.address_count)
        return TOO_MANY_ATTEMPTS, 429
    return None


def _pending_sign_in() -> tuple[ConsoleUser, str] | None:
    """Who passed the password step in this browser within SECOND_FACTOR_PENDING_SECONDS (and has not changed
    the password since), and where sign-in was going; None otherwise."""
    pending = session.get(SECOND_FACTOR_PENDING)
    if not isinstance(pending, dict) or not isinstance(pending.get("agent_id"), int) \
            or not isinstance(pending.get("marker"), str) or not isinstance(pending.get("since"), (int, float)):
        return None
    age_seconds = _services().now().timestamp() - pending["since"]
    if not 0 <= age_seconds < SECOND_FACTOR_PENDING_SECONDS:
        return None
    found = _services().passwords.find(pending["agent_id"], pending["marker"])
    return (found, str(pending.get("next") or "")) if found is not None else None


def _signed_in(found: ConsoleUser, target: str):
    """A sign-in that ended well: the account's attempts forgotten, a session, and 303 to where it was going."""
    _services().sign_in_throttle.signed_in(found.user.email)
    start_console_session(found)
    log.info("console: agent %s (%s) signed in", found.user.id, found.user.role)
    return redirect(_safe_next(target, found.user), 303)


def start_console_session(found: ConsoleUser) -> None:
    """Start the console session of `found`: the one place a sign-in becomes a session."""
    # A new session from scratch: nothing from before sign-in (a planted session, an old CSRF token, a pending
    # second factor) survives.
    session.clear()
    session.permanent = True
    session["agent_id"] = found.user.id
    session["password_marker"] = found.password_marker


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


bp.add_app_template_global(session_notice)  # the sign-in page says why a session ended (web/sessions.py)


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

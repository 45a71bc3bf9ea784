"""The managers' console at /console: sign-in with a password, and the dashboard.

The console is the one part of Careline that uses Flask's session, kept in Redis (web/session_store.py): its
cookie holds only the session's id, signed with SECRET_KEY, HttpOnly, SameSite=Lax, Secure when PUBLIC_BASE_URL
is https. Every form is protected by
Flask-WTF's CSRFProtect; the blueprints that carry no cookie and authenticate each request otherwise
(Twilio's signature, API tokens) are exempt.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import Blueprint, current_app, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from console import formatting
from console.errors import ConsoleError, ConsoleMisconfigured
from web.problems import TABLE, problem_for

log = logging.getLogger(__name__)

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")
csrf = CSRFProtect()

SESSION_HOURS = 12  # hours a console sign-in lasts (one working day), then the manager signs in again
# Twilio's webhooks (X-Twilio-Signature) and the JSON API (Authorization: Bearer) carry no cookie; a page's link
# (/p/TOKEN, console/page_links.py) carries its secret in its path, which a forged form cannot know.
CSRF_EXEMPT_BLUEPRINTS = ("voice", "callback_calls", "sms", "api", "page_link")
# Code, not data: the console's own files and the browser packages from npm (console/vendor.py) may be cached.
CACHED_ENDPOINTS = ("console.static", "console.twilio_voice_sdk")
# Pages draw their charts as inline SVG whose <style> pygal writes; nothing else inline, nothing from elsewhere.
# The desk's softphone (Twilio's Voice SDK, served from 'self') talks to Twilio's signalling and event gateway
# and plays its ringtones from Twilio's CDN: the SDK's README lists these hosts.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'none'; "
                           "connect-src 'self' wss://voice-js.roaming.twilio.com https://eventgw.twilio.com; "
                           "media-src 'self' mediastream: https://sdk.twilio.com https://media.twiliocdn.com")


@bp.record_once
def _set_up(state) -> None:
    app = state.app
    config = app.extensions["careline"].config
    app.config.update(
        SESSION_COOKIE_NAME="careline_console", SESSION_COOKIE_PATH="/", SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=config.PUBLIC_BASE_URL.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        WTF_CSRF_TIME_LIMIT=None)  # a token lives as long as its session: a page left open still signs out
    csrf.init_app(app)
    for name in CSRF_EXEMPT_BLUEPRINTS:
        # Registered before the console (careline/app.py); a missing one would get 400s, so fail at start.
        csrf.exempt(app.blueprints[name])
    app.jinja_env.filters.update(formatting.FILTERS)


@bp.before_request
def _needs_secret_key():
    if not current_app.secret_key:
        raise ConsoleMisconfigured("The console needs SECRET_KEY to be set (make run writes one to .env).")


@bp.after_request
def _security_headers(response):
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint not in CACHED_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"  # patients' numbers and figures stay off disk caches
    return response


def _error_page(status: int, error_id: str, description: str, **details):
    if request.endpoint == "console.queue_json":
        return jsonify(error_id=error_id, details={"description": description, **details}), status
    user = g.get("console_user")  # set once the request looked at its session
    return render_template("error.html", status=status, description=description, user=user), status


@bp.errorhandler(ConsoleError)
def _console_error(exc: ConsoleError):
    return _error_page(exc.status, exc.error_id, exc.description)


@bp.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError):
    log.info("console: refused %s %s: %s", request.method, request.path, exc.description)
    return _error_page(400, "csrf-failed", "This form expired or did not come from this page. "
                       "Go back, reload the page and try again.")


def _domain_error(exc: Exception):
    """A domain error (a flow's `errors.py`, e.g. DependencyDown) as a page, as the one table says
    (`web/problems.py`)."""
    problem = problem_for(exc)
    return _error_page(problem.status, problem.error_id, problem.sentence, **problem.details)


for _error in TABLE:
    bp.register_error_handler(_error, _domain_error)


# The routes register themselves on `bp`: sign-in, dashboard and desk (views), and the work lists.
from console import views, inbox, pages, callbacks, reports  # noqa: E402,F401
from console import complaints  # noqa: E402,F401

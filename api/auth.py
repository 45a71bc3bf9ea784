"""Who is calling the JSON API and what they may do: `Authorization: Bearer TOKEN`, or the console's session
(the desk's own requests; a change needs the page's CSRF token too)."""
from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable

from flask import current_app, g, request, session
from flask_wtf.csrf import validate_csrf
from wtforms import ValidationError

from api.errors import AgentNotFound, CsrfFailed, NotAllowed, NotAuthenticated
from agents.errors import TokenRefused
from core.errors import DependencyDown
from agents.users import ApiUser, find_user, may_act_on
from models import ROLES
from web.sessions import signed_in_user

log = logging.getLogger(__name__)

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSRF_HEADER = "X-CSRFToken"  # the console page's token (<meta name="csrf-token">), as Flask-WTF reads it
BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750's b64token
# What a client hears of a token that exists but stopped (agents.errors.TokenRefused), so its owner knows to make
# another (or, deactivated, that nobody should): the holder of the token learns nothing it could misuse.
TOKEN_REFUSALS = {
    "expired": "the token expired: create another (careline token create EMAIL)",
    "idle": "the token was unused for 30 days and stopped: create another (careline token create EMAIL)",
    "deactivated": "the token's account is deactivated",
}


def token_required(roles: Iterable[str] = ROLES):
    """Decorate a view: 401 without a valid token, 403 unless the user has one of `roles`; the view then
    finds the user in `flask.g.user` (`current_user()`)."""
    allowed = tuple(roles)
    if not allowed or not set(allowed) <= set(ROLES):
        raise ValueError(f"roles must be some of {ROLES}, not {allowed}")

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            user = _authenticate()
            if user.role not in allowed:
                log.info("api: agent %s (%s) refused %s %s: role", user.id, user.role, request.method,
                         request.path)
                raise NotAllowed(f"this needs the role {' or '.join(allowed)}", allowed_roles=list(allowed))
            g.user = user
            return view(*args, **kwargs)

        return wrapper

    return decorator


def current_user() -> ApiUser:
    """The user whose token authenticated this request (inside a `token_required` view)."""
    return g.user


def acting_on(agent_id: int) -> ApiUser:
    """The agent `agent_id`, when the current user may act on it (`agents.users.may_act_on`); otherwise 403.
    An unknown id is 404 only for admins: others cannot probe which ids exist."""
    actor = current_user()
    if agent_id == actor.id:
        return actor
    target = find_user(current_app.extensions["careline"].session_factory, agent_id)
    if target is None and actor.role == "admin":
        raise AgentNotFound(f"no agent has the id {agent_id}", agent_id=agent_id)
    if target is None or not may_act_on(actor, target):
        log.info("api: agent %s (%s) refused %s %s: not theirs", actor.id, actor.role, request.method,
                 request.path)
        raise NotAllowed("you may not act on this agent", agent_id=agent_id)
    return target


def still_authenticated() -> Callable[[], bool]:
    """For a response that outlives its request (the desk's event stream): a check, callable later and outside
    the request, that what authenticated this request still would (the token not revoked, expired or idle; the
    session not signed out or timed out; the agent not deactivated, its password unchanged). Fails closed."""
    services = current_app.extensions["careline"]
    header = request.headers.get("Authorization", "")
    if header:
        credentials = header.partition(" ")[2].strip()

        def token_still_works() -> bool:
            try:
                return services.tokens.authenticate(credentials) is not None
            except (TokenRefused, DependencyDown):
                return False

        return token_still_works
    sid, agent_id, marker = getattr(session, "sid", None), session.get("agent_id"), session.get("password_marker")
    interface = current_app.session_interface

    def session_still_open() -> bool:
        try:
            return interface.is_open(sid) and services.passwords.find(agent_id, marker) is not None
        except DependencyDown:
            return False

    return session_still_open


def _check_csrf() -> None:
    """A request that changes something with the session cookie must carry the page's CSRF token: a cookie
    alone could come from another site's form."""
    try:
        validate_csrf(request.headers.get(CSRF_HEADER, ""))
    except ValidationError as exc:
        log.info("api: refused %s %s: session without a valid CSRF token", request.method, request.path)
        raise CsrfFailed("send the page's CSRF token in the X-CSRFToken header; reload the page if it expired") \
            from exc


def _authenticate() -> ApiUser:
    header = request.headers.get("Authorization", "")
    if not header:
        user = signed_in_user()  # the desk: the console's session, its cookie sent by the browser
        if user is None:
            raise NotAuthenticated("this needs an API token: send the header Authorization: Bearer TOKEN")
        if request.method not in SAFE_METHODS:
            _check_csrf()
        return user
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not BEARER_TOKEN.fullmatch(credentials):
        log.info("api: refused %s %s: malformed Authorization header", request.method, request.path)
        raise NotAuthenticated("the Authorization header must be: Bearer TOKEN", bearer_error="invalid_request")
    try:
        user = current_app.extensions["careline"].tokens.authenticate(credentials)
    except TokenRefused as refused:
        log.info("api: refused %s %s: token %s", request.method, request.path, refused.reason)
        description = TOKEN_REFUSALS[refused.reason]
        raise NotAuthenticated(description, bearer_error="invalid_token", bearer_description=description) from None
    if user is None:
        log.info("api: refused %s %s: unknown or revoked token", request.method, request.path)
        raise NotAuthenticated("the token is unknown or revoked", bearer_error="invalid_token")
    return user

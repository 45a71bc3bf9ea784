"""The console's session as a way in for every web entry point: who signed in to this browser with an email
and a password (`agents.passwords`). The console's pages use it, and so does the JSON API for the desk's own
requests (with the page's CSRF token on anything that changes something)."""
from __future__ import annotations

from flask import current_app, g, session

from agents.users import ApiUser
from web.session_store import IDLE_MINUTES, MAX_HOURS, SIGNED_OUT_KEY

# What the sign-in page says of a session that ended without its person signing out (web/session_store.py).
SIGNED_OUT_NOTICES = {
    "idle": f"You were signed out after {IDLE_MINUTES} minutes without activity. Sign in again to go on.",
    "limit": f"You were signed out: a sign-in lasts {MAX_HOURS} hours. Sign in again to go on.",
    "unavailable": "Careline cannot check sign-ins right now (its session store does not answer), so you are "
                   "signed out. Try again in a minute.",
}


def signed_in_user() -> ApiUser | None:
    """The person this request's session belongs to, or None; a session whose password has changed since
    it signed in is cleared."""
    if "console_user" in g:
        return g.console_user
    user = None
    agent_id, marker = session.get("agent_id"), session.get("password_marker")
    if isinstance(agent_id, int) and isinstance(marker, str):
        found = current_app.extensions["careline"].passwords.find(agent_id, marker)
        if found is None:
            session.clear()
        else:
            user = found.user
    g.console_user = user
    return user


def session_notice() -> str | None:
    """Why this browser is signed out, when its session ended by itself or cannot be checked (Redis down);
    said once (the sign-in page shows it)."""
    if getattr(session, "unavailable", False):
        return SIGNED_OUT_NOTICES["unavailable"]
    reason = session.pop(SIGNED_OUT_KEY, None)
    return SIGNED_OUT_NOTICES.get(reason) if isinstance(reason, str) else None

"""The console's session as a way in for every web entry point: who signed in to this browser with an email
and a password (`agents.passwords`). The console's pages use it, and so does the JSON API for the desk's own
requests (with the page's CSRF token on anything that changes something)."""
from __future__ import annotations

from flask import current_app, g, session

from agents.users import ApiUser


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

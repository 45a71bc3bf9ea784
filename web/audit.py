"""The audit trail as the web entry points use it: who this request's actor is (the signed-in person, how they
came in, from where), and one call to record what they were shown."""
from __future__ import annotations

from flask import current_app, request, session

from agents.users import ApiUser
from audit.actors import Actor, session_ref
from models.token import TOKEN_PREFIX_LENGTH


def request_actor(user: ApiUser | None) -> Actor:
    """The actor of this request: by API token (its prefix, never the token) or by the console's session."""
    address, user_agent = request.remote_addr, request.headers.get("User-Agent")
    agent_id = user.id if user is not None else None
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return Actor(agent_id, "token", credentials.strip()[:TOKEN_PREFIX_LENGTH], address, user_agent)
    # The console's session lives on the server (web/session_store.py) under its id; the trail keeps only the start
    # of that id's hash: enough to tell one sign-in's reads from another's, useless to take the session over.
    session_id = getattr(session, "sid", None)
    reference = session_ref(session_id) if isinstance(session_id, str) else None
    return Actor(agent_id, "session", reference, address, user_agent)


def record_read(user: ApiUser | None, action: str, subject_kind: str | None = None,
                subject_id: str | int | None = None, practice_id: int | None = None,
                details: dict | None = None) -> int:
    """Write the audit row of what this request is about to show or did (its own transaction, committed before
    the answer goes); DependencyDown when the database does not answer: then the answer is 503, nothing shown."""
    return current_app.extensions["careline"].audit.record(request_actor(user), action, subject_kind, subject_id,
                                                           practice_id, details)

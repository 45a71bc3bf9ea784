"""Console passwords: set one for an agent, check one at sign-in. Only werkzeug's salted hash is stored."""
from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker
from werkzeug.security import check_password_hash, generate_password_hash

from agents.errors import PasswordRejected, UnknownAgent
from agents.users import ApiUser
from core.db import database_errors_as_dependency_down, session_scope
from models import Agent

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 12  # characters
MAX_PASSWORD_LENGTH = 1024  # characters; a hash of megabytes of "password" is a denial of service, not security
# Checked when the email is unknown, so that a wrong email costs the same time as a wrong password.
_DUMMY_HASH = generate_password_hash("careline-no-such-agent")


@dataclass(frozen=True)
class ConsoleUser:
    """Who signed in, and a fingerprint of their password hash: a session made before the password
    changed (or was removed) no longer matches it."""

    user: ApiUser
    password_marker: str


def check_new_password(password: str) -> None:
    """Raise PasswordRejected unless `password` may be set."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordRejected(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordRejected(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    if not password.strip():
        raise PasswordRejected("a password is not only spaces")


def password_marker(password_hash: str) -> str:
    """A short fingerprint of the stored hash for the session cookie (never the hash itself)."""
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16]


class PasswordService:
    """Agents' console passwords in the database."""

    def __init__(self, session_factory: sessionmaker[Session]):
        self.session_factory = session_factory

    def set_password(self, email: str, password: str) -> None:
        """Store a new password for the agent with `email`; raises PasswordRejected, UnknownAgent."""
        check_new_password(password)
        with session_scope(self.session_factory) as session:
            agent = _agent_by_email(session, email)
            if agent is None:
                raise UnknownAgent(email)
            agent.password_hash = generate_password_hash(password)

    def verify(self, email: str, password: str) -> ConsoleUser | None:
        """The agent whose email and password these are, or None (the caller is not told which was wrong);
        DependencyDown when the database does not answer."""
        if len(password) > MAX_PASSWORD_LENGTH:
            return None
        with database_errors_as_dependency_down(), self.session_factory() as session:
            agent = _agent_by_email(session, email)
            stored = agent.password_hash if agent is not None else None
            user = ApiUser.from_agent(agent) if stored is not None else None
            deactivated = agent is not None and agent.deactivated_at is not None
        # The hash is slow by design (scrypt, tens of ms): checked after the session is closed, so that a wave of
        # sign-ins does not hold the pool's connections while it runs.
        if not check_password_hash(stored or _DUMMY_HASH, password) or user is None:
            return None
        if deactivated:  # told apart from a wrong password only in the log
            log.info("console: sign-in of deactivated agent %s refused", user.id)
            return None
        return ConsoleUser(user, password_marker(stored))

    def find(self, agent_id: int, marker: str) -> ConsoleUser | None:
        """The agent `agent_id` when its password still matches `marker`, or None; DependencyDown."""
        with database_errors_as_dependency_down(), self.session_factory() as session:
            agent = session.scalars(select(Agent).where(Agent.id == agent_id)
                                    .options(selectinload(Agent.practices))).one_or_none()
            # Read on every request: a deactivation, a new password or a new role counts from the next one.
            if agent is None or agent.password_hash is None or agent.deactivated_at is not None or \
                    not hmac.compare_digest(password_marker(agent.password_hash), marker):
                return None
            return ConsoleUser(ApiUser.from_agent(agent), marker)


def _agent_by_email(session: Session, email: str) -> Agent | None:
    return session.scalars(select(Agent).where(Agent.email == email.strip().lower())
                           .options(selectinload(Agent.practices))).one_or_none()

"""The console's second factor: a TOTP secret per person (RFC 6238, `pyotp`), the code it asks at sign-in.

Managers and admins must have one to sign in to the console (`SECOND_FACTOR_ROLES`); an agent may. The code is
checked on Careline's clock with one 30-second step either side (an authenticator app a little early or late),
and the step of every accepted code is stored: a code, or an older one, is never accepted again (a code read
over a shoulder or from a proxy's log is spent). The secret is stored as its base32 text in `agents.totp_secret`,
encrypted with the data key (core.crypto).
"""
from __future__ import annotations

import hmac
from datetime import datetime

import pyotp
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from agents.errors import UnknownAgent
from core.clock import Clock
from core.db import database_errors_as_dependency_down, session_scope
from models import Agent

SECOND_FACTOR_ROLES = ("manager", "admin")  # roles that may not sign in to the console without a second factor
ISSUER = "Careline"  # the name an authenticator app shows above the person's email
CODE_DIGITS = 6  # digits of a code (what every authenticator app shows by default)
VALID_WINDOW = 1  # time steps (30 s each) accepted either side of now


def normalise_code(code: str) -> str | None:
    """The code as typed, without spaces or dashes ("123 456"), or None unless it is CODE_DIGITS digits."""
    digits = code.replace(" ", "").replace("-", "").strip()
    return digits if len(digits) == CODE_DIGITS and digits.isascii() and digits.isdigit() else None


class SecondFactors:
    """People's TOTP secrets in the database; the session factory and the clock are passed in."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Clock):
        self.session_factory = session_factory
        self.clock = clock

    def enrol(self, email: str) -> str:
        """Give the agent with `email` a new secret (replacing any, and forgetting its last used code) and
        return the otpauth:// URI for their authenticator app; raises UnknownAgent."""
        secret = pyotp.random_base32()
        with session_scope(self.session_factory) as session:
            agent = session.scalars(select(Agent).where(Agent.email == email.strip().lower())).one_or_none()
            if agent is None:
                raise UnknownAgent(email)
            agent.totp_secret = secret
            agent.totp_last_step = None
            return pyotp.TOTP(secret).provisioning_uri(name=agent.email, issuer_name=ISSUER)

    def enrolled(self, agent_id: int) -> bool:
        """Whether agent `agent_id` has a second factor; DependencyDown when the database does not answer."""
        with database_errors_as_dependency_down(), self.session_factory() as session:
            return session.scalar(select(Agent.totp_secret).where(Agent.id == agent_id)) is not None

    def has_secret(self, email: str) -> bool:
        """Whether the agent with `email` has a second factor; raises UnknownAgent."""
        with self.session_factory() as session:
            found = session.execute(select(Agent.id, Agent.totp_secret)
                                    .where(Agent.email == email.strip().lower())).one_or_none()
        if found is None:
            raise UnknownAgent(email)
        return found.totp_secret is not None

    def verify(self, agent_id: int, code: str) -> bool:
        """Whether `code` is agent `agent_id`'s code now (one step either side) and newer than every code it
        accepted before; an accepted code's step is stored in the same statement that checks it is newer, so
        two requests with one code cannot both pass. DependencyDown when the database does not answer."""
        typed = normalise_code(code)
        if typed is None:
            return False
        now = self.clock()
        with database_errors_as_dependency_down(), session_scope(self.session_factory) as session:
            found = session.execute(select(Agent.totp_secret, Agent.totp_last_step)
                                    .where(Agent.id == agent_id)).one_or_none()
            if found is None or found.totp_secret is None:
                return False
            step = _matching_step(pyotp.TOTP(found.totp_secret), typed, now, found.totp_last_step)
            if step is None:
                return False
            spent = session.execute(update(Agent).where(
                Agent.id == agent_id,
                or_(Agent.totp_last_step.is_(None), Agent.totp_last_step < step)).values(totp_last_step=step))
            return spent.rowcount == 1


def _matching_step(totp: pyotp.TOTP, typed: str, now: datetime, last_step: int | None) -> int | None:
    """The time step within VALID_WINDOW of `now` whose code is `typed` and that is newer than `last_step`."""
    current = totp.timecode(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if (last_step is None or step > last_step) and hmac.compare_digest(totp.generate_otp(step), typed):
            return step
    return None

"""API tokens: issue one to an agent, find who presents one, revoke, list. Only SHA-256 hashes are stored."""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, sessionmaker

from agents.errors import AgentDeactivated, TokenRefused, UnknownAgent, UnknownToken
from agents.users import ApiUser
from core.db import database_errors_as_dependency_down, session_scope
from models import Agent, ApiToken, utcnow
from models.token import TOKEN_PREFIX_LENGTH

TOKEN_BYTES = 32  # 256 random bits; token_urlsafe makes 43 characters of them
# Seconds between two writes of a token's last_used_at: a busy client costs one UPDATE a minute, not one a request.
LAST_USED_RESOLUTION_SECONDS = 60
DEFAULT_TOKEN_DAYS = 90  # days a new token lives unless `careline token create --expires DAYS` says otherwise
MAX_TOKEN_DAYS = 366  # days: a token that never expires is not offered
IDLE_TOKEN_DAYS = 30  # days unused (or, never used, since its creation) after which a token stops working


@dataclass(frozen=True)
class IssuedToken:
    """A new token. `token` is the secret: shown once, then only its hash exists."""

    token: str
    prefix: str


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token: never the secret."""

    prefix: str
    email: str
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime

    def state(self, now: datetime) -> str:
        """live | revoked | expired | idle, at `now`."""
        if self.revoked_at is not None:
            return "revoked"
        return _refusal(self.expires_at, self.last_used_at or self.created_at, now) or "live"


def hash_token(token: str) -> str:
    """The stored form of `token`: SHA-256, hex (why that is enough: `models.token.ApiToken`)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenService:
    """API tokens in the database."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Callable[[], datetime] = utcnow):
        self.session_factory = session_factory
        self.clock = clock

    def issue_token(self, email: str, label: str | None = None, expires_days: int = DEFAULT_TOKEN_DAYS) -> IssuedToken:
        """Create a token for the agent with `email`, living `expires_days` days; raises UnknownAgent, and
        AgentDeactivated for a deactivated agent (nobody is given a way in that would not work)."""
        if not 1 <= expires_days <= MAX_TOKEN_DAYS:
            raise ValueError(f"a token lives 1 to {MAX_TOKEN_DAYS} days, not {expires_days}")
        now = self.clock()
        with session_scope(self.session_factory) as session:
            agent = _agent_by_email(session, email)
            if agent.deactivated_at is not None:
                raise AgentDeactivated(agent.id)
            token = _new_token(session)
            prefix = token[:TOKEN_PREFIX_LENGTH]
            session.add(ApiToken(agent_id=agent.id, prefix=prefix, token_hash=hash_token(token), label=label,
                                 created_at=now, expires_at=now + timedelta(days=expires_days)))
        return IssuedToken(token=token, prefix=prefix)

    def authenticate(self, token: str) -> ApiUser | None:
        """The user `token` belongs to, read now (a role changed since counts at once), or None when it is
        unknown or revoked; TokenRefused when it expired, went unused IDLE_TOKEN_DAYS, or its agent is
        deactivated; DependencyDown when the database does not answer."""
        now = self.clock()
        with database_errors_as_dependency_down(), session_scope(self.session_factory) as session:
            row = session.scalars(
                select(ApiToken)
                .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
                .options(joinedload(ApiToken.agent).selectinload(Agent.practices))).one_or_none()
            if row is None:
                return None
            refusal = _refusal(row.expires_at, row.last_used_at or row.created_at, now)
            if refusal is None and row.agent.deactivated_at is not None:
                refusal = "deactivated"
            if refusal is not None:
                raise TokenRefused(refusal)
            last_used = row.last_used_at
            if last_used is None or now - last_used >= timedelta(seconds=LAST_USED_RESOLUTION_SECONDS):
                row.last_used_at = now
            return ApiUser.from_agent(row.agent)

    def revoke_token(self, prefix: str) -> TokenInfo:
        """Revoke the token named by `prefix`; revoking it again keeps the first time. Raises UnknownToken."""
        with session_scope(self.session_factory) as session:
            row = session.scalars(_with_agent(select(ApiToken).where(ApiToken.prefix == prefix))).one_or_none()
            if row is None:
                raise UnknownToken(prefix)
            if row.revoked_at is None:
                row.revoked_at = self.clock()
            return _info(row)

    def revoke_all_tokens(self, email: str) -> list[TokenInfo]:
        """Revoke every live token of the agent with `email`; returns those it revoked. Raises UnknownAgent."""
        now = self.clock()
        with session_scope(self.session_factory) as session:
            agent = _agent_by_email(session, email)
            rows = session.scalars(_with_agent(select(ApiToken).where(
                ApiToken.agent_id == agent.id, ApiToken.revoked_at.is_(None)).order_by(ApiToken.id))).all()
            for row in rows:
                row.revoked_at = now
            return [_info(row) for row in rows]

    def list_tokens(self, email: str | None = None) -> list[TokenInfo]:
        """Every token, or the tokens of the agent with `email` (raises UnknownAgent), oldest first."""
        with session_scope(self.session_factory) as session:
            query = _with_agent(select(ApiToken).order_by(ApiToken.id))
            if email is not None:
                query = query.where(ApiToken.agent_id == _agent_by_email(session, email).id)
            return [_info(row) for row in session.scalars(query)]


def _refusal(expires_at: datetime, last_used: datetime, now: datetime) -> str | None:
    """Why a token stops at `now` ("expired", "idle"), or None. `last_used` is kept to the minute (a token used
    within the last LAST_USED_RESOLUTION_SECONDS may look that much older), which 30 days can spare."""
    if now >= expires_at:
        return "expired"
    if now - last_used >= timedelta(days=IDLE_TOKEN_DAYS):
        return "idle"
    return None


def _agent_by_email(session: Session, email: str) -> Agent:
    agent = session.scalars(select(Agent).where(Agent.email == email.strip().lower())).one_or_none()
    if agent is None:
        raise UnknownAgent(email)
    return agent


def _new_token(session: Session) -> str:
    """A fresh random token whose prefix no other token has, and which does not start with "-" (a prefix
    given on the command line would read as an option)."""
    while True:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        prefix = token[:TOKEN_PREFIX_LENGTH]
        if not prefix.startswith("-") and session.scalars(
                select(ApiToken.id).where(ApiToken.prefix == prefix)).first() is None:
            return token


def _with_agent(query):
    return query.options(joinedload(ApiToken.agent))


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(prefix=row.prefix, email=row.agent.email, label=row.label, created_at=row.created_at,
                     last_used_at=row.last_used_at, revoked_at=row.revoked_at, expires_at=row.expires_at)

"""Whether a person may use Careline at all: deactivate an agent (tokens and console sessions stop at once, the
row and its history stay) or activate it again, and take deactivated agents out of the live queue.

A loaded configuration file deactivates the agents it no longer lists (`practices.store.apply_config`); this is
the same by hand (`careline user disable|enable EMAIL`). Every way in reads `Agent.deactivated_at` on each
request (`agents.tokens`, `agents.passwords`), so nothing has to be revoked one by one.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from agents.errors import UnknownAgent
from agents.status import AgentStatusService
from core.db import session_scope
from core.errors import DependencyDown
from models import Agent
from queueing.model import AgentStatus

log = logging.getLogger(__name__)

DEACTIVATED_REASON = "deactivated"  # the reason recorded with the offline status a deactivation sets


class AccountService:
    """Agents' accounts: active or deactivated."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Callable[[], datetime],
                 agent_status: AgentStatusService):
        self.session_factory = session_factory
        self.clock = clock
        self.agent_status = agent_status

    def disable(self, email: str) -> bool:
        """Deactivate the agent with `email` and set it offline; False when it already was. Raises UnknownAgent."""
        with session_scope(self.session_factory) as session:
            agent = _agent_by_email(session, email)
            if agent.deactivated_at is not None:
                return False
            agent.deactivated_at = self.clock()
            agent_id = agent.id
        self.take_offline([agent_id])
        return True

    def enable(self, email: str) -> bool:
        """Activate the agent with `email` again; False when it was active. Raises UnknownAgent."""
        with session_scope(self.session_factory) as session:
            agent = _agent_by_email(session, email)
            if agent.deactivated_at is None:
                return False
            agent.deactivated_at = None
        return True

    def take_offline(self, agent_ids: Iterable[int]) -> list[int]:
        """Set each agent offline in the live queue (so no call is offered to it); returns the ids that could not
        be (Redis or the database down: the queue's sweep sets an agent without a desk offline later)."""
        failed = []
        for agent_id in agent_ids:
            try:
                self.agent_status.set_status(agent_id, AgentStatus.OFFLINE, reason=DEACTIVATED_REASON)
            except DependencyDown as exc:
                log.warning("agent %s: deactivated, but not set offline (%s down)", agent_id, exc)
                failed.append(agent_id)
        return failed


def _agent_by_email(session: Session, email: str) -> Agent:
    agent = session.scalars(select(Agent).where(Agent.email == email.strip().lower())).one_or_none()
    if agent is None:
        raise UnknownAgent(email)
    return agent

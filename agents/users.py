"""The people the JSON API serves: an agent, manager or admin as a request sees them, and who may act on whom."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from core.db import database_errors_as_dependency_down
from models import Agent


@dataclass(frozen=True)
class ApiUser:
    """An `Agent` row, read once per request; it outlives the session it was loaded in."""

    id: int
    email: str
    name: str
    role: str  # agent | manager | admin
    all_practices: bool  # practices = ["*"] in the configuration file
    practice_ids: frozenset[int]
    practice_slugs: tuple[str, ...]
    languages: tuple[str, ...] = ()

    @classmethod
    def from_agent(cls, agent: Agent) -> "ApiUser":
        """Copy `agent` and its practices (which must be loaded)."""
        return cls(id=agent.id, email=agent.email, name=agent.name, role=agent.role,
                   all_practices=agent.all_practices, practice_ids=frozenset(p.id for p in agent.practices),
                   practice_slugs=tuple(p.slug for p in agent.practices), languages=tuple(agent.languages or ()))


def may_act_on(actor: ApiUser, target: ApiUser) -> bool:
    """Whether `actor` may act on `target`: itself always; a manager on the agents (role agent) of one of its
    practices; an admin on everyone. A manager does not act on another manager or on an admin."""
    if actor.id == target.id or actor.role == "admin":
        return True
    return actor.role == "manager" and target.role == "agent" and _share_a_practice(actor, target)


def answers_for(user: ApiUser, practice_id: int) -> bool:
    """Whether `user` sees the practice's queue: an admin every practice, others the practices they answer."""
    return user.role == "admin" or user.all_practices or practice_id in user.practice_ids


def _share_a_practice(one: ApiUser, other: ApiUser) -> bool:
    # "*" is expanded when the file is loaded, but a practice created since is covered only by the flag.
    if one.all_practices and other.all_practices:
        return True
    if one.all_practices:
        return bool(other.practice_ids)
    if other.all_practices:
        return bool(one.practice_ids)
    return not one.practice_ids.isdisjoint(other.practice_ids)


def all_users(session_factory: sessionmaker[Session]) -> list[ApiUser]:
    """Every agent, by name then id; DependencyDown when the database does not answer."""
    with database_errors_as_dependency_down(), session_factory() as session:
        agents = session.scalars(select(Agent).order_by(Agent.name, Agent.id).options(selectinload(Agent.practices)))
        return [ApiUser.from_agent(agent) for agent in agents]


def find_user(session_factory: sessionmaker[Session], agent_id: int) -> ApiUser | None:
    """The agent with `agent_id`, or None; DependencyDown when the database does not answer."""
    with database_errors_as_dependency_down(), session_factory() as session:
        agent = session.scalars(
            select(Agent).where(Agent.id == agent_id).options(selectinload(Agent.practices))).one_or_none()
        return ApiUser.from_agent(agent) if agent is not None else None

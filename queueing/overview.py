"""The queue as a person watching it sees it: per practice, the callers waiting and the agents by status.

The live part comes from the queue's snapshots (Redis); the database adds names, and the caller's number,
masked, from the call log (`calls`), which lags the call by CALLLOG_DRAIN_DELAY_SECONDS: a caller whose
row is not written yet shows no number.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from core.db import database_errors_as_dependency_down
from core.errors import redis_errors_as_dependency_down
from core.phone import mask_number
from models import Agent, Call, Practice
from queueing.model import AgentStatus, CallerState, QueueSnapshot
from queueing.store import CallQueue, to_ms

@dataclass(frozen=True)
class PracticeRef:
    """A practice, as the queue view names it."""

    id: int
    slug: str
    name: str


@dataclass(frozen=True)
class CallerLine:
    """One caller: `position` counts from 1 among waiting callers, 0 once offered (as `QueuePosition`)."""

    call_sid: str
    position: int
    state: CallerState
    wait_seconds: int  # whole seconds since the caller joined the queue
    urgent: bool
    language: str | None
    masked_number: str | None
    agent_id: int | None  # the agent whose phone rings for an offered caller
    skill: str | None = None  # the skill the caller asked for (a menu's queue entry)


@dataclass(frozen=True)
class AgentLine:
    """One agent of the practice; `idle_since` (seconds since the epoch) only when available."""

    agent_id: int
    name: str | None  # None for an agent the queue knows and the database no longer does
    status: AgentStatus
    reason: str | None = None
    idle_since: float | None = None


@dataclass(frozen=True)
class PracticeQueue:
    """A practice's queue at one instant; `agents` has every status as a key, in AgentStatus's order."""

    practice: PracticeRef
    callers: tuple[CallerLine, ...]
    agents: dict[AgentStatus, list[AgentLine]]


class QueueOverview:
    """Builds the queue view from the queue's snapshots and the database."""

    def __init__(self, session_factory: sessionmaker[Session], queue: CallQueue, clock: Callable[[], datetime]):
        self.session_factory = session_factory
        self.queue = queue
        self.clock = clock

    def practices(self) -> list[PracticeRef]:
        """Every practice, by slug; DependencyDown when the database does not answer."""
        with database_errors_as_dependency_down(), self.session_factory() as session:
            rows = session.execute(select(Practice.id, Practice.slug, Practice.name).order_by(Practice.slug))
            return [PracticeRef(*row) for row in rows]

    def view(self, practices: Sequence[PracticeRef]) -> list[PracticeQueue]:
        """The queue of each of `practices`, at the clock's time; DependencyDown when Redis or the database
        does not answer."""
        now = self.clock()
        with redis_errors_as_dependency_down():
            snapshots = [self.queue.snapshot(practice.id, now) for practice in practices]
        call_sids = [caller.call_sid for snapshot in snapshots for caller in snapshot.callers]
        with database_errors_as_dependency_down(), self.session_factory() as session:
            numbers = _caller_numbers(session, call_sids)
            agents = session.scalars(select(Agent).options(selectinload(Agent.practices))).all()
            names = {agent.id: agent.name for agent in agents}
            members = {practice.id: [agent.id for agent in agents if _answers_for(agent, practice.id)]
                       for practice in practices}
        now_seconds = to_ms(now) / 1000
        return [PracticeQueue(practice, _caller_lines(snapshot, numbers, now_seconds),
                              _agents_by_status(snapshot, members[practice.id], names))
                for practice, snapshot in zip(practices, snapshots)]


def _caller_numbers(session: Session, call_sids: list[str]) -> dict[str, str]:
    if not call_sids:
        return {}
    return dict(session.execute(select(Call.call_sid, Call.from_number).where(Call.call_sid.in_(call_sids))).all())


def _answers_for(agent: Agent, practice_id: int) -> bool:
    return agent.all_practices or any(p.id == practice_id for p in agent.practices)


def _caller_lines(snapshot: QueueSnapshot, numbers: dict[str, str], now_seconds: float) -> tuple[CallerLine, ...]:
    lines, position = [], 0
    for caller in snapshot.callers:  # offered first, then waiting in queue order
        waiting = caller.state == CallerState.WAITING
        position += waiting
        lines.append(CallerLine(caller.call_sid, position if waiting else 0, caller.state,
                                int(max(0.0, now_seconds - caller.arrived_at)), caller.urgent, caller.language,
                                mask_number(numbers.get(caller.call_sid)), caller.agent_id, caller.skill))
    return tuple(lines)


def _agents_by_status(snapshot: QueueSnapshot, member_ids: Iterable[int],
                      names: dict[int, str]) -> dict[AgentStatus, list[AgentLine]]:
    """The queue's agents of the practice, plus its agents in the database the queue has never seen:
    every agent starts offline."""
    grouped: dict[AgentStatus, list[AgentLine]] = {status: [] for status in AgentStatus}
    live = {agent.agent_id: agent for agent in snapshot.agents}
    for agent_id in sorted(set(live) | set(member_ids)):
        agent = live.get(agent_id)
        if agent is None:
            grouped[AgentStatus.OFFLINE].append(AgentLine(agent_id, names.get(agent_id), AgentStatus.OFFLINE))
        else:
            grouped[agent.status].append(AgentLine(agent_id, names.get(agent_id), agent.status, agent.reason,
                                                   agent.idle_since))
    return grouped


# --- as JSON (the API's /api/queue and the console's live queue, alike) -----------------------------------

def iso_time(seconds: float | None) -> str | None:
    """Seconds since the epoch as ISO 8601 in UTC, for JSON."""
    return None if seconds is None else datetime.fromtimestamp(seconds, timezone.utc).isoformat()


def _caller_json(caller: CallerLine) -> dict:
    return {"call_sid": caller.call_sid, "position": caller.position, "state": caller.state.value,
            "wait_seconds": caller.wait_seconds, "urgent": caller.urgent, "language": caller.language,
            "skill": caller.skill, "number": caller.masked_number, "agent_id": caller.agent_id}


def _agent_json(agent: AgentLine) -> dict:
    return {"id": agent.agent_id, "name": agent.name, "reason": agent.reason, "idle_since": iso_time(agent.idle_since)}


def practice_queue_json(queue: PracticeQueue) -> dict:
    """One practice's queue as JSON: the API's `/api/queue` and the console's live queue show the same."""
    return {"practice": {"slug": queue.practice.slug, "name": queue.practice.name},
            "callers": [_caller_json(caller) for caller in queue.callers],
            "agents": {status.value: [_agent_json(agent) for agent in agents]
                       for status, agents in queue.agents.items()}}

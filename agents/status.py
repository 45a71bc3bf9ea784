"""An agent's status: set it in the live queue and record the change; read agents' live states.

The live state is the call queue's (`queueing.store.CallQueue`, in Redis): it is what dispatch acts on.
The database keeps the history (`agents.history`). A status request writes both so that a failure leaves
no row the queue contradicts: the row is written first in an open transaction (a database that does not
answer stops the request before anything changed), then the queue changes, and only then the row is
committed, with the status the queue reports. Redis down: the transaction is rolled back, nothing changed.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from agents.errors import AgentDeactivated, NoSuchAgent
from agents.history import record_status_change
from core.db import database_errors_as_dependency_down
from core.errors import DependencyDown, redis_errors_as_dependency_down
from metrics.rollup import refresh_agent_time
from models import Agent
from queueing.model import SETTABLE, AgentChange, AgentStatus, AgentView
from queueing.notices import AgentNotices
from queueing.store import CallQueue

log = logging.getLogger(__name__)

ON_A_CALL = frozenset({AgentStatus.RINGING, AgentStatus.BUSY, AgentStatus.WRAP_UP})


@dataclass(frozen=True)
class StatusResult:
    """What a status request did. `changed` is False when the queue kept the agent as it was (asking
    available while ringing or busy, or the status it has already); `live` is the agent as the queue
    holds it right after."""

    agent_id: int
    requested: AgentStatus
    changed: bool
    live: AgentView | None  # None only if Redis lost the agent in between: offline, as every unknown agent


class AgentStatusService:
    """Agents' live status in the call queue, and its history in the database."""

    def __init__(self, session_factory: sessionmaker[Session], queue: CallQueue, clock: Callable[[], datetime],
                 dispatcher=None, notices: AgentNotices | None = None):
        self.session_factory = session_factory
        self.queue = queue
        self.clock = clock
        self.dispatcher = dispatcher  # given: an agent that became free, or let a caller go, triggers dispatch
        self.notices = notices or AgentNotices()  # the agent's desks (and its colleagues') hear of a change

    def set_status(self, agent_id: int, status: AgentStatus | str, reason: str | None = None) -> StatusResult:
        """Set the agent offline, available or paused (with `reason`), with its current practices,
        languages and skills from the database, and record the change with the clock's time.

        Available does not interrupt a ringing or busy agent (the queue keeps it; nothing is recorded).
        Raises NoSuchAgent, and DependencyDown when the database or Redis does not answer.
        """
        status = AgentStatus(status)
        if status not in SETTABLE:
            raise ValueError(f"an agent sets itself {', '.join(sorted(SETTABLE))}, not {status}")
        now = self.clock()
        session = self.session_factory()
        try:
            with database_errors_as_dependency_down():
                agent = session.scalars(select(Agent).where(Agent.id == agent_id)
                                        .options(selectinload(Agent.practices))).one_or_none()
                if agent is None:
                    raise NoSuchAgent(agent_id)
                if agent.deactivated_at is not None and status != AgentStatus.OFFLINE:
                    raise AgentDeactivated(agent_id)
                row = record_status_change(session, agent_id, status, now, reason)
                session.flush()
            with redis_errors_as_dependency_down():
                change = self.queue.set_agent(
                    agent_id, status, now, reason=reason,
                    practices="all" if agent.all_practices else [p.id for p in agent.practices],
                    languages=agent.languages or (), skills=agent.skills or ())
            if change.changed:
                row.status, row.reason = change.status.value, change.reason  # what the queue says, not the ask
                with database_errors_as_dependency_down():
                    refresh_agent_time(session, {agent_id: now})  # the metrics' hourly time, with the row
            else:
                session.delete(row)  # the history holds changes only
            self._commit(session, change)
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        log.info("agent %s: asked %s; now %s%s", agent_id, status, change.status,
                 "" if change.changed else " (unchanged)")
        if change.changed:  # before the dispatch, whose offer (if any) comes after it on the desk
            withdrawn = change.released_call_sid if change.previous_status == AgentStatus.RINGING else None
            self.notices.status_set(agent_id, change.status, change.reason, now, ended_offer=withdrawn)
        self._dispatch(change, now)
        return StatusResult(agent_id, status, change.changed, self._live_after(change, now))

    def _dispatch(self, change: AgentChange, now: datetime) -> None:
        """An agent now available takes the next caller at once; a caller it let go gets another agent."""
        if self.dispatcher is None or not (change.status == AgentStatus.AVAILABLE or change.requeued):
            return
        try:
            self.dispatcher.dispatch_for_agent(change.agent_id, now)
        except Exception as exc:  # noqa: BLE001 - the status is set; the next hold turn or sweep dispatches
            log.error("agent %s: dispatch after the status change failed (%s)", change.agent_id, type(exc).__name__)

    def on_a_call(self, agent_id: int) -> bool:
        """Whether the queue has the agent on a call now (ringing, talking or in wrap-up); False when Redis does
        not answer."""
        try:
            live = self.queue.agent(agent_id, self.clock())
        except redis.RedisError:
            return False
        return live is not None and live.status in ON_A_CALL

    def live_states(self, agent_ids: Iterable[int]) -> dict[int, AgentView]:
        """The agents the queue knows, by id (an agent it does not know is offline); DependencyDown."""
        with redis_errors_as_dependency_down():
            return self.queue.agents(agent_ids, self.clock())

    @staticmethod
    def _commit(session: Session, change: AgentChange) -> None:
        try:
            with database_errors_as_dependency_down():
                session.commit()
        except DependencyDown:
            # The one window the order cannot close: the queue changed, its record did not. Say so.
            log.error("agent %s: the queue has it %s, but the database lost the change", change.agent_id,
                      change.status)
            raise

    def _live_after(self, change: AgentChange, now: datetime) -> AgentView | None:
        with redis_errors_as_dependency_down():
            return self.queue.agent(change.agent_id, now)

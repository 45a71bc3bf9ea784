"""The agent's day, as the desk shows it: calls handled, average talk, offers missed, over the shift so far
(the last SHIFT_HOURS; an after-hours shift crosses midnight, so not the calendar day)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.db import database_errors_as_dependency_down
from models import QueueEvent

SHIFT_HOURS = 12  # hours back the desk counts as "today's shift"


@dataclass(frozen=True)
class AgentDay:
    """One agent's figures since `since`."""

    since: datetime
    calls_handled: int
    talk_mean_seconds: float | None  # None when no call has ended yet
    offers_missed: int


class AgentDays:
    """Reads an agent's shift from the queue's events (indexed by agent and time)."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Callable[[], datetime]):
        self._session_factory = session_factory
        self._clock = clock

    def of(self, agent_id: int) -> AgentDay:
        """The agent's figures over the last SHIFT_HOURS; DependencyDown when the database does not answer."""
        since = self._clock() - timedelta(hours=SHIFT_HOURS)
        with database_errors_as_dependency_down(), self._session_factory() as session:
            counts = dict(session.execute(
                select(QueueEvent.kind, func.count()).where(
                    QueueEvent.agent_id == agent_id, QueueEvent.at >= since,
                    QueueEvent.kind.in_(("connected", "no-answer")))
                .group_by(QueueEvent.kind)).all())
            talk = session.execute(select(func.avg(QueueEvent.talk_seconds)).where(
                QueueEvent.agent_id == agent_id, QueueEvent.at >= since, QueueEvent.kind == "talk-ended",
                QueueEvent.talk_seconds.is_not(None))).scalar_one()
        return AgentDay(since=since, calls_handled=counts.get("connected", 0),
                        talk_mean_seconds=round(float(talk), 1) if talk is not None else None,
                        offers_missed=counts.get("no-answer", 0))

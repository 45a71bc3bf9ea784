"""The call-log events of the call queue: an offer to an agent, a caller who left it unserved."""
from __future__ import annotations

from datetime import datetime

from calllog.events import Event
from queueing.model import Match
from queueing.store import to_ms


def offered_event(match: Match, now: datetime) -> Event:
    """The call-log event of an offer; one per caller, agent and instant."""
    return Event(match.call_sid, "queue-offered", f"queue-offered:{match.agent_id}:{to_ms(now)}", now,
                 {"practice_id": match.practice_id, "agent_id": match.agent_id, "urgent": match.urgent,
                  "language": match.language, "skill": match.skill,
                  "wait_seconds": round(match.wait_seconds, 3)})


def abandoned_event(removed, now: datetime) -> Event:
    """The call-log event of a caller who hung up (or whose call ended unnoticed) while in the queue."""
    return Event(removed.call_sid, "queue-abandoned", "queue-abandoned", now, {
        "practice_id": removed.practice_id, "urgent": removed.urgent, "language": removed.language,
        "skill": removed.skill, "wait_seconds": round(removed.wait_seconds, 3), "agent_id": removed.agent_id,
        "reason": removed.reason})


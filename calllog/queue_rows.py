"""The rows the metrics read, derived from the queue's call events: `queue_events`, and the agents'
call-driven status changes in `agent_status_changes`.

A pure function of the events: each row is keyed by its event's (call_sid, dedupe_key), and the writer
inserts them ignoring duplicates, so a retried webhook or a second drain adds nothing.
"""
from __future__ import annotations

from datetime import timedelta

from calllog.events import Event

# call-event kind -> queue_events kind
QUEUE_KINDS = {
    "queue-entered": "entered", "queue-offered": "offered", "queue-connected": "connected",
    "queue-no-answer": "no-answer", "queue-abandoned": "abandoned", "queue-left-by-key": "left-by-key",
    "queue-max-wait": "max-wait", "queue-no-agents": "no-agents", "agent-call-ended": "talk-ended",
}


def queue_rows_from(events: list[Event]) -> tuple[list[dict], list[dict]]:
    """The queue_events rows and agent_status_changes rows that `events` imply."""
    queue_rows, agent_rows = [], []
    for event in events:
        kind = QUEUE_KINDS.get(event.kind)
        if kind is None:
            continue
        data = event.data
        agent_id = data.get("agent_id")
        wait = data.get("wait_seconds")
        talk = data.get("talk_seconds")
        queue_rows.append(dict(
            call_sid=event.call_sid, event_key=event.dedupe_key, practice_id=data.get("practice_id"), kind=kind,
            at=event.occurred_at, agent_id=agent_id, urgent=bool(data.get("urgent")), language=data.get("language"),
            skill=data.get("skill") or None, position=data.get("position"),
            wait_seconds=None if wait is None else float(wait),
            talk_seconds=None if talk is None else int(talk), reason=data.get("reason")))
        status = _agent_status(kind, data)
        if agent_id is not None and status is not None:
            state, reason, until = status
            agent_rows.append(dict(agent_id=agent_id, status=state, reason=reason, at=event.occurred_at,
                                   until=None if until is None else event.occurred_at + until,
                                   call_sid=event.call_sid, event_key=event.dedupe_key))
    return queue_rows, agent_rows


def _agent_status(kind: str, data: dict) -> tuple[str, str | None, timedelta | None] | None:
    """What a queue event did to its agent: (status, reason, wrap-up length), or None."""
    if kind == "offered":
        return "ringing", None, None
    if kind == "connected":
        return "busy", None, None
    if kind == "no-answer":
        return "paused", "missed", None
    if kind == "abandoned":  # the caller hung up while the agent's phone rang: the agent is free again
        return "available", None, None
    if kind == "talk-ended":
        wrap = int(data.get("wrap_up_seconds") or 0)
        return ("wrap-up", None, timedelta(seconds=wrap)) if wrap > 0 else ("available", None, None)
    return None

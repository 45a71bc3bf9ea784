"""What `GET /status` says of Careline's own processes, besides its database and Redis: the worker's and the cron's
last heartbeats, the call log's lag (the age of its oldest unwritten event) and its dead letters, each against
its limit (STATUS_* settings; docs/operations.md, "Processes").

All of it is read from Redis and timed by Careline's clock: the heartbeats (core/heartbeats.py) and the events'
`occurred_at` are written on it.
"""
from __future__ import annotations

from datetime import datetime, timezone

import redis

from calllog.dead_letters import DEAD_LETTER_KEY
from calllog.events import STREAM_KEY, Event
from core.config import Config
from core.heartbeats import ROLES, last_heartbeat

OK = "ok"


def process_health(client: redis.Redis, now: datetime, config: Config) -> tuple[dict[str, str], dict[str, dict]]:
    """The checks (name -> "ok" or what is wrong) and their figures (name -> a dict), read through `client`."""
    checks: dict[str, str] = {}
    figures: dict[str, dict] = {}
    try:
        for role in ROLES:
            checks[role], figures[role] = _heartbeat(client, role, now, config.STATUS_HEARTBEAT_LIMIT_SECONDS)
        checks["calllog"], figures["calllog"] = _calllog(client, now, config.STATUS_CALLLOG_LAG_LIMIT_SECONDS)
        checks["dead_letters"], figures["dead_letters"] = _dead_letters(client, config.STATUS_DEAD_LETTERS_LIMIT)
    except redis.RedisError as exc:
        unknown = f"unknown: Redis down ({type(exc).__name__})"
        for name in (*ROLES, "calllog", "dead_letters"):
            checks[name], figures[name] = unknown, {}
    return checks, figures


def _heartbeat(client: redis.Redis, role: str, now: datetime, limit: float) -> tuple[str, dict]:
    beat = last_heartbeat(client, role)
    if beat is None:
        return f"missing: no {role} has beaten in a day", {"last_heartbeat": None, "age_seconds": None,
                                                           "limit_seconds": limit}
    age = round(max(0.0, (now - beat).total_seconds()), 1)
    figures = {"last_heartbeat": beat.isoformat(), "age_seconds": age, "limit_seconds": limit}
    return (OK if age <= limit else f"stale: last heartbeat {age:g} s ago (limit {limit:g} s)"), figures


def _calllog(client: redis.Redis, now: datetime, limit: float) -> tuple[str, dict]:
    undrained = int(client.xlen(STREAM_KEY))
    first = client.xrange(STREAM_KEY, "-", "+", count=1)
    lag = round(max(0.0, (now - _occurred_at(*first[0])).total_seconds()), 1) if first else 0.0
    figures = {"lag_seconds": lag, "undrained_events": undrained, "limit_seconds": limit}
    return (OK if lag <= limit else f"lagging: oldest unwritten event {lag:g} s old (limit {limit:g} s)"), figures


def _occurred_at(entry_id: str, fields: dict) -> datetime:
    """The event's time on Careline's clock; for an entry that cannot be read, the time Redis gave its id."""
    try:
        occurred = Event.from_stream(fields).occurred_at
    except (KeyError, TypeError, ValueError):
        return datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000, timezone.utc)
    return occurred if occurred.tzinfo else occurred.replace(tzinfo=timezone.utc)


def _dead_letters(client: redis.Redis, limit: int) -> tuple[str, dict]:
    count = int(client.xlen(DEAD_LETTER_KEY))
    figures = {"count": count, "limit": limit}
    return (OK if count <= limit else f"{count} dead letter(s) (limit {limit}): careline calllog dead-letters list"), \
        figures

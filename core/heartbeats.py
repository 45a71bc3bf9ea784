"""The worker's and the cron's heartbeats, on Careline's clock, for `GET /status` (careline/health.py).

RQ keeps heartbeats of its own (`rq:worker:NAME` `last_heartbeat`, the cron schedulers' registry), on the wall
clock; Careline's worker and cron add theirs here each time RQ's beats (careline.worker, careline.cron_process),
timed by Careline's one clock, which `/status` compares them with. One sorted set per role, a member per process
(RQ's name for it), scored by the time of its last heartbeat; members silent for a day are swept.
"""
from __future__ import annotations

from datetime import datetime, timezone

import redis

HEARTBEATS_KEY = "careline:heartbeats:{role}"  # a sorted set: process name -> its last heartbeat, epoch seconds
ROLES = ("worker", "cron")
SWEEP_AFTER_SECONDS = 86_400  # a process silent this long is forgotten


def record_heartbeat(connection, role: str, name: str, at: datetime) -> None:
    """Note that the process `name` of `role` is alive at `at`; `connection` may be a pipeline."""
    key = HEARTBEATS_KEY.format(role=role)
    connection.zadd(key, {name: at.timestamp()})
    connection.zremrangebyscore(key, "-inf", at.timestamp() - SWEEP_AFTER_SECONDS)


def last_heartbeat(client: redis.Redis, role: str) -> datetime | None:
    """The latest heartbeat of any process of `role`, None when none beat within a day."""
    latest = client.zrange(HEARTBEATS_KEY.format(role=role), -1, -1, withscores=True)
    return datetime.fromtimestamp(latest[0][1], timezone.utc) if latest else None

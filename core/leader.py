"""One leader per run of a periodic job, when several cron processes run (docs/operations.md, "Several hosts").

Each `careline cron` process (RQ's CronScheduler) enqueues every registered job at each of its ticks; with two cron
processes, two hosts, each job would run twice per interval. Before enqueueing a due job, a cron process takes the
job's turn: `SET careline:cron:turn:<name> <process> NX PX <ttl>`. The one that sets it enqueues; the others skip
that run. The turn is not released: it lapses after LEAD_SHARE of the interval, so the next run is anyone's again
and a cron process that died does not stop the job (the other takes the next turn).
"""
from __future__ import annotations

import redis

TURN_KEY = "careline:cron:turn:{name}"  # a string (the process that took the turn), expiring
LEAD_SHARE = 0.8  # of the interval: short of the next tick, so the next run is taken again (and by anyone)
CRON_STRING_TURN_SECONDS = 50  # a job on a cron string runs at most once a minute


def turn_seconds(interval_seconds: int | None) -> float:
    """How long a run's turn lasts for a job run every `interval_seconds` (None: a cron string's job)."""
    if not interval_seconds:
        return CRON_STRING_TURN_SECONDS
    return interval_seconds * LEAD_SHARE


def take_turn(connection: redis.Redis, name: str, holder: str, interval_seconds: int | None) -> bool:
    """True when this process is the one to run job `name` now (no other took this run)."""
    ttl_ms = max(1, int(turn_seconds(interval_seconds) * 1000))
    return bool(connection.set(TURN_KEY.format(name=name), holder, nx=True, px=ttl_ms))

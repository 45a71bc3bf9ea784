"""The call log's job: move the events waiting in Redis into the database.

It runs two ways: shortly after an event sets the drain flag (`jobs.schedule.RqScheduler.drain_call_log`,
retried by RQ on Careline's clock while the database is down), and every DRAIN_INTERVAL_SECONDS from RQ's
cron scheduler (`careline/cron.py`, the Procfile's `cron` process), so events a failed drain left in the
stream are written once the database is back even when no new event comes. RQ's cron jobs take no Retry:
the next tick is the periodic drain's retry.
"""
from __future__ import annotations

from rq import Retry

from jobs import JobServices

DRAIN_JOB_TIMEOUT_SECONDS = 600
DRAIN_INTERVAL_SECONDS = 15  # the periodic drain; a message waits at most this long once the database is back
RETRY = Retry(max=3, interval=[5, 15, 30])  # seconds between tries of an event's drain (the database was down)
FAILURE_TTL_SECONDS = 86_400  # a failed drain (the database down: one every 15 s) is kept a day, not RQ's year


def drain_call_events(services: JobServices) -> int:
    """Move the call events waiting in Redis into the database; returns how many entries were handled."""
    return services.calllog_writer.drain()

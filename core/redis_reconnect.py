"""Redis connections that wait for Redis instead of failing: the worker's and the cron's (docs/operations.md,
"Processes").

RQ's worker retries only its blocking dequeue on a connection error; the rest of its loop (heartbeats, registry
maintenance, a job's end) and RQ's scheduler process and cron loop end the process on the first one. Rather than
wrap RQ's loops, their connection is given redis-py's own `Retry`: every command, and every connect, that fails
with a connection error or a timeout is tried again, 1 s, 2 s, 4 s... apart, at most `max_seconds`, for as long as
Redis is away, then the loop carries on where it was. Each wait is logged. A signal (SIGTERM, Ctrl-C) still stops
the process during a wait: RQ's handlers raise, and the retry lets that through.

Only the worker's and the cron's own connections are built so: a webhook must fail fast (`careline.services`),
and the jobs' own Redis client does too (a job that fails is retried by RQ).
"""
from __future__ import annotations

import logging

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5.0  # a Redis host that does not answer a connect (a network partition) counts as down
RETRY_FOREVER = -1  # redis-py's Retry: a negative number of retries never gives up


class LoggedBackoff(ExponentialBackoff):
    """redis-py's exponential backoff (1 s, 2 s, 4 s... up to `cap`), logging each wait."""

    def __init__(self, cap: float):
        super().__init__(cap=cap, base=0.5)  # redis-py waits base * 2**failures: 1 s after the first failure

    def compute(self, failures: int) -> float:
        wait = super().compute(failures)
        log.warning("Redis does not answer (try %d); trying again in %.1f s", failures, wait)
        return wait


def reconnecting_retry(max_seconds: float) -> Retry:
    """A Retry that waits for Redis as long as it takes, at most `max_seconds` between two tries."""
    return Retry(LoggedBackoff(max_seconds), RETRY_FOREVER, supported_errors=(RedisConnectionError, RedisTimeoutError))


def reconnect_with_backoff(connection: redis.Redis, max_seconds: float) -> redis.Redis:
    """Make `connection` (and every connection of its pool, and those RQ's scheduler process rebuilds from its
    settings) wait for Redis instead of raising; returns it."""
    kwargs = connection.connection_pool.connection_kwargs
    if kwargs.get("socket_connect_timeout") is None:
        kwargs["socket_connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    connection.set_retry(reconnecting_retry(max_seconds))
    return connection


def stop_waiting(connection: redis.Redis) -> redis.Redis:
    """Make `connection` try each command once again, not wait: for a process on its way out."""
    connection.set_retry(Retry(NoBackoff(), 0, supported_errors=(RedisConnectionError, RedisTimeoutError)))
    return connection

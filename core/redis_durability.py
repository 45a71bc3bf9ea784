"""Is the Redis Careline writes to durable? Call state, the call log's stream (a message exists only there until
the worker writes it to the database) and the job queue live in Redis: a Redis that loses its data on a restart,
or evicts keys when full, loses messages.

`check_redis_durability` runs when the web process and the worker start (wsgi.py, careline/worker.py). It asks
Redis for its settings (CONFIG GET) and compares them with `REQUIRED`; what it does with a mismatch is
REDIS_DURABILITY_CHECK: `warn` logs a warning that names each setting, `refuse` stops the process, `off` skips the
check; empty, the default, refuses in production and warns elsewhere. A Redis that refuses CONFIG (a managed
Redis often does) or does not answer cannot be checked: that is logged, and the process starts.
"""
from __future__ import annotations

import logging

import redis

from core.config import Config, ConfigError

log = logging.getLogger(__name__)

# What each setting must be, and the values that qualify ("always" fsyncs more often than "everysec").
REQUIRED: dict[str, tuple[str, ...]] = {
    "appendonly": ("yes",),
    "appendfsync": ("everysec", "always"),
    "maxmemory-policy": ("noeviction",),
}


class RedisNotDurable(ConfigError):
    """Production refuses to start on a Redis that would lose data."""


def durability_mode(config: Config) -> str:
    """warn, refuse or off: REDIS_DURABILITY_CHECK, or by the environment when it is empty."""
    if config.REDIS_DURABILITY_CHECK:
        return config.REDIS_DURABILITY_CHECK
    return "refuse" if config.ENV == "production" else "warn"


def durability_problems(client: redis.Redis) -> list[str]:
    """What is not as `REQUIRED`, one phrase per setting (empty: durable). Raises redis.ResponseError when Redis
    refuses CONFIG, redis.RedisError when it does not answer."""
    pipe = client.pipeline(transaction=False)
    for name in REQUIRED:
        pipe.config_get(name)
    problems = []
    for (name, allowed), answer in zip(REQUIRED.items(), pipe.execute()):
        value = _text(answer.get(name)) if answer else None
        if value is None:
            problems.append(f"{name} cannot be read (needs {' or '.join(allowed)})")
        elif value not in allowed:
            problems.append(f"{name} is {value} (needs {' or '.join(allowed)})")
    return problems


def check_redis_durability(client: redis.Redis, config: Config) -> list[str]:
    """Check Redis's persistence and eviction settings at start-up; returns the problems found.

    Raises RedisNotDurable when there are problems and the mode is `refuse`; logs a warning when it is `warn`."""
    mode = durability_mode(config)
    if mode == "off":
        return []
    try:
        problems = durability_problems(client)
    except redis.ResponseError as exc:
        log.warning("Redis durability cannot be checked: Redis refuses CONFIG GET (%s; a managed Redis may). Make "
                    "sure it is set to appendonly yes, appendfsync everysec, maxmemory-policy noeviction "
                    "(docs/operations.md)", type(exc).__name__)
        return []
    except redis.RedisError as exc:
        log.warning("Redis durability cannot be checked: Redis does not answer (%s)", type(exc).__name__)
        return []
    if not problems:
        log.info("Redis durability: appendonly, appendfsync and maxmemory-policy as required")
        return []
    message = ("Redis would lose call state and untaken messages on a restart or when full: "
               + "; ".join(problems) + " (docs/operations.md)")
    if mode == "refuse":
        raise RedisNotDurable(message + ". Fix Redis, or set REDIS_DURABILITY_CHECK=warn to start anyway")
    log.warning("%s", message)
    return problems


def _text(value) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)

"""Errors of the application core that the web layer turns into responses."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis


class DependencyDown(RuntimeError):
    """Redis or the database did not answer."""


@contextmanager
def redis_errors_as_dependency_down() -> Iterator[None]:
    """Turn a Redis that does not answer (refused, timed out, failing) into `DependencyDown`."""
    try:
        yield
    except redis.RedisError as exc:
        raise DependencyDown("redis") from exc

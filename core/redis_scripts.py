"""Lua scripts on Redis: each is one command (EVALSHA), atomic, loaded again if Redis forgot it."""
from __future__ import annotations

import functools

import redis
from redis.commands.core import Script


@functools.cache
def script(client: redis.Redis, source: str) -> Script:
    """`source` registered as a script on `client`."""
    return client.register_script(source)

"""Find the real Redis and PostgreSQL the tests talk to, or start throwaway ones.

The machine's own servers are used when they answer (CARELINE_TEST_REDIS_URL, CARELINE_TEST_POSTGRES_URL,
defaults below); otherwise pytest-redis and pytest-postgresql start a private server for the session.
"""
from __future__ import annotations

import glob
import os
import shutil

import psycopg
import redis
from pytest_postgresql import factories as pg_factories
from pytest_redis import factories as redis_factories

# Each database pass flushes a Redis db of its own before and after every test: `make test` runs the SQLite and
# the PostgreSQL pass at once (scripts/test-passes.sh). Db 14 is the benchmarks'.
REDIS_DB = {"sqlite": 15, "postgresql": 13}
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
# The tests' CARELINE_DATA_KEY (a Fernet key, fixed so that a failure can be replayed): the test engine and every
# test config encrypt and decrypt patient text with it.
TEST_DATA_KEY = "dGVzdHMtb25seS1jYXJlbGluZS1kYXRhLWtleS0wMDE="


def redis_answers(url: str) -> bool:
    """True when a Redis server answers PING at `url`."""
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def postgres_answers(url: str) -> bool:
    """True when a PostgreSQL server accepts a connection at `url`."""
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def pg_ctl_path() -> str | None:
    """pg_ctl from PATH or from Debian's versioned directory."""
    found = shutil.which("pg_ctl")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return candidates[-1] if candidates else None


def configured_redis_url() -> str:
    """CARELINE_TEST_REDIS_URL, or the machine's Redis on this pass's db (CARELINE_TEST_DB)."""
    default = f"redis://127.0.0.1:6379/{REDIS_DB.get(os.environ.get('CARELINE_TEST_DB', 'sqlite'), 15)}"
    return os.environ.get("CARELINE_TEST_REDIS_URL", default)


def configured_postgres_url() -> str:
    return os.environ.get("CARELINE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


# Throwaway servers, started only when a test session asks for them (see conftest.py).
throwaway_redis = redis_factories.redis_proc(port=None, db_count=16)  # a server per session; db 15
throwaway_postgres = pg_factories.postgresql_proc(port=None, executable=pg_ctl_path() or "pg_ctl")

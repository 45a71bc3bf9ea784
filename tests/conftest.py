"""Shared fixtures: a real database (SQLite or PostgreSQL, per CARELINE_TEST_DB) and a real Redis."""
from __future__ import annotations

import os
import random
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import redis
import time_machine
from sqlalchemy import text

from core.crypto import DataCipher
from core.db import make_engine, make_session_factory
from core.migrate import upgrade
from models import Base
from tests.audit_support import reset_audit_trail
from tests.services import (TEST_DATA_KEY, configured_postgres_url, configured_redis_url, postgres_answers,
                            redis_answers, throwaway_postgres, throwaway_redis)

TEST_DB = os.environ.get("CARELINE_TEST_DB", "sqlite")
os.environ["FLASK_SKIP_DOTENV"] = "1"  # a developer's .env (from `make run`) must not leak into the tests
REPO = Path(__file__).resolve().parent.parent

AUDIT_TABLES = ("audit_events", "audit_chain_head")
__all__ = ["throwaway_postgres", "throwaway_redis"]  # pytest finds the factories' fixtures here


# The wall clock, moved: CARELINE_TEST_DAYS=N runs the suite N days from today (negative: back), `random` picks
# a number within a year or so either way. Careline reads its own clock and the tests set it to their dates, so
# the suite must pass whatever the real date is; a test that leans on the real date fails here. Only the wall
# clock moves (time.time, datetime.now, RQ's own now): the monotonic clock, sleeps and timeouts do not.
MAX_RANDOM_DAYS = 400


def days_moved() -> int:
    """How many days the wall clock is moved for this run (0: not moved)."""
    value = os.environ.get("CARELINE_TEST_DAYS", "").strip()
    if value == "random":
        return random.SystemRandom().randint(-MAX_RANDOM_DAYS, MAX_RANDOM_DAYS)
    return int(value) if value else 0


def pytest_configure(config):
    days = days_moved()
    config.careline_days_moved = days
    if days:
        travel = time_machine.travel(datetime.now(timezone.utc) + timedelta(days=days), tick=True)
        travel.start()
        config.add_cleanup(travel.stop)


def pytest_terminal_summary(terminalreporter, config):
    days = config.careline_days_moved
    if days:  # at the end too: `-q` prints no header, and a failure must be replayable
        terminalreporter.write_line(f"careline: wall clock moved {days:+d} days (replay: CARELINE_TEST_DAYS={days})")


def pytest_report_header(config):
    days = config.careline_days_moved
    moved = (f"wall clock moved {days:+d} days, to {datetime.now(timezone.utc):%Y-%m-%d} "
             f"(replay: CARELINE_TEST_DAYS={days})") if days else "wall clock not moved"
    return f"careline: database={TEST_DB}; {moved}"


@pytest.fixture(scope="session")
def redis_url(request) -> str:
    """A Redis URL for the tests; a throwaway server when none answers."""
    url = configured_redis_url()
    if redis_answers(url):
        return url
    proc = request.getfixturevalue("throwaway_redis")
    return f"redis://{proc.host}:{proc.port}/15"


@pytest.fixture(scope="session")
def postgres_admin_url(request) -> str:
    """A URL to a PostgreSQL server where the tests may create a database."""
    url = configured_postgres_url()
    if postgres_answers(url):
        return url
    if os.geteuid() == 0:
        # initdb refuses to run as root, so pytest-postgresql cannot help; the machine's own server can.
        pytest.fail(f"no PostgreSQL answers at {url}, and a throwaway one cannot be started as root: run "
                    "scripts/ensure-postgres.sh (make test does) or set CARELINE_TEST_POSTGRES_URL", pytrace=False)
    proc = request.getfixturevalue("throwaway_postgres")
    return f"postgresql://{proc.user}@{proc.host}:{proc.port}/postgres"


@pytest.fixture(scope="session")
def db_url(request, tmp_path_factory) -> str:
    """A freshly migrated database for this test session."""
    if TEST_DB == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'careline.db'}"
        upgrade(url)
        yield url
        return
    if TEST_DB != "postgresql":
        raise pytest.UsageError(f"CARELINE_TEST_DB must be sqlite or postgresql, not {TEST_DB!r}")
    admin = request.getfixturevalue("postgres_admin_url")
    name = f"careline_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin.rpartition("/")
    url = f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    upgrade(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def engine(db_url):
    eng = make_engine(db_url, data_cipher=DataCipher([TEST_DATA_KEY]))  # the key of the tests' configs
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine):
    """Sessions on the test database; every table is emptied after the test."""
    yield make_session_factory(engine)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name in AUDIT_TABLES:
                continue  # append-only: emptied below with its triggers set aside
            conn.execute(table.delete())
        reset_audit_trail(conn)
        if engine.dialect.name == "sqlite":
            conn.execute(text("DELETE FROM sqlite_sequence")) if _has_sqlite_sequence(conn) else None


def _has_sqlite_sequence(conn) -> bool:
    return conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")).first() is not None


@pytest.fixture
def redis_client(redis_url):
    """A real Redis connection, flushed before and after the test."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()

"""Throwaway stores for a benchmark: a fresh SQLite file or PostgreSQL database, and a flushed Redis db."""
from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql
from sqlalchemy import create_engine, text

from bench.errors import BenchError

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"  # its server gets the bench database
BENCH_REDIS_URL = "redis://127.0.0.1:6379/14"  # a db of its own, flushed before and after
CONNECT_TIMEOUT_SECONDS = 5


@contextmanager
def sqlite_database() -> Iterator[str]:
    """A new SQLite file in a temporary directory (WAL files included); yields its URL, removes it after."""
    directory = Path(tempfile.mkdtemp(prefix="careline-bench-"))
    try:
        yield f"sqlite:///{directory / 'bench.db'}"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def postgresql_database(admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[str]:
    """CREATE DATABASE bench_<random> on `admin_url`'s server; yields its URL, drops it after."""
    name = f"bench_{secrets.token_hex(4)}"
    try:
        _admin(admin_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        raise BenchError(f"PostgreSQL at {admin_url} does not answer: {exc}".strip()) from exc
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        # FORCE (PostgreSQL 13+) ends connections a killed worker may have left behind.
        _admin(admin_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _admin(admin_url: str, statement: sql.Composed) -> None:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
        conn.execute(statement)


@contextmanager
def flushed_redis(url: str = BENCH_REDIS_URL) -> Iterator[redis.Redis]:
    """A client of the bench's Redis db, flushed before and after."""
    client = redis.Redis.from_url(url, socket_timeout=CONNECT_TIMEOUT_SECONDS,
                                  socket_connect_timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        client.close()
        raise BenchError(f"Redis at {url} does not answer: {exc}") from exc
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


def count_rows(database_url: str, tables: tuple[str, ...]) -> dict[str, int]:
    """Rows per table, read with the driver Careline uses."""
    with _connection(database_url) as conn:
        return {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in tables}


def call_sids(database_url: str) -> set[str]:
    """Every CallSid in the `calls` table."""
    with _connection(database_url) as conn:
        return set(conn.execute(text("SELECT call_sid FROM calls")).scalars())


@contextmanager
def _connection(database_url: str):
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()

"""A hung database fails fast: PostgreSQL's connect_timeout and statement_timeout, SQLite's busy timeout and the
pool's timeout bound every wait on the database (core/db.py), and the practice directory serves its last snapshot
when a reload fails or does not answer in time (practices/directory.py). A call keeps going: its TwiML takes the
message, which waits in Redis (the call log's stream) until the database answers again and a drain runs.

The PostgreSQL fault: a TCP proxy between Careline and the machine's PostgreSQL that stops forwarding (it accepts
connections and holds them, and holds the bytes of the connections already open: a server that hangs, not one
that refuses). The SQLite fault: the database file locked by another connection.
"""
from __future__ import annotations

import dataclasses
import logging
import socket
import sqlite3
import threading
import time
import uuid
from urllib.parse import urlsplit

import psycopg
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from calllog.events import STREAM_KEY
from callsim import Caller
from careline.app import create_app
from core.db import make_engine, make_session_factory
from core.errors import DependencyDown
from core.migrate import upgrade
from models import Message
from practices.directory import PracticeDirectory
from practices.publish import publish_config_change
from tests.conftest import TEST_DB
from tests.integration.conftest import CALLER, NORTHSIDE, PRACTICES_TOML, bearer, issue, load_practices, simulator

CALL_BOUND_SECONDS = 5.0  # the issue's bound: a call with the database hung still takes its message within 5 s

postgresql_only = pytest.mark.skipif(TEST_DB != "postgresql", reason="the TCP proxy stands in front of PostgreSQL; "
                                     "on SQLite a locked database file is the fault (tests below)")
sqlite_only = pytest.mark.skipif(TEST_DB != "sqlite", reason="SQLite's busy timeout; PostgreSQL has the proxy")


class HangingProxy:
    """A TCP proxy to `upstream` that forwards until `hold()`, then forwards nothing (new connections are
    accepted and held too) until `resume()`."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.forwarding = threading.Event()
        self.forwarding.set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self) -> None:
        self.forwarding.clear()

    def resume(self) -> None:
        self.forwarding.set()

    def close(self) -> None:
        self._closed = True
        self.forwarding.set()
        for sock in [self._listener, *self._sockets]:
            try:
                sock.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
                server = socket.create_connection(self.upstream)
            except OSError:
                return
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self.forwarding.wait()
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def own_postgres(request):
    """A fresh, migrated PostgreSQL database of this test's own (dropped after it): `(url, admin url)`."""
    admin = request.getfixturevalue("postgres_admin_url")
    name = f"careline_hang_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin.rpartition("/")
    url = f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    upgrade(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def proxied(own_postgres):
    """The test database's URL through a HangingProxy, and the proxy."""
    parts = urlsplit(own_postgres)
    proxy = HangingProxy((parts.hostname, parts.port or 5432))
    netloc = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    yield parts._replace(netloc=f"{netloc}127.0.0.1:{proxy.port}").geturl(), proxy
    proxy.close()


def message_call_timed(app, clock) -> tuple[object, float]:
    """A call that leaves a message, through the simulator; returns its result and how long it took (s)."""
    sim = simulator(app.test_client(), clock)
    results: list = []

    def call():
        try:
            results.append(sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(7, then="hangup")))
        except BaseException as exc:  # noqa: BLE001 - raised in the test's thread below
            results.append(exc)

    caller = threading.Thread(target=call, daemon=True)
    started = time.monotonic()
    caller.start()
    caller.join(CALL_BOUND_SECONDS * 3)  # a call hung on the database fails the test instead of hanging it
    seconds = time.monotonic() - started
    assert results, f"the call was still waiting after {seconds:.0f} s"
    if isinstance(results[0], BaseException):
        raise results[0]
    return results[0], seconds


def assert_message_taken(result) -> None:
    assert result.ended_by != "error" and not result.problems
    assert any(step.kind == "record" for step in result.transcript)


def messages(session_factory) -> list[Message]:
    with session_factory() as session:
        return list(session.scalars(select(Message)))


@postgresql_only
def test_given_postgresql_hung_when_called_then_the_message_is_taken_within_5_s_and_kept(
        proxied, config, redis_client, clock, caplog):
    url, proxy = proxied
    app = create_app(dataclasses.replace(config, DATABASE_URL=url))
    services = app.extensions["careline"]
    services.clock = clock
    try:
        load_practices(services, PRACTICES_TOML)
        services.directory.find_by_number(NORTHSIDE)  # the snapshot, and a pooled connection the hang will hold
        proxy.hold()
        publish_config_change(services.redis)  # the next call's lookup must reload: it meets the hung database
        caplog.set_level(logging.WARNING)

        result, seconds = message_call_timed(app, clock)

        assert seconds < CALL_BOUND_SECONDS, f"the call took {seconds:.1f} s with the database hung"
        assert_message_taken(result)
        assert result.heard[0] != "We are sorry, we cannot connect your call right now."  # the snapshot served
        assert "practices: reload failed (no answer within 2 s); serving the last snapshot" in caplog.text
        assert redis_client.xlen(STREAM_KEY) > 0  # the message waits in Redis

        proxy.resume()
        services.calllog_writer.drain()
        [message] = messages(services.session_factory)
        assert message.call_sid == result.call_sid and message.duration_seconds == 7
    finally:
        proxy.resume()
        services.close()


@postgresql_only
def test_given_postgresql_hung_then_a_new_connection_fails_after_the_connect_timeout(proxied):
    url, proxy = proxied
    proxy.hold()
    engine = make_engine(url)  # the default connect timeout: 2 s
    started = time.monotonic()
    with pytest.raises(OperationalError, match="timeout"), engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert time.monotonic() - started < 3.5
    proxy.resume()
    engine.dispose()


@postgresql_only
def test_given_a_slow_statement_on_postgresql_then_it_is_cancelled_at_the_statement_timeout(own_postgres):
    engine = make_engine(own_postgres, statement_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(OperationalError, match="statement timeout"), engine.connect() as conn:
        conn.execute(text("SELECT pg_sleep(5)"))
    assert time.monotonic() - started < 2
    engine.dispose()
    engine = make_engine(own_postgres)
    with engine.connect() as conn:  # the default: 3 s, sent at connect
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "3s"
    engine.dispose()


@pytest.fixture
def own_sqlite(tmp_path):
    """A fresh, migrated SQLite database of this test's own: no other engine of the test session touches it."""
    if TEST_DB != "sqlite":
        pytest.skip("SQLite only")
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    upgrade(url)
    return url


@pytest.fixture
def locked_sqlite(own_sqlite):
    """Lock the test's own SQLite database, readers too (in WAL mode only an exclusive locking mode keeps readers
    out, and it needs every other connection to the file closed), until `release()`."""
    db_url = own_sqlite
    path = db_url.removeprefix("sqlite:///")
    holders: list[sqlite3.Connection] = []

    def lock():
        holder = sqlite3.connect(path, isolation_level=None)
        holders.append(holder)
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("CREATE TABLE hold_the_lock (id INTEGER)")

    def release():  # in WAL mode an exclusive locking mode ends with its connection
        while holders:
            holders.pop().close()

    yield lock, release
    release()


@sqlite_only
def test_given_sqlite_locked_when_called_then_the_message_is_taken_within_5_s_and_kept(
        own_sqlite, locked_sqlite, config, redis_client, clock, caplog):
    lock, release = locked_sqlite
    app = create_app(dataclasses.replace(config, DATABASE_URL=own_sqlite))
    services = app.extensions["careline"]
    services.clock = clock
    try:
        load_practices(services, PRACTICES_TOML)
        services.directory.find_by_number(NORTHSIDE)
        services.engine.dispose()  # the lock needs every other connection closed
        lock()
        publish_config_change(services.redis)
        caplog.set_level(logging.WARNING)

        result, seconds = message_call_timed(app, clock)

        assert seconds < CALL_BOUND_SECONDS, f"the call took {seconds:.1f} s with the database locked"
        assert_message_taken(result)
        assert "practices: reload failed" in caplog.text and "serving the last snapshot" in caplog.text
        assert redis_client.xlen(STREAM_KEY) > 0
        release()
        services.calllog_writer.drain()
        [message] = messages(services.session_factory)
        assert message.call_sid == result.call_sid and message.duration_seconds == 7
    finally:
        release()
        services.close()


@sqlite_only
def test_given_sqlite_locked_then_a_statement_gives_up_at_the_busy_timeout(own_sqlite, locked_sqlite):
    lock, _ = locked_sqlite
    lock()
    short = make_engine(own_sqlite, statement_timeout=1)
    started = time.monotonic()
    with pytest.raises(OperationalError, match="database is locked"), short.connect() as conn:
        conn.execute(text("SELECT count(*) FROM practices")).scalar()
    assert time.monotonic() - started < 2.5  # the busy timeout, not SQLite's old 10 s
    short.dispose()


# --- the directory serves its last snapshot -------------------------------------------------------------------

DATABASE_NOWHERE = "postgresql+psycopg://nobody@127.0.0.1:1/none"  # refused at once


def test_given_a_reload_that_fails_then_the_directory_serves_its_last_snapshot(services, session_factory, caplog):
    load_practices(services, PRACTICES_TOML)
    directory = PracticeDirectory(session_factory)
    northside = directory.find_by_number(NORTHSIDE, "1")
    dead = make_engine(DATABASE_NOWHERE)
    directory._session_factory = make_session_factory(dead)  # the database goes away
    caplog.set_level(logging.WARNING)

    assert directory.find_by_number(NORTHSIDE, "2") is northside  # a new version: a reload, which fails
    assert "practices: reload failed (OperationalError); serving the last snapshot" in caplog.text
    assert directory.get(northside.id, "2") is northside and directory.version == "1"

    directory._session_factory = session_factory  # back
    directory.invalidate()
    assert directory.find_by_number(NORTHSIDE, "2") is not northside and directory.version == "2"
    dead.dispose()


def test_given_no_snapshot_and_the_database_down_then_the_lookup_raises(services):
    dead = make_engine(DATABASE_NOWHERE)
    directory = PracticeDirectory(make_session_factory(dead))
    with pytest.raises(OperationalError):
        directory.find_by_number(NORTHSIDE)
    with pytest.raises(DependencyDown):  # right after: no new wait on the database
        directory.find_by_number(NORTHSIDE)
    dead.dispose()


def test_given_a_reload_that_hangs_then_lookups_wait_a_bounded_time_and_it_lands_when_it_ends(
        services, session_factory):
    load_practices(services, PRACTICES_TOML)
    directory = PracticeDirectory(session_factory, reload_wait_seconds=0.2)
    northside = directory.find_by_number(NORTHSIDE, "1")
    answer = threading.Event()

    def hung_session():
        answer.wait(10)
        return session_factory()

    directory._session_factory = hung_session
    started = time.monotonic()
    assert directory.find_by_number(NORTHSIDE, "2") is northside
    assert directory.find_by_number(NORTHSIDE, "2") is northside  # within the retry window: no wait at all
    assert time.monotonic() - started < 1
    answer.set()  # the database answers: the reload still running installs its snapshot
    deadline = time.monotonic() + 5
    while directory.version != "2" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert directory.version == "2" and directory.find_by_number(NORTHSIDE, "2") is not northside


def test_given_every_pooled_connection_taken_then_a_request_answers_503_after_the_pool_timeout_and_logs_why(
        agents, client, tokens, services, caplog):
    """A request that finds none of the pool's connections free within the pool's 2 s (SQLite's too: its default
    was 30 s) answers 503 service-unavailable, as a database that does not answer does (it was a 500), and the log
    says why; once a connection is free again it answers."""
    token = issue(tokens, "root")
    assert client.get("/api/messages", headers=bearer(token)).status_code == 200
    caplog.set_level(logging.WARNING, logger="core.db")
    held = [services.engine.connect() for _ in range(10)]  # make_engine's pool: 5 and 5 overflow
    try:
        started = time.monotonic()
        answer = client.get("/api/messages", headers=bearer(token))
        waited = time.monotonic() - started
    finally:
        for connection in held:
            connection.close()
    assert answer.status_code == 503
    assert answer.get_json() == {"error_id": "service-unavailable", "details": {"dependency": "database"}}
    assert 1.5 <= waited < CALL_BOUND_SECONDS
    assert "database: TimeoutError: QueuePool limit of size 5 overflow 5 reached" in caplog.text
    assert client.get("/api/messages", headers=bearer(token)).status_code == 200

"""The call log drains on its own and is never blocked by one bad entry (issue 14).

The cron process drains the call log every 15 s besides the drain a new event schedules, so events a failed
drain left in Redis are written once the database is back even when no call follows. An entry that fails
while the database answers is tried again on the next drains, then kept as a dead letter (listed and
replayed with `careline calllog dead-letters`); the entries beside it are written. With the database down,
every entry waits and none becomes a dead letter.

Calls run through the simulator; RQ's cron scheduler is played on Careline's clock (`CronTicks`): each tick
enqueues the job `careline/cron.py` registers, and the worker runs it with whatever else is due (`run_jobs`).
"""
from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from datetime import timedelta

import pytest
from click.testing import CliRunner
from rq.cron import CronScheduler
from sqlalchemy import Engine, event, func, select

from calllog.dead_letters import MAX_TRIES, TRIES_KEY
from calllog.events import STREAM_KEY, Event
from callsim import Caller
from models import Call, CallEvent, Message, OnCallPage
from tests.conftest import TEST_DB
from tests.integration.conftest import (CLOSED_TIME, NORTHSIDE, load_practices, run_jobs, simulator,
                                        with_rest_standin)
from tests.integration.test_after_hours import AFTER_HOURS_TOML, DR_RIVERA, texts_to

CALLER = "+13125550199"
OTHER_CALLER = "+13125550188"


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@contextmanager
def database_down(engine: Engine):
    """The app's database refuses every connection, as a stopped server does (its pool emptied first)."""
    def refuse(dialect, _record, _cargs, _cparams):
        raise dialect.loaded_dbapi.OperationalError("connection refused (the test stopped the database)")

    event.listen(engine, "do_connect", refuse)
    engine.dispose()
    try:
        yield
    finally:
        event.remove(engine, "do_connect", refuse)


class CronTicks:
    """RQ's cron scheduler (`rq cron careline.cron`) for the call log's drain, on Careline's clock."""

    def __init__(self, services, clock):
        self.services, self.clock = services, clock
        scheduler = CronScheduler(connection=services.jobs.connection)
        scheduler.load_config_from_file("careline.cron")
        (self.drain,) = [job for job in scheduler.get_jobs() if job.func_name == "jobs.calllog.drain_call_events"]

    def tick(self) -> None:
        """One interval later: the drain enqueued as the cron scheduler does, then the jobs due run."""
        self.clock.now += timedelta(seconds=self.drain.interval)
        self.drain.enqueue(self.services.jobs.connection)
        run_jobs(self.services, self.clock)


@pytest.fixture
def cron(services, clock) -> CronTicks:
    return CronTicks(services, clock)


@pytest.fixture
def sim(client, services, clock, standin):
    """After hours at Northside (its on-call providers paged by urgent messages), Twilio's REST the stand-in."""
    load_practices(services, AFTER_HOURS_TOML)
    clock.now = CLOSED_TIME
    simulated = simulator(client, clock)
    simulated.rest = standin
    simulated.on_time = lambda now: setattr(clock, "now", now)
    return simulated


def count(session_factory, model, *where) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def cli(*args: str):
    from careline.cli import main

    return CliRunner().invoke(main, ["calllog", "dead-letters", *args])


# --- the database down, a message left, the database back, no call after -------------------------------------

def test_given_the_database_down_and_no_call_after_then_the_periodic_drain_writes_the_message_and_pages_within_60_s(
        sim, services, session_factory, clock, cron, standin, caplog):
    caplog.set_level(logging.INFO)
    services.directory.find_by_number(NORTHSIDE)  # the web process's practice snapshot, taken before the outage
    with database_down(services.engine):
        result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").speak(8, then="#"))
        assert "Thank you, your message has been saved." in result.heard
        waiting = services.redis.xlen(STREAM_KEY)
        # Two minutes down: the event's drain and its RQ retries (5, 15, 30 s) fail, and so does every tick.
        run_jobs(services, clock)
        for _ in range(8):
            cron.tick()
        failed = services.jobs.failed_job_registry
        assert failed.count == 9  # the event's drain (after its 3 retries) and the eight ticks
        retried = [job for job in map(services.jobs.fetch_job, failed.get_job_ids()) if job.retry_intervals]
        assert [(job.retry_intervals, job.retries_left) for job in retried] == [([5, 15, 30], 0)]
        # Every entry waits in the stream: none was counted as failing on its own, none is a dead letter.
        assert services.redis.xlen(STREAM_KEY) == waiting
        assert services.redis.hlen(TRIES_KEY) == 0
        assert services.calllog_writer.dead_letters.count() == 0
    back = clock.now
    assert count(session_factory, Message) == 0
    # Nothing else would write it: no job waits, and no call comes.
    assert services.jobs.count == 0 and services.jobs.scheduled_job_registry.count == 0
    while not texts_to(standin, DR_RIVERA) and clock.now < back + timedelta(seconds=60):
        cron.tick()
    assert clock.now - back <= timedelta(seconds=60)
    with session_factory() as session:
        message = session.scalars(select(Message)).one()
        page = session.scalars(select(OnCallPage)).one()
    assert (message.call_sid, message.urgent, message.after_hours) == (result.call_sid, True, True)
    assert page.message_id == message.id
    (text,) = texts_to(standin, DR_RIVERA)
    assert "urgent message" in text and CALLER not in text
    assert services.redis.xlen(STREAM_KEY) == 0 and services.calllog_writer.dead_letters.count() == 0
    assert CALLER not in caplog.text


# --- one poisoned entry among a hundred -------------------------------------------------------------------------

def garbled_status(call_sid: str, at) -> Event:
    """A status callback whose CallDuration is not a number: rebuilding its call raises ValueError."""
    return Event(call_sid, "status", "status:9", at, {"from": CALLER, "to": NORTHSIDE, "call_status": "completed",
                                                      "sequence": 9, "call_duration": "n/a"})


TOO_LONG_FROM = "+1312555" + "0" * 70  # longer than calls.from_number (64): PostgreSQL refuses it (DataError)


def too_long_from(call_sid: str, at) -> Event:
    """An incoming call whose From does not fit its column (SQLite does not check lengths)."""
    return Event("CA" + "f" * 32, "incoming", "incoming:0", at,
                 {"from": TOO_LONG_FROM, "to": NORTHSIDE, "language": "en"})


POISONS = [pytest.param(garbled_status, "ValueError", id="a-value-the-writer-cannot-read"),
           pytest.param(too_long_from, "DataError", id="a-from-longer-than-its-column",
                        marks=pytest.mark.skipif(TEST_DB != "postgresql", reason="SQLite does not check lengths"))]


@pytest.mark.parametrize("poison, reason", POISONS)
def test_given_one_poisoned_entry_among_a_hundred_then_99_written_and_it_is_dead_lettered_listed_replayable(
        sim, services, session_factory, clock, cron, cli_env, caplog, poison, reason):
    caplog.set_level(logging.INFO)
    calls = [sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller().hang_up()) for _ in range(16)]
    bad = poison(calls[-1].call_sid, clock.now)
    services.calllog.append([bad])
    calls += [sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller().hang_up()) for _ in range(17)]
    assert services.redis.xlen(STREAM_KEY) == 100  # 33 calls of 3 events each, and the poisoned one
    (poisoned_entry,) = [entry_id for entry_id, fields in services.redis.xrange(STREAM_KEY)
                         if json.loads(fields["event"])["dedupe_key"] == bad.dedupe_key
                         and json.loads(fields["event"])["call_sid"] == bad.call_sid]

    run_jobs(services, clock)  # the drain the first event scheduled
    assert count(session_factory, CallEvent) == 99
    assert count(session_factory, Call) == 33
    assert services.redis.xlen(STREAM_KEY) == 1
    assert f"entry:{poisoned_entry} call={bad.call_sid} kind={bad.kind} failed ({reason}), try 1 of 3" in caplog.text
    # It blocks nothing behind it: a call after it is written by the drain it schedules, the poisoned entry
    # tried again; then the cron process's drain tries it a last time.
    later = sim.call(to=NORTHSIDE, from_=OTHER_CALLER, caller=Caller().hang_up())
    run_jobs(services, clock, until=clock.now + timedelta(seconds=1))
    assert count(session_factory, Call, Call.call_sid == later.call_sid) == 1
    assert "try 2 of 3" in caplog.text and services.calllog_writer.dead_letters.count() == 0
    cron.tick()

    (letter,) = services.calllog_writer.dead_letters.list_all()
    assert (letter.entry_id, letter.call_sid, letter.kind, letter.reason, letter.tries) == (
        poisoned_entry, bad.call_sid, bad.kind, reason, MAX_TRIES)
    assert letter.failed_at == clock.now
    assert services.redis.xlen(STREAM_KEY) == 0 and services.redis.hlen(TRIES_KEY) == 0
    assert services.calllog_writer.dead_letters.total() == 1
    assert f"entry:{poisoned_entry} call={bad.call_sid} kind={bad.kind} failed ({reason}) 3 times; moved to the " \
           "dead letters" in caplog.text
    assert count(session_factory, CallEvent) == 99 + 3  # the later call's events; never the poisoned one

    listed = cli("list")
    assert listed.exit_code == 0, listed.output
    header, row = listed.output.splitlines()
    assert header.split() == ["ID", "WHEN", "CALL", "KIND", "TRIES", "WHY"]
    assert row.split() == [letter.id, *f"{clock.now:%Y-%m-%d %H:%M} UTC".split(), bad.call_sid, bad.kind,
                           str(MAX_TRIES), reason]
    for number in (CALLER, NORTHSIDE, TOO_LONG_FROM, CALLER[2:]):
        assert number not in listed.output and number not in caplog.text

    unknown = cli("replay", letter.id, "1-1")
    assert unknown.exit_code == 1 and "no dead letter has the id '1-1'" in unknown.output
    assert services.calllog_writer.dead_letters.list_all() == []  # the known one went back all the same
    ((entry_id, fields),) = services.redis.xrange(STREAM_KEY)
    assert json.loads(fields["event"]) == json.loads(bad.to_json())
    # Put back, it is an entry like any other: its tries start again.
    services.calllog_writer.drain()
    assert services.redis.hget(TRIES_KEY, entry_id) == "1"
    assert services.calllog_writer.dead_letters.count() == 0


def test_given_a_bug_that_fails_one_call_when_fixed_then_replay_all_writes_its_message(
        sim, services, session_factory, clock, cron, cli_env, monkeypatch):
    """A bug that fails every event of one call: its events become dead letters, other calls are written; once
    the bug is fixed, `replay --all` brings the call's message into the database."""
    import calllog.writer

    poisoned_sid = "CA" + "b" * 32
    build = calllog.writer.build_call_record

    def buggy(call_sid, events, practice_ids):
        if call_sid == poisoned_sid:
            raise KeyError("a bug")
        return build(call_sid, events, practice_ids)

    with monkeypatch.context() as bug:
        bug.setattr(calllog.writer, "build_call_record", buggy)
        sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(8, then="#"), call_sid=poisoned_sid)
        other = sim.call(to=NORTHSIDE, from_=OTHER_CALLER, caller=Caller(press="2").speak(8, then="#"))
        run_jobs(services, clock)
        for _ in range(MAX_TRIES):
            if services.redis.xlen(STREAM_KEY) == 0:
                break
            cron.tick()
        with session_factory() as session:
            assert session.scalars(select(Message.call_sid)).all() == [other.call_sid]
        letters = services.calllog_writer.dead_letters.list_all()
        assert letters and {(d.call_sid, d.reason) for d in letters} == {(poisoned_sid, "KeyError")}
        assert services.redis.xlen(STREAM_KEY) == 0
    # The fix is deployed.
    replayed = cli("replay", "--all")
    assert replayed.exit_code == 0, replayed.output
    assert replayed.output.startswith(f"replayed {len(letters)}: ")
    assert services.calllog_writer.dead_letters.count() == 0
    assert cli("replay").exit_code == 2  # neither ids nor --all
    cron.tick()
    with session_factory() as session:
        assert sorted(session.scalars(select(Message.call_sid))) == sorted([poisoned_sid, other.call_sid])
    assert services.redis.xlen(STREAM_KEY) == 0
    assert cli("list").output == "no dead letters\n"

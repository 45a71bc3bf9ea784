"""A recording is a message even when Careline lost its note of it (issue 14).

The recording status callback makes the message when the Record action never arrived; the reconciliation job
(`jobs.recordings`, `careline recordings reconcile`) lists Twilio's recordings (the REST stand-in, which knows
the recordings and calls the simulator played) and makes messages of those Careline has none for, with their
callback tasks and pages, through the call log. Whole calls run through the simulator; RQ's jobs run in a burst
worker on the app's clock (`run_jobs`).
"""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from rq.cron import CronScheduler
from sqlalchemy import func, select

from callsim import Caller
from careline.app import create_app
from careline.cli import main
from core.config import Config
from ivr.service import IvrService
from jobs.recordings import reconcile_recordings
from models import Call, CallbackTask, CallEvent, Message, OnCallPage
from tests.integration.conftest import (AGENTS_TOML, CLOSED_TIME, NORTHSIDE, ON_CALL_TOML, OPEN_TIME,
                                        PRACTICES_TOML, bearer, issue, load_practices, run_jobs, simulator,
                                        with_rest_standin)
from voicemail.reconcile import LAST_RUN_KEY, SETTLE_SECONDS

CALLER = "+13125550199"
DR_RIVERA = "+16175550122"  # Northside's first on-call provider
# Northside's on-call providers bind to the last [[practices]]; the agents follow (Nia answers for Northside).
RECONCILE_TOML = PRACTICES_TOML + ON_CALL_TOML + AGENTS_TOML
DATABASE_NOWHERE = "postgresql://nobody@127.0.0.1:1/none"  # refused at once: the database is down


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@pytest.fixture
def practices(services):
    load_practices(services, RECONCILE_TOML)


def live_simulator(client, clock, standin):
    """The simulator, telling the REST stand-in its calls and recordings, the app's clock following the calls."""
    sim = simulator(client, clock)
    sim.rest = standin
    sim.on_time = lambda now: setattr(clock, "now", now)
    return sim


def count(services, model, *where) -> int:
    with services.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def redis_restarted_empty(redis_client) -> None:
    """What a Redis without persistence keeps of Careline over a restart: nothing (this test's db only)."""
    keys = list(redis_client.scan_iter("careline:*"))
    assert any(key.startswith("careline:call:") for key in keys)  # the call's state was there
    redis_client.delete(*keys)


def reconcile_as_cron(services, clock) -> int:
    """Run the reconciliation as the cron process does (`rq cron careline.cron`): its job enqueued as the cron
    scheduler enqueues it, then run by the worker with whatever else is due."""
    scheduler = CronScheduler(connection=services.jobs.connection)
    scheduler.load_config_from_file("careline.cron")
    (job,) = [job for job in scheduler.get_jobs() if job.func == reconcile_recordings]
    assert job.interval == services.config.RECORDINGS_RECONCILE_SECONDS == 300
    job.enqueue(services.jobs.connection)
    return run_jobs(services, clock)


def messages_seen_by(client, tokens, name: str) -> list[dict]:
    answer = client.get("/api/messages", headers=bearer(issue(tokens, name)))
    assert answer.status_code == 200
    return answer.get_json()["messages"]


def message_left_while_the_database_was_down(config, clock, standin):
    """A caller leaves a message after hours while Careline's database does not answer; returns the call."""
    down = create_app(Config(**{**config.__dict__, "DATABASE_URL": DATABASE_NOWHERE}))
    down.extensions["careline"].clock = clock
    try:
        result = live_simulator(down.test_client(), clock, standin).call(
            to=NORTHSIDE, from_=CALLER, caller=Caller().speak(12, then="#"))
    finally:
        down.extensions["careline"].close()
    assert result.heard[0] == "We are sorry, we cannot connect your call right now."
    assert any(step.kind == "record" for step in result.transcript)
    return result


# --- the issue's test ------------------------------------------------------------------------------------------

def test_given_the_database_down_and_redis_restarted_empty_when_the_reconcile_job_runs_then_message_task_page(
        config, practices, services, client, tokens, clock, standin, redis_client, caplog):
    caplog.set_level(logging.INFO)
    clock.now = CLOSED_TIME  # Tuesday 21:00 in Boston: Northside is closed
    result = message_left_while_the_database_was_down(config, clock, standin)
    (recording,) = standin.recordings()
    redis_restarted_empty(redis_client)
    # The database is back. What Redis held is gone: the call log has nothing to write, Careline no message.
    clock.now += timedelta(minutes=5)
    assert services.calllog_writer.drain() == 0
    assert count(services, Message) == 0 and messages_seen_by(client, tokens, "nia") == []

    reconcile_as_cron(services, clock)

    (seen,) = messages_seen_by(client, tokens, "nia")
    assert (seen["call_sid"], seen["from"], seen["practice"], seen["duration_seconds"]) == (
        result.call_sid, CALLER, "northside", 12)
    # Nobody knows what the caller would have chosen: after hours, the message is urgent and pages.
    assert (seen["urgent"], seen["after_hours"], seen["recording_status"]) == (True, True, "completed")
    with services.session_factory() as session:
        message = session.scalars(select(Message)).one()
        assert message.recording_sid == recording.sid
        task = session.scalars(select(CallbackTask)).one()
        assert (task.callback_number, task.urgent, task.status, task.call_count) == (CALLER, True, "open", 1)
        page = session.scalars(select(OnCallPage)).one()
        assert (page.message_id, page.status, page.step) == (message.id, "open", 1)
        call = session.get(Call, result.call_sid)
        assert (call.outcome, call.after_hours, call.status) == ("message", True, "completed")
    (paged,) = [r for r in standin.requests_for("messages.create") if r.params["To"] == DR_RIVERA]
    assert "urgent message" in paged.params["Body"] and CALLER not in paged.params["Body"]  # a link instead
    assert standin.requests_for("calls.fetch")[0].path.endswith(f"/Calls/{result.call_sid}.json")
    assert CALLER not in caplog.text  # the logs name the recording and the call, never the numbers

    # Again (the next run, a second cron process): nothing changes twice.
    clock.now += timedelta(minutes=5)
    reconcile_as_cron(services, clock)
    assert count(services, Message) == 1 and count(services, OnCallPage) == 1 and count(services, CallbackTask) == 1
    assert len(standin.requests_for("calls.fetch")) == 1  # the known recording is not looked up again


def test_given_the_database_down_and_redis_restarted_empty_when_reconciled_in_office_hours_then_urgent_without_page(
        config, practices, services, clock, standin, redis_client):
    clock.now = OPEN_TIME  # Tuesday 11:00 in Boston: Northside is open, nobody is paged
    result = message_left_while_the_database_was_down(config, clock, standin)
    redis_restarted_empty(redis_client)
    clock.now += timedelta(minutes=5)
    reconcile_as_cron(services, clock)
    with services.session_factory() as session:
        message = session.scalars(select(Message)).one()
        assert (message.call_sid, message.urgent, message.after_hours) == (result.call_sid, True, False)
        task = session.scalars(select(CallbackTask)).one()
        assert task.urgent and task.due_at == message.created_at + timedelta(minutes=15)  # the urgent target
    assert count(services, OnCallPage) == 0


def test_given_recordings_reconcile_seconds_when_rq_cron_loads_careline_cron_then_the_job_runs_that_often(
        redis_client, monkeypatch):
    monkeypatch.setenv("RECORDINGS_RECONCILE_SECONDS", "120")
    scheduler = CronScheduler(connection=redis_client)
    scheduler.load_config_from_file("careline.cron")
    (job,) = [job for job in scheduler.get_jobs() if job.func == reconcile_recordings]
    assert job.interval == 120


# --- the recording status callback --------------------------------------------------------------------------

def test_given_the_record_action_lost_when_the_recording_status_callback_comes_then_the_message_once(
        practices, services, client, clock, standin, drain, monkeypatch):
    clock.now = OPEN_TIME
    sim = live_simulator(client, clock, standin)

    def lost(self, request):  # the Record action never reaches the call log
        raise ConnectionError("the Record action was lost")

    with monkeypatch.context() as patched:
        patched.setattr(IvrService, "message", lost)
        result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(9, then="hangup"))
    action = next(r for r in result.requests if "/voice/message" in r.url)
    status = next(r for r in result.requests if "/voice/recording-status" in r.url)
    drain()
    with services.session_factory() as session:
        message = session.scalars(select(Message)).one()
        assert (message.call_sid, message.recording_sid, message.duration_seconds) == (
            result.call_sid, status.params["RecordingSid"], 9)
        assert (message.urgent, message.recording_url, message.recording_status) == (
            False, status.params["RecordingUrl"], "completed")
        task = session.scalars(select(CallbackTask)).one()
        assert (task.call_count, task.urgent) == (1, False)
    assert not any(e == "message" for (e,) in _kinds(services, result.call_sid))

    # The status callback again, then the Record action after all (late): one message, one task.
    sim.post_signed(status.url, status.params)
    assert sim.post_signed(action.url, action.params).status == 200
    drain()
    assert count(services, Message) == 1 and count(services, CallbackTask) == 1
    with services.session_factory() as session:
        assert session.scalars(select(CallbackTask)).one().call_count == 1
        assert session.scalars(select(Message)).one().duration_seconds == 9
    assert "message" in {kind for (kind,) in _kinds(services, result.call_sid)}


def test_given_a_recording_too_short_for_a_message_when_only_its_status_callback_comes_then_no_message(
        practices, services, client, clock, standin, drain, monkeypatch):
    clock.now = OPEN_TIME
    monkeypatch.setattr(IvrService, "message", lambda self, request: 1 / 0)
    result = live_simulator(client, clock, standin).call(to=NORTHSIDE, from_=CALLER,
                                                         caller=Caller(press="2").speak(1, then="hangup"))
    drain()
    assert count(services, Message) == 0
    assert "recording-status" in {kind for (kind,) in _kinds(services, result.call_sid)}


def _kinds(services, call_sid: str):
    with services.session_factory() as session:
        return session.execute(select(CallEvent.kind).where(CallEvent.call_sid == call_sid)).all()


# --- the reconciliation and what it leaves alone ----------------------------------------------------------------

def test_given_a_message_careline_kept_when_reconciled_then_not_duplicated(
        practices, services, client, clock, standin, drain):
    clock.now = CLOSED_TIME
    result = live_simulator(client, clock, standin).call(to=NORTHSIDE, from_=CALLER,
                                                         caller=Caller(press="2").speak(8, then="#").press("2"))
    drain()
    run_jobs(services, clock)
    before = count(services, OnCallPage), count(services, CallbackTask)
    clock.now += timedelta(minutes=5)
    report = services.recordings.reconcile()
    assert (report.listed, report.known, report.created) == (1, 1, [])
    assert count(services, Message) == 1 and (count(services, OnCallPage), count(services, CallbackTask)) == before
    with services.session_factory() as session:
        assert session.scalars(select(Message)).one().urgent is False  # the caller's own choice stays
    assert "recording-reconciled" not in {kind for (kind,) in _kinds(services, result.call_sid)}
    assert standin.requests_for("calls.fetch") == []


def test_given_a_message_still_in_redis_when_reconciled_then_the_call_log_writes_it_first(
        practices, services, client, clock, standin):
    """The database was down, not Redis: the call log still holds the message, with the caller's own choice."""
    clock.now = CLOSED_TIME
    live_simulator(client, clock, standin).call(to=NORTHSIDE, from_=CALLER,
                                                caller=Caller(press="2").speak(8, then="#").press("2"))
    clock.now += timedelta(minutes=5)
    report = services.recordings.reconcile()
    assert (report.known, report.created) == (1, [])
    with services.session_factory() as session:
        assert session.scalars(select(Message)).one().urgent is False


def test_given_a_message_the_drain_has_not_reached_when_reconciled_then_left_to_the_call_log(
        practices, services, client, clock, standin, monkeypatch):
    """The call's events came after the run's own drain (or the drain could not write them yet): the recording is
    deferred, not made an urgent message; the call log writes the message with the caller's own choice."""
    clock.now = CLOSED_TIME
    result = live_simulator(client, clock, standin).call(to=NORTHSIDE, from_=CALLER,
                                                         caller=Caller(press="2").speak(8, then="#").press("2"))
    clock.now += timedelta(minutes=5)
    with monkeypatch.context() as behind:
        behind.setattr(services.calllog_writer, "drain", lambda: 0)  # the events are still in the stream after it
        report = services.recordings.reconcile()
    assert (report.listed, report.known, report.created, report.deferred) == (1, 0, [], 1)
    assert count(services, Message) == 0 and standin.requests_for("calls.fetch") == []
    again = services.recordings.reconcile()  # its own drain writes the message first
    assert (again.known, again.created, again.deferred) == (1, [], 0)
    with services.session_factory() as session:
        assert session.scalars(select(Message)).one().urgent is False  # the caller's own choice
    assert "recording-reconciled" not in {kind for (kind,) in _kinds(services, result.call_sid)}


def test_given_a_recording_younger_than_the_settle_time_when_reconciled_then_left_to_the_next_run(
        practices, services, client, clock, standin, redis_client):
    clock.now = CLOSED_TIME
    live_simulator(client, clock, standin).call(to=NORTHSIDE, from_=CALLER,
                                                caller=Caller(press="2").speak(8, then="#"))
    redis_restarted_empty(redis_client)
    (recording,) = standin.recordings()
    created_at = recording.created_at.replace(microsecond=0)  # as Twilio's list says it: whole seconds
    first = services.recordings.reconcile()  # the recording was made a moment ago: its action may be on its way
    assert (first.deferred, first.created, first.until) == (1, [], created_at)
    assert redis_client.get(LAST_RUN_KEY) == created_at.isoformat()  # the next run starts from it
    clock.now = recording.created_at + timedelta(seconds=SETTLE_SECONDS + 1)
    second = services.recordings.reconcile()
    assert (second.deferred, second.created) == (0, [recording.sid])
    assert second.since < created_at  # the window reached back to it


def test_given_twilio_fails_a_call_fetch_when_reconciled_then_the_next_run_makes_the_message(
        practices, services, client, clock, standin, redis_client):
    clock.now = CLOSED_TIME
    live_simulator(client, clock, standin).call(to=NORTHSIDE, from_=CALLER,
                                                caller=Caller(press="2").speak(8, then="#"))
    redis_restarted_empty(redis_client)
    clock.now += timedelta(minutes=5)
    standin.fail_next("calls.fetch", 500)
    assert services.recordings.reconcile().deferred == 1 and count(services, Message) == 0
    clock.now += timedelta(minutes=5)
    assert len(services.recordings.reconcile().created) == 1 and count(services, Message) == 1


def test_given_twilio_no_longer_has_the_call_when_reconciled_then_no_message_and_the_window_moves_on(
        practices, services, client, clock, standin, redis_client):
    clock.now = CLOSED_TIME
    live_simulator(client, clock, standin).call(to=NORTHSIDE, from_=CALLER,
                                                caller=Caller(press="2").speak(8, then="#"))
    redis_restarted_empty(redis_client)
    clock.now += timedelta(minutes=5)
    standin.fail_next("calls.fetch", 404, "The requested resource was not found")
    report = services.recordings.reconcile()
    assert (report.unmatched, report.deferred, report.created, report.until) == (1, 0, [], clock.now)
    assert count(services, Message) == 0


# --- the command ----------------------------------------------------------------------------------------------

def test_given_a_lost_message_when_careline_recordings_reconcile_since_then_made_and_the_jobs_time_kept(
        app, practices, services, client, clock, standin, redis_client):
    clock.now = CLOSED_TIME
    result = live_simulator(client, clock, standin).call(to=NORTHSIDE, from_=CALLER,
                                                         caller=Caller(press="2").speak(8, then="#"))
    redis_restarted_empty(redis_client)
    clock.now += timedelta(minutes=5)
    runner, info = CliRunner(), ScriptInfo(create_app=lambda: app)

    done = runner.invoke(main, ["recordings", "reconcile", "--since", "2026-11-25T01:00:00Z"], obj=info)
    assert done.exit_code == 0, done.output
    (recording,) = standin.recordings()
    assert f"1 made messages: {recording.sid}" in done.output and "since 2026-11-25T01:00:00+00:00" in done.output
    assert redis_client.get(LAST_RUN_KEY) is None  # --since leaves the job's last run alone
    with services.session_factory() as session:
        assert session.scalars(select(Message)).one().call_sid == result.call_sid

    again = runner.invoke(main, ["recordings", "reconcile"], obj=info)
    assert again.exit_code == 0, again.output
    assert "1 already messages, 0 made messages" in again.output
    assert redis_client.get(LAST_RUN_KEY) == clock.now.isoformat()

    wrong = runner.invoke(main, ["recordings", "reconcile", "--since", "last tuesday"], obj=info)
    assert wrong.exit_code == 2 and "ISO 8601" in wrong.output

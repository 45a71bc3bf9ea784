"""Retention (issue 15): each practice's recordings, messages and calls are deleted past its own days
([practices.retention]), recordings at Twilio (the REST stand-in, which answers DELETE as Twilio does) and in
Careline, then the rows; audit rows stay. Whole calls run through the simulator; retention runs on the app's
clock (`services.retention.run`, the command, and the cron's job in a burst worker).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from rq.cron import CronScheduler
from sqlalchemy import select, update

from callsim import Caller
from careline.cli import main
from careline.cron_process import CRON_CONFIG, CarelineCron
from jobs.retention import CRON, run_retention
from models import (Call, CallbackTask, CallbackTaskAction, CallEvent, Caller as CallerRow, Message, OnCallPage,
                    OutboundSms, PageEvent, Practice)
from models.audit import AuditEvent
from tests.integration.conftest import (AGENTS_TOML, CLOSED_TIME, NORTHSIDE, ON_CALL_TOML, PRACTICES_TOML, bearer,
                                        issue, load_practices, run_jobs, with_rest_standin)
from tests.integration.test_recordings_reconciled import count, live_simulator

OLD_CALLER = "+13125550177"  # calls once, at the start; nobody else has this number
CALLER = "+13125550199"  # calls 20 days later
# Northside (the last [[practices]]) keeps recordings 30 days, messages 60, calls 90; Lakeside the defaults.
RETENTION_TOML = PRACTICES_TOML + ON_CALL_TOML + """
[practices.retention]
recordings_days = 30
messages_days = 60
calls_days = 90
""" + AGENTS_TOML


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@pytest.fixture
def practices(services):
    load_practices(services, RETENTION_TOML)


@pytest.fixture
def live(client, clock, standin, practices):
    """The simulator, telling the REST stand-in its calls and recordings, the app's clock following the calls."""
    return live_simulator(client, clock, standin)


def leave_message(live, services, clock, at: datetime, from_: str, urgent: bool) -> str:
    """A whole after-hours call at Northside leaving a message (urgent: it pages); returns its CallSid."""
    clock.now = at
    result = live.call(to=NORTHSIDE, from_=from_,
                       caller=Caller(press="1" if urgent else "2").speak(8, then="#", words="a refill please"))
    services.calllog_writer.drain()
    run_jobs(services, clock)  # the page's first step, the SMS
    return result.call_sid


def message_of(services, call_sid: str) -> Message | None:
    with services.session_factory() as session:
        return session.scalars(select(Message).where(Message.call_sid == call_sid)).one_or_none()


def close_tasks(services, clock) -> None:
    """Every callback task closed, as a manager's close leaves it (a closed task is the one retention may delete)."""
    with services.session_factory() as session, session.begin():
        session.execute(update(CallbackTask).values(status="closed", closed_at=clock.now, closed_reason="manager"))


@pytest.fixture
def history(live, services, clock, standin, client, tokens):
    """Northside's: an urgent message (paged, with its SMS and a callback task) and a hang-up at CLOSED_TIME, from
    OLD_CALLER, its message read through the API (an audit row); a routine message from CALLER 20 days later."""
    start = CLOSED_TIME
    old = leave_message(live, services, clock, start, OLD_CALLER, urgent=True)
    clock.now = start + timedelta(minutes=30)
    hung_up = live.call(to=NORTHSIDE, from_=OLD_CALLER, caller=Caller().hang_up()).call_sid
    services.calllog_writer.drain()
    message_id = message_of(services, old).id
    assert client.get(f"/api/messages/{message_id}", headers=bearer(issue(tokens, "nia"))).status_code == 200
    close_tasks(services, clock)
    young = leave_message(live, services, clock, start + timedelta(days=20), CALLER, urgent=False)
    assert count(services, OnCallPage) == 1 and count(services, OutboundSms) >= 1
    return {"start": start, "old": old, "hung_up": hung_up, "young": young}


def audit_ids(services) -> set[int]:
    with services.session_factory() as session:
        return set(session.scalars(select(AuditEvent.id)))


def recording_of(standin, call_sid: str):
    (recording,) = [r for r in standin.recordings() if r.call_sid == call_sid]
    return recording


# --- the issue's test ------------------------------------------------------------------------------------------

def test_given_a_practices_retention_when_runs_pass_its_days_then_recordings_then_messages_then_calls_go(
        history, services, clock, standin, client, tokens, caplog):
    caplog.set_level(logging.INFO)
    start, old, young = history["start"], history["old"], history["young"]
    old_recording, young_recording = recording_of(standin, old), recording_of(standin, young)
    audit_rows = audit_ids(services)
    assert audit_rows  # the API's read of the old message, at least

    # 31 days on: the old recording is past Northside's 30 days; the young one (11 days) is not.
    clock.now = start + timedelta(days=31)
    report = services.retention.run()
    assert (report.recordings_deleted, report.recordings_failed, report.messages, report.calls) == (1, 0, 0, 0)
    (deleted,) = standin.requests_for("recordings.delete")
    assert deleted.path.endswith(f"/Recordings/{old_recording.sid}.json") and deleted.status == 204
    message = message_of(services, old)
    assert message.recording_url is None and message.recording_deleted_at == clock.now
    assert message.recording_sid == old_recording.sid  # the id stays: audit rows name it
    assert message_of(services, young).recording_url is not None
    # Twilio no longer has it: the stand-in answers 404 as Twilio does, and the message shows no recording.
    assert [r.sid for r in services.twilio.recordings.list()] == [young_recording.sid]
    nia = bearer(issue(tokens, "nia"))
    shown = client.get(f"/api/messages/{message.id}", headers=nia).get_json()
    assert shown["recording_url"] is None and shown["recording_deleted_at"] == clock.now.isoformat()
    assert shown["transcription"]["text"] == "a refill please"  # the message's words stay until messages_days
    gone = client.get(f"/api/messages/{message.id}/recording", headers=nia)
    assert (gone.status_code, gone.get_json()["error_id"]) == (410, "recording-deleted")
    assert not standin.requests_for("recordings.fetch")  # nothing asked of Twilio for a recording deleted

    # 61 days on: the old message is past 60 days: it goes, with its page, the page's steps and SMS, and the
    # closed callback task; the young message (41 days) stays, its recording (41 days) deleted at Twilio.
    clock.now = start + timedelta(days=61)
    report = services.retention.run()
    assert (report.recordings_deleted, report.messages, report.pages, report.callback_tasks) == (1, 1, 1, 1)
    assert report.sms >= 1 and report.calls == 0
    assert message_of(services, old) is None and message_of(services, young) is not None
    assert count(services, OnCallPage) == 0 and count(services, PageEvent) == 0
    assert count(services, OutboundSms, OutboundSms.message_id.is_not(None)) == count(
        services, OutboundSms, OutboundSms.message_id == message_of(services, young).id)
    assert count(services, CallbackTask, CallbackTask.status == "closed") == 0
    assert count(services, CallbackTaskAction) == count(services, CallbackTaskAction, CallbackTaskAction.task_id.in_(
        select(CallbackTask.id)))
    assert count(services, Call) == 3  # calls are kept 90 days

    # 91 days on: the two old calls go with their events, and OLD_CALLER's number with them; the young message
    # (71 days) goes, its call (71 days) and CALLER stay.
    clock.now = start + timedelta(days=91)
    report = services.retention.run()
    assert (report.calls, report.messages, report.callers) == (2, 1, 1)
    assert report.call_events > 0
    assert count(services, Call) == 1 and count(services, CallEvent, CallEvent.call_sid.in_(
        [old, history["hung_up"]])) == 0
    assert count(services, CallEvent, CallEvent.call_sid == young) > 0
    with services.session_factory() as session:
        assert session.scalars(select(CallerRow.phone)).all() == [CALLER]
    # Audit rows outlive what they describe; each run that deleted something wrote its own, by Careline itself.
    assert count(services, AuditEvent, AuditEvent.subject_kind == "message",
                 AuditEvent.subject_id == str(message.id)) >= 1
    with services.session_factory() as session:
        runs = session.scalars(select(AuditEvent).where(AuditEvent.action == "retention.run")
                               .order_by(AuditEvent.id)).all()
    assert [(row.via, row.details["recordings_deleted"], row.details["messages"], row.details["calls"])
            for row in runs] == [("system", 1, 0, 0), ("system", 1, 1, 0), ("system", 0, 1, 2)]
    assert audit_rows <= audit_ids(services)  # every row there was before the runs is there still

    # Again: nothing left to delete, nothing asked of Twilio, no audit row.
    deletes, rows = len(standin.requests_for("recordings.delete")), count(services, AuditEvent)
    again = services.retention.run()
    assert all(value == 0 for value in again.counts().values()), again.counts()
    assert len(standin.requests_for("recordings.delete")) == deletes and count(services, AuditEvent) == rows
    assert OLD_CALLER not in caplog.text and CALLER not in caplog.text
    assert "retention: recordings_deleted 0, recordings_failed 0, messages 0" in caplog.text


def test_given_twilio_failing_a_delete_then_the_recording_stays_for_the_next_run(
        history, services, clock, standin, caplog):
    caplog.set_level(logging.INFO)
    old_recording = recording_of(standin, history["old"])
    clock.now = history["start"] + timedelta(days=61)  # the old message is past its days too
    standin.fail_next("recordings.delete", 500)

    report = services.retention.run()

    assert (report.recordings_failed, report.recordings_deleted) == (1, 1)  # the young one went
    message = message_of(services, history["old"])
    assert message is not None and message.recording_url is not None  # kept while Twilio has its recording
    assert f"recording {old_recording.sid} of message {message.id} not deleted, Twilio answered 500" in caplog.text
    assert OLD_CALLER not in caplog.text

    again = services.retention.run()
    assert (again.recordings_deleted, again.recordings_failed, again.messages) == (1, 0, 1)
    assert message_of(services, history["old"]) is None
    assert [r.status for r in standin.requests_for("recordings.delete")] == [500, 204, 204]


def test_given_twilio_without_the_recording_then_404_counts_as_deleted(history, services, clock, standin):
    old_recording = recording_of(standin, history["old"])
    standin.forget_recording(old_recording.sid)  # deleted already, by hand in Twilio's console
    clock.now = history["start"] + timedelta(days=31)

    report = services.retention.run()

    assert (report.recordings_deleted, report.recordings_failed) == (1, 0)
    assert [r.status for r in standin.requests_for("recordings.delete")] == [404]
    assert message_of(services, history["old"]).recording_deleted_at == clock.now


def test_given_the_defaults_then_lakeside_keeps_recordings_90_days_and_messages_7_years(
        live, services, clock, standin):
    clock.now = CLOSED_TIME
    result = live.call(to="+13125550100", from_=CALLER, caller=Caller(press="12").speak(8, then="#"))
    services.calllog_writer.drain()
    with services.session_factory() as session:
        lakeside = session.scalars(select(Practice).where(Practice.slug == "lakeside")).one()
        assert (lakeside.recordings_days, lakeside.messages_days, lakeside.calls_days) == (90, 2555, 2555)

    clock.now = CLOSED_TIME + timedelta(days=89)
    assert services.retention.run().recordings_deleted == 0
    clock.now = CLOSED_TIME + timedelta(days=91)
    assert services.retention.run().recordings_deleted == 1
    clock.now = CLOSED_TIME + timedelta(days=2554)
    assert services.retention.run().messages == 0
    clock.now = CLOSED_TIME + timedelta(days=2556)
    report = services.retention.run()
    assert (report.messages, report.calls) == (1, 1)
    assert message_of(services, result.call_sid) is None


def test_given_a_backlog_larger_than_a_batch_then_every_row_goes(history, services, clock):
    """Rows go in batches (each its own transaction); a backlog of several batches is deleted whole."""
    services.retention._batch_rows = 1
    clock.now = history["start"] + timedelta(days=91)
    report = services.retention.run()
    assert (report.messages, report.calls, report.callers, report.recordings_deleted) == (2, 2, 1, 2)
    assert count(services, Call) == 1 and count(services, CallEvent, CallEvent.call_sid != history["young"]) == 0


# --- the command and the cron --------------------------------------------------------------------------------

def test_given_the_command_then_it_runs_retention_and_prints_the_counts(history, app, services, clock, standin):
    clock.now = history["start"] + timedelta(days=61)
    runner, info = CliRunner(), ScriptInfo(create_app=lambda: app)

    done = runner.invoke(main, ["retention", "run"], obj=info)

    assert done.exit_code == 0, done.output
    assert "recordings_deleted: 2" in done.output and "messages: 1" in done.output and "calls: 0" in done.output
    assert OLD_CALLER not in done.output
    with services.session_factory() as session:
        (run,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "retention.run")).all()
    assert (run.via, run.details["messages"]) == ("cli", 1)  # the operator at the command
    again = runner.invoke(main, ["retention", "run"], obj=info)
    assert "recordings_deleted: 0" in again.output and "messages: 0" in again.output


def test_given_the_cron_config_then_retention_runs_daily_and_its_job_deletes(history, services, clock):
    scheduler = CronScheduler(connection=services.jobs.connection)
    scheduler.load_config_from_file(CRON_CONFIG)
    (job,) = [job for job in scheduler.get_jobs() if job.func == run_retention]
    assert (job.cron, job.interval, job.queue_name) == (CRON, None, services.jobs.name)
    assert CRON.split()[2:] == ["*", "*", "*"]  # every day

    clock.now = history["start"] + timedelta(days=61)
    job.enqueue(services.jobs.connection)
    run_jobs(services, clock)
    assert message_of(services, history["old"]) is None


def test_given_two_cron_processes_when_retention_is_due_then_it_is_enqueued_once(services, redis_client):
    """The several-hosts rule (core/leader.py): each cron process enqueues a due job only with its turn."""
    connection = services.jobs.connection
    crons = [CarelineCron(connection, name=f"host-{n}") for n in (1, 2)]
    for cron in crons:
        cron.load_config_from_file(CRON_CONFIG)
        for job in cron._cron_jobs:
            if job.func == run_retention:
                job.next_enqueue_time = datetime.now(timezone.utc) - timedelta(seconds=1)  # due now
            elif job.interval:
                job.latest_enqueue_time = job.next_enqueue_time = datetime.now(timezone.utc) + timedelta(days=1)

    enqueued = [job.func for cron in crons for job in cron.enqueue_jobs()]

    assert enqueued == [run_retention]
    assert [job.func_name for job in services.jobs.get_jobs()] == ["jobs.retention.run_retention"]

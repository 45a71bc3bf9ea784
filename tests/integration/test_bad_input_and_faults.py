"""Bad input gets a clear error and writes nothing; faults still answer TwiML that takes a message."""
from __future__ import annotations

import logging
from datetime import timedelta
import re

import pytest
import redis
from sqlalchemy import delete, func, select

from calllog.events import STREAM_KEY
from callsim import Caller
from careline.app import create_app
from careline.cron_process import CarelineCron
from careline.worker import CarelineWorker
from core.config import Config
from core.db import session_scope
from models import Call, CallbackTask, CallbackTaskCall, CallEvent, Message
from models import Caller as Caller_
from practices.loader import load_config_text
from practices.store import apply_config
from tests.integration.conftest import (ACCOUNT_SID, AUTH_TOKEN, CALLER, NORTHSIDE, PRACTICES_TOML,
                                        PUBLIC_BASE_URL, load_practices, run_jobs, simulator)


def rows(session_factory, model) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model))


def nothing_written(session_factory, redis_client) -> bool:
    return all(rows(session_factory, m) == 0 for m in (Call, CallEvent, Message, CallbackTask)) and \
        redis_client.xlen(STREAM_KEY) == 0 and not redis_client.keys("careline:call:*")


def call_params(call_sid="CA" + "1" * 32, **extra):
    return {"CallSid": call_sid, "AccountSid": ACCOUNT_SID, "From": CALLER, "To": NORTHSIDE,
            "CallStatus": "ringing", "ApiVersion": "2010-04-01", "Direction": "inbound", **extra}


# --- signatures ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/voice/incoming", "/voice/status", "/voice/menu?s=1", "/voice/message?s=2",
                                  "/voice/recording-status", "/voice/fallback", "/voice/front-desk?s=1"])
def test_given_a_forged_signature_when_posted_then_403_and_nothing_written(sim, path, session_factory,
                                                                           redis_client):
    response = sim.post_forged(path, call_params(CallStatus="completed", RecordingSid="RE" + "2" * 32,
                                                 RecordingStatus="completed"))
    assert response.status == 403
    assert nothing_written(session_factory, redis_client)


def test_given_no_signature_when_posted_then_403(sim, session_factory, redis_client):
    assert sim.post_unsigned("/voice/incoming", call_params()).status == 403
    assert nothing_written(session_factory, redis_client)


def test_given_a_signature_for_other_params_when_posted_then_403(client, session_factory, redis_client):
    from twilio.request_validator import RequestValidator

    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"{PUBLIC_BASE_URL}/voice/incoming", call_params())
    tampered = call_params(From="+13125550777")
    response = client.post("/voice/incoming", data=tampered, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert nothing_written(session_factory, redis_client)


def test_given_a_signature_over_the_url_with_its_port_then_accepted(client):
    from twilio.request_validator import RequestValidator

    params = call_params(CallStatus="completed", SequenceNumber="0")
    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        PUBLIC_BASE_URL.replace(".test", ".test:443") + "/voice/status", params)
    assert client.post("/voice/status", data=params, headers={"X-Twilio-Signature": signature}).status_code == 204


def test_given_signature_check_disabled_when_unsigned_then_accepted_and_warned(config, session_factory,
                                                                               redis_client, caplog):
    caplog.set_level(logging.WARNING)
    app = create_app(Config(**{**config.__dict__, "TWILIO_SIGNATURE_CHECK_DISABLED": True}))
    load_practices(app.extensions["careline"], PRACTICES_TOML)
    assert "TWILIO_SIGNATURE_CHECK_DISABLED is on" in caplog.text
    response = app.test_client().post("/voice/incoming", data=call_params())
    assert response.status_code == 200 and b"<Response>" in response.data
    app.extensions["careline"].close()


def test_given_production_with_check_disabled_then_refuses_to_start(config):
    from core.config import ConfigError

    with pytest.raises(ConfigError):
        create_app(Config(**{**config.__dict__, "ENV": "production", "TWILIO_SIGNATURE_CHECK_DISABLED": True}))


# --- malformed -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("missing", ["CallSid", "From", "To"])
def test_given_a_missing_parameter_when_posted_then_400_naming_it(sim, missing, session_factory, redis_client):
    params = call_params()
    del params[missing]
    response = sim.post_signed("/voice/incoming", params)
    assert response.status == 400
    assert missing in response.text
    assert nothing_written(session_factory, redis_client)


def test_given_a_body_over_64_kib_when_posted_then_413(sim, session_factory, redis_client):
    response = sim.post_signed("/voice/incoming", call_params(Padding="x" * (65 * 1024)))
    assert response.status == 413
    assert nothing_written(session_factory, redis_client)


def test_given_a_number_no_practice_owns_when_called_then_polite_message(sim, drain, session_factory):
    result = sim.call(to="+14155550999", from_=CALLER)
    assert result.heard == ["Sorry, this number is not in service with our answering service. "
                            "Please check the number and call again. Goodbye."]
    assert result.ended_by == "app-hangup"
    drain()
    with session_factory() as session:
        call = session.get(Call, result.call_sid)
    assert call.outcome == "unknown-number" and call.practice_id is None
    assert rows(session_factory, CallbackTask) == 0


def test_given_withheld_caller_id_when_message_left_then_kept_without_caller(sim, drain, session_factory):
    result = sim.call(to=NORTHSIDE, from_="anonymous", caller=Caller(press="2").speak(6, then="#"))
    drain()
    with session_factory() as session:
        call = session.get(Call, result.call_sid)
        message = session.scalars(select(Message)).one()
    assert call.caller_id is None and message.from_number == "anonymous"


# --- duplicates and order --------------------------------------------------------------------------------------

def snapshot(session_factory):
    """The rows a call left, with Twilio's random recording and transcription SIDs masked."""
    def mask(text):
        return re.sub(r"(RE|TR)[0-9a-f]{32}", r"\1*", text) if text else text

    with session_factory() as session:
        calls = [(c.call_sid, c.outcome, c.status, c.ended_at, c.duration_seconds, c.answered_by)
                 for c in session.scalars(select(Call).order_by(Call.call_sid))]
        events = sorted((e.call_sid, e.kind, mask(e.dedupe_key)) for e in session.scalars(select(CallEvent)))
        tasks = [(t.callback_number, t.call_count, t.status) for t in session.scalars(select(CallbackTask))]
        messages = [(m.call_sid, mask(m.recording_sid), m.duration_seconds, m.urgent)
                    for m in session.scalars(select(Message))]
    return calls, events, tasks, messages


@pytest.mark.parametrize("duplicate, reorder", [(True, False), (False, True), (True, True)])
def test_given_duplicated_or_reordered_status_callbacks_then_same_rows_as_clean_delivery(
        sim, drain, session_factory, redis_client, duplicate, reorder):
    events = ("initiated", "ringing", "answered", "completed")
    clean = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(6, then="#"),
                     call_sid="CA" + "a" * 32, status_events=events)
    drain()
    expected = snapshot(session_factory)
    with session_factory() as session, session.begin():  # the calls go; the practices stay
        for model in (CallbackTaskCall, Message, CallbackTask, CallEvent, Call, Caller_):
            session.execute(delete(model))
    redis_client.flushdb()
    messy = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(6, then="#"),
                     call_sid="CA" + "a" * 32, status_events=events, duplicate_status=duplicate,
                     reorder_status=reorder)
    drain()
    assert clean.call_sid == messy.call_sid
    assert snapshot(session_factory) == expected
    assert expected[0][0][2] == "completed"


def test_given_twilio_retries_a_menu_request_then_same_answer_and_one_event(sim, client, drain, session_factory):
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="3").hang_up())
    menu_request = next(r for r in result.requests if "/voice/menu" in r.url)
    menu_document = next(d for d in result.documents if "/voice/menu" in d.url)
    again = sim.post_signed(menu_request.url, menu_request.params)
    assert again.status == 200 and again.text == menu_document.text
    drain()
    with session_factory() as session:
        menus = session.scalars(select(CallEvent).where(CallEvent.kind == "menu")).all()
    assert len(menus) == 1


def test_given_twilio_retries_the_voice_url_then_same_answer_and_one_call(sim, drain, session_factory):
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller().hang_up())
    first = result.requests[0]
    again = sim.post_signed(first.url, first.params)
    assert again.status == 200 and again.text == result.documents[0].text
    drain()
    with session_factory() as session:
        kinds = session.scalars(select(CallEvent.kind).where(CallEvent.call_sid == result.call_sid)).all()
    assert kinds.count("incoming") == 1 and rows(session_factory, Call) == 1


def test_given_twilio_retries_the_message_action_then_one_message(sim, drain, session_factory):
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(7, then="hangup"))
    request = next(r for r in result.requests if "/voice/message" in r.url)
    sim.post_signed(request.url, request.params)
    drain()
    assert rows(session_factory, Message) == 1
    with session_factory() as session:
        assert session.scalars(select(CallbackTask)).one().call_count == 1


# --- faults --------------------------------------------------------------------------------------------------

@pytest.fixture
def app_with_database_down(config, redis_client, clock):
    broken = Config(**{**config.__dict__, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    app = create_app(broken)
    app.extensions["careline"].clock = clock
    yield app
    app.extensions["careline"].close()


def test_given_the_database_down_when_called_then_message_taken_and_kept_once_it_returns(
        app_with_database_down, services, session_factory, redis_client, clock, caplog):
    caplog.set_level(logging.INFO)
    sim = simulator(app_with_database_down.test_client(), clock)
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller().speak(12, then="#"))
    assert result.heard[0] == "We are sorry, we cannot connect your call right now."
    assert any(step.kind == "record" for step in result.transcript)
    assert result.ended_by != "error" and not result.problems
    assert "fault in incoming: OperationalError" in caplog.text
    assert CALLER not in caplog.text
    # The events wait in Redis; the writer (here: the healthy app's) stores them once the database is back.
    services.calllog_writer.drain()
    with session_factory() as session:
        message = session.scalars(select(Message)).one()
        assert message.call_sid == result.call_sid and message.duration_seconds == 12
        assert session.scalars(select(CallbackTask)).one().call_count == 1


def test_given_redis_down_when_called_then_message_taken_and_written_to_database(
        config, session_factory, clock, caplog):
    caplog.set_level(logging.INFO)
    broken = Config(**{**config.__dict__, "REDIS_URL": "redis://127.0.0.1:1/0"})
    app = create_app(broken)
    services = app.extensions["careline"]
    services.clock = clock
    with session_scope(services.session_factory) as session:
        apply_config(session, load_config_text(PRACTICES_TOML), services.now)
    sim = simulator(app.test_client(), clock)
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller().speak(9, then="#"))
    assert result.heard[0] == "We are sorry, we cannot connect your call right now."
    assert "ConnectionError" in caplog.text
    with session_factory() as session:
        message = session.scalars(select(Message)).one()
        assert message.call_sid == result.call_sid
    status = app.test_client().get("/status")
    assert status.status_code == 503 and status.json["checks"]["redis"].startswith("down")
    services.close()


def test_given_a_bug_in_a_handler_when_called_then_fallback_twiml_and_fault_logged(sim, monkeypatch, caplog):
    from ivr.service import IvrService

    def broken(self, request):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(IvrService, "menu", broken)
    caplog.set_level(logging.ERROR)
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(6, then="#"))
    assert "We are sorry, we cannot connect your call right now." in result.heard
    assert "fault in menu: ZeroDivisionError" in caplog.text


def test_given_twilio_uses_the_fallback_url_then_message_taken(sim):
    response = sim.post_signed("/voice/fallback", call_params(ErrorCode="11200",
                                                              ErrorUrl=f"{PUBLIC_BASE_URL}/voice/incoming"))
    assert response.status == 200
    assert "<Record" in response.text and "cannot connect your call" in response.text


def test_given_a_whole_call_when_logged_then_no_phone_number_in_logs(sim, drain, caplog):
    caplog.set_level(logging.DEBUG)
    sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="92").speak(6, then="#").press("1"))
    drain()
    for number in (CALLER, NORTHSIDE, CALLER[2:], NORTHSIDE[2:]):
        assert number not in caplog.text


def test_given_redis_healthy_then_status_ok(client, services, redis_url):
    # With a worker and a cron beating (tests/integration/test_processes_survive.py tests what /status says of them).
    CarelineWorker([services.jobs], connection=services.jobs.connection, services=services).heartbeat()
    CarelineCron(redis.Redis.from_url(redis_url), clock=services.clock).heartbeat()
    response = client.get("/status")
    assert response.status_code == 200
    assert response.json["status"] == "ok"
    assert response.json["checks"] == {"database": "ok", "redis": "ok", "worker": "ok", "cron": "ok",
                                       "calllog": "ok", "dead_letters": "ok"}


def test_given_webhook_events_when_worker_runs_then_rq_job_drains_them(sim, services, session_factory, clock):
    # The drain waits CALLLOG_DRAIN_DELAY_SECONDS (1 s by default) to take the events of that time at once,
    # counted on Careline's clock, as every job's time is.
    assert services.config.CALLLOG_DRAIN_DELAY_SECONDS == 1.0
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller().hang_up())
    registry = services.jobs.scheduled_job_registry
    assert services.jobs.count == 0 and registry.count == 1
    (job_id,) = registry.get_job_ids()
    assert registry.get_scheduled_time(job_id) == (clock.now + timedelta(seconds=1)).replace(microsecond=0)
    assert run_jobs(services, clock) == 0  # not due yet
    assert run_jobs(services, clock, until=clock.now + timedelta(seconds=1)) == 1
    with session_factory() as session:
        assert session.get(Call, result.call_sid).outcome == "hung-up"
    assert services.redis.xlen(STREAM_KEY) == 0

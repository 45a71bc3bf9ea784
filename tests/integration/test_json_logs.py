"""LOG_FORMAT=json: one JSON object a line, with the request id, the CallSid and the practice of the request or job it
belongs to, redacted as the text lines are (core/logs.py); X-Request-ID taken from a well-formed request header and
echoed, made up otherwise."""
from __future__ import annotations

import dataclasses
import io
import json
import re
from datetime import datetime, timedelta

import pytest

from callsim import Caller
from careline.worker import CarelineWorker
from core.config import Config, ConfigError
from core.logs import careline_handler, logged_as
from tests.integration.conftest import CALLER, NORTHSIDE, run_jobs
from tests.integration.test_patient_data_in_logs import DIGITS, fail_with_patient_data

WORDS = "my son swallowed a coin this morning"


@pytest.fixture
def config(config):
    return dataclasses.replace(config, LOG_FORMAT="json")


@pytest.fixture
def log_lines(app):
    """What Careline's own handler writes from here on, as parsed JSON objects (every line must be one)."""
    handler = careline_handler()
    stream = io.StringIO()
    previous = handler.setStream(stream)

    def lines() -> list[dict]:
        text = stream.getvalue()
        assert DIGITS not in text and "swallowed" not in text and "fever" not in text, text
        return [json.loads(line) for line in text.splitlines()]

    yield lines
    handler.setStream(previous)


def test_given_a_call_then_each_webhook_line_is_json_with_its_call_sid_practice_and_request_id(sim, log_lines):
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(7, then="hangup", words=WORDS))
    assert any(step.kind == "record" for step in result.transcript) and not result.problems

    lines = log_lines()
    call_lines = [line for line in lines if line.get("call_sid") == result.call_sid]
    assert len(call_lines) >= 3, lines  # the IVR's transitions at least
    for line in call_lines:
        assert set(line) >= {"time", "level", "logger", "message", "call_sid", "practice", "request_id"}
        assert line["practice"] == "northside"
        assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"])
        assert datetime.fromisoformat(line["time"]).utcoffset() == timedelta(0)
    transitions = [line for line in call_lines if " -> " in line["message"] and line["logger"] == "ivr.flow"]
    assert transitions and transitions[0]["level"] == "INFO"
    # One id per request: the webhooks of one call are several requests.
    assert len({line["request_id"] for line in call_lines}) > 1


def test_given_an_x_request_id_then_it_is_echoed_and_logged_and_a_malformed_one_is_replaced(client, log_lines):
    answer = client.post("/voice/incoming", data={"CallSid": "CA" + "a" * 32}, headers={"X-Request-ID": "lb-7.f:3"})
    assert answer.status_code == 403  # unsigned
    assert answer.headers["X-Request-ID"] == "lb-7.f:3"
    refused = [line for line in log_lines() if "X-Twilio-Signature" in line["message"]]
    assert refused and refused[0]["request_id"] == "lb-7.f:3" and refused[0]["call_sid"] == "CA" + "a" * 32
    assert refused[0]["level"] == "WARNING" and "practice" not in refused[0]

    for bad in ("two words", "+13125550199", "x" * 200, ""):
        answer = client.get("/status", headers={"X-Request-ID": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["X-Request-ID"]), bad
    first, second = client.get("/status"), client.get("/status")
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_given_a_job_set_going_by_a_call_then_its_lines_carry_the_calls_context(sim, services, clock, log_lines):
    """The call's webhook scheduled the call log's drain: the worker's lines for that job name the same call,
    practice and request as the webhook's."""
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(7, then="hangup", words=WORDS))
    assert run_jobs(services, clock, until=clock.now + timedelta(seconds=5)) >= 1

    lines = log_lines()
    job_lines = [line for line in lines if line["logger"].startswith("rq.worker") and "Job OK" in line["message"]]
    assert job_lines, lines
    webhook_ids = {line["request_id"] for line in lines
                   if line.get("call_sid") == result.call_sid and not line["logger"].startswith("rq.")}
    for line in job_lines:
        assert line["call_sid"] == result.call_sid and line["practice"] == "northside"
        assert line["request_id"] in webhook_ids


def test_given_a_failing_job_then_its_json_line_has_a_redacted_traceback(services, log_lines):
    with logged_as(request_id="req-1", call_sid="CA" + "b" * 32, practice="lakeside"):
        job = services.jobs.enqueue(fail_with_patient_data, 42)  # enqueued as within a request
    with logged_as(request_id="unrelated"):  # the worker's own context does not leak into the job's
        CarelineWorker([services.jobs], connection=services.jobs.connection, services=services).work(burst=True)

    failed = [line for line in log_lines() if "exception" in line]
    assert len(failed) == 1
    line = failed[0]
    assert line["level"] == "ERROR" and line["logger"].startswith("rq.worker") and job.id in line["message"]
    assert (line["request_id"], line["call_sid"], line["practice"]) == ("req-1", "CA" + "b" * 32, "lakeside")
    assert line["exception"]["type"] == "ValueError"
    traceback = line["exception"]["traceback"]
    assert "ValueError: [withheld]" in traceback and "KeyError: [withheld]" in traceback
    assert "fail_with_patient_data" in traceback and 'test_patient_data_in_logs.py", line' in traceback


def test_given_a_job_nothing_set_going_then_its_request_id_is_its_own(services, log_lines):
    job = services.jobs.enqueue(fail_with_patient_data, 7)
    CarelineWorker([services.jobs], connection=services.jobs.connection, services=services).work(burst=True)
    failed = [line for line in log_lines() if "exception" in line]
    assert failed and failed[0]["request_id"] == job.id and "call_sid" not in failed[0]


def test_given_an_unknown_log_format_then_the_settings_are_refused():
    with pytest.raises(ConfigError, match="LOG_FORMAT must be text or json"):
        Config.from_env({"LOG_FORMAT": "xml", "CARELINE_ENV": "test"}).check()

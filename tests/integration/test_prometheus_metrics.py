"""GET /metrics (careline/prometheus.py, core/telemetry.py): scraped after calls the simulator plays, its figures move
as the calls did: offers and misses, each webhook's latency by route and outcome, fallback TwiML after a fault, the
queue's depth and longest wait while a caller holds, agents by state, the call log's lag and dead letters, SMS,
pages, failed jobs. Behind a bearer token. The last test runs the Procfile's gunicorn with two workers and an RQ
worker in multiprocess mode (PROMETHEUS_MULTIPROC_DIR): one scrape adds up every process's figures.

This process is not in multiprocess mode: its counters live as long as it does, so each test compares a scrape
after with one before.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
from datetime import timedelta

import pytest
import redis
import requests
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue

from callsim import Callee, Caller
from calllog.dead_letters import DEAD_LETTER_KEY
from tests.integration.conftest import (CLOSED_TIME, NORTHSIDE, PUBLIC_BASE_URL, bearer, load_practices, run_jobs,
                                        simulator, with_rest_standin)
from tests.integration.test_after_hours import AFTER_HOURS_TOML, CALLER, DR_RIVERA, WORDS
from tests.integration.test_bad_input_and_faults import call_params
from tests.integration.test_processes_survive import BIN, REPO, free_port, wait_for
from tests.integration import test_queue_calls as queue_calls
from tests.integration.test_queue_calls import ANA, JOINED, NIA
from tests.integration.test_several_hosts import procfile_argv
from tests.services import TEST_DATA_KEY

TOKEN = "metrics-token-of-the-tests"
# The queue tests' fixtures: their practices, agents and queue simulator.
people, qsim, set_status, nia_busy = queue_calls.people, queue_calls.qsim, queue_calls.set_status, queue_calls.nia_busy


@pytest.fixture
def config(config, standin):
    return with_rest_standin(dataclasses.replace(config, METRICS_TOKEN=TOKEN), standin)


def parse(text: str) -> list:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def scrape(client) -> list:
    answer = client.get("/metrics", headers=bearer(TOKEN))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.headers["Content-Type"].startswith("text/plain; version=")
    return parse(answer.get_data(as_text=True))


def value(samples: list, name: str, **labels) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 when there is none)."""
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def moved(before: list, after: list, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_given_no_bearer_token_or_a_wrong_one_then_401_and_without_metrics_token_set_then_not_served(
        client, services, monkeypatch):
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused.get_json()["error_id"] == "unauthorized"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"careline_" not in refused.get_data()
    assert client.get("/metrics", headers=bearer("not-" + TOKEN)).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert client.get("/metrics", headers=bearer(TOKEN)).status_code == 200
    monkeypatch.setattr(services, "config", dataclasses.replace(services.config, METRICS_TOKEN=""))
    unset = client.get("/metrics", headers=bearer(""))
    assert unset.status_code == 404 and unset.get_json()["error_id"] == "metrics-not-configured"
    assert client.get("/metrics", headers=bearer(TOKEN)).status_code == 404


def test_given_a_call_through_the_queue_then_an_offer_each_webhook_timed_and_the_agent_in_wrap_up(
        client, qsim, set_status, people):
    set_status("nia")
    before = scrape(client)
    assert value(before, "careline_agents", practice="northside", state="available") == 1
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                       dial={NIA: Callee(press="1", talk_seconds=40)})
    assert result.dial_results[0].status == "completed"
    after = scrape(client)
    assert moved(before, after, "careline_queue_offers_total", practice="northside") == 1
    assert moved(before, after, "careline_queue_offers_missed_total", practice="northside") == 0
    hist = "careline_webhook_duration_seconds_count"
    assert moved(before, after, hist, route="/voice/incoming", outcome="ok") == 1
    assert moved(before, after, hist, route="/voice/queue/dial-result", outcome="ok") == 1
    assert moved(before, after, hist, route="/voice/queue/whisper", outcome="ok") >= 1
    assert moved(before, after, hist, outcome="fallback") == 0
    assert moved(before, after, "careline_webhook_duration_seconds_bucket", route="/voice/incoming", le="+Inf") == 1
    assert value(after, "careline_agents", practice="northside", state="wrap-up") == 1
    assert value(after, "careline_agents", practice="northside", state="available") == 0
    assert value(after, "careline_queue_callers", practice="northside") == 0


def test_given_the_first_agent_does_not_answer_then_two_offers_and_one_miss(client, qsim, set_status, clock):
    set_status("nia")
    clock.now = clock.now.replace(second=5)
    set_status("ana")
    before = scrape(client)
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                       dial={NIA: "no-answer", ANA: Callee(press="1", talk_seconds=20)})
    assert [d.status for d in result.dial_results] == ["no-answer", "completed"]
    after = scrape(client)
    assert moved(before, after, "careline_queue_offers_total", practice="northside") == 2
    assert moved(before, after, "careline_queue_offers_missed_total", practice="northside") == 1
    assert moved(before, after, "careline_queue_offers_total", practice="lakeside") == 0
    assert value(after, "careline_agents", practice="northside", state="paused") == 1  # Nia, paused "missed"


def test_given_a_caller_holding_then_the_queue_depth_and_longest_wait_while_it_holds(client, nia_busy, qsim):
    seen = {}
    qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").hang_up(at=JOINED + 40),
              at={JOINED + 30: lambda run: seen.setdefault("holding", scrape(client))})
    holding, after = seen["holding"], scrape(client)
    assert value(holding, "careline_queue_callers", practice="northside", state="waiting") == 1
    assert value(holding, "careline_queue_callers", practice="lakeside") == 0
    assert 20 <= value(holding, "careline_queue_longest_wait_seconds", practice="northside") <= 40
    assert value(holding, "careline_queue_max_wait_seconds", practice="northside") == 90  # QUEUE_TOML's
    assert value(holding, "careline_queue_max_wait_seconds", practice="lakeside") == 180  # the default
    assert value(holding, "careline_agents", practice="northside", state="busy") == 1  # Nia, on another call
    assert value(after, "careline_queue_callers", practice="northside", state="waiting") == 0
    assert value(after, "careline_queue_longest_wait_seconds", practice="northside") == 0


def test_given_a_fault_in_a_webhook_then_the_fallback_is_counted_and_its_latency_as_fallback(
        client, sim, services, monkeypatch, caplog):
    def broken(request):
        raise RuntimeError("the menu broke")

    monkeypatch.setattr(services.ivr, "menu", broken)
    caplog.set_level(logging.ERROR)
    before = scrape(client)
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(6, then="#"))
    assert "We are sorry, we cannot connect your call right now." in result.heard
    faults = caplog.text.count("fault in menu: RuntimeError")
    assert faults >= 1
    after = scrape(client)
    assert moved(before, after, "careline_twiml_fallbacks_total", route="/voice/menu", kind="message") == faults
    assert moved(before, after, "careline_twiml_fallbacks_total") == faults
    hist = "careline_webhook_duration_seconds_count"
    assert moved(before, after, hist, route="/voice/menu", outcome="fallback") == faults
    assert moved(before, after, hist, route="/voice/menu", outcome="ok") == 0
    assert moved(before, after, hist, route="/voice/incoming", outcome="ok") == 1


def test_given_twilio_uses_the_fallback_url_then_it_is_counted(client, sim):
    before = scrape(client)
    answer = sim.post_signed("/voice/fallback", call_params(ErrorCode="11200",
                                                           ErrorUrl=f"{PUBLIC_BASE_URL}/voice/incoming"))
    assert answer.status == 200
    after = scrape(client)
    assert moved(before, after, "careline_twiml_fallbacks_total", route="/voice/fallback",
                 kind="twilio_fallback_url") == 1
    assert moved(before, after, "careline_webhook_duration_seconds_count", route="/voice/fallback",
                 outcome="fallback") == 1


def test_given_an_unsigned_webhook_then_its_latency_is_counted_as_rejected(client):
    before = scrape(client)
    assert client.post("/voice/incoming", data={"CallSid": "CA" + "1" * 32}).status_code == 403
    after = scrape(client)
    assert moved(before, after, "careline_webhook_duration_seconds_count", route="/voice/incoming",
                 outcome="rejected") == 1


def test_given_undrained_events_and_a_dead_letter_then_lag_and_dead_letters_as_status_reports_them(
        client, sim, services, drain, clock):
    sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(6, then="#"))
    clock.now += timedelta(seconds=75)
    lagging = scrape(client)
    status = client.get("/status").get_json()
    assert value(lagging, "careline_calllog_undrained_events") == status["calllog"]["undrained_events"] > 0
    assert value(lagging, "careline_calllog_lag_seconds") == status["calllog"]["lag_seconds"] >= 75
    assert value(lagging, "careline_calllog_dead_letters") == 0
    drain()
    services.redis.xadd(DEAD_LETTER_KEY, {"event": "{}", "error": "ValueError"})  # what the writer gives up on
    drained = scrape(client)
    assert value(drained, "careline_calllog_undrained_events") == 0 == value(drained, "careline_calllog_lag_seconds")
    assert value(drained, "careline_calllog_dead_letters") == 1 == client.get("/status").get_json()[
        "dead_letters"]["count"]
    assert value(drained, "careline_scrape_source_up", source="processes") == 1


def test_given_an_urgent_message_after_hours_then_sms_sent_pages_escalated_and_acknowledged(
        client, services, drain, clock, standin):
    load_practices(services, AFTER_HOURS_TOML)
    clock.now = CLOSED_TIME
    sim = simulator(client, clock)
    sim.rest = standin
    sim.on_time = lambda now: setattr(clock, "now", now)
    before = scrape(client)
    sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").speak(8, then="#", words=WORDS))
    drain()
    run_jobs(services, clock)
    paged = scrape(client)
    assert moved(before, paged, "careline_sms_sent_total", purpose="page") == 1
    assert moved(before, paged, "careline_pages_escalated_total", practice="northside") == 0  # the first step
    clock.now += timedelta(minutes=10, seconds=5)
    run_jobs(services, clock)
    escalated = scrape(client)
    assert moved(paged, escalated, "careline_pages_escalated_total", practice="northside") == 1
    assert moved(paged, escalated, "careline_sms_sent_total", purpose="page") == 1
    assert sim.send_sms(DR_RIVERA, NORTHSIDE, "On it").status == 200
    acknowledged = scrape(client)
    assert moved(escalated, acknowledged, "careline_pages_acknowledged_total", practice="northside") == 1
    assert moved(before, acknowledged, "careline_sms_failed_total") == 0


def test_given_an_sms_twilio_refuses_then_a_failed_job_and_at_last_a_failed_sms(
        client, sim, services, drain, clock, standin):
    for _ in range(4):
        standin.fail_next("messages.create", 503)
    before = scrape(client)
    sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(8, then="#"))
    drain()
    run_jobs(services, clock, until=clock.now + timedelta(days=30))
    after = scrape(client)
    assert moved(before, after, "careline_jobs_failed_total", job="jobs.sms.send_sms") == 3  # RQ retried them
    assert moved(before, after, "careline_sms_failed_total", purpose="receipt", stage="send") == 1
    assert moved(before, after, "careline_sms_sent_total") == 0


def test_given_two_gunicorn_workers_and_an_rq_worker_in_multiprocess_mode_then_one_scrape_adds_them_up(
        config, redis_url, tmp_path):
    """The Procfile's web line (gunicorn, its child_exit hook) with two workers and a burst RQ worker, all writing to
    one PROMETHEUS_MULTIPROC_DIR: the webhooks either web worker answered and the RQ worker's failed job are in
    one scrape, whichever web worker answers it."""
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": config.DATABASE_URL, "REDIS_URL": redis_url, "CARELINE_ENV": "test",
           "CARELINE_DATA_KEY": TEST_DATA_KEY, "TWILIO_AUTH_TOKEN": config.TWILIO_AUTH_TOKEN,
           "TWILIO_ACCOUNT_SID": config.TWILIO_ACCOUNT_SID, "PUBLIC_BASE_URL": config.PUBLIC_BASE_URL,
           "SECRET_KEY": "test-secret", "METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
           "WEB_CONCURRENCY": "2", "PORT": str(port)}
    log = open(tmp_path / "web.log", "w+")
    web = subprocess.Popen(procfile_argv("web", env), env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        def up():
            try:
                return requests.get(f"{base}/metrics", headers=bearer(TOKEN), timeout=10).status_code == 200
            except (requests.ConnectionError, requests.Timeout):  # still booting (a loaded machine is slow)
                return False

        wait_for(up, 90, "the web process")
        # A job that raises in the RQ worker's process (its function does not exist): counted there, served here.
        Queue("careline", connection=redis.Redis.from_url(redis_url)).enqueue("jobs.no_such_module.run")
        worker = subprocess.run([str(BIN / "rq"), "worker", "--burst", "-w", "careline.worker.CarelineWorker", "--url",
                                 redis_url, "careline"], env=env, cwd=REPO, capture_output=True, timeout=120)
        assert worker.returncode == 0, worker.stderr.decode()[-2000:]
        # Unsigned webhooks (403): counted by whichever web worker takes each, and summed in every scrape.
        session = requests.Session()
        for _ in range(40):
            assert session.post(f"{base}/voice/incoming", data={"CallSid": "CA" + "2" * 32},
                                timeout=10).status_code == 403
        pids = {path.stem.rsplit("_", 1)[-1] for path in metrics_dir.glob("*.db")}
        assert len(pids) >= 2, sorted(path.name for path in metrics_dir.glob("*.db"))  # the RQ worker's and web's
        for _ in range(4):  # whichever web worker answers, the same sums
            samples = parse(requests.get(f"{base}/metrics", headers=bearer(TOKEN), timeout=30).text)
            assert value(samples, "careline_webhook_duration_seconds_count", route="/voice/incoming",
                         outcome="rejected") == 40
            assert value(samples, "careline_jobs_failed_total", job="jobs.no_such_module.run") == 1
        assert requests.get(f"{base}/metrics", timeout=10).status_code == 401
    finally:
        web.terminate()
        web.wait(timeout=30)
        log.seek(0)
        print(log.read()[-3000:])

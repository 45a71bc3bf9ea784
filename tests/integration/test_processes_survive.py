"""Processes that survive (docs/operations.md, "Processes"): the worker and the cron live through a Redis outage
and carry on; `GET /status` reports their heartbeats, the call log's lag and its dead letters, 503 past a limit.

The outage test runs the Procfile's worker and cron commands as they are (without the supervisor of `make run`,
so the process that carries on is the one that saw Redis go) against a Redis server of the test's own, on a free
port, stopped and started again on that port: never the machine's shared Redis. The outage lasts a few seconds,
not a minute: the processes retry at most REDIS_RECONNECT_MAX_SECONDS apart (0.5 s here), as long as it takes.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import socket
import subprocess
import threading
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from rq.cron import get_cron_job_ids
from rq.job import JobStatus

from callsim import Caller
from calllog.dead_letters import DeadLetters
from careline.app import create_app
from careline.cron_process import CarelineCron
from careline.worker import CarelineWorker
from core.heartbeats import HEARTBEATS_KEY
from jobs.calllog import drain_call_events
from models import Call
from tests.conftest import TEST_DB
from tests.integration.conftest import CALLER, NORTHSIDE, PRACTICES_TOML, load_practices, simulator

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SUPERVISED = ["python", "-m", "careline.supervise", "--"]
CRON_TICK_SECONDS = 15  # careline/cron.py: the queue sweep and the call-log drain
OUTAGE_SECONDS = 60  # the outage: Redis away a whole minute
BACKOFF_CAP_SECONDS = 5  # REDIS_RECONNECT_MAX_SECONDS for the test (15 by default): reached within the outage


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    """A redis-server of the test's own (append-only file in `directory`), that the test stops and starts."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "yes",
             "--appendfsync", "everysec", "--dir", str(self.directory)], stdout=subprocess.DEVNULL)
        wait_for(self.answers, 10, "redis-server to start")

    def stop(self) -> None:
        self.proc.terminate()  # SIGTERM: Redis writes its append-only file and exits
        self.proc.wait(timeout=10)

    def answers(self) -> bool:
        try:
            return redis.Redis.from_url(self.url, socket_timeout=1).ping()
        except redis.ConnectionError:
            return False


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"waited {seconds} s for {what}")


def procfile_command(name: str, redis_url: str) -> list[str]:
    """The Procfile's line `name`, run by the supervisor: the command it supervises, with its executable from
    this virtualenv."""
    line = next(line for line in (REPO / "Procfile").read_text().splitlines() if line.startswith(f"{name}:"))
    argv = shlex.split(line.split(":", 1)[1].replace("${REDIS_URL:-redis://localhost:6379/0}", redis_url))
    assert argv[:4] == SUPERVISED  # `make run` starts it again when it exits (tested below)
    return [str(BIN / argv[4]), *argv[5:]]


def heartbeats(client: redis.Redis, role: str) -> list[tuple[str, float]]:
    return client.zrange(HEARTBEATS_KEY.format(role=role), 0, -1, withscores=True)


@pytest.fixture
def own_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    if server.proc.poll() is None:
        server.stop()


# A minute of Redis away is about Redis, not the database: played once, in the PostgreSQL pass (production's
# database), so `make test` does not wait the minute twice.
@pytest.mark.skipif(TEST_DB != "postgresql", reason="Redis's outage, played once: in the PostgreSQL pass")
def test_given_worker_and_cron_running_when_redis_stops_and_starts_again_then_both_carry_on(
        own_redis, config, session_factory, clock, tmp_path):
    """The fault test: Redis goes away for 60 s while the worker waits for jobs and across four of the cron's ticks;
    back on the same port, the same two processes (no restart) beat again, the cron enqueues its tick, and the
    worker's scheduler and the worker run a job scheduled afterwards: a call's events written to the database."""
    env = {**os.environ, "DATABASE_URL": config.DATABASE_URL, "REDIS_URL": own_redis.url, "CARELINE_ENV": "test",
           "CARELINE_DATA_KEY": config.CARELINE_DATA_KEY,
           "TWILIO_AUTH_TOKEN": config.TWILIO_AUTH_TOKEN, "TWILIO_ACCOUNT_SID": config.TWILIO_ACCOUNT_SID,
           "TWILIO_API_BASE_URL": "http://127.0.0.1:9", "REDIS_RECONNECT_MAX_SECONDS": str(BACKOFF_CAP_SECONDS)}
    logs = {name: open(tmp_path / f"{name}.log", "w+") for name in ("worker", "cron")}
    procs = {name: subprocess.Popen(procfile_command(name, own_redis.url), env=env, cwd=REPO, stdout=logs[name],
                                    stderr=subprocess.STDOUT) for name in ("worker", "cron")}
    client = redis.Redis.from_url(own_redis.url, decode_responses=True)
    app = create_app(dataclasses.replace(config, REDIS_URL=own_redis.url))
    services = app.extensions["careline"]
    services.clock = clock
    try:
        wait_for(lambda: heartbeats(client, "worker") and heartbeats(client, "cron"), 30, "both heartbeats")
        first_tick = time.monotonic()  # the cron enqueues its jobs as it starts, then every 15 s
        (worker_name, worker_beat), = heartbeats(client, "worker")
        assert len(get_cron_job_ids("jobs.queue.sweep_queues", client)) == 1

        time.sleep(max(0.0, first_tick + CRON_TICK_SECONDS - 3 - time.monotonic()))
        own_redis.stop()
        client.connection_pool.disconnect()
        time.sleep(OUTAGE_SECONDS / 2)
        assert {name: proc.poll() for name, proc in procs.items()} == {"worker": None, "cron": None}
        time.sleep(OUTAGE_SECONDS / 2)  # four of the cron's ticks fall in the outage
        assert {name: proc.poll() for name, proc in procs.items()} == {"worker": None, "cron": None}
        own_redis.start()

        load_practices(services, PRACTICES_TOML)
        result = simulator(app.test_client(), clock).call(to=NORTHSIDE, from_=CALLER, caller=Caller().hang_up())
        # A drain scheduled for now (by Redis's clock, which the worker's scheduler process reads too): released by
        # that process, which lived through the outage as well, then run by the worker.
        due = datetime.fromtimestamp(client.time()[0], timezone.utc)
        job = services.jobs.enqueue_at(due, drain_call_events)
        wait_for(lambda: job.get_status(refresh=True) == JobStatus.FINISHED, 20 + BACKOFF_CAP_SECONDS,
                 "the worker to run the drain")

        with session_factory() as session:
            assert session.get(Call, result.call_sid).outcome == "hung-up"
        wait_for(lambda: len(get_cron_job_ids("jobs.queue.sweep_queues", client)) >= 2, 10 + BACKOFF_CAP_SECONDS,
                 "the cron's next tick")
        wait_for(lambda: dict(heartbeats(client, "worker"))[worker_name] > worker_beat, 10 + BACKOFF_CAP_SECONDS,
                 "a new heartbeat")
        assert {name: proc.poll() for name, proc in procs.items()} == {"worker": None, "cron": None}
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        services.close()
        client.close()
    for name, log in logs.items():  # each waited for Redis, backing off, and said so
        log.seek(0)
        text = log.read()
        assert "Redis does not answer" in text, f"{name}: {text[-3000:]}"
        waits = [float(s) for s in re.findall(r"Redis does not answer \(try \d+\); trying again in ([\d.]+) s", text)]
        assert min(waits) == 1.0 and max(waits) == BACKOFF_CAP_SECONDS, (name, waits)  # 1 s, 2 s, 4 s, then 5 s
        assert CALLER not in text
        log.close()


def test_given_redis_away_when_worker_and_cron_are_told_to_stop_then_they_stop(own_redis, config, tmp_path):
    """Waiting for Redis must not keep a process that is told to stop (a deploy, Ctrl-C in `make run`) from
    stopping: they stop within a few seconds, without Redis."""
    env = {**os.environ, "DATABASE_URL": config.DATABASE_URL, "REDIS_URL": own_redis.url, "CARELINE_ENV": "test",
           "CARELINE_DATA_KEY": config.CARELINE_DATA_KEY,
           "TWILIO_API_BASE_URL": "http://127.0.0.1:9", "REDIS_RECONNECT_MAX_SECONDS": "0.5"}
    procs = {name: subprocess.Popen(procfile_command(name, own_redis.url), env=env, cwd=REPO,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for name in ("worker", "cron")}
    client = redis.Redis.from_url(own_redis.url, decode_responses=True)
    try:
        wait_for(lambda: heartbeats(client, "worker") and heartbeats(client, "cron"), 30, "both heartbeats")
        own_redis.stop()
        time.sleep(1.5)  # both are waiting for Redis now
        for proc in procs.values():
            proc.terminate()
        stopped_by = time.monotonic() + 10
        for name, proc in procs.items():
            assert proc.wait(timeout=max(0.1, stopped_by - time.monotonic())) is not None, name
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        client.close()


# --- GET /status --------------------------------------------------------------------------------------------


@pytest.fixture
def beats(services, redis_url, clock):
    """A worker and a cron as the Procfile's would be, beating on the test's clock: call it to beat."""
    worker = CarelineWorker([services.jobs], connection=services.jobs.connection, services=services)
    cron_connection = redis.Redis.from_url(redis_url)
    cron = CarelineCron(cron_connection, clock=clock)

    def beat() -> None:
        worker.heartbeat()
        cron.heartbeat()

    yield beat
    cron_connection.close()


def test_given_fresh_heartbeats_and_nothing_waiting_then_status_200_with_its_fields(client, beats, clock):
    beats()
    clock.now += timedelta(seconds=20)
    response = client.get("/status")
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "redis": "ok", "worker": "ok", "cron": "ok", "calllog": "ok",
                              "dead_letters": "ok"}
    beat_at = (clock.now - timedelta(seconds=20)).isoformat()
    assert body["worker"] == {"last_heartbeat": beat_at, "age_seconds": 20.0, "limit_seconds": 60.0}
    assert body["cron"] == {"last_heartbeat": beat_at, "age_seconds": 20.0, "limit_seconds": 60.0}
    assert body["calllog"] == {"lag_seconds": 0.0, "undrained_events": 0, "limit_seconds": 60.0}
    assert body["dead_letters"] == {"count": 0, "limit": 0}


def test_given_a_stale_heartbeat_on_careline_clock_then_status_503_naming_it(client, services, beats, clock):
    beats()
    clock.now += timedelta(seconds=61)
    response = client.get("/status")
    assert response.status_code == 503 and response.json["status"] == "degraded"
    assert response.json["checks"]["worker"] == "stale: last heartbeat 61 s ago (limit 60 s)"
    assert response.json["checks"]["cron"] == "stale: last heartbeat 61 s ago (limit 60 s)"

    CarelineWorker([services.jobs], connection=services.jobs.connection, services=services).heartbeat()
    response = client.get("/status")
    assert response.status_code == 503  # the cron is still silent
    assert response.json["checks"]["worker"] == "ok" and response.json["checks"]["cron"].startswith("stale")
    assert response.json["worker"]["age_seconds"] == 0.0 and response.json["cron"]["age_seconds"] == 61.0


def test_given_no_worker_ever_then_status_503_missing(client):
    response = client.get("/status")
    assert response.status_code == 503
    assert response.json["checks"]["worker"] == "missing: no worker has beaten in a day"
    assert response.json["worker"] == {"last_heartbeat": None, "age_seconds": None, "limit_seconds": 60.0}


def test_given_a_message_waiting_in_the_call_log_then_its_lag_shows_and_503_past_the_limit(
        sim, client, drain, beats, clock):
    """The call log's lag: the age, on Careline's clock, of the oldest event no drain has written yet."""
    sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(6, then="hangup"))
    started = clock.now
    clock.now = started + timedelta(seconds=30)
    beats()
    response = client.get("/status")
    assert response.status_code == 200
    calllog = response.json["calllog"]
    assert 0 < calllog["undrained_events"] and 20 < calllog["lag_seconds"] <= 30

    clock.now = started + timedelta(seconds=90)
    beats()
    response = client.get("/status")
    assert response.status_code == 503
    assert response.json["checks"]["calllog"].startswith("lagging: oldest unwritten event")
    assert response.json["checks"]["worker"] == "ok"

    drain()
    response = client.get("/status")
    assert response.status_code == 200
    assert response.json["calllog"]["lag_seconds"] == 0.0 and response.json["calllog"]["undrained_events"] == 0


def test_given_a_dead_letter_then_status_503_until_the_limit_allows_it(config, session_factory, redis_client,
                                                                      clock):
    def app_with(limit: int):
        app = create_app(dataclasses.replace(config, STATUS_DEAD_LETTERS_LIMIT=limit))
        app.extensions["careline"].clock = clock
        return app

    strict, lenient = app_with(0), app_with(1)
    for app in (strict, lenient):
        services = app.extensions["careline"]
        CarelineWorker([services.jobs], connection=services.jobs.connection, services=services).heartbeat()
    CarelineCron(redis.Redis.from_url(config.REDIS_URL), clock=clock).heartbeat()
    DeadLetters(redis_client, clock).add("1764000000000-0", {"event": "{"}, "unreadable: ValueError", 1)

    response = strict.test_client().get("/status")
    assert response.status_code == 503
    assert response.json["checks"]["dead_letters"] == ("1 dead letter(s) (limit 0): "
                                                       "careline calllog dead-letters list")
    assert response.json["dead_letters"] == {"count": 1, "limit": 0}
    assert lenient.test_client().get("/status").status_code == 200
    for app in (strict, lenient):
        app.extensions["careline"].close()


def test_given_the_command_thread_past_the_unsubscribe_reply_when_the_worker_stops_then_it_stops_at_once(services):
    """RQ's teardown unsubscribes from the worker's command channel, then stops the thread that listens on it, and
    redis-py 8 waits for that thread to end. A thread that read the reply to UNSUBSCRIBE before the stop waits for a
    subscription again, as long as its poll: RQ's 60 s (a burst worker in CI ran past 60 s so). Here that order is
    made certain; the worker's poll (PUBSUB_POLL_SECONDS) ends the wait within seconds."""
    worker = CarelineWorker([services.jobs], connection=services.jobs.connection, services=services)
    worker.subscribe()
    worker.pubsub.unsubscribe()
    deadline = time.monotonic() + 5
    while worker.pubsub.subscribed and time.monotonic() < deadline:
        time.sleep(0.01)  # the listening thread reads the reply
    assert not worker.pubsub.subscribed
    time.sleep(0.1)  # and waits for a subscription again
    stopping = threading.Thread(target=worker.unsubscribe, daemon=True)
    stopping.start()
    stopping.join(timeout=10)
    assert not stopping.is_alive()

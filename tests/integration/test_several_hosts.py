"""Several hosts (docs/operations.md, "Several hosts"): two web processes, two workers and two cron processes, as the
Procfile starts them, on ONE database and ONE Redis; Twilio's requests spread over both web processes. Every call is
logged once, no job has its effect twice, and each run of a cron job is enqueued by one cron process only (the turn
each takes in Redis, core/leader.py).

The processes run on the real clock (they are other processes: the test's clock cannot reach them), so Northside is
on holiday today and tomorrow, and its calls meet the after-hours menu whatever the hour; Lakeside is open round the
clock, every day, and its caller is answered by an agent through the queue. The Redis is a server of
the test's own (never the shared one's data); the database is the test's own too: a fresh PostgreSQL database on
PostgreSQL, a fresh SQLite file (WAL, shared by the six processes of one host) on SQLite. Twilio's REST API is the
stand-in, served over HTTP so the workers' SMS reach it.
"""
from __future__ import annotations

import dataclasses
import itertools
import os
import re
import shlex
import subprocess
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import redis
import requests
import time_machine
from rq.cron import get_cron_job_ids
from rq.job import Job, JobStatus
from sqlalchemy import func, select

from callsim import CallSimulator, Callee, Caller, HttpTransport
from careline.app import create_app
from careline.cron_process import CarelineCron
from core.clock import system_clock
from core.leader import take_turn, turn_seconds
from core.migrate import upgrade
from jobs import calllog, paging, queue, reports
from agents.tokens import TokenService
from models import Call, CallbackTask, CallEvent, Message, OnCallPage, OutboundSms, QueueEvent
from queueing.model import AgentStatus
from queueing.store import CallQueue
from tests.conftest import TEST_DB
from tests.integration.conftest import (ACCOUNT_SID, AUTH_TOKEN, CALLER, LAKESIDE, NORTHSIDE, ON_CALL_TOML,
                                        PUBLIC_BASE_URL, SCHEMA, bearer, issue, load_practices)
from tests.integration.test_database_timeouts import own_postgres  # noqa: F401 (a fixture)
from tests.integration.test_processes_survive import BIN, REPO, SUPERVISED, free_port, heartbeats, wait_for
from tests.integration.test_processes_survive import own_redis  # noqa: F401 (a fixture)
from tests.services import TEST_DATA_KEY

DR_RIVERA = "+16175550122"
CALLER_2 = "+13125550177"
CALLER_3 = "+13125550166"
BEN = "+13125550134"
CRON_JOBS = {f"{module.__name__}.{name}": interval for module, name, interval in (
    (queue, "sweep_queues", queue.SWEEP_INTERVAL_SECONDS), (paging, "sweep_follow_ups", paging.SWEEP_INTERVAL_SECONDS),
    (reports, "sweep_reports", reports.SWEEP_INTERVAL_SECONDS),
    (calllog, "drain_call_events", calllog.DRAIN_INTERVAL_SECONDS))}


def processes_now() -> datetime:
    """The time the subprocesses read: the real one. The suite may move its own wall clock (CARELINE_TEST_DAYS,
    time-machine), which moves this process only."""
    if time_machine.escape_hatch.is_travelling():
        return time_machine.escape_hatch.datetime.datetime.now(timezone.utc)
    return system_clock()


def practices_toml() -> str:
    """Northside, on call, on holiday today and tomorrow (its time): after hours all the test long. Lakeside, open
    round the clock, with Ben answering its queue."""
    today = processes_now().astimezone(ZoneInfo("America/New_York")).date()
    holidays = ", ".join(f'"{day.isoformat()}"' for day in (today, today + timedelta(days=1)))
    return f"""
[[practices]]
slug = "northside"
name = "Northside Pediatrics"
numbers = ["{NORTHSIDE}"]
timezone = "America/New_York"
languages = ["en"]
holidays = [{holidays}]

[practices.hours]
mon = "09:00-18:00"
tue = "09:00-18:00"
wed = "09:00-18:00"
thu = "09:00-18:00"
fri = "09:00-18:00"
""" + ON_CALL_TOML + """
[[practices]]
slug = "lakeside"
name = "Lakeside Family Medicine"
numbers = ["{LAKESIDE}"]
timezone = "America/Chicago"
languages = ["en"]

[practices.hours]
""".replace("{LAKESIDE}", LAKESIDE) + "".join(f'{day} = "00:00-24:00"\n' for day in (
        "mon", "tue", "wed", "thu", "fri", "sat", "sun")) + f"""
[[agents]]
email = "ben@answering.example"
name = "Ben Adler"
phone = "{BEN}"
practices = ["lakeside"]
"""


class AlternatingTransport:
    """Twilio's requests sent to each web process in turn. Each is signed over the public URL (PUBLIC_BASE_URL, which
    both web processes share), as Twilio signs what it requests; HttpTransport sends it to its own host."""

    def __init__(self, base_urls: list[str]):
        self.transports = [HttpTransport(url) for url in base_urls]
        self._next = itertools.cycle(self.transports)
        self.sent = {url: 0 for url in base_urls}

    def request(self, method, url, params, headers):
        transport = next(self._next)
        self.sent[transport.base_url] += 1
        return transport.request(method, url, params, headers)

    def serves(self, method, url):
        return None

    def post(self, url, params, headers):
        return self.request("POST", url, params, headers)


def procfile_argv(name: str, env: dict[str, str]) -> list[str]:
    """The Procfile's line `name` as the supervisor would run it, its ${VAR:-default}s filled from `env`, with its
    executable from this virtualenv."""
    line = next(line for line in (REPO / "Procfile").read_text().splitlines() if line.startswith(f"{name}:"))
    line = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1), m.group(2)), line.split(":", 1)[1])
    argv = shlex.split(line)
    assert argv[:4] == SUPERVISED
    return [str(BIN / argv[4]), *argv[5:]]


@pytest.fixture
def one_database(request, tmp_path):
    """The database the six processes share, of this test's own."""
    if TEST_DB == "postgresql":
        return request.getfixturevalue("own_postgres")
    url = f"sqlite:///{tmp_path / 'several.db'}"
    upgrade(url)
    return url


@pytest.fixture
def one_redis(request):
    """The Redis the six processes share: a redis-server of this test's own (test_processes_survive's)."""
    return request.getfixturevalue("own_redis")


def answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/status", timeout=5).status_code in (200, 503)
    except (requests.ConnectionError, requests.Timeout):
        return False


def test_given_two_of_each_process_when_calls_spread_over_both_webs_then_each_is_logged_once_and_each_job_runs_once(
        one_database, one_redis, config, standin, tmp_path):
    """Two webs, two workers, two crons: an urgent after-hours message that pages, a routine one, and a caller put
    through to an agent by the queue, their webhooks alternating between the webs; then the crons' ticks. Each call,
    event, message, task, page and SMS once, the agent rung once; each cron run enqueued once, not once per cron
    process."""
    ports = [free_port(), free_port()]
    env = {**os.environ, "DATABASE_URL": one_database, "REDIS_URL": one_redis.url, "CARELINE_ENV": "test",
           "CARELINE_DATA_KEY": TEST_DATA_KEY,
           "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
           "SECRET_KEY": "test-secret", "TWILIO_API_BASE_URL": standin.url, "WEB_CONCURRENCY": "1",
           "REDIS_RECONNECT_MAX_SECONDS": "0.5"}
    commands = [(f"web{i}", procfile_argv("web", {**env, "PORT": str(port)})) for i, port in enumerate(ports)]
    commands += [(f"{name}{i}", procfile_argv(name, env)) for name in ("worker", "cron") for i in range(2)]
    logs = {name: open(tmp_path / f"{name}.log", "w+") for name, _ in commands}
    procs = {name: subprocess.Popen(argv, env=env, cwd=REPO, stdout=logs[name], stderr=subprocess.STDOUT)
             for name, argv in commands}
    crons_started = time.monotonic()  # the cron processes start after this: their ticks are fewer, not more
    client = redis.Redis.from_url(one_redis.url, decode_responses=True)
    app = create_app(dataclasses.replace(config, DATABASE_URL=one_database, REDIS_URL=one_redis.url,
                                         TWILIO_API_BASE_URL=standin.url))
    services = app.extensions["careline"]
    try:
        load_practices(services, practices_toml())
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        wait_for(lambda: all(answers(url) for url in bases), 60, "both web processes")
        # Both cron processes up, and the first tick's jobs done (below: the reconciliation's only run), first.
        wait_for(lambda: len(heartbeats(client, "cron")) == 2 and len(heartbeats(client, "worker")) == 2, 30,
                 "both crons and both workers")
        wait_for(lambda: get_cron_job_ids("jobs.recordings.reconcile_recordings", client), 30, "the first tick")
        wait_for(lambda: services.jobs.count == 0 and all(
            Job.fetch(job_id, connection=services.jobs.connection).get_status() == JobStatus.FINISHED
            for job_id in get_cron_job_ids("jobs.recordings.reconcile_recordings", client)), 20,
            "the workers to finish the first tick's reconciliation")
        transport = AlternatingTransport(bases)
        sim = CallSimulator(transport, AUTH_TOKEN, base_url=PUBLIC_BASE_URL, account_sid=ACCOUNT_SID, strict=True,
                            schema_path=str(SCHEMA), rest=standin)
        # The simulator's call time runs ahead of the real clock (a call's minute plays in a moment): the calls
        # start two minutes back, so they have ended on the processes' clock too and what they schedule (the page's
        # first step, the receipts) is due. The recordings' reconciliation ran once, as the cron processes started
        # (RECORDINGS_RECONCILE_SECONDS is 300): run again now, it could take these recordings, older than its
        # voicemail.reconcile.SETTLE_SECONDS, for lost ones if it ran before the call log's drain.
        began = processes_now() - timedelta(minutes=2)
        urgent = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").speak(8, then="#"), start_time=began)
        routine = sim.call(to=NORTHSIDE, from_=CALLER_2, caller=Caller(press="2").speak(8, then="#"),
                           start_time=began)
        # Ben says he is ready on one web process; the caller's webhooks alternate between both.
        token = issue(TokenService(services.session_factory, processes_now), "ben")  # on the processes' clock
        ready = requests.post(f"{bases[1]}/api/agents/me/status", json={"status": "available"},
                              headers=bearer(token), timeout=10)
        assert ready.status_code == 200, ready.text
        queued = sim.call(to=LAKESIDE, from_=CALLER_3, caller=Caller(press="1"),
                          dial={BEN: Callee(press="1", talk_seconds=20)}, start_time=began)
        assert [(d.targets, d.status) for d in queued.dial_results] == [((BEN,), "completed")]
        assert all(count >= 3 for count in transport.sent.values()), transport.sent  # both webs took webhooks
        sids = {urgent.call_sid, routine.call_sid, queued.call_sid}

        def sms_to(number):
            return [r for r in standin.requests_for("messages.create") if r.params.get("To") == number]

        wait_for(lambda: sms_to(DR_RIVERA) and sms_to(CALLER) and sms_to(CALLER_2), 45, "the page and both receipts")
        # A second run of the 15 s jobs (the call-log drain, the queue sweep) under the two cron processes.
        wait_for(lambda: len(get_cron_job_ids("jobs.calllog.drain_call_events", client)) >= 2, 40,
                 "a second drain run")
        wait_for(lambda: services.jobs.count == 0, 10, "the workers to take what the tick queued")
        time.sleep(1)  # and finish it (a sweep takes milliseconds)

        with services.session_factory() as session:
            assert set(session.scalars(select(Call.call_sid))) == sids
            events = session.execute(select(CallEvent.call_sid, CallEvent.kind, func.count()).group_by(
                CallEvent.call_sid, CallEvent.kind)).all()
            assert {sid for sid, _, _ in events} == sids
            messages = session.scalars(select(Message)).all()
            assert sorted(m.urgent for m in messages) == [False, True]
            assert session.scalar(select(func.count()).select_from(CallbackTask)) == 2  # none for the answered call
            answered = session.get(Call, queued.call_sid)
            assert (answered.answered_by, answered.outcome) == ("agent", "answered")
            queue_events = session.execute(select(QueueEvent.kind, QueueEvent.agent_id).where(
                QueueEvent.call_sid == queued.call_sid).order_by(QueueEvent.at, QueueEvent.id)).all()
            assert [kind for kind, _ in queue_events] == ["entered", "offered", "connected", "talk-ended"]
            ben = queue_events[-1].agent_id
            assert ben is not None and {agent for _, agent in queue_events[1:]} == {ben}
            assert session.scalar(select(func.count()).select_from(OnCallPage)) == 1
            sent = session.execute(select(OutboundSms.purpose, OutboundSms.status, OutboundSms.attempts)).all()
            assert sorted(sent) == [("page", "sent", 1), ("receipt", "sent", 1), ("receipt", "sent", 1)], sent
        assert (len(sms_to(DR_RIVERA)), len(sms_to(CALLER)), len(sms_to(CALLER_2))) == (1, 1, 1)
        assert len(standin.requests_for("messages.create")) == 3
        assert CallQueue(client).agent(ben).status in (AgentStatus.WRAP_UP, AgentStatus.AVAILABLE)
        assert CallQueue(client).position(queued.call_sid).state == "connected"  # answered once, kept as such
        # Each cron run enqueued once, by one of the two cron processes: at most one run per interval since they
        # started (the first as they start); RQ's cron alone, each process enqueues every run (twice as many).
        elapsed = time.monotonic() - crons_started
        for name, interval in CRON_JOBS.items():
            runs = len(get_cron_job_ids(name, client))
            assert 1 <= runs <= 1 + int(elapsed // interval), (name, runs, elapsed)
        assert services.jobs.failed_job_registry.count == 0  # no job failed (and so none was retried)
        assert {name: proc.poll() for name, proc in procs.items()} == dict.fromkeys(procs)
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
        for log in logs.values():
            log.close()
    for name in logs:
        text = (tmp_path / f"{name}.log").read_text()
        assert CALLER not in text and CALLER_2 not in text, name  # no caller's number in any process's log


# --- the cron processes' turns ------------------------------------------------------------------------------


def test_given_two_cron_processes_when_both_tick_then_each_job_is_enqueued_once(redis_client, redis_url):
    """Two `careline cron` processes' schedulers, due at once: each of careline/cron.py's jobs enqueued by one."""
    connection = redis.Redis.from_url(redis_url)  # RQ's own kind (bytes); redis_client flushes the test's db
    crons = [CarelineCron(connection), CarelineCron(connection)]
    for cron in crons:
        cron.load_config_from_file("careline.cron")
    enqueued = [job.name for cron in crons for job in cron.enqueue_jobs()]
    # Each job on an interval is due at the first tick: each once, by one of the two. A job on a cron string (the
    # daily retention) is due at its time only; tests/integration/test_retention.py makes it due for both.
    assert sorted(enqueued) == sorted({job.name for job in crons[0].get_jobs() if job.interval})
    for name in CRON_JOBS:
        assert len(get_cron_job_ids(name, connection)) == 1, name
    for cron in crons:  # neither asks again before the job's next time
        assert cron.enqueue_jobs() == []


def test_given_a_turn_taken_then_it_lapses_short_of_the_next_run(redis_client):
    connection = redis_client
    assert take_turn(connection, "jobs.test.sweep", "a", 1)
    assert not take_turn(connection, "jobs.test.sweep", "b", 1)
    assert turn_seconds(15) < 15 and turn_seconds(None) < 60
    wait_for(lambda: take_turn(connection, "jobs.test.sweep", "b", 1), 2, "the turn to lapse")

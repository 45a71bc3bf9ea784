"""Fixtures for whole-app tests: the app on the test database and Redis, practices, the call simulator."""
from __future__ import annotations

import dataclasses
import re
import threading
from datetime import datetime, timezone
from pathlib import Path

import pyotp
import pytest
import requests
from flask import Flask
from sqlalchemy import select

from agents.passwords import PasswordService
from agents.tokens import TokenService
from callsim import CallSimulator, FlaskClientTransport, TwilioRestStandin
from careline.app import create_app
from core.config import Config
from core.db import session_scope
from careline.worker import CarelineWorker
from models import Agent, Practice
from practices.loader import load_config_text
from practices.publish import publish_config_change
from practices.store import apply_config
from tests.openapi_support import ValidatingClient
from tests.services import TEST_DATA_KEY

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0" * 32
PUBLIC_BASE_URL = "https://careline.test"
SCHEMA = Path(__file__).resolve().parents[2] / "callsim" / "voice-attributes.json"

PRACTICES_TOML = """
[[practices]]
slug = "lakeside"
name = "Lakeside Family Medicine"
numbers = ["+13125550100"]
timezone = "America/Chicago"
languages = ["en", "es"]
front_desk = "+13125550111"
ring_budget_seconds = 15
holidays = ["2026-12-25"]

[practices.hours]
mon = "08:00-17:00"
tue = "08:00-17:00"
wed = "08:00-17:00"
thu = "08:00-17:00"
fri = "08:00-12:00"

[practices.messages]
max_length_seconds = 120

[[practices]]
slug = "northside"
name = "Northside Pediatrics"
numbers = ["+16175550200"]
timezone = "America/New_York"
languages = ["en"]
ring_budget_seconds = 12

[practices.hours]
mon = "09:00-18:00"
tue = "09:00-18:00"
wed = "09:00-18:00"
thu = "09:00-18:00"
fri = "09:00-18:00"
"""
# Northside's after-hours escalation and its two on-call providers (it binds to the last [[practices]]).
ON_CALL_TOML = """
[practices.after_hours]
escalation_minutes = 10

[[practices.on_call]]
name = "Dr. Ines Rivera"
phone = "+16175550122"

[[practices.on_call]]
name = "Dr. Sam Okafor"
phone = "+16175550123"
"""

LAKESIDE = "+13125550100"
LAKESIDE_FRONT_DESK = "+13125550111"
NORTHSIDE = "+16175550200"
CALLER = "+13125550199"

# Tuesday 2026-11-24 10:00 in Chicago (16:00 UTC): Lakeside and Northside both open.
OPEN_TIME = datetime(2026, 11, 24, 16, 0, tzinfo=timezone.utc)
# Tuesday 2026-11-24 20:00 in Chicago (02:00 UTC Wednesday): both closed.
CLOSED_TIME = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)
# Christmas Day, a Friday, 10:00 in Chicago: a Lakeside holiday.
HOLIDAY_TIME = datetime(2026, 12, 25, 16, 0, tzinfo=timezone.utc)


class Clock:
    """A settable clock for the app: tests put calls in and out of office hours."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(OPEN_TIME)


@pytest.fixture
def config(db_url, redis_url) -> Config:
    return Config(ENV="test", DATABASE_URL=db_url, REDIS_URL=redis_url, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                  TWILIO_ACCOUNT_SID=ACCOUNT_SID, PUBLIC_BASE_URL=PUBLIC_BASE_URL, SECRET_KEY="test-secret",
                  LOG_LEVEL="INFO", CARELINE_DATA_KEY=TEST_DATA_KEY)


@pytest.fixture
def app(config, session_factory, redis_client, clock):
    """Careline on the test database and Redis, with the two test practices loaded."""
    application = create_app(config)
    services = application.extensions["careline"]
    services.clock = clock
    load_practices(services, PRACTICES_TOML)
    yield application
    services.close()


def load_practices(services, toml_text: str) -> None:
    """Load a configuration as `careline config load` does (all but its check that each practice has someone
    to page, `practices.coverage`: test practices may page nobody)."""
    with session_scope(services.session_factory) as session:
        apply_config(session, load_config_text(toml_text), services.now)
    publish_config_change(services.redis)
    services.directory.invalidate()


@pytest.fixture
def cli_env(db_url, redis_url, monkeypatch):
    """The environment the `careline` command reads, pointing at the test database and Redis."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "cli-token")
    monkeypatch.setenv("CARELINE_ENV", "test")
    monkeypatch.setenv("CARELINE_DATA_KEY", TEST_DATA_KEY)


@pytest.fixture
def standin():
    """Twilio's REST API, played locally; tests give it to the app with `with_rest_standin`."""
    with TwilioRestStandin(ACCOUNT_SID, AUTH_TOKEN) as server:
        yield server


def with_rest_standin(config: Config, standin) -> Config:
    """`config` with every Twilio REST request sent to the stand-in (override a module's `config` with it)."""
    return dataclasses.replace(config, TWILIO_API_BASE_URL=standin.url)


@pytest.fixture
def services(app):
    return app.extensions["careline"]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(autouse=True)
def api_answers_checked(monkeypatch):
    """Every app's test client checks each /api answer against the OpenAPI document (tests/openapi_support.py):
    an answer the document does not describe fails the test that saw it."""
    monkeypatch.setattr(Flask, "test_client_class", ValidatingClient)


class ClockedSimulator(CallSimulator):
    """The simulator with calls starting at the app's clock, so Twilio's timestamps agree with Careline's."""

    def __init__(self, clock: Clock, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.clock = clock

    def call(self, *args, **kwargs):
        kwargs.setdefault("start_time", self.clock.now)
        return super().call(*args, **kwargs)

    def run_outbound(self, *args, **kwargs):
        """A call Careline placed starts at the app's clock too (the wall clock may be moved: CARELINE_TEST_DAYS)."""
        if not self._runs:  # one placed from a running call's hook starts at that call's time (the simulator's)
            kwargs.setdefault("start_time", self.clock.now)
        return super().run_outbound(*args, **kwargs)


def simulator(client, clock: Clock, **options) -> ClockedSimulator:
    """Twilio, played over a Flask test client, strict about every TwiML document; `options` go to
    CallSimulator (e.g. ring_buffer_seconds, to play a Twilio that rings longer)."""
    return ClockedSimulator(clock, FlaskClientTransport(client), AUTH_TOKEN, base_url=PUBLIC_BASE_URL,
                            account_sid=ACCOUNT_SID, fallback_path=None, strict=True, schema_path=str(SCHEMA),
                            **options)


HOLD_CLIP = "https://careline.test/voice/hold-audio.wav"  # Careline's own clip, under PUBLIC_BASE_URL
CLIP_SECONDS = 12.0  # its length, which the simulator plays


def queue_simulator(client, clock: Clock, standin) -> ClockedSimulator:
    """The simulator for calls through the live queue: Twilio's REST redirects arrive at `standin`, which the
    simulator plays; the app's clock follows the calls; the hold clip lasts as long as Careline's."""
    sim = simulator(client, clock)
    sim.rest = standin
    sim.on_time = lambda now: setattr(clock, "now", now)
    sim.media_seconds[HOLD_CLIP] = CLIP_SECONDS
    return sim


@pytest.fixture
def sim(client, clock) -> ClockedSimulator:
    return simulator(client, clock)


@pytest.fixture
def drain(services):
    """Run the call-log writer as the worker's job would; returns how many events it moved."""
    return services.calllog_writer.drain


def run_jobs(services, clock: Clock, until: datetime | None = None) -> int:
    """Run the jobs due by `until` (default: the app's clock) as RQ's scheduler and Careline's worker would.

    Scheduled jobs are released in the order of their time, and the clock moves forward to each one's time
    (never back): a job, and any retry it schedules, runs at the time RQ's scheduler would run it on the
    clock Careline reads. Returns how many jobs ran.
    """
    queue = services.jobs
    registry = queue.scheduled_job_registry
    limit = int((until or clock.now).timestamp())
    ran = 0
    for _ in range(100):
        first = registry.connection.zrangebyscore(registry.key, 0, limit, start=0, num=1, withscores=True)
        if first:
            clock.now = max(clock.now, datetime.fromtimestamp(first[0][1], timezone.utc))
            for job_id in registry.get_jobs_to_schedule(int(clock.now.timestamp())):
                job = queue.fetch_job(job_id)
                registry.remove(job_id)
                if job is not None:
                    queue._enqueue_job(job)
        if queue.count == 0:
            return ran
        ran += queue.count
        CarelineWorker([queue], connection=queue.connection, services=services).work(burst=True)
    raise AssertionError("jobs kept coming")


@pytest.fixture
def timeouts(monkeypatch) -> list:
    """The `timeout` of every HTTP request the process sends through requests (Twilio's REST client's too);
    the requests themselves go on unchanged."""
    seen = []
    send = requests.Session.send

    def noted_send(session, prepared, **kwargs):
        seen.append(kwargs.get("timeout"))
        return send(session, prepared, **kwargs)

    monkeypatch.setattr(requests.Session, "send", noted_send)
    return seen


def post_at_once(app, path: str, tokens: list[str]) -> list:
    """POST `path` once per token, each from its own test client in its own thread, all released together
    behind a barrier; returns the answers in the tokens' order."""
    barrier = threading.Barrier(len(tokens))
    answers, failures = [None] * len(tokens), []

    def send(index: int, token: str) -> None:
        try:
            own = app.test_client()
            barrier.wait(timeout=10)
            answers[index] = own.post(path, headers=bearer(token))
        except Exception as exc:  # noqa: BLE001 - reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=send, args=(i, token)) for i, token in enumerate(tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures, failures
    return answers


# --- people and API tokens ----------------------------------------------------------------------------------

EMAILS = {
    "ana": "ana@answering.example",  # agent, every practice, English and Spanish
    "ben": "ben@answering.example",  # agent, lakeside
    "nia": "nia@answering.example",  # agent, northside
    "mo": "mo@lakeside.example",  # manager, lakeside
    "lee": "lee@lakeside.example",  # manager, lakeside
    "root": "root@answering.example",  # admin, no practice listed
}

AGENTS_TOML = """
[[agents]]
email = "ana@answering.example"
name = "Ana Lopez"
languages = ["en", "es"]
practices = ["*"]

[[agents]]
email = "ben@answering.example"
name = "Ben Adler"
practices = ["lakeside"]

[[agents]]
email = "nia@answering.example"
name = "Nia Okafor"
practices = ["northside"]
role = "agent"

[[agents]]
email = "mo@lakeside.example"
name = "Mo Chen"
practices = ["lakeside"]
role = "manager"

[[agents]]
email = "lee@lakeside.example"
name = "Lee Park"
practices = ["lakeside"]
role = "manager"

[[agents]]
email = "root@answering.example"
name = "Root Admin"
role = "admin"
"""


# The answering agents with the phones the queue rings (Ana every practice, Ben Lakeside, Nia Northside).
PHONE_AGENTS_TOML = """
[[agents]]
email = "ana@answering.example"
name = "Ana Lopez"
phone = "+13125550133"
languages = ["en", "es"]
practices = ["*"]

[[agents]]
email = "ben@answering.example"
name = "Ben Adler"
phone = "+13125550134"
practices = ["lakeside"]

[[agents]]
email = "nia@answering.example"
name = "Nia Okafor"
phone = "+16175550135"
practices = ["northside"]
"""


@pytest.fixture
def agents(services) -> dict[str, int]:
    """The agents above, loaded as `careline config load` does; their ids by first name."""
    load_practices(services, PRACTICES_TOML + AGENTS_TOML)
    with services.session_factory() as session:
        ids = dict(session.execute(select(Agent.email, Agent.id)).all())
    return {name: ids[email] for name, email in EMAILS.items()}


@pytest.fixture
def tokens(services) -> TokenService:
    return TokenService(services.session_factory, services.clock)


def issue(tokens: TokenService, name: str, label: str | None = None) -> str:
    """A new token for the agent `name` (a key of EMAILS)."""
    return tokens.issue_token(EMAILS[name], label).token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def practice_ids(services, agents) -> dict[str, int]:
    """The test practices' ids by slug."""
    with services.session_factory() as session:
        return dict(session.execute(select(Practice.slug, Practice.id)).all())


# --- the console's sign-in: a password, then (managers, admins, agents who have one) the second factor's code ---

CONSOLE_SIGN_IN = "/console/sign-in"
CONSOLE_CODE = "/console/sign-in/code"
SECOND_FACTOR_ROLES = ("manager", "admin")  # who cannot sign in without one (agents.second_factor)


def give_second_factor(services, email: str) -> str:
    """Give `email` a second factor as `careline user totp` does; returns its secret (base32)."""
    return pyotp.parse_uri(services.second_factors.enrol(email)).secret


def console_password(services, emails, password: str) -> None:
    """Give each of `emails` the console password `password`, and those who need one a second factor (managers
    and admins cannot sign in without)."""
    passwords = PasswordService(services.session_factory)
    with services.session_factory() as session:
        roles = dict(session.execute(select(Agent.email, Agent.role).where(Agent.email.in_(list(emails)))).all())
    for email in emails:
        passwords.set_password(email, password)
        if roles.get(email) in SECOND_FACTOR_ROLES:
            give_second_factor(services, email)


def second_factor_code(services, email: str) -> str:
    """The code `email`'s authenticator app shows at Careline's clock time (pyotp's `at`)."""
    with services.session_factory() as session:
        secret = session.scalar(select(Agent.totp_secret).where(Agent.email == email.strip().lower()))
    assert secret is not None, f"{email} has no second factor"
    return pyotp.TOTP(secret).at(services.clock())


def _csrf_of(page: str) -> str:
    return re.findall(r'name="csrf_token" value="([^"]+)"', page)[-1]


def console_sign_in(client, email: str, password: str, code: str | None = None, **form):
    """Sign in to the console as a person does: the password form, then the code's form when it is asked (by
    default the code the person's app shows now); returns the last answer. `form`: more fields (next)."""
    token = _csrf_of(client.get(CONSOLE_SIGN_IN).get_data(as_text=True))
    answer = client.post(CONSOLE_SIGN_IN, data={"email": email, "password": password, "csrf_token": token, **form})
    if answer.status_code != 303 or answer.headers["Location"] != CONSOLE_CODE:
        return answer
    if code is None:
        code = second_factor_code(client.application.extensions["careline"], email)
    token = _csrf_of(client.get(CONSOLE_CODE).get_data(as_text=True))
    return client.post(CONSOLE_CODE, data={"code": code, "csrf_token": token})


REDIS_NOWHERE = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connections are refused at once


@pytest.fixture
def redis_down_client(config, services, agents):
    """A test client of Careline on the test database, with a Redis that does not answer."""
    down = create_app(Config(**{**config.__dict__, "REDIS_URL": REDIS_NOWHERE}))
    down.extensions["careline"].clock = services.clock
    yield down.test_client()
    down.extensions["careline"].close()

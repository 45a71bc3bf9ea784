"""Skills in the live queue through the simulator (issue 16): a caller who pressed a menu's `queue` key for
"refills" reaches the agent with that skill before another who is idle longer, and anyone of the practice once
the practice's skill fallback is over; the metrics count offered, service level and abandonment per skill."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from callsim import Callee, Caller
from models import QueueEvent
from tests.integration.conftest import (CALLER, PRACTICES_TOML, bearer, issue, load_practices, queue_simulator,
                                        with_rest_standin)

CLINIC = "+13125550300"
ANA, BEN = "+13125550133", "+13125550134"
FALLBACK = 40  # the clinic's [practices.skills] fallback_seconds
SKILLS_TOML = PRACTICES_TOML + """
[[practices]]
slug = "clinic"
name = "Riverside Clinic"
numbers = ["+13125550300"]
timezone = "America/Chicago"
languages = ["en"]
ring_budget_seconds = 15

[practices.hours]
mon = "00:00-24:00"
tue = "00:00-24:00"
wed = "00:00-24:00"
thu = "00:00-24:00"
fri = "00:00-24:00"
sat = "00:00-24:00"
sun = "00:00-24:00"

[practices.skills]
fallback_seconds = 40

[[practices.menu]]
key = "1"
action = "queue"
skill = "refills"
prompt = { en = "For prescription refills, press 1." }

[[agents]]
email = "ana@answering.example"
name = "Ana Lopez"
phone = "+13125550133"
skills = ["refills"]
practices = ["clinic"]

[[agents]]
email = "ben@answering.example"
name = "Ben Adler"
phone = "+13125550134"
practices = ["clinic"]

[[agents]]
email = "root@answering.example"
name = "Root Admin"
role = "admin"
"""


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@pytest.fixture
def people(services):
    load_practices(services, SKILLS_TOML)


@pytest.fixture
def qsim(client, clock, standin, people):
    return queue_simulator(client, clock, standin)


@pytest.fixture
def api(client, tokens, people):
    cache = {}

    def call(name: str, method: str, path: str, **kwargs):
        token = cache.setdefault(name, issue(tokens, name))
        return client.open(path, method=method, headers=bearer(token), **kwargs)

    return call


@pytest.fixture
def set_status(api):
    def set_status(name: str, status: str = "available"):
        answer = api(name, "POST", "/api/agents/me/status", json={"status": status})
        assert answer.status_code == 200, answer.get_json()

    return set_status


def queue_events(session_factory, call_sid: str) -> list[QueueEvent]:
    with session_factory() as session:
        return session.scalars(select(QueueEvent).where(QueueEvent.call_sid == call_sid)
                               .order_by(QueueEvent.at, QueueEvent.id)).all()


def refill_call(qsim, **options):
    return qsim.call(to=CLINIC, from_=CALLER, caller=options.pop("caller", Caller(press="1")), **options)


def test_given_a_refill_caller_then_the_agent_with_the_skill_before_one_idle_longer(
        qsim, set_status, clock, drain, session_factory):
    set_status("ben")  # idle longest, without the skill
    clock.now += timedelta(seconds=30)
    set_status("ana")
    result = refill_call(qsim, dial={ANA: Callee(press="1", talk_seconds=20), BEN: Callee(press="1")})
    assert "For prescription refills, press 1." in result.heard
    assert [(d.targets, d.status) for d in result.dial_results] == [((ANA,), "completed")]
    drain()
    events = queue_events(session_factory, result.call_sid)
    assert [(e.kind, e.skill) for e in events][:2] == [("entered", "refills"), ("offered", "refills")]


def test_given_no_free_agent_with_the_skill_then_the_other_agent_after_the_practices_fallback(
        qsim, set_status, drain, session_factory):
    set_status("ben")  # Ana is offline: Ben is on duty, so the caller holds
    result = refill_call(qsim, caller=Caller(press="1").hang_up(at=200),
                         dial={BEN: Callee(press="1", talk_seconds=10)})
    assert [(d.targets, d.status) for d in result.dial_results] == [((BEN,), "completed")]
    drain()
    (offered,) = [e for e in queue_events(session_factory, result.call_sid) if e.kind == "offered"]
    assert offered.wait_seconds >= FALLBACK
    # Each hold turn dispatches: the turns before the fallback left Ben alone, the first one after it rang him.
    joined_at = next(step.t for step in result.transcript if step.kind == "input")
    turns = [step.t for step in result.transcript if step.kind == "redirect"]
    first_dial = next(step.t for step in result.transcript if step.kind == "dial")
    assert any(t - joined_at < FALLBACK for t in turns)
    assert first_dial == pytest.approx(next(t for t in turns if t - joined_at >= FALLBACK), abs=3)


def test_given_skill_callers_then_the_metrics_count_offered_service_level_and_abandonment_per_skill(
        qsim, set_status, api, clock, drain):
    set_status("ben")
    abandoned = refill_call(qsim, caller=Caller(press="1").hang_up(at=30), dial={BEN: Callee(press="1")})
    assert abandoned.dial_results == []  # within the fallback Ben may not take it; the caller hung up holding
    late = refill_call(qsim, dial={BEN: Callee(press="1", talk_seconds=10)})  # after the fallback: past 30 s
    clock.now += timedelta(seconds=60)
    set_status("ana")
    quick = refill_call(qsim, dial={ANA: Callee(press="1", talk_seconds=10)})  # at once: within 30 s
    assert [d.targets for d in late.dial_results + quick.dial_results] == [(BEN,), (ANA,)]
    drain()
    day = clock.now.date()
    query = f"practice=clinic&from={day - timedelta(days=1)}&to={day + timedelta(days=1)}"
    body = api("root", "GET", f"/api/metrics?{query}").get_json()
    (refills,) = body["by_skill"]
    assert refills["skill"] == "refills"
    assert (refills["offered"], refills["connected"], refills["abandoned"]) == (3, 2, 1)
    assert (refills["service_level"], refills["abandonment_rate"]) == (1 / 3, 1 / 3)
    rows = list(csv.DictReader(io.StringIO(api("root", "GET", f"/api/metrics.csv?{query}").get_data(as_text=True))))
    (row,) = [r for r in rows if r["row_type"] == "skill"]
    assert (row["skill"], row["skill_offered"], row["skill_service_level"], row["skill_abandonment_rate"]) == (
        "refills", "3", repr(1 / 3), repr(1 / 3))

"""Calls played together on one clock (callsim.together) through Careline's live queue: callers hold at once,
an agent's talk and wrap-up hold the next caller back, the wrap-up's end job and the REST redirect it sends run
at their simulated times. The app is built as tests/integration builds it (real Redis, real database)."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from callsim import Callee, Caller, CallsTogether
from bench.staffing import ScheduledJobs  # Careline's RQ jobs at their times, as the benchmark runs them
from callsim.together import hang_up_while_waiting
from core.config import Config
from models import Agent, QueueEvent
from queueing.model import AgentStatus
from tests.integration.conftest import (  # noqa: F401 - fixtures, used by name
    ACCOUNT_SID,
    AUTH_TOKEN,
    CALLER,
    EMAILS,
    NORTHSIDE,
    PHONE_AGENTS_TOML,
    PRACTICES_TOML,
    PUBLIC_BASE_URL,
    api_answers_checked,
    app,
    bearer,
    client,
    clock,
    issue,
    load_practices,
    queue_simulator,
    services,
    standin,
    tokens,
)
from tests.services import TEST_DATA_KEY

NIA, ANA = "+16175550135", "+13125550133"
OTHER_CALLER = "+13125550177"
WRAP_UP_SECONDS = 10
QUEUE_TOML = PRACTICES_TOML + f"""
[practices.queue]
max_wait_seconds = 600
announce_every_seconds = 30
agent_ring_seconds = 15
wrap_up_seconds = {WRAP_UP_SECONDS}

""" + PHONE_AGENTS_TOML  # the [practices.queue] table is Northside's (the last [[practices]])
JOINED = 23.0  # call seconds at which a caller who pressed 1 after Northside's whole menu is holding
HOLD_CLIP = "https://careline.test/voice/hold-audio.wav"


@pytest.fixture
def config(db_url, redis_url, standin) -> Config:  # noqa: F811
    """tests/integration's configuration, with every Twilio REST request sent to the stand-in."""
    return Config(ENV="test", DATABASE_URL=db_url, REDIS_URL=redis_url, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                  TWILIO_ACCOUNT_SID=ACCOUNT_SID, PUBLIC_BASE_URL=PUBLIC_BASE_URL, SECRET_KEY="test-secret",
                  LOG_LEVEL="INFO", CARELINE_DATA_KEY=TEST_DATA_KEY, TWILIO_API_BASE_URL=standin.url)


@pytest.fixture
def people(services):  # noqa: F811
    load_practices(services, QUEUE_TOML)


@pytest.fixture
def set_status(client, tokens, people):  # noqa: F811
    def set_status(name: str, status: str = "available") -> None:
        answer = client.post("/api/agents/me/status", json={"status": status}, headers=bearer(issue(tokens, name)))
        assert answer.status_code == 200, answer.get_json()

    return set_status


@pytest.fixture
def together(client, clock, standin, services, people):  # noqa: F811
    sim = queue_simulator(client, clock, standin)
    rq_level = logging.getLogger("rq.worker").level
    yield CallsTogether(sim, clock.now, on_time=lambda now: setattr(clock, "now", now),
                        background=ScheduledJobs(services, clock))
    # The jobs ran as the worker runs them, and left RQ's log as it was (later tests read its "Job OK" lines).
    assert logging.getLogger("rq.worker").level == rq_level


def queue_events(services, call_sid: str) -> list[QueueEvent]:  # noqa: F811
    with services.session_factory() as session:
        return session.scalars(select(QueueEvent).where(QueueEvent.call_sid == call_sid)
                               .order_by(QueueEvent.at, QueueEvent.id)).all()


def rest_redirects(result) -> list:
    return [step for step in result.transcript if step.kind == "redirect" and step.attrs.get("source") == "rest"]


def test_given_two_callers_and_one_agent_then_the_second_is_connected_after_the_first_talk_and_wrap_up(
        together, set_status, services, clock, standin):  # noqa: F811
    set_status("nia")
    start = clock.now
    first = together.place(start, to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                           dial={NIA: Callee(press="1", talk_seconds=40)})
    second = together.place(start + timedelta(seconds=5), to=NORTHSIDE, from_=OTHER_CALLER, caller=Caller(press="1"),
                            dial={NIA: Callee(press="1", talk_seconds=20)})
    together.run()
    one, two = first.outcome(), second.outcome()
    assert [d.status for d in one.dial_results] == ["completed"] and [d.status for d in two.dial_results] == [
        "completed"]
    assert not rest_redirects(one)  # an agent was free when it joined: its own webhook dialled her
    services.calllog_writer.drain()
    one_events, two_events = queue_events(services, one.call_sid), queue_events(services, two.call_sid)
    assert [e.kind for e in two_events] == ["entered", "offered", "connected", "talk-ended"]
    talk_ended = next(e for e in one_events if e.kind == "talk-ended")
    wrap_up_end = talk_ended.at + timedelta(seconds=WRAP_UP_SECONDS)
    offered = next(e for e in two_events if e.kind == "offered")
    # Offered only once Nia's talk with the first caller and her wrap-up were over, and within the second that
    # RQ's scheduler (whole seconds) runs the wrap-up's end job, or at the caller's next hold turn.
    # The wrap-up's end job ran at its time (whole seconds here, as RQ's scheduler keeps them) and offered Nia the
    # second caller: the REST redirect cut into that caller's hold music at that very moment.
    assert offered.at == wrap_up_end
    (redirect,) = rest_redirects(two)
    assert redirect.t == pytest.approx((wrap_up_end - start).total_seconds() - 5, abs=0.01)
    # The second caller held while the first talked: its transcript plays the hold clip meanwhile.
    holds = [s.t for s in two.transcript if s.kind == "play" and s.text == HOLD_CLIP]
    assert holds and 5 + holds[0] < (talk_ended.at - start).total_seconds()
    # Its wait agrees with the shared clock: from joining (5 s after the first call, + JOINED) to Nia's accept.
    entered, connected = two_events[0], two_events[2]
    assert (entered.at - start).total_seconds() == pytest.approx(5 + JOINED, abs=1)
    assert connected.wait_seconds == pytest.approx((connected.at - entered.at).total_seconds(), abs=0.01)
    assert connected.wait_seconds >= 40 + WRAP_UP_SECONDS  # at least the first caller's talk and the wrap-up


def test_given_a_caller_holding_when_an_agent_comes_on_duty_then_the_rest_redirect_cuts_into_the_hold_music_at_once(
        together, set_status, services, clock, standin):  # noqa: F811
    set_status("nia")
    busy_elsewhere(services, _agent_id(services, "nia"), clock.now)  # on duty, so callers hold; nobody free
    start = clock.now
    comes_on_duty = start + timedelta(seconds=JOINED + 17.5)  # mid-clip (12 s clips from about JOINED + 6)
    holding = together.place(start, to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                             dial={ANA: Callee(press="1", talk_seconds=15)})
    later = together.place(start + timedelta(seconds=10), to=NORTHSIDE, from_=OTHER_CALLER,
                           caller=Caller(press="1"), dial={ANA: Callee(press="1", talk_seconds=15)})
    together.at(comes_on_duty, lambda now: set_status("ana"))
    together.run()
    result = holding.outcome()
    (redirect,) = rest_redirects(result)
    assert redirect.t == pytest.approx(JOINED + 17.5, abs=0.01)  # the moment Ana came on duty, mid hold clip
    (update,) = [r for r in standin.requests_for("calls.update") if result.call_sid in r.path]
    assert update.params["Url"] == "https://careline.test/voice/queue/connect"
    # The other caller, who came later, kept holding until Ana's talk and wrap-up were over.
    other = later.outcome()
    services.calllog_writer.drain()
    first_connected = next(e for e in queue_events(services, result.call_sid) if e.kind == "connected")
    other_connected = next(e for e in queue_events(services, other.call_sid) if e.kind == "connected")
    assert other_connected.at - first_connected.at >= timedelta(seconds=15 + WRAP_UP_SECONDS)
    assert services.queue.agent(_agent_id(services, "ana"), clock.now).status in (AgentStatus.WRAP_UP,
                                                                                   AgentStatus.AVAILABLE)


def test_given_callers_patience_then_one_still_holding_hangs_up_and_one_talking_to_an_agent_stays(
        together, set_status, services, clock):  # noqa: F811
    set_status("nia")
    start = clock.now
    patience = JOINED + 20
    talking = together.place(start, to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                             at=hang_up_while_waiting(patience), dial={NIA: Callee(press="1", talk_seconds=60)})
    holding = together.place(start + timedelta(seconds=1), to=NORTHSIDE, from_=OTHER_CALLER,
                             caller=Caller(press="1"), at=hang_up_while_waiting(patience),
                             dial={NIA: Callee(press="1")})
    together.run()
    assert [(d.status, d.duration) for d in talking.outcome().dial_results] == [("completed", 60)]
    gone = holding.outcome()
    assert gone.ended_by == "caller-hangup" and gone.duration == pytest.approx(patience)
    assert not gone.dial_results  # Nia was still talking to the first caller
    services.calllog_writer.drain()
    (abandoned,) = [e for e in queue_events(services, gone.call_sid) if e.kind == "abandoned"]
    assert abandoned.wait_seconds == pytest.approx(patience - JOINED, abs=1)


def busy_elsewhere(services, agent_id: int, now) -> None:  # noqa: F811
    """Put the available agent on another caller's call: a real queue entry, matched and answered."""
    practice_id, sid = services.directory.find_by_number(NORTHSIDE).id, "CA" + "e" * 32
    services.queue.enqueue(practice_id, sid, urgent=False, language=None, now=now)
    assert services.queue.match(practice_id, now, 30).agent_id == agent_id
    assert services.queue.offer_answered(sid, agent_id, now) is not None


def _agent_id(services, name: str) -> int:  # noqa: F811
    with services.session_factory() as session:
        return session.scalar(select(Agent.id).where(Agent.email == EMAILS[name]))

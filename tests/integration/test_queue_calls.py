"""Whole calls through the live-agent queue, played by the simulator against Careline and the REST stand-in.

Agents take callers by the status API; the simulator's timed hooks change things while a caller holds
(an agent becoming available, another caller arriving), and the app's clock follows the simulated call.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
import redis
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from callsim import Callee, Caller
from callsim.clock import DIAL_RING_BUFFER_SECONDS as TWILIO_RING_BUFFER_SECONDS
from models import AgentStatusChange, Call, CallbackTask, CallbackTaskCall, Message, QueueEvent
from queueing.dispatch import Dispatcher
from jobs.queue import dispatch_for_agent, sweep_queues
from queueing.model import AgentStatus, CallerState
from queueing.store import CallQueue
from tests.integration.conftest import (CLIP_SECONDS, PHONE_AGENTS_TOML, CALLER, EMAILS, LAKESIDE, LAKESIDE_FRONT_DESK,
                                        NORTHSIDE, PRACTICES_TOML, REDIS_NOWHERE, bearer, issue, load_practices,
                                        queue_simulator, run_jobs, with_rest_standin)

ANA, BEN, NIA = "+13125550133", "+13125550134", "+16175550135"
OTHER_CALLER = "+13125550177"
QUEUE_TOML = PRACTICES_TOML + """
[practices.queue]
max_wait_seconds = 90
announce_every_seconds = 30
agent_ring_seconds = 15
wrap_up_seconds = 10

""" + PHONE_AGENTS_TOML
# The [practices.queue] table above follows northside's hours: it is northside's (TOML tables bind to the
# last [[practices]] entry). Lakeside keeps the defaults: max wait 180 s, announcements every 30 s.
JOINED = 23.0  # seconds into a call that pressed 1 after hearing Northside's whole menu: it is holding by then


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


def load_people(services, toml_text: str) -> dict[str, int]:
    """Load `toml_text` as `careline config load` does; the agents' ids by first name."""
    load_practices(services, toml_text)
    from models import Agent
    with services.session_factory() as session:
        ids = dict(session.execute(select(Agent.email, Agent.id)).all())
    return {name: ids[email] for name, email in EMAILS.items() if email in ids}


@pytest.fixture
def people(services) -> dict[str, int]:
    return load_people(services, QUEUE_TOML)


@pytest.fixture
def qsim(client, clock, standin, people):
    return queue_simulator(client, clock, standin)


@pytest.fixture
def set_status(client, tokens, people):
    cache = {}

    def set_status(name: str, status: str = "available"):
        token = cache.setdefault(name, issue(tokens, name))
        answer = client.post("/api/agents/me/status", json={"status": status}, headers=bearer(token))
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()

    return set_status


@pytest.fixture
def nia_busy(services, people, clock, set_status) -> str:
    """Nia on another caller's call: she is on duty, so callers hold, and nobody is free."""
    set_status("nia")
    return busy_elsewhere(services, people["nia"], practice_id(services, NORTHSIDE), clock.now)


def busy_elsewhere(services, agent_id: int, practice_id: int, now, sid: str = "CA" + "e" * 32) -> str:
    """Put the (available) agent on another caller's call: a real queue entry, matched and answered."""
    queue = services.queue
    queue.enqueue(practice_id, sid, urgent=False, language=None, now=now)
    match = queue.match(practice_id, now, 30)
    assert match.agent_id == agent_id
    assert queue.offer_answered(sid, agent_id, now) is not None
    return sid


def practice_id(services, number: str) -> int:
    return services.directory.find_by_number(number).id


def queue_events(session_factory, call_sid: str) -> list[QueueEvent]:
    with session_factory() as session:
        return session.scalars(select(QueueEvent).where(QueueEvent.call_sid == call_sid)
                               .order_by(QueueEvent.at, QueueEvent.id)).all()


def call_row(session_factory, call_sid: str) -> Call:
    with session_factory() as session:
        return session.get(Call, call_sid)


def heard(result) -> str:
    return " ".join(result.heard)


# --- connected -----------------------------------------------------------------------------------------------

def test_given_an_available_agent_when_caller_asks_for_someone_then_connected_at_once(
        qsim, set_status, standin, drain, session_factory, services, people):
    set_status("nia")
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                       dial={NIA: Callee(press="1", talk_seconds=40)})
    (dial,) = result.dial_results
    assert dial.targets == (NIA,) and dial.status == "completed"
    assert "Call for Northside Pediatrics." in dial.whisper_heard and "Press 1 to accept." in dial.whisper_heard
    assert "Connecting you now." in heard(result)
    assert not standin.requests_for("calls.update")  # its own webhook dialled the agent: no REST needed
    dial_doc = next(d for d in result.documents if "<Dial" in d.text)
    # agent_ring_seconds 15 less Twilio's extra ring (the simulator's documented figure, not Careline's setting)
    assert f'timeout="{15 - int(TWILIO_RING_BUFFER_SECONDS)}"' in dial_doc.text
    assert services.queue.agent(people["nia"]).status == AgentStatus.WRAP_UP
    drain()
    call = call_row(session_factory, result.call_sid)
    assert (call.answered_by, call.outcome) == ("agent", "answered")
    events = queue_events(session_factory, result.call_sid)
    assert [e.kind for e in events] == ["entered", "offered", "connected", "talk-ended"]
    assert events[-1].talk_seconds == 40 and events[-1].agent_id == people["nia"]
    assert events[2].wait_seconds is not None and events[2].wait_seconds < 30
    with session_factory() as session:
        rows = session.scalars(select(AgentStatusChange).where(AgentStatusChange.call_sid == result.call_sid)
                               .order_by(AgentStatusChange.at)).all()
        assert [r.status for r in rows] == ["ringing", "busy", "wrap-up"]
        assert (rows[-1].until - rows[-1].at).total_seconds() == 10
        assert session.scalars(select(CallbackTask)).all() == []


def test_given_an_agent_at_a_desks_softphone_then_the_practice_is_named_and_the_call_bridged_without_a_key(
        qsim, set_status, services, people, drain, session_factory):
    """The desk's Accept is the agent's yes, and a browser has no voicemail to screen out: no "press 1"."""
    load_people(services, QUEUE_TOML.replace('phone = "+16175550135"', 'client = "nia.desk"'))
    set_status("nia")
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                       dial={"client:nia.desk": Callee(answered_after=2, talk_seconds=20)})
    (dial,) = result.dial_results
    assert (dial.targets, dial.status) == (("client:nia.desk",), "completed")
    assert "Call for Northside Pediatrics." in dial.whisper_heard and "Press 1" not in dial.whisper_heard
    assert services.queue.agent(people["nia"]).status == AgentStatus.WRAP_UP
    drain()
    assert [(e.kind, e.agent_id) for e in queue_events(session_factory, result.call_sid)][-2:] == [
        ("connected", people["nia"]), ("talk-ended", people["nia"])]


def test_given_first_agent_does_not_answer_then_paused_missed_and_next_agent_rung(
        qsim, set_status, services, people, drain, session_factory, clock, caplog):
    caplog.set_level(logging.DEBUG)
    set_status("nia")  # idle longest: rung first
    clock.now = clock.now.replace(second=5)
    set_status("ana")
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                       dial={NIA: "no-answer", ANA: Callee(press="1", talk_seconds=20)})
    assert [(d.targets, d.status) for d in result.dial_results] == [((NIA,), "no-answer"), ((ANA,), "completed")]
    nia = services.queue.agent(people["nia"])
    assert (nia.status, nia.reason) == (AgentStatus.PAUSED, "missed")
    drain()
    kinds = [(e.kind, e.agent_id) for e in queue_events(session_factory, result.call_sid)]
    assert kinds == [("entered", None), ("offered", people["nia"]), ("no-answer", people["nia"]),
                     ("offered", people["ana"]), ("connected", people["ana"]), ("talk-ended", people["ana"])]
    assert "call=" + result.call_sid in caplog.text  # the queue's steps are logged by CallSid...
    for number in (CALLER, NIA, ANA):  # ...never by the caller's or the agents' numbers
        assert number not in caplog.text and number[2:] not in caplog.text


def test_given_voicemail_answers_the_agents_phone_then_it_counts_as_no_answer(qsim, set_status, services, people):
    """Answered but no key pressed at the whisper (a voicemail): the caller is never connected to it."""
    set_status("nia")
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").hang_up(at=60),
                       dial={NIA: Callee(answer=True, press="")})
    assert result.dial_results[0].status == "no-answer"
    whisper = next(d for d in result.documents if d.leg == NIA)
    assert "Press 1 to accept." in whisper.text  # it was asked, and pressed nothing
    assert services.queue.agent(people["nia"]).reason == "missed"
    assert all(d.status != "completed" for d in result.dial_results)


def test_given_caller_holding_when_an_agent_becomes_available_then_the_rest_redirect_connects(nia_busy, 
        qsim, set_status, standin, services, people, clock, drain, session_factory):
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                       at={JOINED + 20: lambda run: set_status("ana")}, dial={ANA: Callee(press="1", talk_seconds=15)})
    (update,) = standin.requests_for("calls.update")
    assert update.path.endswith(f"/Calls/{result.call_sid}.json")
    assert update.params["Url"] == "https://careline.test/voice/queue/connect"
    rest_steps = [s for s in result.transcript if s.kind == "redirect" and s.attrs.get("source") == "rest"]
    assert rest_steps and rest_steps[0].t == pytest.approx(JOINED + 20, abs=0.5)  # at once, mid hold clip
    assert result.dial_results[-1].targets == (ANA,) and result.dial_results[-1].status == "completed"
    drain()
    connected = [e for e in queue_events(session_factory, result.call_sid) if e.kind == "connected"]
    assert len(connected) == 1 and connected[0].wait_seconds >= 15


def test_given_the_rest_redirect_fails_then_the_wait_loop_connects_on_its_next_turn(nia_busy, 
        qsim, set_status, standin, services, people, clock):
    standin.fail_next("calls.update", 500)
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                       at={JOINED + 20: lambda run: set_status("ana")}, dial={ANA: Callee(press="1")})
    assert len(standin.requests_for("calls.update")) == 1  # tried once, failed
    assert not [s for s in result.transcript if s.attrs.get("source") == "rest"]
    dial_doc = next(d for d in result.documents if "<Dial" in d.text)
    assert "/voice/queue/wait" in dial_doc.url  # the hold loop's own turn dialled the agent
    dial_step = next(s for s in result.transcript if s.kind == "dial")
    assert dial_step.t - (JOINED + 20) <= CLIP_SECONDS + 2  # within one hold turn of the match
    assert result.dial_results[-1].status == "completed"


# --- order -------------------------------------------------------------------------------------------------

def test_given_earlier_callers_holding_when_an_urgent_caller_joins_then_it_is_connected_first(nia_busy, 
        qsim, set_status, services, people, clock, drain, session_factory):
    urgent = {}

    def urgent_caller_arrives(run):
        # A second caller, urgent (menu 4), arrives while the first holds; then Ana becomes available.
        urgent["result"] = qsim.call(to=NORTHSIDE, from_=OTHER_CALLER, caller=Caller().press("4", after=1),
                                     at={15.0: lambda inner: set_status("ana")},
                                     dial={ANA: Callee(press="1", talk_seconds=30)})

    first = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").hang_up(at=120),
                      at={JOINED + 10: urgent_caller_arrives}, dial={ANA: Callee(press="1")})
    second = urgent["result"]
    assert second.dial_results[0].targets == (ANA,) and second.dial_results[0].status == "completed"
    assert "Urgent." in second.dial_results[0].whisper_heard
    drain()
    first_events, second_events = (queue_events(session_factory, r.call_sid) for r in (first, second))
    entered = {r: next(e for e in events if e.kind == "entered")
               for r, events in (("first", first_events), ("second", second_events))}
    assert entered["first"].at < entered["second"].at and entered["second"].urgent is True
    offers = sorted((e.at, name) for name, events in (("first", first_events), ("second", second_events))
                    for e in events if e.kind == "offered")
    assert offers[0][1] == "second"  # the urgent caller, who came later, had the first agent free
    assert all(at >= offers[0][0] for at, _ in offers)  # the earlier caller got Ana only after that call


def test_given_a_spanish_caller_then_an_agent_speaking_spanish_is_preferred_over_a_longer_idle_one(
        qsim, set_status, clock):
    set_status("ben")  # English only, idle longest
    clock.now = clock.now.replace(second=5)
    set_status("ana")  # English and Spanish
    result = qsim.call(to=LAKESIDE, from_=CALLER, dial={LAKESIDE_FRONT_DESK: "busy", ANA: Callee(press="1")},
                       caller=Caller(press="21"))
    assert result.dial_results[-1].targets == (ANA,) and result.dial_results[-1].status == "completed"
    assert "The caller speaks español." in result.dial_results[-1].whisper_heard


def test_given_no_agent_speaks_the_callers_language_then_any_agent_after_the_announce_interval(
        qsim, set_status, drain, session_factory):
    set_status("ben")  # English only
    result = qsim.call(to=LAKESIDE, from_=CALLER, dial={LAKESIDE_FRONT_DESK: "busy", BEN: Callee(press="1")},
                       caller=Caller(press="21"))
    assert result.dial_results[-1].targets == (BEN,) and result.dial_results[-1].status == "completed"
    drain()
    connected = next(e for e in queue_events(session_factory, result.call_sid) if e.kind == "connected")
    assert connected.wait_seconds >= 30  # Lakeside's announce interval: the grace for a Spanish agent
    assert "Usted es la siguiente persona en la fila." in heard(result)  # held, hearing Spanish


# --- holding and leaving -------------------------------------------------------------------------------------

def test_given_caller_holding_then_position_and_expected_wait_from_recent_handle_times_are_announced(nia_busy, 
        qsim, services, people, clock):
    pid = practice_id(services, NORTHSIDE)
    for _ in range(3):
        services.waits.record_handle_time(pid, talk_seconds=590, wrap_up_seconds=10)  # 10 minutes each
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").hang_up(at=75))
    text = result.heard
    assert text.count("You are next in line.") >= 2  # on joining, and again 30 s later
    assert "Your expected wait is about 5 minutes." in text  # (1 - 0.5) x 600 s with one agent on duty
    announcements = [s.t for s in result.transcript if s.text == "You are next in line."]
    # Due at the first hold turn 30 s after the last one; the first came after the hold greeting (~6 s).
    assert 30 - 7 <= announcements[1] - announcements[0] <= 30 + CLIP_SECONDS + 2
    assert "To have us call you back without losing your place in line, press 2." in " ".join(text)


def test_given_caller_holding_when_pressing_1_then_a_message_is_taken(nia_busy, 
        qsim, services, people, clock, drain, session_factory):
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").press("1", after=3).speak(8, then="#"))
    assert "Thank you, your message has been saved." in heard(result)
    assert services.queue.position(result.call_sid) is None
    drain()
    events = queue_events(session_factory, result.call_sid)
    assert [(e.kind, e.reason) for e in events] == [("entered", None), ("left-by-key", "message")]
    assert call_row(session_factory, result.call_sid).outcome == "message"
    with session_factory() as session:
        assert session.scalars(select(Message)).one().call_sid == result.call_sid


def test_given_caller_holding_when_pressing_2_then_a_callback_task_keeps_its_priority_and_arrival(nia_busy, 
        qsim, services, people, clock, drain, session_factory):
    start = clock.now
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="4").press("2", after=20))
    assert "We will call you back at the number you are calling from, in the order you called." in heard(result)
    assert result.ended_by == "app-hangup"
    drain()
    entered = queue_events(session_factory, result.call_sid)[0]
    with session_factory() as session:
        task = session.scalars(select(CallbackTask)).one()
        link = session.scalars(select(CallbackTaskCall)).one()
    assert task.urgent is True and link.reason == "callback"
    assert task.opened_at == entered.at and (entered.at - start).total_seconds() < JOINED + 3  # its place
    assert call_row(session_factory, result.call_sid).outcome == "callback"


def test_given_the_maximum_wait_when_reached_then_caller_is_offered_a_message_or_callback(nia_busy, 
        qsim, services, people, clock, drain, session_factory):
    # No key at any hold turn nor at the offer; at the <Record> the caller talks 10 s and hangs up.
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"))
    text = heard(result)
    assert "We are sorry, everyone on our team is still helping other patients." in text
    assert "To leave a message, press 1. To have us call you back, press 2." in text
    assert any(step.kind == "record" for step in result.transcript)  # no key: the message path
    drain()
    with session_factory() as session:
        assert session.scalars(select(Message)).one().call_sid == result.call_sid
    max_wait = next(e for e in queue_events(session_factory, result.call_sid) if e.kind == "max-wait")
    assert 90 <= max_wait.wait_seconds <= 90 + CLIP_SECONDS + 2


def test_given_caller_holding_when_the_last_agent_goes_off_duty_then_offered_a_message_or_callback_within_a_turn(
        nia_busy, qsim, set_status, services, people, drain, session_factory):
    """README: offered 1 a message or 2 a callback at the maximum wait, "the same when the last agent goes off
    duty"; Careline finds out on the caller's next hold turn, so within one hold clip (12 s)."""
    off_duty_at = JOINED + 20
    # No key at the hold turns nor at the offer; at the <Record> the caller talks 10 s and hangs up.
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                       at={off_duty_at: lambda run: set_status("nia", "offline")})
    said = {}  # each sentence the caller heard, at the first time it was said
    for step in result.transcript:
        if step.kind == "say":
            said.setdefault(step.text, step.t)
    told = said.get("No one on our team is available to take your call right now.")
    offered = said.get("To leave a message, press 1. To have us call you back, press 2.")
    assert told is not None and offered is not None, list(said)
    assert off_duty_at <= told <= off_duty_at + 12 + 2  # one hold clip, and the hold turn's Redirect
    assert told <= offered
    assert any(step.kind == "record" for step in result.transcript)  # no key: the message
    assert services.queue.position(result.call_sid) is None
    drain()
    assert [e.kind for e in queue_events(session_factory, result.call_sid)] == ["entered", "no-agents"]
    assert call_row(session_factory, result.call_sid).outcome == "message"
    with session_factory() as session:
        assert session.scalars(select(Message)).one().call_sid == result.call_sid


def test_given_caller_hangs_up_while_holding_then_out_of_queue_at_once_abandoned_and_a_callback_task(nia_busy, 
        qsim, services, people, clock, drain, session_factory):
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").hang_up(at=JOINED + 30))
    assert services.queue.position(result.call_sid) is None  # the status callback took it out
    drain()
    abandoned = [e for e in queue_events(session_factory, result.call_sid) if e.kind == "abandoned"]
    assert len(abandoned) == 1 and 25 <= abandoned[0].wait_seconds <= 31
    assert call_row(session_factory, result.call_sid).outcome == "hung-up"
    with session_factory() as session:
        assert session.scalars(select(CallbackTaskCall)).one().call_sid == result.call_sid


def test_given_status_callback_lost_then_the_sweep_removes_the_caller_after_120_s_unseen_and_logs_the_abandon(
        nia_busy, qsim, services, people, clock, drain, session_factory):
    """README: the sweep "removes any caller not seen for 120 s": kept at 119 s, gone at 121 s."""
    qsim.status_url = None  # Twilio's final status callback never arrives
    requests_at = []  # the app's clock at each of the call's requests: the last is when Careline last saw it
    qsim.on_time = lambda now: (setattr(clock, "now", now), requests_at.append(now))
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").hang_up(at=JOINED + 45))
    assert any("/voice/queue/wait" in d.url for d in result.documents)  # seen last by a hold turn
    last_seen = requests_at[-1]
    assert services.queue.position(result.call_sid) is not None  # nobody told Careline

    clock.now = last_seen + timedelta(seconds=119)
    assert sweep_queues(services) == 0
    assert services.queue.position(result.call_sid) is not None
    clock.now = last_seen + timedelta(seconds=121)
    assert sweep_queues(services) == 1
    assert services.queue.position(result.call_sid) is None
    drain()
    (abandoned,) = [e for e in queue_events(session_factory, result.call_sid) if e.kind == "abandoned"]
    assert abandoned.reason == "stale"


def test_given_nobody_on_duty_when_caller_asks_for_someone_then_callback_at_once(qsim, drain, session_factory):
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="12"))
    assert "No one on our team is available to take your call right now." in heard(result)
    assert "We will call you back at the number you are calling from" in heard(result)
    drain()
    assert [e.kind for e in queue_events(session_factory, result.call_sid)] == ["no-agents"]
    assert call_row(session_factory, result.call_sid).outcome == "callback"


def test_given_a_withheld_number_then_no_callback_is_offered(nia_busy, qsim, services, people, clock):
    result = qsim.call(to=NORTHSIDE, from_="anonymous", caller=Caller(press="1").hang_up(at=JOINED + 20))
    assert "To leave a message instead, press 1." in result.heard
    assert "press 2" not in heard(result).split("Please stay on the line.")[-1]


def test_given_redis_down_when_caller_asks_for_someone_then_a_message_is_taken(qsim, services, caplog, monkeypatch):
    monkeypatch.setattr(services.queue, "redis", redis.Redis.from_url(REDIS_NOWHERE, decode_responses=True))
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").speak(6, then="#"))
    assert "Our team cannot take your call live right now, so I will take a message" in heard(result)
    assert "Thank you, your message has been saved." in heard(result)
    assert "the queue is unreachable" in caplog.text


# --- wrap-up -------------------------------------------------------------------------------------------------

def test_given_an_agent_in_wrap_up_then_the_next_caller_waits_for_its_end_and_the_end_is_scheduled(
        qsim, set_status, services, people, clock, redis_client):
    load_practices(services, QUEUE_TOML.replace("wrap_up_seconds = 10", "wrap_up_seconds = 30"))
    set_status("nia")
    first = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"), dial={NIA: Callee(press="1", talk_seconds=30)})
    assert first.dial_results[-1].status == "completed"
    nia = services.queue.agent(people["nia"], clock.now)
    assert nia.status == AgentStatus.WRAP_UP
    scheduled = ScheduledJobRegistry("careline", connection=services.jobs.connection)
    jobs = [services.jobs.fetch_job(job_id) for job_id in scheduled.get_job_ids()]
    wrap_up_ends = [job for job in jobs if job.func_name == "jobs.queue.dispatch_for_agent"]
    assert [job.args for job in wrap_up_ends] == [(people["nia"],)]  # the dispatch at the wrap-up's end
    assert wrap_up_ends[0].retries_left == 3  # a worker dying mid-job: RQ runs it again
    second_start = clock.now.timestamp()
    second = qsim.call(to=NORTHSIDE, from_=OTHER_CALLER, caller=Caller().press("1", after=1),
                       dial={NIA: Callee(press="1")})
    assert "Please stay on the line." in " ".join(second.heard)  # held first
    dial_step = next(s for s in second.transcript if s.kind == "dial")
    assert second_start + dial_step.t >= nia.wrap_up_until  # not offered during the wrap-up
    assert second.dial_results[-1].status == "completed"


def test_given_a_wrap_up_ending_within_a_second_then_its_dispatch_is_due_at_the_next_whole_second(
        services, people, clock, standin, nia_busy, redis_client):
    """RQ scores a scheduled job in whole seconds, rounded down, and releases it from that second on: a wrap-up
    ending at 10.6 s scored 10 s would dispatch 0.6 s early, find the agent still wrapping up and offer nobody."""
    pid = practice_id(services, NORTHSIDE)
    queue = services.queue
    clock.now = clock.now.replace(microsecond=600_000)
    assert queue.call_ended(nia_busy, people["nia"], clock.now, 10)  # 10 s of wrap-up
    waiting = "CA" + "7" * 32
    queue.enqueue(pid, waiting, urgent=False, language=None, now=clock.now)
    ends = clock.now + timedelta(seconds=10)
    services.scheduler.wrap_up_end(people["nia"], ends)
    scheduled = ScheduledJobRegistry("careline", connection=services.jobs.connection)
    ((job_id, score),) = redis_client.zrange(scheduled.key, 0, -1, withscores=True)
    assert score == int(ends.timestamp()) + 1 > ends.timestamp()
    # Released at that second (as RQ's scheduler would), the job finds the agent free and offers the caller.
    assert run_jobs(services, clock, until=datetime.fromtimestamp(score, timezone.utc)) == 1
    assert queue.position(waiting).state == CallerState.OFFERED


def test_given_the_wrap_up_job_runs_then_the_agent_takes_the_waiting_caller(
        services, people, clock, standin, nia_busy):
    pid = practice_id(services, NORTHSIDE)
    queue = services.queue
    sid = nia_busy
    assert queue.call_ended(sid, people["nia"], clock.now, 10)
    waiting = "CA" + "7" * 32
    queue.enqueue(pid, waiting, urgent=False, language=None, now=clock.now)
    clock.now += timedelta(seconds=11)
    assert dispatch_for_agent(services, people["nia"]) == 1
    assert queue.position(waiting).state == CallerState.OFFERED
    (update,) = standin.requests_for("calls.update")
    assert waiting in update.path


def test_given_the_wrap_up_job_fails_when_redis_is_down_then_rq_runs_it_again_and_the_agent_takes_the_caller(
        services, people, clock, standin, nia_busy, caplog):
    pid = practice_id(services, NORTHSIDE)
    queue = services.queue
    assert queue.call_ended(nia_busy, people["nia"], clock.now, 10)
    waiting = "CA" + "7" * 32
    queue.enqueue(pid, waiting, urgent=False, language=None, now=clock.now)
    wrap_up_ends = clock.now + timedelta(seconds=10)
    services.scheduler.wrap_up_end(people["nia"], wrap_up_ends)
    # The worker's first try finds Redis down: the job raises, and RQ schedules it again 1 s later
    # (jobs.queue.RETRY) on Careline's clock.
    dispatcher, services.dispatcher = services.dispatcher, Dispatcher(
        CallQueue(redis.Redis.from_url(REDIS_NOWHERE, decode_responses=True)), lambda: services.twilio,
        services.directory, services.calllog.append, services.links)
    assert run_jobs(services, clock, until=wrap_up_ends) == 1
    assert queue.position(waiting).state == CallerState.WAITING
    (retry,) = services.jobs.scheduled_job_registry.get_job_ids()
    assert services.jobs.scheduled_job_registry.get_scheduled_time(retry) == wrap_up_ends + timedelta(seconds=1)
    services.dispatcher = dispatcher  # Redis is back
    assert run_jobs(services, clock, until=wrap_up_ends + timedelta(seconds=1)) == 1
    assert queue.position(waiting).state == CallerState.OFFERED
    (update,) = standin.requests_for("calls.update")
    assert waiting in update.path


# --- voicemails and hang-ups during the agent's Dial -----------------------------------------------------------

def dial_result_request(result):
    """The queue Dial's action request and Careline's answer to it (the call has one agent Dial)."""
    (request,) = [ex for ex in result.requests if "/voice/queue/dial-result" in ex.url]
    (answer,) = [d for d in result.documents if "/voice/queue/dial-result" in d.url]
    return request.params, answer.text


def test_given_an_agents_voicemail_answers_and_presses_nothing_then_not_bridged_and_the_next_agent_is_offered(
        qsim, set_status, services, people, clock, drain, session_factory):
    """Twilio bridges a whisper that ends without <Hangup>: only the whisper's hang-up keeps a voicemail out."""
    set_status("nia")  # idle longest: rung first
    clock.now = clock.now.replace(second=5)
    set_status("ana")
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                       dial={NIA: Callee(press=""), ANA: Callee(press="1", talk_seconds=20)})
    assert [(d.targets, d.status, d.answered_by) for d in result.dial_results] == [
        ((NIA,), "no-answer", None), ((ANA,), "completed", ANA)]
    nia_whisper = next(d for d in result.documents if d.leg == NIA)
    assert "Press 1 to accept." in nia_whisper.text  # the voicemail was asked, and pressed nothing
    nia = services.queue.agent(people["nia"])
    assert (nia.status, nia.reason) == (AgentStatus.PAUSED, "missed")
    drain()
    kinds = [(e.kind, e.agent_id) for e in queue_events(session_factory, result.call_sid)]
    assert kinds == [("entered", None), ("offered", people["nia"]), ("no-answer", people["nia"]),
                     ("offered", people["ana"]), ("connected", people["ana"]), ("talk-ended", people["ana"])]


def test_given_a_caller_talking_to_an_agent_when_the_caller_hangs_up_then_the_talk_is_timed_and_the_agent_wraps_up(
        qsim, set_status, services, people, clock, drain, session_factory):
    set_status("nia")
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").hang_up(at=40),
                       dial={NIA: Callee(press="1", talk_seconds=100)})  # bridged at 30 s
    assert result.dial_results[0].status == "completed" and result.ended_by == "caller-hangup"
    params, answer = dial_result_request(result)
    assert (params["CallStatus"], params["DialCallStatus"], params["DialCallDuration"]) == ("completed", "completed",
                                                                                          "10")
    assert "<Say" not in answer and "<Record" not in answer  # nothing of it would run: the caller is gone
    assert services.queue.agent(people["nia"]).status == AgentStatus.WRAP_UP
    assert services.waits.average_handle_seconds(practice_id(services, NORTHSIDE)) == 10 + 10  # talk + wrap-up
    drain()
    events = queue_events(session_factory, result.call_sid)
    assert [e.kind for e in events] == ["entered", "offered", "connected", "talk-ended"]
    assert (events[-1].agent_id, events[-1].talk_seconds) == (people["nia"], 10)
    call = call_row(session_factory, result.call_sid)
    assert (call.answered_by, call.outcome) == ("agent", "answered")
    with session_factory() as session:
        assert session.scalars(select(Message)).all() == [] and session.scalars(select(CallbackTask)).all() == []


def test_given_the_final_status_arrives_before_the_dial_action_when_the_caller_hangs_up_then_one_talk_end(
        qsim, set_status, services, people, clock, drain, session_factory):
    """Twilio sends the status callback and the Dial action apart, in no set order: the talk ends once."""
    set_status("nia")

    def status_first(run):
        qsim.post_status(run.call_sid, "completed", from_=CALLER, to=NORTHSIDE, duration=40, timestamp=run.now)

    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").hang_up(at=40),
                       dial={NIA: Callee(press="1", talk_seconds=100)}, at={40: status_first})
    assert dial_result_request(result)[0]["DialCallStatus"] == "completed"
    assert services.queue.agent(people["nia"]).status == AgentStatus.WRAP_UP
    drain()
    ended = [e for e in queue_events(session_factory, result.call_sid) if e.kind == "talk-ended"]
    assert len(ended) == 1 and ended[0].agent_id == people["nia"]


def test_given_an_agents_phone_ringing_when_the_caller_hangs_up_then_the_agent_is_freed_and_one_callback_task(
        qsim, set_status, services, people, clock, drain, session_factory):
    set_status("nia")
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").hang_up(at=JOINED + 4),
                       dial={NIA: "no-answer"})  # Nia's phone rings from about 23 s
    assert result.dial_results[0].status == "canceled"
    params, answer = dial_result_request(result)
    assert (params["CallStatus"], params["DialCallStatus"]) == ("completed", "canceled")
    assert "<Record" not in answer and "<Say" not in answer  # no message prompt for a caller who is gone
    nia = services.queue.agent(people["nia"])
    assert (nia.status, nia.reason) == (AgentStatus.AVAILABLE, None)  # free again, not paused as "missed"
    assert services.queue.position(result.call_sid) is None
    drain()
    assert [(e.kind, e.agent_id) for e in queue_events(session_factory, result.call_sid)] == [
        ("entered", None), ("offered", people["nia"]), ("abandoned", people["nia"])]
    assert call_row(session_factory, result.call_sid).outcome == "hung-up"
    with session_factory() as session:
        assert session.scalars(select(Message)).all() == []
        (task,) = session.scalars(select(CallbackTask)).all()
        (link,) = session.scalars(select(CallbackTaskCall)).all()
        assert link.call_sid == result.call_sid and link.task_id == task.id

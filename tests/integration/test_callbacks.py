"""Callback tasks worked to completion: due times, the list, claims, calls from Careline, attempts.

Tasks are opened as in production: a call's events go through the call-log writer (or a whole call through
the simulator); agents then work them through the JSON API, and Twilio is the REST stand-in.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree

import pytest
from sqlalchemy import func, select

from callsim import Callee, Caller, new_sid
from calllog.events import Event
from core.db import session_scope
from models import Call, CallbackTask, CallbackTaskAction, CallbackTaskCall, Message
from practices import schedule
from callbacks.tasks import CallbackTaskService
from tests.integration.conftest import (PHONE_AGENTS_TOML, ACCOUNT_SID, CALLER, CLOSED_TIME, EMAILS, LAKESIDE,
                                        NORTHSIDE, OPEN_TIME, PRACTICES_TOML, PUBLIC_BASE_URL, bearer, issue,
                                        load_practices, post_at_once, simulator, with_rest_standin)

UTC = timezone.utc
ANA, BEN, NIA = "+13125550133", "+13125550134", "+16175550135"
OTHER_CALLER = "+13125550177"
THIRD_CALLER = "+16175550188"
AGENT_RING_SECONDS = 15  # the queue default: the agent's phone rings this long for a callback
CLAIM_HOLD = timedelta(minutes=5)  # README: a claim "holds the task for 5 minutes; claiming again renews it"
CALLBACK_TOML = PRACTICES_TOML + """
""" + PHONE_AGENTS_TOML + """
[[agents]]
email = "mo@lakeside.example"
name = "Mo Chen"
practices = ["lakeside"]
role = "manager"

[[agents]]
email = "lee@lakeside.example"
name = "Lee Park"
client = "lee.park"
practices = ["lakeside"]
role = "manager"

[[agents]]
email = "root@answering.example"
name = "Root Admin"
role = "admin"
"""


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@pytest.fixture
def people(services) -> dict[str, int]:
    load_practices(services, CALLBACK_TOML)
    from models import Agent
    with services.session_factory() as session:
        ids = dict(session.execute(select(Agent.email, Agent.id)).all())
    return {name: ids[email] for name, email in EMAILS.items()}


@pytest.fixture
def api(client, tokens, people):
    """`api(name, method, path, json=...)`: a request with the agent `name`'s token."""
    cache = {}

    def request(name: str, method: str, path: str, **kwargs):
        token = cache.setdefault(name, issue(tokens, name))
        return client.open(path, method=method, headers=bearer(token), **kwargs)

    return request


@pytest.fixture
def qsim(client, clock, standin, people):
    sim = simulator(client, clock)
    sim.rest = standin
    sim.on_time = lambda now: setattr(clock, "now", now)
    return sim


def left_call(services, at: datetime, number: str = CALLER, to: str = LAKESIDE, urgent: bool = False,
              message: bool = False, call_sid: str | None = None) -> str:
    """A call that reached nobody (hung up in the IVR, or left a message), written as the webhooks would."""
    sid = call_sid or new_sid("CA")
    practice = services.directory.find_by_number(to)
    events = [Event(sid, "incoming", "incoming:0", at, {"from": number, "to": to, "practice_id": practice.id,
                                                        "after_hours": not schedule.is_open(practice, at),
                                                        "language": "en"}),
              Event(sid, "ivr-answer", "ivr-answer:0", at, {})]
    if urgent:
        events.append(Event(sid, "menu", "menu:1", at + timedelta(seconds=5), {"choice": "urgent"}))
    if message:
        events.append(Event(sid, "message", "message:2", at + timedelta(seconds=30), {
            "kept": True, "duration": 12, "recording_sid": new_sid("RE"),
            "recording_url": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/x",
            "urgent": urgent}))
    events.append(Event(sid, "status", "status:0", at + timedelta(seconds=40), {
        "call_status": "completed", "sequence": 0, "call_duration": "40", "from": number, "to": to}))
    services.calllog_writer.persist(events)
    return sid


def task_of(session_factory, call_sid: str) -> CallbackTask:
    with session_factory() as session:
        link = session.get(CallbackTaskCall, call_sid)
        return session.get(CallbackTask, link.task_id)


def task_row(session_factory, task_id: int) -> CallbackTask:
    with session_factory() as session:
        return session.get(CallbackTask, task_id)


def actions_of(session_factory, task_id: int) -> list[CallbackTaskAction]:
    with session_factory() as session:
        return session.scalars(select(CallbackTaskAction).where(CallbackTaskAction.task_id == task_id)
                               .order_by(CallbackTaskAction.at, CallbackTaskAction.id)).all()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def ids(answer) -> list[int]:
    assert answer.status_code == 200, answer.get_json()
    return [task["id"] for task in answer.get_json()["callbacks"]]


# --- due times ----------------------------------------------------------------------------------------------

def test_given_a_message_after_hours_through_the_ivr_then_due_at_10_the_next_open_day_in_the_practice_zone(
        sim, clock, drain, session_factory, people):
    clock.now = CLOSED_TIME  # Tuesday 21:00 in New York
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(9, then="#").hang_up())
    drain()
    task = task_of(session_factory, result.call_sid)
    expected = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # Wednesday 10:00 EST (it opens at 9:00)
    assert (task.due_at, task.target_at) == (expected, expected)
    (opened,) = actions_of(session_factory, task.id)
    assert (opened.action, opened.agent_id, opened.call_sid) == ("opened", None, result.call_sid)


@pytest.mark.parametrize("left_at, urgent, due", [
    pytest.param(OPEN_TIME, True, OPEN_TIME + timedelta(minutes=15), id="urgent-in-office-hours"),
    pytest.param(CLOSED_TIME, True, CLOSED_TIME + timedelta(minutes=15), id="urgent-at-night"),
    pytest.param(OPEN_TIME, False, OPEN_TIME + timedelta(hours=2), id="routine-in-office-hours"),
    # Tuesday 20:00 Chicago: Wednesday 10:00 CST.
    pytest.param(CLOSED_TIME, False, datetime(2026, 11, 25, 16, 0, tzinfo=UTC), id="routine-after-hours"),
    # Friday 13:00 Chicago (Lakeside closes at noon on Fridays): Monday 10:00 CST.
    pytest.param(datetime(2026, 11, 27, 19, 0, tzinfo=UTC), False, datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
                 id="routine-over-a-weekend"),
    # Thursday 24 Dec 16:00 Chicago, +2 h is after closing; Friday 25 Dec is a holiday: Monday 28 Dec 10:00.
    pytest.param(datetime(2026, 12, 24, 22, 0, tzinfo=UTC), False, datetime(2026, 12, 28, 16, 0, tzinfo=UTC),
                 id="routine-over-a-holiday-and-a-weekend"),
    # Friday 30 Oct 13:00 CDT; clocks go back on Sunday: Monday 10:00 CST is 16:00 UTC (not 15:00).
    pytest.param(datetime(2026, 10, 30, 18, 0, tzinfo=UTC), False, datetime(2026, 11, 2, 16, 0, tzinfo=UTC),
                 id="routine-over-a-dst-change"),
])
def test_given_a_call_needing_a_callback_then_its_new_task_is_due_by_the_practice_target(
        services, session_factory, people, left_at, urgent, due):
    sid = left_call(services, left_at, urgent=urgent)
    task = task_of(session_factory, sid)
    assert (task.urgent, task.due_at, task.target_at) == (urgent, due, due)


def test_given_an_urgent_call_joining_a_routine_task_then_due_moves_forward_never_back_and_retries_add_nothing(
        services, session_factory, people):
    first = left_call(services, OPEN_TIME)  # routine: due 18:00 UTC
    urgent = left_call(services, OPEN_TIME + timedelta(minutes=30), urgent=True)
    later = left_call(services, OPEN_TIME + timedelta(minutes=40))  # routine again: nothing moves back
    task = task_of(session_factory, first)
    assert task_of(session_factory, urgent).id == task.id == task_of(session_factory, later).id
    due = OPEN_TIME + timedelta(minutes=45)
    assert (task.urgent, task.due_at, task.target_at, task.call_count) == (True, due, due, 3)
    actions = actions_of(session_factory, task.id)
    assert [(a.action, a.call_sid, a.agent_id) for a in actions] == [
        ("opened", first, None), ("call-added", urgent, None), ("call-added", later, None)]
    left_call(services, OPEN_TIME + timedelta(minutes=30), urgent=True, call_sid=urgent)  # Twilio retried
    with session_scope(services.session_factory) as session:  # and every record is rebuilt
        services.calllog_writer.rebuild_calls(session, {first, urgent, later})
    assert len(actions_of(session_factory, task.id)) == 3
    assert task_of(session_factory, first).call_count == 3


def test_given_a_task_call_marked_urgent_afterwards_then_the_task_becomes_due_by_the_urgent_target(
        services, session_factory, people):
    sid = left_call(services, OPEN_TIME, message=True)
    assert task_of(session_factory, sid).due_at == OPEN_TIME + timedelta(hours=2)
    # "Press 1 if urgent" after the message arrives in a later batch of events.
    services.calllog_writer.persist([Event(sid, "message-urgent", "message-urgent:3",
                                           OPEN_TIME + timedelta(seconds=45), {})])
    task = task_of(session_factory, sid)
    assert (task.urgent, task.due_at, task.target_at) == (True, OPEN_TIME + timedelta(minutes=15),
                                                          OPEN_TIME + timedelta(minutes=15))
    # An agent tries; a late callback for the call (its recording's status) then rebuilds the record.
    tasks = CallbackTaskService(services.session_factory, lambda: OPEN_TIME + timedelta(minutes=10), lambda: None,
                                services.links, services.calllog.append, services.redis, ring_overhead_seconds=5)
    tasks.record_attempt(task.id, people["ben"], "no-answer", lambda practice_id: True)
    services.calllog_writer.persist([Event(sid, "recording-status", "recording:RE1:completed",
                                           OPEN_TIME + timedelta(minutes=11),
                                           {"recording_sid": "RE1", "status": "completed", "duration": "12"})])
    assert task_of(session_factory, sid).due_at == OPEN_TIME + timedelta(minutes=25)  # the retry time stays


# --- the list ------------------------------------------------------------------------------------------------

def test_given_tasks_of_several_practices_then_the_list_is_filtered_ordered_urgent_first_and_overdue_follows_the_clock(
        api, services, clock, session_factory, people):
    routine = task_of(session_factory, left_call(services, OPEN_TIME, message=True)).id  # due 18:00
    urgent = task_of(session_factory, left_call(services, OPEN_TIME, number=OTHER_CALLER, urgent=True)).id  # 16:15
    north = task_of(session_factory, left_call(services, OPEN_TIME + timedelta(minutes=10), number=THIRD_CALLER,
                                               to=NORTHSIDE)).id  # 18:10
    assert ids(api("ana", "GET", "/api/callbacks")) == [urgent, routine, north]
    assert ids(api("root", "GET", "/api/callbacks")) == [urgent, routine, north]
    assert ids(api("ben", "GET", "/api/callbacks")) == [urgent, routine]  # lakeside only
    assert ids(api("nia", "GET", "/api/callbacks")) == [north]
    assert ids(api("ana", "GET", "/api/callbacks?practice=northside")) == [north]
    assert ids(api("ana", "GET", "/api/callbacks?urgent=true")) == [urgent]
    assert ids(api("ana", "GET", "/api/callbacks?urgent=false")) == [routine, north]
    assert ids(api("ana", "GET", "/api/callbacks?status=open&overdue=true")) == []
    assert ids(api("ana", "GET", "/api/callbacks?status=closed")) == []

    clock.now = OPEN_TIME + timedelta(minutes=20)  # past the urgent one's 15 minutes
    listed = api("ana", "GET", "/api/callbacks").get_json()["callbacks"]
    assert [task["overdue"] for task in listed] == [True, False, False]
    assert ids(api("ana", "GET", "/api/callbacks?overdue=true")) == [urgent]
    assert ids(api("ana", "GET", "/api/callbacks?overdue=false")) == [routine, north]
    clock.now = OPEN_TIME + timedelta(hours=2, minutes=5)
    assert ids(api("ben", "GET", "/api/callbacks?overdue=true")) == [urgent, routine]

    shown = next(task for task in listed if task["id"] == routine)
    with session_factory() as session:
        message = session.scalars(select(Message)).one()
    assert shown["practice"] == "lakeside" and shown["status"] == "open" and shown["urgent"] is False
    assert shown["callback_number"] == CALLER  # agents dial it
    assert (shown["opened_at"], shown["due_at"], shown["target_at"]) == (
        iso(OPEN_TIME), iso(OPEN_TIME + timedelta(hours=2)), iso(OPEN_TIME + timedelta(hours=2)))
    assert (shown["attempts"], shown["needs_manager"], shown["claimed_by"], shown["claimed_until"]) == (
        0, False, None, None)
    assert shown["calls"] == [{"call_sid": message.call_sid, "reason": "message", "added_at": iso(OPEN_TIME),
                               "closed_at": None}]
    assert shown["message_ids"] == [message.id] and shown["closed_reason"] is None


def test_given_a_user_answering_for_no_practice_then_no_task_is_listed(services, session_factory, people):
    left_call(services, OPEN_TIME)
    tasks = services.callback_tasks
    assert tasks.list(lambda practice_id: False) == []
    assert len(tasks.list(lambda practice_id: True)) == 1


# --- claims --------------------------------------------------------------------------------------------------

def test_given_two_agents_claiming_one_task_then_the_second_gets_409_and_the_first_renews(
        api, services, clock, session_factory, people):
    task_id = task_of(session_factory, left_call(services, OPEN_TIME)).id
    first = api("ana", "POST", f"/api/callbacks/{task_id}/claim")
    assert first.status_code == 200, first.get_json()
    until = OPEN_TIME + CLAIM_HOLD
    assert (first.get_json()["claimed_by"], first.get_json()["claimed_until"]) == (people["ana"], iso(until))

    clock.now = OPEN_TIME + timedelta(minutes=1)
    second = api("ben", "POST", f"/api/callbacks/{task_id}/claim")
    assert second.status_code == 409
    assert second.get_json()["error_id"] == "task-claimed"
    assert second.get_json()["details"]["until"] == iso(until)
    assert second.get_json()["details"]["claimed_by"] == people["ana"]

    renewed = api("ana", "POST", f"/api/callbacks/{task_id}/claim")
    assert renewed.status_code == 200
    assert renewed.get_json()["claimed_until"] == iso(clock.now + CLAIM_HOLD)

    clock.now += CLAIM_HOLD + timedelta(seconds=1)  # Ana's hold lapsed
    assert api("ben", "GET", f"/api/callbacks/{task_id}").get_json()["claimed_by"] is None
    taken = api("ben", "POST", f"/api/callbacks/{task_id}/claim")
    assert taken.status_code == 200 and taken.get_json()["claimed_by"] == people["ben"]

    history = api("ben", "GET", f"/api/callbacks/{task_id}").get_json()["actions"]
    assert [(a["action"], a["agent_id"], a["details"].get("renewed")) for a in history] == [
        ("opened", None, None), ("claimed", people["ana"], False), ("claimed", people["ana"], True),
        ("claimed", people["ben"], False)]
    assert [a["at"] for a in history[1:]] == [iso(OPEN_TIME), iso(OPEN_TIME + timedelta(minutes=1)),
                                              iso(clock.now)]


@pytest.mark.parametrize("renew_after", [None, timedelta(minutes=4)], ids=["claimed-once", "renewed-at-4-00"])
def test_given_a_claim_then_it_holds_for_exactly_5_minutes_from_the_last_claim(
        api, services, clock, session_factory, people, renew_after):
    """4:59 after the (last) claim another agent is still refused; from 5:00 on another agent may claim."""
    task_id = task_of(session_factory, left_call(services, OPEN_TIME)).id
    assert api("ana", "POST", f"/api/callbacks/{task_id}/claim").status_code == 200
    last_claim = OPEN_TIME
    if renew_after is not None:
        clock.now = last_claim = OPEN_TIME + renew_after
        assert api("ana", "POST", f"/api/callbacks/{task_id}/claim").status_code == 200

    clock.now = last_claim + timedelta(minutes=4, seconds=59)
    refused = api("ben", "POST", f"/api/callbacks/{task_id}/claim")
    assert refused.status_code == 409 and refused.get_json()["error_id"] == "task-claimed"
    assert refused.get_json()["details"]["until"] == iso(last_claim + timedelta(minutes=5))
    assert api("ben", "GET", f"/api/callbacks/{task_id}").get_json()["claimed_by"] == people["ana"]

    clock.now = last_claim + timedelta(minutes=5)
    assert api("ben", "GET", f"/api/callbacks/{task_id}").get_json()["claimed_by"] is None
    taken = api("ben", "POST", f"/api/callbacks/{task_id}/claim")
    assert taken.status_code == 200 and taken.get_json()["claimed_by"] == people["ben"]
    assert taken.get_json()["claimed_until"] == iso(clock.now + timedelta(minutes=5))


# --- a call from Careline ------------------------------------------------------------------------------------

def test_given_an_agent_calls_from_careline_then_twilio_rings_the_agent_who_is_connected_to_the_patient_as_the_practice(
        api, qsim, services, standin, clock, drain, session_factory, people):
    task_id = task_of(session_factory, left_call(services, OPEN_TIME, message=True)).id
    answer = api("ben", "POST", f"/api/callbacks/{task_id}/call")
    assert answer.status_code == 202, answer.get_json()
    call_sid = answer.get_json()["call_sid"]

    (create,) = standin.requests_for("calls.create")
    assert create.sid == call_sid
    assert (create.params["To"], create.params["From"]) == (BEN, LAKESIDE)
    assert create.params["Url"] == f"{PUBLIC_BASE_URL}/voice/callback/agent?task={task_id}&attempt=1"
    assert create.params["Method"] == "POST"
    assert create.params["StatusCallback"] == f"{PUBLIC_BASE_URL}/voice/status"
    assert create.params["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert create.params["Timeout"] == str(AGENT_RING_SECONDS)
    assert task_row(session_factory, task_id).claimed_by == people["ben"]  # held while it rings

    result = qsim.run_outbound(call_sid, callee=Caller(press="1"), dial={CALLER: Callee(talk_seconds=60)})
    agent_doc, accept_doc = result.documents[:2]
    assert agent_doc.url.startswith(f"{PUBLIC_BASE_URL}/voice/callback/agent?task={task_id}")
    assert "Callback for Lakeside Family Medicine. Press 1 to call the patient." in agent_doc.text
    assert "<Dial" not in agent_doc.text  # nobody is dialled before the agent presses 1
    root = ElementTree.fromstring(accept_doc.text)
    assert [el.tag for el in root] == ["Say", "Dial"]
    dial = root[1]
    assert dial.get("callerId") == LAKESIDE
    assert dial.get("action").startswith("/voice/callback/dial-result?")
    assert [(noun.tag, noun.text) for noun in dial] == [("Number", CALLER)]
    assert [(d.targets, d.status) for d in result.dial_results] == [((CALLER,), "completed")]
    assert "Please record the outcome in Careline." in " ".join(result.heard)

    drain()
    with session_factory() as session:
        call = session.get(Call, call_sid)
        assert (call.direction, call.from_number, call.to_number) == ("outbound", LAKESIDE, CALLER)
        assert (call.answered_by, call.outcome, call.status) == ("agent", "answered", "completed")
        assert session.get(CallbackTaskCall, call_sid) is None  # a callback call opens no task
        assert session.scalar(select(func.count()).select_from(CallbackTask)) == 1
    started = [a for a in actions_of(session_factory, task_id) if a.action == "call-started"]
    assert [(a.agent_id, a.call_sid, a.details["attempt"]) for a in started] == [(people["ben"], call_sid, 1)]

    closed = api("ben", "POST", f"/api/callbacks/{task_id}/attempts", json={"outcome": "reached"})
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"
    attempt = next(a for a in actions_of(session_factory, task_id) if a.action == "attempt")
    assert attempt.call_sid == call_sid  # the attempt is the call just made


def test_given_the_agents_voicemail_answers_the_callback_call_then_the_patient_is_never_dialled(
        api, qsim, services, standin, session_factory):
    task_id = task_of(session_factory, left_call(services, OPEN_TIME)).id
    call_sid = api("ben", "POST", f"/api/callbacks/{task_id}/call").get_json()["call_sid"]
    result = qsim.run_outbound(call_sid, callee=Caller())  # answers, presses nothing (a voicemail greeting)
    assert result.dial_results == []
    assert "No key was pressed. The callback was not made." in " ".join(result.heard)


def test_given_an_agent_with_a_twilio_client_identity_then_the_client_is_rung(
        api, services, standin, session_factory, people):
    task_id = task_of(session_factory, left_call(services, OPEN_TIME)).id
    assert api("lee", "POST", f"/api/callbacks/{task_id}/call").status_code == 202
    assert standin.requests_for("calls.create")[0].params["To"] == "client:lee.park"


def test_given_an_agent_without_phone_or_client_then_409_and_twilio_is_not_asked(
        api, services, standin, session_factory, people):
    task_id = task_of(session_factory, left_call(services, OPEN_TIME)).id
    answer = api("mo", "POST", f"/api/callbacks/{task_id}/call")
    assert (answer.status_code, answer.get_json()["error_id"]) == (409, "agent-unreachable")
    assert standin.requests_for("calls.create") == []
    assert task_row(session_factory, task_id).claimed_by is None


@pytest.mark.parametrize("status", [500, 400])
def test_given_twilio_failing_or_refusing_then_502_and_the_task_is_unchanged(
        api, services, standin, session_factory, people, status, caplog):
    sid = left_call(services, OPEN_TIME)
    before = task_of(session_factory, sid)
    standin.fail_next("calls.create", status)
    answer = api("ben", "POST", f"/api/callbacks/{before.id}/call")
    assert (answer.status_code, answer.get_json()["error_id"]) == (502, "twilio-unavailable")
    after = task_of(session_factory, sid)
    assert (after.claimed_by, after.claimed_until, after.attempts, after.due_at, after.status) == (
        None, None, 0, before.due_at, "open")
    actions = actions_of(session_factory, before.id)
    assert [(a.action, a.agent_id, a.call_sid) for a in actions] == [
        ("opened", None, sid), ("call-started", people["ben"], None)]
    assert actions[-1].details["failed"] == "twilio-unavailable" and actions[-1].details["twilio_status"] == status
    assert CALLER not in caplog.text and BEN not in caplog.text  # ids only
    assert api("ben", "POST", f"/api/callbacks/{before.id}/call").status_code == 202  # Twilio is back


CALL_ROUNDS = 12  # concurrent pairs of "call now" requests, each on a task of its own
RING_OVERHEAD = timedelta(seconds=5)  # README: DIAL_RING_OVERHEAD_SECONDS, default 5


def _call_at_once(app, tokens_pair, task_id: int) -> list:
    """Two "call now" requests for one task, each from its own test client, released together."""
    return post_at_once(app, f"/api/callbacks/{task_id}/call", list(tokens_pair))


def _creates_for(standin, task_id: int) -> list:
    return [r for r in standin.requests_for("calls.create") if f"task={task_id}&" in r.params.get("Url", "")]


@pytest.mark.parametrize("names, refusals", [
    (("ben", "ben"), {"call-in-progress"}),  # a double click
    # Two desks: the loser finds the winner's claim, or (after the winner's commit) the task claimed by them.
    (("ben", "ana"), {"call-in-progress", "task-claimed"}),
], ids=["double-click", "two-desks"])
def test_given_two_call_requests_at_once_for_one_task_then_one_call_is_placed_and_the_other_gets_409(
        app, tokens, services, standin, session_factory, people, names, refusals):
    pair = tuple(issue(tokens, name) for name in names)
    for round_ in range(CALL_ROUNDS):
        task_id = task_of(session_factory, left_call(services, OPEN_TIME, number=f"+1312555{2000 + round_}")).id
        answers = _call_at_once(app, pair, task_id)
        codes = sorted(answer.status_code for answer in answers)
        assert codes == [202, 409], (round_, [answer.get_json() for answer in answers])
        winner = next(answer for answer in answers if answer.status_code == 202).get_json()
        loser = next(answer for answer in answers if answer.status_code == 409).get_json()
        assert loser["error_id"] in refusals, loser
        (create,) = _creates_for(standin, task_id)
        assert create.sid == winner["call_sid"]
        started = [a for a in actions_of(session_factory, task_id) if a.action == "call-started"]
        assert [a.call_sid for a in started] == [winner["call_sid"]], round_


def test_given_a_call_just_placed_then_another_waits_until_twilio_stops_ringing_the_agent(
        api, services, standin, clock, session_factory, people):
    """The claim holds for the agent ring time plus Twilio's overhead, by Careline's clock; after that a new
    call is the agent's own choice (their phone rang out, or they are on the call)."""
    task_id = task_of(session_factory, left_call(services, OPEN_TIME)).id
    first = api("ben", "POST", f"/api/callbacks/{task_id}/call")
    assert first.status_code == 202
    ringing_until = OPEN_TIME + timedelta(seconds=AGENT_RING_SECONDS) + RING_OVERHEAD
    clock.now = ringing_until - timedelta(seconds=1)
    again = api("ben", "POST", f"/api/callbacks/{task_id}/call")
    assert (again.status_code, again.get_json()["error_id"]) == (409, "call-in-progress")
    assert (again.get_json()["details"]["agent_id"], again.get_json()["details"]["until"]) == (
        people["ben"], iso(ringing_until))
    assert len(_creates_for(standin, task_id)) == 1
    clock.now = ringing_until
    assert api("ben", "POST", f"/api/callbacks/{task_id}/call").status_code == 202
    assert len(_creates_for(standin, task_id)) == 2


def test_given_the_agent_answers_a_callback_for_a_closed_or_unknown_task_then_told_so_and_hung_up(
        api, qsim, services, session_factory, people):
    task_id = task_of(session_factory, left_call(services, OPEN_TIME)).id
    assert api("ben", "POST", f"/api/callbacks/{task_id}/attempts", json={"outcome": "wrong-number"}).status_code \
        == 200
    params = {"CallSid": new_sid("CA"), "AccountSid": ACCOUNT_SID, "From": LAKESIDE, "To": BEN,
              "CallStatus": "in-progress", "Direction": "outbound-api", "ApiVersion": "2010-04-01"}
    for query, heard in ((f"task={task_id}&attempt=1", "This callback has already been closed. Goodbye."),
                         ("task=999&attempt=1", "This callback task no longer exists. Goodbye."),
                         ("task=x", "Sorry, this callback could not be connected. Please try again from Careline.")):
        answer = qsim.post_signed(f"/voice/callback/agent?{query}", params)
        assert answer.status == 200
        root = ElementTree.fromstring(answer.text)
        assert [(el.tag, el.text) for el in root] == [("Say", heard), ("Hangup", None)]
    assert qsim.post_unsigned(f"/voice/callback/agent?task={task_id}&attempt=1", params).status == 403


# --- attempts ------------------------------------------------------------------------------------------------

def test_given_unanswered_attempts_then_the_task_is_retried_later_and_when_reached_it_closes_with_its_calls(
        api, services, clock, session_factory, people):
    first = left_call(services, OPEN_TIME)
    second = left_call(services, OPEN_TIME + timedelta(minutes=5), message=True)
    task_id = task_of(session_factory, first).id
    url = f"/api/callbacks/{task_id}/attempts"

    clock.now = OPEN_TIME + timedelta(minutes=30)
    assert api("ben", "POST", f"/api/callbacks/{task_id}/claim").status_code == 200
    retried = api("ben", "POST", url, json={"outcome": "no-answer"}).get_json()
    assert (retried["attempts"], retried["due_at"]) == (1, iso(clock.now + timedelta(minutes=15)))
    assert (retried["claimed_by"], retried["status"], retried["needs_manager"]) == (None, "open", False)
    assert retried["target_at"] == iso(OPEN_TIME + timedelta(hours=2))  # the first target stays, for metrics

    clock.now += timedelta(minutes=20)
    retried = api("ana", "POST", url, json={"outcome": "voicemail"}).get_json()
    assert (retried["attempts"], retried["due_at"]) == (2, iso(clock.now + timedelta(minutes=60)))

    clock.now += timedelta(minutes=61)
    closed = api("ben", "POST", url, json={"outcome": "reached"}).get_json()
    assert (closed["status"], closed["closed_reason"], closed["closed_by"], closed["closed_at"]) == (
        "closed", "reached", people["ben"], iso(clock.now))
    assert [call["closed_at"] for call in closed["calls"]] == [iso(clock.now), iso(clock.now)]
    assert {call["call_sid"] for call in closed["calls"]} == {first, second}
    assert closed["attempts"] == 2 and closed["claimed_by"] is None

    history = [(a["action"], a["agent_id"], a["outcome"], a["at"]) for a in closed["actions"]]
    assert history == [
        ("opened", None, None, iso(OPEN_TIME)),
        ("call-added", None, None, iso(OPEN_TIME + timedelta(minutes=5))),
        ("claimed", people["ben"], None, iso(OPEN_TIME + timedelta(minutes=30))),
        ("attempt", people["ben"], "no-answer", iso(OPEN_TIME + timedelta(minutes=30))),
        ("attempt", people["ana"], "voicemail", iso(OPEN_TIME + timedelta(minutes=50))),
        ("attempt", people["ben"], "reached", iso(clock.now)),
        ("closed", people["ben"], "reached", iso(clock.now)),
    ]
    with session_factory() as session:
        assert all(a.at is not None for a in session.scalars(select(CallbackTaskAction)))

    for path, body in (("claim", None), ("attempts", {"outcome": "no-answer"}), ("call", None)):
        answer = api("ben", "POST", f"/api/callbacks/{task_id}/{path}", json=body)
        assert (answer.status_code, answer.get_json()["error_id"]) == (409, "task-closed")
    again = left_call(services, clock.now)  # the patient calls again: a new task, the closed one stays closed
    assert task_of(session_factory, again).id != task_id


def test_given_the_maximum_attempts_then_the_task_needs_a_manager_and_a_flagged_action_is_written_once(
        api, services, clock, session_factory, people):
    task_id = task_of(session_factory, left_call(services, OPEN_TIME)).id
    url = f"/api/callbacks/{task_id}/attempts"
    for attempt in range(1, 4):
        clock.now = OPEN_TIME + timedelta(hours=attempt)
        body = api("ben", "POST", url, json={"outcome": "no-answer"}).get_json()
        assert body["attempts"] == attempt and body["needs_manager"] is (attempt == 3)
    assert body["due_at"] == iso(clock.now + timedelta(minutes=60))  # the last wait repeats
    clock.now += timedelta(hours=1)
    assert api("ben", "POST", url, json={"outcome": "voicemail"}).get_json()["attempts"] == 4
    flagged = [a for a in actions_of(session_factory, task_id) if a.action == "flagged"]
    assert [(a.agent_id, a.at, a.details["attempts"]) for a in flagged] == [
        (people["ben"], OPEN_TIME + timedelta(hours=3), 3)]
    assert ids(api("mo", "GET", "/api/callbacks?status=open")) == [task_id]
    assert api("mo", "GET", f"/api/callbacks/{task_id}").get_json()["needs_manager"] is True


def test_given_another_agent_holds_the_claim_then_its_attempt_is_refused(api, services, session_factory, people):
    task_id = task_of(session_factory, left_call(services, OPEN_TIME)).id
    assert api("ana", "POST", f"/api/callbacks/{task_id}/claim").status_code == 200
    answer = api("ben", "POST", f"/api/callbacks/{task_id}/attempts", json={"outcome": "reached"})
    assert (answer.status_code, answer.get_json()["error_id"]) == (409, "task-claimed")
    assert api("ben", "POST", f"/api/callbacks/{task_id}/call").status_code == 409
    assert api("ben", "GET", f"/api/callbacks/{task_id}").get_json()["status"] == "open"


# --- refusals ------------------------------------------------------------------------------------------------

def test_given_unknown_ids_other_practices_and_bad_input_then_404_403_and_400(
        api, client, services, session_factory, people):
    task_id = task_of(session_factory, left_call(services, OPEN_TIME)).id
    for method, path, body in (("GET", "/api/callbacks/999", None), ("POST", "/api/callbacks/999/claim", None),
                               ("POST", "/api/callbacks/999/call", None),
                               ("POST", "/api/callbacks/999/attempts", {"outcome": "reached"})):
        answer = api("ana", method, path, json=body)
        assert (answer.status_code, answer.get_json()["error_id"]) == (404, "task-not-found"), path
    for method, path, body in (("GET", f"/api/callbacks/{task_id}", None),
                               ("POST", f"/api/callbacks/{task_id}/claim", None),
                               ("POST", f"/api/callbacks/{task_id}/call", None),
                               ("POST", f"/api/callbacks/{task_id}/attempts", {"outcome": "reached"})):
        answer = api("nia", method, path, json=body)  # Nia answers for northside only
        assert (answer.status_code, answer.get_json()["error_id"]) == (403, "forbidden"), path
    assert api("nia", "GET", "/api/callbacks?practice=lakeside").status_code == 403
    assert api("ana", "GET", "/api/callbacks?practice=nowhere").get_json()["error_id"] == "practice-not-found"

    url = f"/api/callbacks/{task_id}/attempts"
    assert api("ben", "POST", url, data="reached", content_type="text/plain").get_json()["error_id"] \
        == "invalid-body"
    for body, field in (({}, "outcome"), ({"outcome": "maybe"}, "outcome"), ({"outcome": 1}, "outcome"),
                        ({"outcome": "reached", "note": "x"}, "note")):
        answer = api("ben", "POST", url, json=body)
        assert (answer.status_code, answer.get_json()["error_id"], answer.get_json()["details"]["field"]) == (
            400, "invalid-field", field), body
    for query, field in (("status=pending", "status"), ("urgent=yes", "urgent"), ("overdue=2", "overdue"),
                         ("sort=due", "sort"), ("practice=", "practice")):
        answer = api("ben", "GET", f"/api/callbacks?{query}")
        assert (answer.status_code, answer.get_json()["details"]["field"]) == (400, field), query
    assert client.get("/api/callbacks").status_code == 401
    with session_factory() as session:  # nothing was written by any refusal
        assert [a.action for a in session.scalars(select(CallbackTaskAction))] == ["opened"]

"""Agents' status through the JSON API: set one's own or an agent's, list every agent's; live in Redis, the
history in the database with the clock's time."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from agents.errors import NoSuchAgent
from agents.status import AgentStatusService
from core.db import make_engine, make_session_factory
from core.errors import DependencyDown
from models import AgentStatusChange, Call
from queueing.model import AgentStatus
from tests.integration.conftest import AGENTS_TOML, CALLER, EMAILS, LAKESIDE, OPEN_TIME, PRACTICES_TOML, bearer, \
    issue, load_practices

GRACE = 30.0  # seconds a caller who chose a language waits for an agent speaking it
CALL_SID = "CA" + "1" * 32


def history(session_factory, agent_id: int | None = None) -> list[tuple]:
    """The status changes in the database, oldest first: (agent_id, status, reason, at)."""
    with session_factory() as session:
        query = select(AgentStatusChange).order_by(AgentStatusChange.at, AgentStatusChange.id)
        if agent_id is not None:
            query = query.where(AgentStatusChange.agent_id == agent_id)
        return [(row.agent_id, row.status, row.reason, row.at) for row in session.scalars(query)]


def set_status(client, token: str, body, agent: int | str = "me"):
    return client.post(f"/api/agents/{agent}/status", json=body, headers=bearer(token))


def offline_state() -> dict:
    return {"status": "offline", "reason": None, "idle_since": None, "wrap_up_until": None, "call_sid": None}


def ring(services, practice_id: int, agent_id: int, answered: bool) -> str:
    """Queue a caller and offer it (the only caller) to `agent_id`, which must be the one available; answered:
    connect it. Returns its CallSid."""
    queue = services.queue
    queue.enqueue(practice_id, CALL_SID, urgent=False, language="en", now=services.clock())
    match = queue.match(practice_id, services.clock(), GRACE)
    assert match.agent_id == agent_id
    if answered:
        queue.offer_answered(CALL_SID, agent_id, services.clock())
    return CALL_SID


# --- POST /api/agents/me/status -----------------------------------------------------------------------------

def test_given_an_agent_when_it_sets_available_then_live_in_redis_with_its_profile_and_recorded_at_the_clock(
        client, tokens, agents, services, practice_ids, session_factory):
    response = set_status(client, issue(tokens, "ben"), {"status": "available"})

    assert response.status_code == 200
    assert response.get_json() == {"id": agents["ben"], "requested": "available", "changed": True, "state": {
        "status": "available", "reason": None, "idle_since": "2026-11-24T16:00:00+00:00", "wrap_up_until": None,
        "call_sid": None}}
    live = services.queue.agent(agents["ben"])
    assert (live.status, live.practices, live.languages, live.idle_since) == (
        AgentStatus.AVAILABLE, (practice_ids["lakeside"],), ("en",), OPEN_TIME.timestamp())
    assert history(session_factory) == [(agents["ben"], "available", None, OPEN_TIME)]


def test_given_an_agent_of_every_practice_when_set_available_then_the_queue_has_it_for_all_of_them(
        client, tokens, agents, services):
    assert set_status(client, issue(tokens, "ana"), {"status": "available"}).status_code == 200
    live = services.queue.agent(agents["ana"])
    assert (live.practices, live.languages) == ("all", ("en", "es"))


def test_given_changes_over_time_then_each_is_a_row_with_the_clocks_time_and_its_reason(
        client, tokens, agents, clock, services, session_factory):
    token = issue(tokens, "ben")
    steps = [({"status": "available"}, None), ({"status": "paused", "reason": "  lunch "}, "lunch"),
             ({"status": "paused", "reason": "training"}, "training"), ({"status": "offline"}, None)]
    for minute, (body, reason) in enumerate(steps):
        clock.now = OPEN_TIME + timedelta(minutes=minute)
        body_back = set_status(client, token, body).get_json()
        assert (body_back["state"]["status"], body_back["state"]["reason"]) == (body["status"], reason)
        assert services.queue.agent(agents["ben"]).reason == reason

    assert history(session_factory) == [
        (agents["ben"], "available", None, OPEN_TIME),
        (agents["ben"], "paused", "lunch", OPEN_TIME + timedelta(minutes=1)),
        (agents["ben"], "paused", "training", OPEN_TIME + timedelta(minutes=2)),
        (agents["ben"], "offline", None, OPEN_TIME + timedelta(minutes=3))]


@pytest.mark.parametrize("body", [{"status": "available"}, {"status": "paused", "reason": "lunch"},
                                  {"status": "offline"}])
def test_given_the_status_the_agent_has_when_set_again_then_200_unchanged_and_no_row(
        client, tokens, agents, clock, session_factory, body):
    token = issue(tokens, "ben")
    if body["status"] != "offline":  # every agent starts offline: no first request needed
        set_status(client, token, body)
    clock.now = OPEN_TIME + timedelta(minutes=5)

    response = set_status(client, token, body)

    assert response.status_code == 200
    assert response.get_json()["changed"] is False and response.get_json()["state"]["status"] == body["status"]
    expected = [] if body["status"] == "offline" else [(agents["ben"], body["status"], body.get("reason"), OPEN_TIME)]
    assert history(session_factory) == expected


@pytest.mark.parametrize("answered, live", [(False, "ringing"), (True, "busy")])
def test_given_a_ringing_or_busy_agent_when_it_asks_available_then_200_with_the_live_state_and_no_row(
        client, tokens, agents, clock, services, practice_ids, session_factory, answered, live):
    """Available never interrupts a call: the queue keeps the agent on it, and the answer says so."""
    token = issue(tokens, "ben")
    set_status(client, token, {"status": "available"})
    call_sid = ring(services, practice_ids["lakeside"], agents["ben"], answered)
    clock.now = OPEN_TIME + timedelta(seconds=30)

    response = set_status(client, token, {"status": "available"})

    assert response.status_code == 200
    assert response.get_json() == {"id": agents["ben"], "requested": "available", "changed": False, "state": {
        "status": live, "reason": None, "idle_since": None, "wrap_up_until": None, "call_sid": call_sid}}
    assert services.queue.agent(agents["ben"]).status == live
    assert history(session_factory) == [(agents["ben"], "available", None, OPEN_TIME)]


def test_given_a_ringing_agent_when_it_pauses_then_the_caller_goes_back_and_paused_is_recorded(
        client, tokens, agents, clock, services, practice_ids, session_factory):
    token = issue(tokens, "ben")
    set_status(client, token, {"status": "available"})
    call_sid = ring(services, practice_ids["lakeside"], agents["ben"], answered=False)
    clock.now = OPEN_TIME + timedelta(seconds=10)

    response = set_status(client, token, {"status": "paused", "reason": "headset"})

    assert response.get_json()["state"] == {"status": "paused", "reason": "headset", "idle_since": None,
                                            "wrap_up_until": None, "call_sid": None}
    assert services.queue.position(call_sid).state == "waiting"
    assert history(session_factory)[-1] == (agents["ben"], "paused", "headset", OPEN_TIME + timedelta(seconds=10))


def test_given_the_profile_changed_in_the_configuration_then_the_next_status_gives_the_queue_the_new_one(
        client, tokens, agents, services, practice_ids):
    token = issue(tokens, "ben")
    set_status(client, token, {"status": "available"})
    moved = AGENTS_TOML.replace('name = "Ben Adler"\npractices = ["lakeside"]',
                                'name = "Ben Adler"\nlanguages = ["es"]\npractices = ["northside"]')
    load_practices(services, PRACTICES_TOML + moved)

    set_status(client, token, {"status": "paused"})

    live = services.queue.agent(agents["ben"])
    assert (live.practices, live.languages) == ((practice_ids["northside"],), ("es",))


@pytest.mark.parametrize("send, error_id, field", [
    ({"data": "status=available"}, "invalid-body", None),  # a form, not JSON
    ({"data": "{not json", "content_type": "application/json"}, "invalid-body", None),
    ({"json": ["available"]}, "invalid-body", None),
    ({"json": "available"}, "invalid-body", None),
    ({"json": None}, "invalid-body", None),
    ({"json": {}}, "invalid-field", "status"),
    ({"json": {"status": "busy"}}, "invalid-field", "status"),  # only calls make an agent busy
    ({"json": {"status": "wrap-up"}}, "invalid-field", "status"),
    ({"json": {"status": "Available"}}, "invalid-field", "status"),
    ({"json": {"status": ["available"]}}, "invalid-field", "status"),
    ({"json": {"status": None}}, "invalid-field", "status"),
    ({"json": {"status": "paused", "reason": 5}}, "invalid-field", "reason"),
    ({"json": {"status": "paused", "reason": "x" * 201}}, "invalid-field", "reason"),
    ({"json": {"status": "available", "reason": "back"}}, "invalid-field", "reason"),
    ({"json": {"status": "paused", "until": "14:00"}}, "invalid-field", "until"),
])
def test_given_a_bad_body_then_400_naming_the_field_and_nothing_changed(
        client, tokens, agents, services, session_factory, send, error_id, field):
    response = client.post("/api/agents/me/status", headers=bearer(issue(tokens, "ben")), **send)

    assert response.status_code == 400
    body = response.get_json()
    assert body["error_id"] == error_id and body["details"]["description"]
    assert body["details"].get("field") == field
    assert services.queue.agent(agents["ben"]) is None
    assert history(session_factory) == []


def test_given_a_reason_of_200_characters_or_blank_then_accepted(client, tokens, agents, session_factory):
    token = issue(tokens, "ben")
    assert set_status(client, token, {"status": "paused", "reason": "x" * 200}).status_code == 200
    assert set_status(client, token, {"status": "offline", "reason": "   "}).get_json()["state"]["reason"] is None
    assert set_status(client, token, {"status": "available", "reason": None}).status_code == 200
    assert [reason for _, _, reason, _ in history(session_factory)] == ["x" * 200, None, None]


def test_given_an_invalid_field_then_the_error_lists_what_is_allowed(client, tokens, agents):
    response = set_status(client, issue(tokens, "ben"), {"status": "ringing"})
    assert response.get_json() == {"error_id": "invalid-field", "details": {
        "description": "status must be one of available, paused, offline", "field": "status",
        "allowed": ["available", "paused", "offline"]}}


def test_given_no_token_when_setting_a_status_then_401(client, agents, session_factory):
    assert client.post("/api/agents/me/status", json={"status": "available"}).status_code == 401
    assert client.post(f"/api/agents/{agents['ben']}/status", json={"status": "available"}).status_code == 401
    assert history(session_factory) == []


def test_given_redis_down_when_setting_a_status_then_503_and_no_row(
        redis_down_client, tokens, agents, session_factory):
    response = set_status(redis_down_client, issue(tokens, "ben"), {"status": "available"})

    assert response.status_code == 503
    assert response.get_json() == {"error_id": "service-unavailable", "details": {"dependency": "redis"}}
    assert history(session_factory) == []


def test_given_an_agent_id_that_does_not_exist_then_the_service_refuses_and_changes_nothing(
        services, agents, session_factory):
    """The API checks the agent first; the service still refuses one deleted since (no row, no live state)."""
    service = AgentStatusService(services.session_factory, services.queue, services.clock)
    unknown = max(agents.values()) + 1
    with pytest.raises(NoSuchAgent):
        service.set_status(unknown, "available")
    assert services.queue.agent(unknown) is None and history(session_factory) == []


def test_given_the_database_down_then_the_service_refuses_before_the_queue_changes(services, agents):
    """The API cannot get this far without the database (tokens live there); the service still checks it
    before it touches the queue."""
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    service = AgentStatusService(make_session_factory(engine), services.queue, services.clock)
    with pytest.raises(DependencyDown, match="database"):
        service.set_status(agents["ben"], "available")
    engine.dispose()
    assert services.queue.agent(agents["ben"]) is None


# --- POST /api/agents/<id>/status ---------------------------------------------------------------------------

@pytest.mark.parametrize("actor, target, status", [
    ("ben", "ben", 200),  # oneself, by id
    ("mo", "ben", 200),  # a manager on an agent of its practice
    ("mo", "ana", 200),  # ... and on one answering for every practice
    ("root", "nia", 200),  # an admin on anyone
    ("root", "mo", 200),
    ("ben", "nia", 403),  # an agent on another agent
    ("ana", "ben", 403),
    ("mo", "nia", 403),  # a manager on an agent of another practice
    ("mo", "lee", 403),  # ... or on another manager
])
def test_given_a_user_when_setting_an_agents_status_then_only_one_it_may_act_on(
        client, tokens, agents, services, session_factory, actor, target, status):
    response = set_status(client, issue(tokens, actor), {"status": "paused", "reason": "meeting"}, agents[target])

    assert response.status_code == status
    if status == 200:
        assert response.get_json()["id"] == agents[target]
        assert services.queue.agent(agents[target]).status == AgentStatus.PAUSED
        assert history(session_factory) == [(agents[target], "paused", "meeting", OPEN_TIME)]
    else:
        assert response.get_json()["error_id"] == "forbidden"
        assert services.queue.agent(agents[target]) is None and history(session_factory) == []


def test_given_a_forbidden_target_and_a_bad_body_then_403_before_400(client, tokens, agents):
    response = set_status(client, issue(tokens, "ben"), {"status": "nap"}, agents["nia"])
    assert response.status_code == 403


@pytest.mark.parametrize("actor, status", [("root", 404), ("mo", 403)])
def test_given_an_unknown_agent_id_when_setting_its_status_then_404_for_an_admin_403_for_others(
        client, tokens, agents, actor, status):
    response = set_status(client, issue(tokens, actor), {"status": "offline"}, max(agents.values()) + 1)
    assert response.status_code == status


# --- GET /api/agents ----------------------------------------------------------------------------------------

def test_given_an_agent_when_listing_agents_then_403(client, tokens, agents):
    response = client.get("/api/agents", headers=bearer(issue(tokens, "ben")))
    assert response.status_code == 403 and response.get_json()["error_id"] == "forbidden"


def test_given_no_token_when_listing_agents_then_401(client, agents):
    assert client.get("/api/agents").status_code == 401


@pytest.mark.parametrize("viewer, seen", [
    ("mo", ["ana", "ben", "mo"]),  # itself and the agents of its practice; not Lee (a manager), not Nia
    ("root", ["ana", "ben", "lee", "mo", "nia", "root"]),
])
def test_given_a_manager_or_an_admin_when_listing_agents_then_those_it_may_act_on(
        client, tokens, agents, viewer, seen):
    response = client.get("/api/agents", headers=bearer(issue(tokens, viewer)))

    assert response.status_code == 200
    listed = response.get_json()["agents"]
    assert [agent["email"] for agent in listed] == [EMAILS[name] for name in seen]  # by name: Ana, Ben, Lee, ...
    assert all(agent["state"] == offline_state() for agent in listed)  # where every agent starts


def test_given_agents_in_every_state_when_listed_then_each_with_its_live_state_and_no_caller_number(
        client, tokens, agents, clock, services, practice_ids, session_factory):
    lakeside = practice_ids["lakeside"]
    set_status(client, issue(tokens, "ana"), {"status": "paused", "reason": "training"})
    set_status(client, issue(tokens, "ben"), {"status": "available"})
    with session_factory.begin() as session:  # the call log knows the caller's number
        session.add(Call(call_sid=CALL_SID, practice_id=lakeside, from_number=CALLER, to_number=LAKESIDE,
                         started_at=OPEN_TIME, outcome="in-progress"))
    call_sid = ring(services, lakeside, agents["ben"], answered=True)
    clock.now = OPEN_TIME + timedelta(minutes=1)

    listed = client.get("/api/agents", headers=bearer(issue(tokens, "mo")))

    by_name = {agent["name"]: agent for agent in listed.get_json()["agents"]}
    assert by_name["Ana Lopez"] == {
        "id": agents["ana"], "email": EMAILS["ana"], "name": "Ana Lopez", "role": "agent", "practices": "*",
        "languages": ["en", "es"],
        "state": {"status": "paused", "reason": "training", "idle_since": None, "wrap_up_until": None,
                  "call_sid": None}}
    assert by_name["Ben Adler"]["practices"] == ["lakeside"] and by_name["Ben Adler"]["languages"] == ["en"]
    assert by_name["Ben Adler"]["state"] == {"status": "busy", "reason": None, "idle_since": None,
                                             "wrap_up_until": None, "call_sid": call_sid}
    assert by_name["Mo Chen"]["state"] == offline_state()
    assert CALLER not in listed.get_data(as_text=True) and CALLER[-4:] not in listed.get_data(as_text=True)

    services.queue.call_ended(call_sid, agents["ben"], clock.now, 30)
    clock.now += timedelta(seconds=10)
    ben = client.get("/api/agents", headers=bearer(issue(tokens, "mo"))).get_json()["agents"][1]
    assert ben["state"]["status"] == "wrap-up"
    assert ben["state"]["wrap_up_until"] == "2026-11-24T16:01:30+00:00"
    clock.now += timedelta(seconds=30)  # the wrap-up is over: available since its end
    ben = client.get("/api/agents", headers=bearer(issue(tokens, "mo"))).get_json()["agents"][1]
    assert (ben["state"]["status"], ben["state"]["idle_since"]) == ("available", "2026-11-24T16:01:30+00:00")


def test_given_redis_down_when_listing_agents_then_503(redis_down_client, tokens, agents):
    response = redis_down_client.get("/api/agents", headers=bearer(issue(tokens, "root")))
    assert response.status_code == 503 and response.get_json()["details"] == {"dependency": "redis"}


# --- logs ---------------------------------------------------------------------------------------------------

def test_given_status_requests_then_the_log_names_ids_only(client, tokens, agents, caplog):
    caplog.set_level(logging.DEBUG)
    ben, mo = issue(tokens, "ben"), issue(tokens, "mo")
    set_status(client, ben, {"status": "paused", "reason": "call Mrs Jones back"})
    set_status(client, mo, {"status": "offline", "reason": "left at 5"}, agents["ben"])
    set_status(client, ben, {"status": "offline"}, agents["nia"])  # 403
    client.get("/api/agents", headers=bearer(mo))

    assert f"agent {agents['ben']}: asked paused; now paused" in caplog.text
    assert f"agent {agents['mo']} (manager) set agent {agents['ben']} offline" in caplog.text
    for secret in (ben, mo, "Mrs Jones", "left at 5", "Ben Adler", "Mo Chen", *EMAILS.values()):
        assert secret not in caplog.text


def test_given_a_reason_with_available_to_the_service_then_the_row_holds_what_the_queue_keeps(
        services, agents, session_factory):
    """The history records the queue's answer, not the request: the queue keeps no reason for available."""
    service = AgentStatusService(services.session_factory, services.queue, services.clock)
    result = service.set_status(agents["ben"], "available", reason="back")
    assert (result.changed, result.live.reason) == (True, None)
    assert history(session_factory) == [(agents["ben"], "available", None, OPEN_TIME)]

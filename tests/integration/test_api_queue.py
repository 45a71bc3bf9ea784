"""The queue view through the JSON API: per practice, the callers waiting (numbers masked) and the agents by
status. Callers are queued with CallQueue directly, as the call flow will; the call log is seeded by hand."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from models import Call
from tests.integration.conftest import CALLER, LAKESIDE, NORTHSIDE, OPEN_TIME, bearer, issue

GRACE = 30.0  # seconds a caller who chose a language waits for an agent speaking it
UK_CALLER = "+442071838750"
STATUSES = ["offline", "available", "paused", "ringing", "busy", "wrap-up"]


def sid(n: int) -> str:
    return f"CA{n:032d}"


def seconds(n: float):
    return OPEN_TIME + timedelta(seconds=n)


def log_call(session_factory, call_sid: str, practice_id: int, from_number: str, to_number: str) -> None:
    """A row of the call log, as the worker's drain would have written it by now."""
    with session_factory.begin() as session:
        session.add(Call(call_sid=call_sid, practice_id=practice_id, from_number=from_number, to_number=to_number,
                         started_at=OPEN_TIME, outcome="in-progress"))


def view(client, token: str, practice: str | None = None):
    query = "" if practice is None else f"?practice={practice}"
    return client.get(f"/api/queue{query}", headers=bearer(token))


def empty_agents(**groups) -> dict:
    return {status: groups.get(status.replace("-", "_"), []) for status in STATUSES}


@pytest.fixture
def busy_morning(client, tokens, agents, clock, services, practice_ids, session_factory):
    """Ana (every practice, en + es) available, Ben paused; four Lakeside callers and one at Northside; the
    urgent Spanish caller offered to Ana. The clock is then 100 s past OPEN_TIME."""
    lakeside, northside = practice_ids["lakeside"], practice_ids["northside"]
    client.post("/api/agents/me/status", json={"status": "available"}, headers=bearer(issue(tokens, "ana")))
    client.post("/api/agents/me/status", json={"status": "paused", "reason": "lunch"},
                headers=bearer(issue(tokens, "ben")))
    queue = services.queue
    queue.enqueue(lakeside, sid(1), urgent=False, language="en", now=seconds(10))
    queue.enqueue(lakeside, sid(2), urgent=True, language="es", now=seconds(20))
    queue.enqueue(lakeside, sid(3), urgent=False, language=None, now=seconds(30))
    queue.enqueue(lakeside, sid(5), urgent=False, language="en", now=seconds(40), skill="refills")
    queue.enqueue(northside, sid(4), urgent=False, language="en", now=seconds(45))
    assert queue.match(lakeside, seconds(50), GRACE).call_sid == sid(2)  # urgent first, to Ana (Spanish)
    log_call(session_factory, sid(1), lakeside, CALLER, LAKESIDE)
    log_call(session_factory, sid(2), lakeside, UK_CALLER, LAKESIDE)
    log_call(session_factory, sid(5), lakeside, "anonymous", LAKESIDE)  # Twilio's From for a withheld number
    log_call(session_factory, sid(4), northside, "+16175550123", NORTHSIDE)
    # sid(3) is not in the call log yet: the writer drains about a second behind
    clock.now = seconds(100)


def test_given_callers_and_agents_then_callers_in_order_with_masked_numbers_and_agents_by_status(
        client, tokens, agents, busy_morning):
    response = view(client, issue(tokens, "mo"))

    assert response.status_code == 200
    (lakeside,) = response.get_json()["practices"]
    assert lakeside["practice"] == {"slug": "lakeside", "name": "Lakeside Family Medicine"}
    assert lakeside["callers"] == [
        {"call_sid": sid(2), "position": 0, "state": "offered", "wait_seconds": 80, "urgent": True,
         "language": "es", "skill": None, "number": "+4420•••8750", "agent_id": agents["ana"]},
        {"call_sid": sid(1), "position": 1, "state": "waiting", "wait_seconds": 90, "urgent": False,
         "language": "en", "skill": None, "number": "+1312•••0199", "agent_id": None},
        {"call_sid": sid(3), "position": 2, "state": "waiting", "wait_seconds": 70, "urgent": False,
         "language": None, "skill": None, "number": None, "agent_id": None},  # not in the call log yet
        {"call_sid": sid(5), "position": 3, "state": "waiting", "wait_seconds": 60, "urgent": False,
         "language": "en", "skill": "refills", "number": None, "agent_id": None}]  # no number to show
    assert lakeside["agents"] == empty_agents(
        ringing=[{"id": agents["ana"], "name": "Ana Lopez", "reason": None, "idle_since": None}],
        paused=[{"id": agents["ben"], "name": "Ben Adler", "reason": "lunch", "idle_since": None}],
        # never set a status: offline, as every agent starts
        offline=[{"id": agents[name], "name": full, "reason": None, "idle_since": None}
                 for name, full in sorted([("mo", "Mo Chen"), ("lee", "Lee Park")], key=lambda p: agents[p[0]])])
    text = response.get_data(as_text=True)
    for number in (CALLER, UK_CALLER, CALLER[2:], UK_CALLER[1:]):
        assert number not in text


def test_given_an_available_agent_then_it_shows_since_when(client, tokens, agents, clock):
    client.post("/api/agents/me/status", json={"status": "available"}, headers=bearer(issue(tokens, "nia")))
    clock.now = seconds(60)
    (northside,) = view(client, issue(tokens, "nia")).get_json()["practices"]
    assert northside["callers"] == []
    assert northside["agents"] == empty_agents(
        available=[{"id": agents["nia"], "name": "Nia Okafor", "reason": None,
                    "idle_since": "2026-11-24T16:00:00+00:00"}],
        offline=[{"id": agents["ana"], "name": "Ana Lopez", "reason": None, "idle_since": None}])


@pytest.mark.parametrize("viewer, slugs", [
    ("ben", ["lakeside"]), ("nia", ["northside"]), ("mo", ["lakeside"]),
    ("ana", ["lakeside", "northside"]),  # answers for every practice
    ("root", ["lakeside", "northside"]),  # an admin sees every practice, though it lists none
])
def test_given_a_user_then_the_queues_of_the_practices_it_answers_for(
        client, tokens, agents, busy_morning, viewer, slugs):
    practices = view(client, issue(tokens, viewer)).get_json()["practices"]
    assert [p["practice"]["slug"] for p in practices] == slugs
    if "northside" in slugs:
        northside = practices[slugs.index("northside")]
        assert [(c["call_sid"], c["number"]) for c in northside["callers"]] == [(sid(4), "+1617•••0123")]


@pytest.mark.parametrize("viewer, practice, status, error_id", [
    ("ben", "lakeside", 200, None),
    ("root", "northside", 200, None),
    ("ana", "northside", 200, None),
    ("ben", "northside", 403, "forbidden"),  # not a practice Ben answers for
    ("mo", "northside", 403, "forbidden"),
    ("ben", "nowhere", 403, "forbidden"),  # as for another practice: slugs cannot be probed
    ("root", "nowhere", 404, "practice-not-found"),
    ("root", "", 404, "practice-not-found"),
])
def test_given_a_practice_asked_for_then_only_that_one_or_403_or_404(
        client, tokens, agents, busy_morning, viewer, practice, status, error_id):
    response = view(client, issue(tokens, viewer), practice)
    assert response.status_code == status
    if status == 200:
        assert [p["practice"]["slug"] for p in response.get_json()["practices"]] == [practice]
    else:
        assert response.get_json()["error_id"] == error_id
        assert response.get_json()["details"]["practice"] == practice


def test_given_no_token_when_viewing_the_queue_then_401(client, agents):
    response = client.get("/api/queue")
    assert response.status_code == 401 and response.get_json()["error_id"] == "unauthorized"


def test_given_redis_down_when_viewing_the_queue_then_503(redis_down_client, tokens, agents):
    response = view(redis_down_client, issue(tokens, "mo"))
    assert response.status_code == 503
    assert response.get_json() == {"error_id": "service-unavailable", "details": {"dependency": "redis"}}


def test_given_queue_views_then_no_number_or_name_in_the_log(client, tokens, agents, busy_morning, caplog):
    caplog.set_level(logging.DEBUG)
    ben = issue(tokens, "ben")
    view(client, ben)
    view(client, ben, "northside")  # 403, logged
    view(client, issue(tokens, "root"))

    assert f"agent {agents['ben']} (agent) refused GET /api/queue: not their practice" in caplog.text
    for secret in (CALLER, UK_CALLER, "+16175550123", "•••", ben, "Ben Adler", "Ana Lopez"):
        assert secret not in caplog.text

"""The callbacks worklist (issue 13): the API's paging, a manager's reassign and close (and who may not), a
routine retry after hours landing at the practice's next opening, and the console page /console/callbacks.

Tasks are opened as in production (the call-log writer, from a call's events); agents and managers work them
through the JSON API or the console's forms, on Careline's clock.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from models import Agent, CallbackTask, CallbackTaskAction
from tests.integration.conftest import (EMAILS, LAKESIDE, NORTHSIDE, OPEN_TIME, PHONE_AGENTS_TOML, PRACTICES_TOML,
                                        bearer, console_password, load_practices, with_rest_standin)
from tests.integration.test_callbacks import iso, left_call, task_of
from tests.integration.test_console import read, sign_in

UTC = timezone.utc
PASSWORD = "worklist password 12"
PEOPLE = dict(EMAILS, zoe="zoe@northside.example", kim="kim@answering.example")
WORKLIST_TOML = PRACTICES_TOML + PHONE_AGENTS_TOML + """
[[agents]]
email = "kim@answering.example"
name = "Kim Ruiz"
phone = "+13125550136"
practices = ["lakeside"]

[[agents]]
email = "mo@lakeside.example"
name = "Mo Chen"
practices = ["lakeside"]
role = "manager"

[[agents]]
email = "zoe@northside.example"
name = "Zoe Grant"
practices = ["northside"]
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
    load_practices(services, WORKLIST_TOML)
    with services.session_factory() as session:
        ids = dict(session.execute(select(Agent.email, Agent.id)).all())
    console_password(services, ids, PASSWORD)
    return {name: ids[email] for name, email in PEOPLE.items() if email in ids}


@pytest.fixture
def api(client, tokens, people):
    cache = {}

    def request(name: str, method: str, path: str, **kwargs):
        token = cache.setdefault(name, tokens.issue_token(PEOPLE[name], None).token)
        return client.open(path, method=method, headers=bearer(token), **kwargs)

    return request


def open_tasks(services, count: int, start: datetime = OPEN_TIME) -> list[int]:
    """`count` routine tasks at Lakeside, one per caller, a minute apart (so due a minute apart)."""
    return [task_of(services.session_factory, left_call(services, start + timedelta(minutes=i),
                                                       number=f"+1312555{3000 + i}")).id for i in range(count)]


def actions(services, task_id: int) -> list[CallbackTaskAction]:
    with services.session_factory() as session:
        return session.scalars(select(CallbackTaskAction).where(CallbackTaskAction.task_id == task_id)
                               .order_by(CallbackTaskAction.id)).all()


# --- paging ---------------------------------------------------------------------------------------------------

def test_given_more_than_25_tasks_then_the_api_pages_them_with_the_total_and_without_limit_lists_all(
        api, services, people):
    routine = open_tasks(services, 28)
    urgent = [task_of(services.session_factory, left_call(services, OPEN_TIME + timedelta(minutes=40 + i),
                                                          number=f"+1312555{4000 + i}", urgent=True)).id
              for i in range(2)]
    expected = urgent + routine  # urgent first, then by due time
    everything = api("ana", "GET", "/api/callbacks").get_json()
    assert [t["id"] for t in everything["callbacks"]] == expected and everything["total"] == 30
    assert "limit" not in everything  # existing callers: every task, as before

    first = api("ana", "GET", "/api/callbacks?status=open&limit=25").get_json()
    assert [t["id"] for t in first["callbacks"]] == expected[:25]
    assert (first["total"], first["limit"], first["offset"], first["next_offset"]) == (30, 25, 0, 25)
    second = api("ana", "GET", "/api/callbacks?status=open&limit=25&offset=25").get_json()
    assert [t["id"] for t in second["callbacks"]] == expected[25:]
    assert (second["total"], second["next_offset"]) == (30, None)
    urgent_page = api("ana", "GET", "/api/callbacks?urgent=true&limit=1").get_json()
    assert ([t["id"] for t in urgent_page["callbacks"]], urgent_page["total"]) == ([urgent[0]], 2)
    assert api("nia", "GET", "/api/callbacks?limit=25").get_json() == {
        "callbacks": [], "total": 0, "limit": 25, "offset": 0, "next_offset": None}

    for query, field in (("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"),
                         ("limit=5&offset=-1", "offset"), ("offset=5", "offset"), ("mine=maybe", "mine")):
        answer = api("ana", "GET", f"/api/callbacks?{query}")
        assert (answer.status_code, answer.get_json()["details"]["field"]) == (400, field), query


# --- a manager's decisions ------------------------------------------------------------------------------------

def flag_task(api, clock, task_id: int, agent: str = "ben") -> dict:
    """Three unanswered attempts (the practice's maximum): the task is at its last attempt."""
    for _ in range(3):
        body = api(agent, "POST", f"/api/callbacks/{task_id}/attempts", json={"outcome": "no-answer"}).get_json()
        clock.now += timedelta(minutes=5)
    assert body["needs_manager"] is True
    return body


def test_given_a_task_at_its_last_attempt_then_only_a_manager_reassigns_it_and_the_agent_holds_it(
        api, services, clock, people):
    (task_id,) = open_tasks(services, 1)
    flag_task(api, clock, task_id)
    url = f"/api/callbacks/{task_id}/reassign"

    refused = api("ben", "POST", url, json={"agent_id": people["kim"]})  # an agent
    assert (refused.status_code, refused.get_json()["error_id"]) == (403, "forbidden")
    assert api("zoe", "POST", url, json={"agent_id": people["kim"]}).status_code == 403  # another practice's manager
    for body, field in (({}, "agent_id"), ({"agent_id": "kim"}, "agent_id"), ({"agent_id": 99999}, "agent_id"),
                        ({"agent_id": people["nia"]}, "agent_id"),  # not an agent of Lakeside
                        ({"agent_id": people["kim"], "note": "x"}, "note")):
        answer = api("mo", "POST", url, json=body)
        assert (answer.status_code, answer.get_json()["error_id"], answer.get_json()["details"]["field"]) == (
            400, "invalid-field", field), body
    assert [a.action for a in actions(services, task_id)].count("reassigned") == 0  # nothing written

    given = api("mo", "POST", url, json={"agent_id": people["kim"]})
    assert given.status_code == 200, given.get_json()
    body = given.get_json()
    assert (body["assigned_to"], body["status"], body["needs_manager"]) == (people["kim"], "open", True)
    assert body["actions"][-1]["action"] == "reassigned"
    assert (body["actions"][-1]["agent_id"], body["actions"][-1]["details"]["to"], body["actions"][-1]["at"]) == (
        people["mo"], people["kim"], iso(clock.now))

    # Held for Kim: Ben (who worked it so far) is refused; Kim claims, and sees it under "mine".
    taken = api("ben", "POST", f"/api/callbacks/{task_id}/claim")
    assert (taken.status_code, taken.get_json()["error_id"]) == (409, "task-assigned")
    assert taken.get_json()["details"]["assigned_to"] == people["kim"]
    assert api("ben", "POST", f"/api/callbacks/{task_id}/call").status_code == 409
    assert [t["id"] for t in api("kim", "GET", "/api/callbacks?mine=true").get_json()["callbacks"]] == [task_id]
    assert api("ben", "GET", "/api/callbacks?mine=true").get_json()["total"] == 0
    assert api("kim", "POST", f"/api/callbacks/{task_id}/claim").status_code == 200
    closed = api("kim", "POST", f"/api/callbacks/{task_id}/attempts", json={"outcome": "reached"}).get_json()
    assert (closed["status"], closed["closed_by"]) == ("closed", people["kim"])


def test_given_a_manager_closing_a_task_then_a_reason_is_required_agents_are_refused_and_it_is_audited(
        api, services, clock, people):
    task_id, other = open_tasks(services, 2)
    url = f"/api/callbacks/{task_id}/close"
    refused = api("ben", "POST", url, json={"reason": "Patient moved away"})
    assert (refused.status_code, refused.get_json()["error_id"]) == (403, "forbidden")
    assert api("zoe", "POST", url, json={"reason": "x"}).status_code == 403
    for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": 5}, {"reason": "x" * 501}):
        answer = api("mo", "POST", url, json=body)
        assert (answer.status_code, answer.get_json()["details"]["field"]) == (400, "reason"), body
    with services.session_factory() as session:
        assert session.get(CallbackTask, task_id).status == "open"  # nothing written

    clock.now += timedelta(minutes=3)
    closed = api("mo", "POST", url, json={"reason": "  Patient came in this morning  "})
    assert closed.status_code == 200, closed.get_json()
    body = closed.get_json()
    assert (body["status"], body["closed_reason"], body["close_note"], body["closed_by"], body["closed_at"]) == (
        "closed", "manager", "Patient came in this morning", people["mo"], iso(clock.now))
    last = body["actions"][-1]
    assert (last["action"], last["agent_id"], last["outcome"], last["details"]) == (
        "closed", people["mo"], "manager", {"reason": "Patient came in this morning"})
    assert all(call["closed_at"] == iso(clock.now) for call in body["calls"])
    again = api("mo", "POST", url, json={"reason": "twice"})
    assert (again.status_code, again.get_json()["error_id"]) == (409, "task-closed")
    # An admin closes too (every practice); the list of open tasks no longer has the closed one.
    assert api("root", "POST", f"/api/callbacks/{other}/close", json={"reason": "Duplicate"}).status_code == 200
    assert api("mo", "GET", "/api/callbacks?status=open").get_json()["total"] == 0


# --- the retry after hours ------------------------------------------------------------------------------------

@pytest.mark.parametrize("attempt_at, urgent, retry_at", [
    # Tuesday 10:00 Chicago: 15 minutes later the office is open: the retry wait as it is.
    pytest.param(OPEN_TIME, False, OPEN_TIME + timedelta(minutes=15), id="in-office-hours"),
    # Tuesday 16:50 CST, +15 min is after 17:00: Wednesday 08:00 CST (14:00 UTC), not 17:05.
    pytest.param(datetime(2026, 11, 24, 22, 50, tzinfo=UTC), False, datetime(2026, 11, 25, 14, 0, tzinfo=UTC),
                 id="after-closing"),
    # Friday 11:50 CST (Lakeside closes at noon on Fridays): Monday 08:00 CST.
    pytest.param(datetime(2026, 11, 27, 17, 50, tzinfo=UTC), False, datetime(2026, 11, 30, 14, 0, tzinfo=UTC),
                 id="over-a-weekend"),
    # Thursday 24 Dec 16:50 CST; Friday 25 Dec is a holiday, then the weekend: Monday 28 Dec 08:00 CST.
    pytest.param(datetime(2026, 12, 24, 22, 50, tzinfo=UTC), False, datetime(2026, 12, 28, 14, 0, tzinfo=UTC),
                 id="over-a-holiday-and-a-weekend"),
    # Urgent tasks keep their short retry, day or night.
    pytest.param(datetime(2026, 11, 24, 22, 50, tzinfo=UTC), True, datetime(2026, 11, 24, 23, 5, tzinfo=UTC),
                 id="urgent-keeps-its-short-retry"),
])
def test_given_an_unanswered_attempt_then_a_routine_retry_after_hours_falls_at_the_next_opening(
        api, services, clock, people, attempt_at, urgent, retry_at):
    task_id = task_of(services.session_factory, left_call(services, attempt_at - timedelta(minutes=30),
                                                          urgent=urgent)).id
    clock.now = attempt_at  # Careline's clock
    body = api("ben", "POST", f"/api/callbacks/{task_id}/attempts", json={"outcome": "no-answer"}).get_json()
    assert (body["attempts"], body["due_at"]) == (1, iso(retry_at))
    attempt = [a for a in actions(services, task_id) if a.action == "attempt"][-1]
    assert attempt.details["due_at"] == retry_at.isoformat()


# --- the console page -----------------------------------------------------------------------------------------

def signed_in(app, name: str):
    client = app.test_client()
    assert sign_in(client, PEOPLE[name], PASSWORD).status_code == 303
    return client


def cards(response) -> list[int]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return [int(n) for n in re.findall(r'data-task="(\d+)"', response.get_data(as_text=True))]


def test_given_more_than_25_open_tasks_then_the_page_shows_25_a_page_with_filters_and_another_practice_sees_none(
        app, services, clock, people):
    routine = open_tasks(services, 27)
    urgent = task_of(services.session_factory, left_call(services, OPEN_TIME + timedelta(minutes=50),
                                                         number="+13125554999", urgent=True)).id
    north = task_of(services.session_factory, left_call(services, OPEN_TIME, number="+16175554999",
                                                        to=NORTHSIDE)).id
    ana = signed_in(app, "ana")
    first = ana.get("/console/callbacks")
    # Urgent first, then by due time (Northside's is due with Lakeside's first, and was opened after it).
    expected = [urgent, routine[0], north] + routine[1:]
    assert cards(first) == expected[:25]
    assert cards(ana.get("/console/callbacks?page=2")) == expected[25:]
    text = first.get_data(as_text=True)
    assert "Tasks 1–25 of 29 open" in text and "Page 1 of 2" in text and "page=2" in text
    assert "Nov 24, 2026, 10:00 CST" in text  # opened, in Lakeside's zone, labelled
    assert cards(ana.get("/console/callbacks?practice=northside")) == [north]
    assert cards(ana.get("/console/callbacks?urgent=true")) == [urgent]
    clock.now = OPEN_TIME + timedelta(minutes=70)  # past the urgent task's 15 minutes
    ana = signed_in(app, "ana")  # and past 15 idle minutes: the old session ended (web/session_store.py)
    assert cards(ana.get("/console/callbacks?overdue=true")) == [urgent]
    assert ana.get("/console/callbacks?urgent=maybe").status_code == 400
    assert ana.get("/console/callbacks?page=0").status_code == 400

    zoe = signed_in(app, "zoe")  # Northside's manager sees nothing of Lakeside
    assert cards(zoe.get("/console/callbacks")) == [north]
    assert zoe.get("/console/callbacks?practice=lakeside").status_code == 403
    assert zoe.get(f"/console/callbacks/{urgent}").status_code == 403
    token = read(zoe.get("/console/callbacks")).hidden["csrf_token"]
    assert zoe.post(f"/console/callbacks/{urgent}/close", data={"csrf_token": token, "reason": "x"}).status_code \
        == 403
    assert app.test_client().get("/console/callbacks").status_code == 303  # to sign-in


def test_given_the_console_forms_then_an_agent_claims_and_records_and_a_manager_reassigns_and_closes(
        app, services, clock, standin, people):
    task_id, other = open_tasks(services, 2)
    ben = signed_in(app, "ben")
    page = ben.get("/console/callbacks")
    token = read(page).hidden["csrf_token"]
    html = page.get_data(as_text=True)
    assert "Reassign task" not in html and "Reason for closing" not in html  # managers' actions only

    answer = ben.post(f"/console/callbacks/{task_id}/claim", data={"csrf_token": token, "next": "/console/callbacks"})
    assert (answer.status_code, answer.headers["Location"]) == (303, "/console/callbacks")
    shown = ben.get("/console/callbacks").get_data(as_text=True)
    assert f"Task {task_id} is yours for 5 minutes." in shown
    assert "Ben Adler until Nov 24, 2026, 10:05 CST" in shown
    assert ben.post(f"/console/callbacks/{task_id}/claim", data={}).status_code == 400  # no CSRF token
    assert ben.post(f"/console/callbacks/{task_id}/call", data={"csrf_token": token}).status_code == 303
    (create,) = standin.requests_for("calls.create")
    assert (create.params["To"], create.params["From"]) == ("+13125550134", LAKESIDE)  # Ben, as the practice
    assert ben.post(f"/console/callbacks/{task_id}/attempt", data={"csrf_token": token, "outcome": "maybe"}) \
        .status_code == 400
    for _ in range(3):
        assert ben.post(f"/console/callbacks/{task_id}/attempt",
                        data={"csrf_token": token, "outcome": "voicemail"}).status_code == 303
    detail = ben.get(f"/console/callbacks/{task_id}").get_data(as_text=True)
    assert "Last attempt: needs a manager" in detail and "Flagged for a manager" in detail

    mo = signed_in(app, "mo")
    token = read(mo.get("/console/callbacks")).hidden["csrf_token"]
    assert "Reassign task" in mo.get("/console/callbacks").get_data(as_text=True)
    assert mo.post(f"/console/callbacks/{task_id}/reassign",
                   data={"csrf_token": token, "agent_id": str(people["kim"])}).status_code == 303
    with services.session_factory() as session:
        assert session.get(CallbackTask, task_id).assigned_to == people["kim"]
    assert mo.post(f"/console/callbacks/{other}/close", data={"csrf_token": token, "reason": ""}).status_code == 400
    assert mo.post(f"/console/callbacks/{other}/close",
                   data={"csrf_token": token, "reason": "Reached by the front desk"}).status_code == 303
    with services.session_factory() as session:
        closed = session.get(CallbackTask, other)
        assert (closed.status, closed.close_note, closed.closed_by) == ("closed", "Reached by the front desk",
                                                                        people["mo"])
    token = read(ben.get("/console/callbacks")).hidden["csrf_token"]
    refused = ben.post(f"/console/callbacks/{task_id}/close", data={"csrf_token": token, "reason": "x"})
    assert refused.status_code == 403
    kim = signed_in(app, "kim")
    mine = kim.get("/console/callbacks?mine=true")
    assert cards(mine) == [task_id] and "Assigned to you" in mine.get_data(as_text=True)
    history = mo.get(f"/console/callbacks/{task_id}").get_data(as_text=True)
    assert "Reassigned" in history and "to Kim Ruiz" in history and "Mo Chen" in history

"""The answering desk through Flask's test client: agents sign in to the desk, managers open the desk and the
dashboard, the desk's own API requests ride on the console's session (a change needs the page's CSRF token),
and the agent's shift figures."""
from __future__ import annotations

import re

import pytest

from callsim import Callee, Caller
from tests.integration.conftest import CALLER, EMAILS, NORTHSIDE, bearer, issue
from tests.integration.test_console import passwords, read, sign_in  # noqa: F401 - fixtures and helpers
from tests.integration.test_queue_calls import ANA, NIA, config, people, qsim, set_status  # noqa: F401

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def page_csrf(client) -> str:
    return CSRF_META.search(client.get("/console/desk").get_data(as_text=True)).group(1)


@pytest.fixture
def ana(client, passwords):  # noqa: F811 - the fixture imported above
    """The test client, signed in as Ana, an agent of every practice."""
    assert sign_in(client, EMAILS["ana"]).status_code == 303
    return client


def test_given_an_agent_when_signing_in_then_the_desk(client, passwords):  # noqa: F811
    response = sign_in(client, EMAILS["ana"])
    assert response.status_code == 303 and response.headers["Location"].endswith("/console/desk")
    page = client.get("/console/desk")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Your status" in html and "Ana" in html
    assert "Dashboard</a>" not in html  # an agent has no dashboard to go to
    for reason in ("Break", "Lunch", "Training", "Callbacks"):
        assert f'<option value="{reason}">' in html
    dashboard = client.get("/console/")
    assert dashboard.status_code == 403 and "Open your desk" in dashboard.get_data(as_text=True)


def test_given_a_manager_then_the_dashboard_first_and_the_desk_too(client, passwords):  # noqa: F811
    response = sign_in(client, EMAILS["mo"])
    assert response.headers["Location"].endswith("/console/")
    assert client.get("/console/").status_code == 200
    desk = client.get("/console/desk")
    assert desk.status_code == 200 and "Dashboard</a>" in desk.get_data(as_text=True)


def test_given_no_session_when_opening_the_desk_then_to_sign_in_and_back(client, passwords):  # noqa: F811
    response = client.get("/console/desk")
    assert response.status_code == 303 and "/console/sign-in?next=/console/desk" in response.headers["Location"]
    form = {"email": EMAILS["ben"], "password": "correct horse battery", "next": "/console/desk",
            "csrf_token": read(client.get("/console/sign-in")).hidden["csrf_token"]}
    assert client.post("/console/sign-in", data=form).headers["Location"].endswith("/console/desk")


def test_given_the_desks_session_then_the_api_answers_and_a_change_needs_the_pages_token(ana, services, agents):
    assert ana.get("/api/me").get_json()["email"] == EMAILS["ana"]
    refused = ana.post("/api/agents/me/status", json={"status": "available"})
    assert refused.status_code == 400 and refused.get_json()["error_id"] == "csrf-failed"
    assert services.queue.agent(agents["ana"]) is None  # nothing changed
    forged = ana.post("/api/agents/me/status", json={"status": "available"}, headers={"X-CSRFToken": "forged"})
    assert forged.status_code == 400
    done = ana.post("/api/agents/me/status", json={"status": "paused", "reason": "Lunch"},
                    headers={"X-CSRFToken": page_csrf(ana)})
    assert done.status_code == 200 and done.get_json()["state"]["status"] == "paused"
    now = ana.get("/api/agents/me/status").get_json()
    assert (now["id"], now["state"]["status"], now["state"]["reason"]) == (agents["ana"], "paused", "Lunch")
    assert now["at"] == services.now().isoformat()  # Careline's clock: the desk counts wrap-up down from it


def test_given_no_session_and_no_token_then_the_desks_api_is_401(client):
    assert client.get("/api/agents/me/status").status_code == 401
    assert client.get("/api/agents/me/day").status_code == 401


def test_given_calls_handled_and_an_offer_missed_then_the_shift_counts_them(
        qsim, client, set_status, services, people, tokens, clock, drain):
    """Nia is rung first and lets the offer ring out (paused, missed); Ana takes the call and talks 20 s."""
    set_status("nia")
    clock.now = clock.now.replace(second=5)
    set_status("ana")
    ana = issue(tokens, "ana")
    empty = client.get("/api/agents/me/day", headers=bearer(ana)).get_json()
    assert (empty["calls_handled"], empty["talk_mean_seconds"], empty["offers_missed"]) == (0, None, 0)
    qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
              dial={NIA: "no-answer", ANA: Callee(press="1", talk_seconds=20)})
    drain()
    day = client.get("/api/agents/me/day", headers=bearer(ana)).get_json()
    assert (day["calls_handled"], day["offers_missed"]) == (1, 0)
    assert 18 <= day["talk_mean_seconds"] <= 22
    nia = client.get("/api/agents/me/day", headers=bearer(issue(tokens, "nia"))).get_json()
    assert (nia["calls_handled"], nia["offers_missed"]) == (0, 1)
    state = client.get("/api/agents/me/status", headers=bearer(issue(tokens, "nia"))).get_json()["state"]
    assert (state["status"], state["reason"]) == ("paused", "missed")

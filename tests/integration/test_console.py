"""The managers' console through Flask's test client: sign-in with a password and CSRF-protected forms, who
may see which practice's dashboard, the live queue's JSON, and `careline user set-password`."""
from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
import redis
from click.testing import CliRunner
from sqlalchemy import select

from agents.passwords import PasswordService
from models import Agent
from queueing.model import AgentStatus
from tests.integration.conftest import (CONSOLE_CODE, EMAILS, REDIS_NOWHERE, bearer, console_password,
                                       console_sign_in, give_second_factor, issue)

PASSWORD = "correct horse battery"
SIGN_IN = "/console/sign-in"
GENERIC_REFUSAL = "That email and password do not match an account that may sign in here."


class FormReader(HTMLParser):
    """The page's forms' hidden inputs, elements with a data-metric, and the options of the practice choice."""

    def __init__(self):
        super().__init__()
        self.hidden: dict[str, str] = {}
        self.metrics: dict[str, str] = {}
        self.practice_options: list[str] = []
        self._metric: str | None = None
        self._in_practice_select = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") == "hidden":
            self.hidden[attrs["name"]] = attrs.get("value", "")
        if "data-metric" in attrs:
            self._metric = attrs["data-metric"]
            self.metrics[self._metric] = ""
        if tag == "select":
            self._in_practice_select = attrs.get("name") == "practice"
        if tag == "option" and self._in_practice_select:
            self.practice_options.append(attrs["value"])

    def handle_endtag(self, tag):
        if tag == "select":
            self._in_practice_select = False
        if tag == "dd":
            self._metric = None

    def handle_data(self, data):
        if self._metric is not None:
            self.metrics[self._metric] += data.strip()


def read(response) -> FormReader:
    reader = FormReader()
    reader.feed(response.get_data(as_text=True))
    return reader


def csrf_token(client, path: str = SIGN_IN) -> str:
    return read(client.get(path)).hidden["csrf_token"]


def sign_in(client, email: str, password: str = PASSWORD, with_token: bool = True):
    """Sign in: the password, then the code when asked (the one the person's app shows now); the last answer."""
    if with_token:
        return console_sign_in(client, email, password)
    return client.post(SIGN_IN, data={"email": email, "password": password})


@pytest.fixture
def passwords(services, agents) -> PasswordService:
    """Every test person has the console password PASSWORD; the managers and the admin a second factor too."""
    console_password(services, EMAILS.values(), PASSWORD)
    return PasswordService(services.session_factory)


@pytest.fixture
def mo(client, passwords):
    """The test client, signed in as Mo, manager of Lakeside."""
    assert sign_in(client, EMAILS["mo"]).status_code == 303
    return client


def careline(*args: str, input: str | None = None):
    from careline.cli import main

    return CliRunner().invoke(main, list(args), input=input)


# --- signing in --------------------------------------------------------------------------------------------

def test_given_the_right_password_when_signing_in_then_a_fresh_locked_down_session_and_the_dashboard(
        client, passwords):
    with client.session_transaction("/console/") as planted:
        planted["agent_id"] = 999  # a session fixed before sign-in (planted, or left by someone else)
        planted["planted"] = "yes"

    response = sign_in(client, "  MO@lakeside.example ")

    assert response.status_code == 303 and response.headers["Location"] == "/console/"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("careline_console=")
    for attribute in ("HttpOnly", "SameSite=Lax", "Path=/", "Secure"):  # PUBLIC_BASE_URL is https
        assert attribute in cookie
    with client.session_transaction("/console/") as fresh:
        assert "planted" not in fresh and fresh["agent_id"] != 999
    page = client.get("/console/")
    assert page.status_code == 200
    assert "Mo Chen" in page.get_data(as_text=True)
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy


@pytest.mark.parametrize("email, password", [("mo@lakeside.example", "wrong password here"),
                                             ("nobody@lakeside.example", PASSWORD), ("", "")],
                         ids=["bad-password", "unknown-email", "empty"])
def test_given_wrong_credentials_when_signing_in_then_one_generic_refusal_and_no_session(
        client, passwords, email, password):
    response = sign_in(client, email, password)

    assert response.status_code == 401
    body = response.get_data(as_text=True)
    assert GENERIC_REFUSAL in body
    assert client.get("/console/").status_code == 303  # still signed out
    with client.session_transaction("/console/") as session:
        assert "agent_id" not in session


def test_given_sign_ins_then_the_slow_hash_is_checked_with_no_database_connection_held(
        passwords, services, monkeypatch):
    """scrypt takes tens of milliseconds by design: a wave of sign-ins must not hold the pool's connections
    (a webhook's too) while it runs. The real check, watched: how many connections are out as it starts."""
    import agents.passwords as module

    pool = services.session_factory.kw["bind"].pool
    held, real = [], module.check_password_hash

    def watched(stored: str, password: str) -> bool:
        held.append(pool.checkedout())
        return real(stored, password)

    monkeypatch.setattr(module, "check_password_hash", watched)
    assert passwords.verify(EMAILS["mo"], PASSWORD).user.email == EMAILS["mo"]
    assert passwords.verify(EMAILS["mo"], "wrong password here") is None
    assert passwords.verify("nobody@lakeside.example", PASSWORD) is None
    assert held == [0, 0, 0]


def test_given_an_agent_without_a_password_when_signing_in_with_an_empty_one_then_refused(client, agents):
    response = sign_in(client, EMAILS["mo"], "")

    assert response.status_code == 401 and GENERIC_REFUSAL in response.get_data(as_text=True)


def test_given_too_many_failures_when_the_right_password_comes_then_refused_for_a_while(client, passwords):
    for _ in range(10):
        assert sign_in(client, EMAILS["mo"], "not the password at all").status_code == 401

    response = sign_in(client, EMAILS["mo"])

    assert response.status_code == 429 and "Too many sign-in attempts" in response.get_data(as_text=True)
    assert sign_in(client, EMAILS["lee"]).status_code == 303  # counted per email (and the address is within 30)


def test_given_10_failures_within_15_minutes_then_refused_until_15_minutes_after_the_first(client, passwords, clock):
    """README: "after 10 failures for one email in 15 minutes, sign-in for it waits out the window"."""
    first = clock.now
    for minute in range(10):  # one a minute: all ten inside the window, and each one still checked
        clock.now = first + timedelta(minutes=minute)
        assert sign_in(client, EMAILS["mo"], "not the password at all").status_code == 401

    clock.now = first + timedelta(minutes=14, seconds=59)
    assert sign_in(client, EMAILS["mo"]).status_code == 429  # the 11th try, with the right password

    clock.now = first + timedelta(minutes=15)
    assert sign_in(client, EMAILS["mo"]).status_code == 303


def test_given_9_failures_then_the_10th_try_is_still_checked(client, passwords):
    for _ in range(9):
        assert sign_in(client, EMAILS["mo"], "not the password at all").status_code == 401

    tenth = sign_in(client, EMAILS["mo"])  # the password passes; the code would be the 11th attempt

    assert tenth.status_code == 429
    assert client.get(CONSOLE_CODE).status_code == 200  # the code's form: the 10th (the password) was checked


def test_given_10_failures_spread_over_more_than_15_minutes_then_not_refused(client, passwords, clock):
    first = clock.now
    for minute in (0, 1, 2, 3, 4, 15, 16, 17, 18, 19):  # never 10 in any 15 minutes
        clock.now = first + timedelta(minutes=minute)
        assert sign_in(client, EMAILS["mo"], "not the password at all").status_code == 401

    clock.now = first + timedelta(minutes=19, seconds=30)
    assert sign_in(client, EMAILS["mo"]).status_code == 303


def test_given_no_csrf_token_when_signing_in_or_out_then_400_and_nothing_changes(client, passwords):
    refused = sign_in(client, EMAILS["mo"], with_token=False)

    assert refused.status_code == 400
    assert "This form expired or did not come from this page" in refused.get_data(as_text=True)
    assert sign_in(client, EMAILS["mo"]).status_code == 303
    assert client.post("/console/sign-out").status_code == 400
    assert client.post("/console/sign-out", data={"csrf_token": "forged"}).status_code == 400
    assert client.get("/console/").status_code == 200  # still signed in


def test_given_a_signed_in_manager_when_signing_out_then_the_session_ends(mo):
    token = read(mo.get("/console/")).hidden["csrf_token"]

    response = mo.post("/console/sign-out", data={"csrf_token": token})

    assert response.status_code == 303 and response.headers["Location"] == SIGN_IN
    assert mo.get("/console/").status_code == 303


def test_given_a_password_changed_when_an_older_session_comes_back_then_signed_out(mo, passwords):
    passwords.set_password(EMAILS["mo"], "a brand new password")

    response = mo.get("/console/")

    assert response.status_code == 303 and response.headers["Location"].startswith(SIGN_IN)


def test_given_no_session_when_opening_the_dashboard_then_to_sign_in_and_back_after(client, passwords):
    response = client.get("/console/?period=7d")

    assert response.status_code == 303
    assert response.headers["Location"] == "/console/sign-in?next=/console/?period%3D7d"
    form = read(client.get(response.headers["Location"])).hidden
    assert form["next"] == "/console/?period=7d"
    back = console_sign_in(client, EMAILS["mo"], PASSWORD, next=form["next"])
    assert back.headers["Location"] == "/console/?period=7d"


def test_given_a_next_to_another_site_when_signing_in_then_the_dashboard(client, passwords):
    assert console_sign_in(client, EMAILS["mo"], PASSWORD, next="//evil.example/console/").headers["Location"] \
        == "/console/"


def test_given_webhooks_and_the_api_when_posting_without_csrf_tokens_then_they_work(client, sim, tokens, mo):
    """CSRF protection covers the console's forms only: Twilio and API clients carry no cookie and no token."""
    from callsim import Caller
    from tests.integration.conftest import NORTHSIDE

    result = sim.call(to=NORTHSIDE, caller=Caller().hang_up())
    assert not result.problems
    answer = client.post("/api/agents/me/status", json={"status": "available"}, headers=bearer(issue(tokens, "ben")))
    assert answer.status_code == 200


# --- who sees what -----------------------------------------------------------------------------------------

def test_given_an_agent_when_opening_the_dashboard_then_403_page(client, passwords):
    assert sign_in(client, EMAILS["ben"]).status_code == 303

    response = client.get("/console/")

    assert response.status_code == 403
    assert "for practice managers and admins" in response.get_data(as_text=True)
    assert client.get("/console/queue.json").status_code == 403


def test_given_a_lakeside_manager_then_offered_lakeside_only_and_northside_refused(mo, services, practice_ids):
    northside = practice_ids["northside"]
    services.queue.enqueue(northside, "CA" + "4" * 32, urgent=True, language="en", now=services.clock())

    page = mo.get("/console/")
    refused = mo.get("/console/?practice=northside")
    together = mo.get("/console/?practice=all")
    queue = mo.get("/console/queue.json?practice=northside")

    assert page.status_code == 200
    assert read(page).practice_options == ["lakeside"]
    text = page.get_data(as_text=True)
    for northside_only in ("Northside", "northside", "Nia Okafor", "4" * 32):
        assert northside_only not in text
    assert refused.status_code == 403 and "Northside" not in refused.get_data(as_text=True)
    assert together.status_code == 403
    assert queue.status_code == 403 and queue.get_json()["error_id"] == "forbidden"


def test_given_an_unknown_practice_then_a_manager_gets_403_and_an_admin_404(mo, app, passwords):
    admin = app.test_client()
    sign_in(admin, EMAILS["root"])

    assert mo.get("/console/?practice=nowhere").status_code == 403
    assert admin.get("/console/?practice=nowhere").status_code == 404


def test_given_an_admin_then_every_practice_and_all_together_by_default(client, passwords):
    sign_in(client, EMAILS["root"])

    page = client.get("/console/")

    assert page.status_code == 200
    assert read(page).practice_options == ["all", "lakeside", "northside"]
    assert 'data-selection="all"' in page.get_data(as_text=True)
    assert client.get("/console/?practice=northside").status_code == 200


# --- the page ----------------------------------------------------------------------------------------------

def test_given_a_period_when_the_dashboard_opens_then_every_headline_figure_and_the_period(mo, clock):
    page = mo.get("/console/?practice=lakeside&period=7d")

    assert page.status_code == 200
    assert set(read(page).metrics) == {"calls_offered", "answered_within_ring_budget", "service_level",
                                       "abandonment_rate", "speed_of_answer_mean_seconds", "messages",
                                       "callbacks_open", "callbacks_overdue_now"}
    text = page.get_data(as_text=True)
    assert 'data-period="2026-11-18/2026-11-24"' in text  # the clock is Tuesday 24 Nov in Chicago
    assert text.count("<svg") >= 3 and "<script" not in text.split("</head>", 1)[1]  # charts, no inline script
    assert not re.search(r'(src|href)="(https?:)?//', text)  # nothing from elsewhere


@pytest.mark.parametrize("query, field", [("period=week", "period"), ("period=custom&from=2026-11-20", "to"),
                                          ("period=custom&from=2026-11-20&to=2026-11-19", "from"),
                                          ("period=custom&from=2025-01-01&to=2026-11-19", "to"),
                                          ("from=24/11/2026&to=2026-11-24", "from")])
def test_given_a_bad_period_then_400_page(mo, query, field):
    response = mo.get(f"/console/?{query}")

    assert response.status_code == 400


def test_given_custom_dates_then_the_period_is_those_dates(mo):
    page = mo.get("/console/?period=custom&from=2026-11-01&to=2026-11-24")

    assert page.status_code == 200 and 'data-period="2026-11-01/2026-11-24"' in page.get_data(as_text=True)


def test_given_redis_down_when_opening_the_dashboard_then_the_figures_and_the_queue_unavailable(
        mo, services, monkeypatch):
    # The live queue's Redis only: signing in and the session need theirs (the sign-in throttle, the sessions).
    monkeypatch.setattr(services.queue, "redis", redis.Redis.from_url(REDIS_NOWHERE, decode_responses=True))

    page = mo.get("/console/")

    assert page.status_code == 200
    assert "The live queue is unavailable right now." in page.get_data(as_text=True)
    assert mo.get("/console/queue.json").status_code == 503


# --- the live queue ----------------------------------------------------------------------------------------

def test_given_a_queue_when_read_by_session_then_the_same_json_as_the_api(mo, client, tokens, services, agents,
                                                                         practice_ids):
    lakeside = practice_ids["lakeside"]
    client.post("/api/agents/me/status", json={"status": "available"}, headers=bearer(issue(tokens, "ben")))
    services.queue.enqueue(lakeside, "CA" + "1" * 32, urgent=False, language="en", now=services.clock())

    from_console = mo.get("/console/queue.json?practice=lakeside")
    from_api = client.get("/api/queue?practice=lakeside", headers=bearer(issue(tokens, "mo")))

    assert from_console.status_code == 200
    assert from_console.get_json()["practices"] == from_api.get_json()["practices"]
    (queue,) = from_console.get_json()["practices"]
    assert [agent["id"] for agent in queue["agents"][AgentStatus.AVAILABLE.value]] == [agents["ben"]]
    assert [caller["call_sid"] for caller in queue["callers"]] == ["CA" + "1" * 32]
    assert from_console.headers["Cache-Control"] == "no-store"


def test_given_no_session_when_reading_the_queue_json_then_401_json(client, agents):
    response = client.get("/console/queue.json")

    assert response.status_code == 401 and response.get_json()["error_id"] == "not-signed-in"


# --- careline user set-password ----------------------------------------------------------------------------

def test_given_the_password_twice_when_set_by_the_command_then_sign_in_works_and_nothing_shows_it(
        cli_env, client, agents, services):
    give_second_factor(services, EMAILS["mo"])
    result = careline("user", "set-password", "mo@lakeside.example", input=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert "password set for mo@lakeside.example" in result.output
    with services.session_factory() as session:
        stored = session.scalars(select(Agent.password_hash).where(Agent.email == EMAILS["mo"])).one()
    assert stored and PASSWORD not in stored and stored.startswith(("scrypt:", "pbkdf2:"))
    assert sign_in(client, EMAILS["mo"]).status_code == 303


def test_given_two_different_entries_when_set_by_the_command_then_asked_again(cli_env, client, agents, services):
    give_second_factor(services, EMAILS["mo"])
    result = careline("user", "set-password", EMAILS["mo"],
                      input=f"{PASSWORD}\nsomething else entirely\n{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert "do not match" in result.output.lower() or "don't match" in result.output.lower()
    assert sign_in(client, EMAILS["mo"]).status_code == 303


def test_given_stdin_when_set_by_the_command_then_set(cli_env, client, agents, services):
    give_second_factor(services, EMAILS["lee"])
    result = careline("user", "set-password", EMAILS["lee"], "--password-stdin", input=f"{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert sign_in(client, EMAILS["lee"]).status_code == 303


@pytest.mark.parametrize("password", ["short pass1", " " * 14], ids=["eleven-characters", "only-spaces"])
def test_given_a_weak_password_when_set_by_the_command_then_refused_and_nothing_stored(
        cli_env, agents, services, password):
    result = careline("user", "set-password", EMAILS["mo"], "--password-stdin", input=f"{password}\n")

    assert result.exit_code == 1
    assert "not set" in result.output
    with services.session_factory() as session:
        assert session.scalars(select(Agent.password_hash).where(Agent.email == EMAILS["mo"])).one() is None


def test_given_an_unknown_email_when_set_by_the_command_then_refused(cli_env, agents):
    result = careline("user", "set-password", "nobody@example.org", "--password-stdin", input=f"{PASSWORD}\n")

    assert result.exit_code == 1 and "no agent has the email" in result.output

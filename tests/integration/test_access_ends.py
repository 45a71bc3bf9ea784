"""Access that ends (issue 15): API tokens expire and stop when unused, agents a loaded configuration no longer
lists are deactivated (`careline config load`, `careline user disable|enable`), console sessions live in Redis
and end after 15 minutes without the person's activity (the page's own refreshes do not count), after 12 hours
in any case, and at sign-out; a role change counts from the next request."""
from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from agents.passwords import PasswordService
from models import Agent, AgentStatusChange, ApiToken
from queueing.model import AgentStatus
from tests.integration.conftest import (AGENTS_TOML, EMAILS, ON_CALL_TOML, PRACTICES_TOML, bearer, issue,
                                        load_practices)
from tests.integration.test_console import csrf_token, read
from web.session_store import BACKGROUND_HEADER, SESSION_KEY

PASSWORD = "correct horse battery"
SIGN_IN = "/console/sign-in"
BACKGROUND = {BACKGROUND_HEADER: "1"}
IDLE_NOTICE = "You were signed out after 15 minutes without activity."
# Lakeside's urgent messages page Mo, a manager with a phone, so `careline config load` accepts the file.
MO_PHONE = 'email = "mo@lakeside.example"\nname = "Mo Chen"\nphone = "+13125550177"'
FILE_TOML = PRACTICES_TOML + ON_CALL_TOML + AGENTS_TOML.replace(
    'email = "mo@lakeside.example"\nname = "Mo Chen"', MO_PHONE)


def careline(*args: str, input: str | None = None):
    from careline.cli import main

    return CliRunner().invoke(main, list(args), input=input)


def without(toml: str, email: str) -> str:
    """`toml` with the [[agents]] entry of `email` left out."""
    entries = toml.split("[[agents]]")
    return "[[agents]]".join(e for e in entries if f'email = "{email}"' not in e)


@pytest.fixture
def people(services, agents):
    """The test agents, loaded from FILE_TOML, each with the console password PASSWORD."""
    load_practices(services, FILE_TOML)
    passwords = PasswordService(services.session_factory)
    for email in EMAILS.values():
        passwords.set_password(email, PASSWORD)
    return agents


def sign_in(client, name: str):
    """Sign in as `name` (an agent: no second factor) through the form; the desk answers."""
    response = client.post(SIGN_IN, data={"email": EMAILS[name], "password": PASSWORD,
                                          "csrf_token": csrf_token(client)})
    assert response.status_code == 303, response.get_data(as_text=True)
    assert client.get("/console/desk").status_code == 200


def deactivated_at(services, name: str):
    with services.session_factory() as session:
        return session.scalar(select(Agent.deactivated_at).where(Agent.email == EMAILS[name]))


def get_me(app, token: str):
    """GET /api/me with `token`, from a client of its own (no cookie)."""
    return app.test_client().get("/api/me", headers=bearer(token))


def page_csrf(client) -> str:
    """The CSRF token of the desk's page (its sign-out form's)."""
    return read(client.get("/console/desk")).hidden["csrf_token"]


def refusal(response) -> str:
    """The description of a 401, checked to be the same in the body and in the Bearer challenge."""
    assert response.status_code == 401
    description = response.get_json()["details"]["description"]
    challenge = response.headers["WWW-Authenticate"]
    assert f'error_description="{description}"' in challenge and challenge.endswith('error="invalid_token"')
    return description


# --- API tokens expire, and stop when unused ------------------------------------------------------------------

def test_given_a_token_used_every_4_weeks_when_90_days_pass_then_401_expired(client, tokens, agents, clock):
    start = clock.now
    token = issue(tokens, "ben")
    for days in (28, 56, 84, 89):
        clock.now = start + timedelta(days=days, hours=23)
        assert client.get("/api/me", headers=bearer(token)).status_code == 200, days

    clock.now = start + timedelta(days=90)
    assert "expired" in refusal(client.get("/api/me", headers=bearer(token)))
    assert [t.state(clock.now) for t in tokens.list_tokens(EMAILS["ben"])] == ["expired"]


def test_given_a_token_never_used_when_30_days_pass_then_401_idle_and_one_used_counts_from_its_use(
        client, tokens, agents, clock):
    start = clock.now
    unused, used = issue(tokens, "ben"), issue(tokens, "nia")
    clock.now = start + timedelta(days=10)
    assert client.get("/api/me", headers=bearer(used)).status_code == 200

    clock.now = start + timedelta(days=30)
    idle = refusal(client.get("/api/me", headers=bearer(unused)))
    assert "unused for 30 days" in idle and "expired" not in idle
    assert client.get("/api/me", headers=bearer(used)).status_code == 200  # used 20 days ago (and now)

    clock.now = start + timedelta(days=60)
    assert "unused for 30 days" in refusal(client.get("/api/me", headers=bearer(used)))
    assert {t.email: t.state(clock.now) for t in tokens.list_tokens()} == {EMAILS["ben"]: "idle",
                                                                            EMAILS["nia"]: "idle"}


def test_given_expires_when_a_token_is_created_by_the_command_then_it_lives_that_many_days(
        cli_env, agents, session_factory):
    result = careline("token", "create", EMAILS["ben"], "--expires", "7")
    default = careline("token", "create", EMAILS["nia"])

    assert result.exit_code == 0 and default.exit_code == 0, result.output + default.output
    assert "it expires in 7 days, or after 30 days unused" in result.stderr
    with session_factory() as session:
        lives = {row.agent.email: row.expires_at - row.created_at
                 for row in session.scalars(select(ApiToken))}
    assert lives == {EMAILS["ben"]: timedelta(days=7), EMAILS["nia"]: timedelta(days=90)}
    assert careline("token", "create", EMAILS["ben"], "--expires", "0").exit_code == 2


# --- the configuration file is the truth about people -------------------------------------------------------

def test_given_a_file_without_an_agent_when_loaded_without_confirmation_then_nothing_is_written(
        cli_env, app, services, people, tokens, tmp_path):
    token = issue(tokens, "ben")
    path = tmp_path / "careline.toml"
    path.write_text(without(FILE_TOML, EMAILS["ben"]).replace("Northside Pediatrics", "Northside Kids"))

    for answer in ("n\n", None):  # declined, and no answer at all (a script's closed stdin)
        result = careline("config", "load", str(path), input=answer)

        assert result.exit_code == 1, result.output
        assert f"does not list 1 active agent(s); loading it deactivates them:\n  - {EMAILS['ben']}\n" \
            in result.output
        assert "not loaded, nothing was written" in result.output
        assert deactivated_at(services, "ben") is None
        assert get_me(app, token).status_code == 200
    with services.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Agent).where(Agent.name == "Northside Kids")) == 0


@pytest.mark.parametrize("how", ["confirmed", "--yes"])
def test_given_a_file_without_an_agent_when_loaded_then_deactivated_at_once_history_kept_and_back_when_listed(
        cli_env, app, services, people, tokens, client, clock, tmp_path, how):
    token = issue(tokens, "ben")
    sign_in(client, "ben")
    assert client.post("/api/agents/me/status", json={"status": "available"},
                       headers={"X-CSRFToken": page_csrf(client)}).status_code == 200
    assert services.queue.agent(people["ben"], clock.now).status == AgentStatus.AVAILABLE
    path = tmp_path / "careline.toml"
    path.write_text(without(FILE_TOML, EMAILS["ben"]))

    result = (careline("config", "load", str(path), input="y\n") if how == "confirmed"
              else careline("config", "load", str(path), "--yes"))

    assert result.exit_code == 0, result.output
    assert f"deactivated: {EMAILS['ben']}" in result.output
    assert deactivated_at(services, "ben") is not None
    assert refusal(get_me(app, token)) == "the token's account is deactivated"
    assert client.get("/console/desk").headers["Location"].startswith(SIGN_IN)  # the session ended at once
    assert client.post(SIGN_IN, data={"email": EMAILS["ben"], "password": PASSWORD,
                                      "csrf_token": csrf_token(client)}).status_code == 401
    assert services.queue.agent(people["ben"], clock.now).status == AgentStatus.OFFLINE  # no call is offered
    with services.session_factory() as session:  # history kept: the row and its status changes
        assert session.get(Agent, people["ben"]) is not None
        assert session.scalar(select(func.count()).select_from(AgentStatusChange)
                              .where(AgentStatusChange.agent_id == people["ben"])) == 2

    path.write_text(FILE_TOML)
    again = careline("config", "load", str(path))

    assert again.exit_code == 0 and f"reactivated: {EMAILS['ben']}" in again.output
    assert deactivated_at(services, "ben") is None
    assert get_me(app, token).status_code == 200


def test_given_an_agent_disabled_by_the_command_then_its_ways_in_stop_until_enabled(
        cli_env, app, services, people, tokens, client):
    token = issue(tokens, "nia")
    sign_in(client, "nia")

    disabled = careline("user", "disable", EMAILS["nia"].upper())

    assert disabled.exit_code == 0 and disabled.output == f"{EMAILS['nia']} deactivated\n"
    assert refusal(get_me(app, token)) == "the token's account is deactivated"
    assert client.get("/console/desk").status_code == 303
    refused = careline("token", "create", EMAILS["nia"])
    assert refused.exit_code == 1 and "is deactivated: no token" in refused.output  # no new way in either
    assert careline("user", "disable", EMAILS["nia"]).output == f"{EMAILS['nia']} was already deactivated\n"

    enabled = careline("user", "enable", EMAILS["nia"])

    assert enabled.exit_code == 0 and enabled.output == f"{EMAILS['nia']} activated\n"
    assert get_me(app, token).status_code == 200
    sign_in(client, "nia")
    assert careline("user", "enable", "nobody@answering.example").exit_code == 1


# --- console sessions live on the server --------------------------------------------------------------------

def test_given_a_signed_in_agent_then_the_cookie_holds_only_a_signed_id_and_redis_the_session(
        client, people, redis_client, clock):
    sign_in(client, "ben")

    cookie = client.get_cookie("careline_console").value
    sid, _, signature = cookie.rpartition(".")
    assert len(sid) == 43 and signature and "{" not in cookie  # 256 random bits, signed: no data
    record = redis_client.hgetall(SESSION_KEY.format(sid=sid))
    assert json.loads(record["data"])["agent_id"] == people["ben"]
    assert record["created_at"] == record["active_at"] == clock.now.isoformat()  # Careline's clock


def test_given_only_background_requests_when_15_minutes_pass_then_signed_out(client, people, clock):
    sign_in(client, "ben")
    start = clock.now
    for minutes in (5, 10, 14):  # the desk's polls, the queue's refreshes: answered, but not activity
        clock.now = start + timedelta(minutes=minutes, seconds=59)
        assert client.get("/api/agents/me/status", headers=BACKGROUND).status_code == 200
        assert client.get("/api/queue", headers=BACKGROUND).status_code == 200

    clock.now = start + timedelta(minutes=15)
    assert client.get("/api/agents/me/status", headers=BACKGROUND).status_code == 401
    page = client.get("/console/desk")
    assert page.status_code == 303 and page.headers["Location"].startswith(SIGN_IN)
    sign_in_page = client.get(page.headers["Location"]).get_data(as_text=True)
    assert IDLE_NOTICE in sign_in_page
    assert IDLE_NOTICE not in client.get(SIGN_IN).get_data(as_text=True)  # said once


def test_given_a_page_loaded_then_the_15_minutes_count_from_it(client, people, clock):
    sign_in(client, "ben")
    start = clock.now
    clock.now = start + timedelta(minutes=10)
    assert client.get("/console/desk").status_code == 200  # the person's activity
    clock.now = start + timedelta(minutes=24, seconds=59)
    assert client.get("/api/agents/me/status", headers=BACKGROUND).status_code == 200
    clock.now = start + timedelta(minutes=25)
    assert client.get("/api/agents/me/status", headers=BACKGROUND).status_code == 401


def test_given_an_agent_on_a_long_call_then_not_signed_out_until_15_minutes_after_it(
        client, services, people, practice_ids, clock):
    sign_in(client, "ben")
    start, queue, call_sid = clock.now, services.queue, "CA" + "7" * 32
    services.agent_status.set_status(people["ben"], "available")
    queue.enqueue(practice_ids["lakeside"], call_sid, urgent=False, language=None, now=start)
    assert queue.match(practice_ids["lakeside"], start, 30).agent_id == people["ben"]
    assert queue.offer_answered(call_sid, people["ben"], start) is not None

    clock.now = start + timedelta(minutes=40)  # talking all along: no click, only the desk's own reads
    assert client.get("/api/agents/me/status", headers=BACKGROUND).status_code == 200
    queue.call_ended(call_sid, people["ben"], clock.now, 0)

    clock.now = start + timedelta(minutes=54)
    assert client.get("/api/agents/me/status", headers=BACKGROUND).status_code == 200
    clock.now = start + timedelta(minutes=55)
    assert client.get("/api/agents/me/status", headers=BACKGROUND).status_code == 401


def test_given_the_desks_event_stream_then_it_is_not_activity(client, people, clock, services):
    sign_in(client, "ben")
    start = clock.now
    clock.now = start + timedelta(minutes=10)
    stream = client.get("/api/agents/me/events", buffered=False)  # an EventSource: it sends no header
    assert stream.status_code == 200 and stream.mimetype == "text/event-stream"
    stream.close()
    clock.now = start + timedelta(minutes=15)
    assert client.get("/console/desk").status_code == 303


@pytest.mark.parametrize("ends", ["sign-out", "deactivation", "token-revoked"])
def test_given_an_open_event_stream_when_its_access_ends_then_it_sends_nothing_more(
        client, services, people, tokens, monkeypatch, ends):
    monkeypatch.setattr("api.desk.ACCESS_CHECK_SECONDS", 0.0)  # check before every item, not every 10 s
    issued = tokens.issue_token(EMAILS["ben"])
    headers = bearer(issued.token) if ends == "token-revoked" else {}
    if not headers:
        sign_in(client, "ben")
    stream = client.get("/api/agents/me/events", headers=headers, buffered=False)
    assert stream.status_code == 200
    chunks = iter(stream.response)
    assert any(b"event: state" in chunk for chunk in itertools.islice(chunks, 3))  # open and serving

    if ends == "sign-out":
        assert client.post("/console/sign-out", data={"csrf_token": page_csrf(client)}).status_code == 303
    elif ends == "deactivation":
        services.accounts.disable(EMAILS["ben"])  # which also sends the desk its offline state
    if ends != "deactivation":
        if ends == "token-revoked":
            tokens.revoke_token(issued.prefix)
        services.agent_feed.publish(people["ben"], "state", {"status": "paused"})  # something to send

    assert list(itertools.islice(chunks, 1)) == []  # ended: not the queue, the colleagues nor the new state
    stream.close()


def test_given_activity_all_day_when_12_hours_pass_then_signed_out_anyway(client, people, clock):
    sign_in(client, "ben")
    start = clock.now
    for minutes in range(10, 12 * 60, 10):
        clock.now = start + timedelta(minutes=minutes)
        assert client.get("/console/desk").status_code == 200, minutes

    clock.now = start + timedelta(hours=12)
    response = client.get("/console/desk")
    assert response.status_code == 303
    assert "a sign-in lasts 12 hours" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_given_a_copied_cookie_when_its_session_signed_out_then_refused(app, client, people, redis_client):
    sign_in(client, "ben")
    copied = client.get_cookie("careline_console").value
    sid = copied.rpartition(".")[0]
    token = page_csrf(client)

    assert client.post("/console/sign-out", data={"csrf_token": token}).status_code == 303

    assert redis_client.exists(SESSION_KEY.format(sid=sid)) == 0
    other = app.test_client()
    other.set_cookie("careline_console", copied)
    assert other.get("/console/desk").status_code == 303
    assert other.get("/api/me").status_code == 401


def test_given_a_sign_in_then_the_session_gets_a_new_id(client, people):
    client.get(SIGN_IN)
    before = client.get_cookie("careline_console").value
    sign_in(client, "ben")
    assert client.get_cookie("careline_console").value != before


def test_given_redis_down_then_signed_out_and_the_sign_in_page_says_why(client, people, redis_down_client):
    sign_in(client, "ben")
    redis_down_client.set_cookie("careline_console", client.get_cookie("careline_console").value)

    assert redis_down_client.get("/api/me").status_code == 401  # fail closed: a session nobody can check
    assert redis_down_client.get("/console/desk").status_code == 303
    page = redis_down_client.get(SIGN_IN)
    assert page.status_code == 200
    assert "Careline cannot check sign-ins right now" in page.get_data(as_text=True)


# --- a role change counts from the next request -------------------------------------------------------------

def test_given_a_role_changed_by_a_load_then_the_next_request_has_it(app, client, services, people, tokens):
    token = issue(tokens, "ben")
    other = app.test_client()
    sign_in(other, "ben")
    assert client.get("/api/me", headers=bearer(token)).get_json()["role"] == "agent"
    assert other.get("/api/me").get_json()["role"] == "agent"
    assert client.get("/api/agents", headers=bearer(token)).status_code == 403  # managers and admins only
    assert other.get("/console/").status_code == 403

    load_practices(services, FILE_TOML.replace('name = "Ben Adler"', 'name = "Ben Adler"\nrole = "manager"'))

    assert client.get("/api/me", headers=bearer(token)).get_json()["role"] == "manager"
    assert other.get("/api/me").get_json()["role"] == "manager"
    assert client.get("/api/agents", headers=bearer(token)).status_code == 200
    assert other.get("/console/").status_code == 200

    load_practices(services, FILE_TOML)  # and back: the power goes as soon as it came
    assert client.get("/api/agents", headers=bearer(token)).status_code == 403
    assert other.get("/console/").status_code == 403

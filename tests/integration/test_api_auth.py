"""The JSON API's tokens: `careline token ...` issues, lists and revokes them; every /api request needs one."""
from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from flask import jsonify, session as flask_session
from flask.sessions import NullSession
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from api.auth import token_required
from careline.app import create_app
from core.config import Config
from core.db import session_scope
from models import Agent, ApiToken
from tests.integration.conftest import EMAILS, OPEN_TIME, bearer, issue

def careline(*args: str):
    """Run the `careline` command (the environment comes from the `cli_env` fixture)."""
    from careline.cli import main

    return CliRunner().invoke(main, list(args))


def stored_tokens(session_factory) -> list[ApiToken]:
    with session_factory() as session:
        return session.scalars(select(ApiToken).order_by(ApiToken.id)).all()


def assert_unauthorized(response, bearer_error: str | None) -> None:
    assert response.status_code == 401
    body = response.get_json()
    assert body["error_id"] == "unauthorized" and body["details"]["description"]
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="careline"')
    if bearer_error is None:
        assert "error=" not in challenge
    else:
        assert challenge.endswith(f'error="{bearer_error}"')


# --- the command, end to end --------------------------------------------------------------------------------

@pytest.fixture
def cli_env(cli_env, clock):
    """The command runs on the system clock (the wall clock, which the suite may move by days): the app reads
    the same time, so a token the command makes is as young for the app as for the command."""
    clock.now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    return cli_env


def test_given_a_token_created_by_the_command_when_get_me_then_its_agent(cli_env, client, agents):
    result = careline("token", "create", "MO@lakeside.example", "--label", "front office laptop")
    assert result.exit_code == 0, result.output
    token = result.stdout.splitlines()[0]
    assert result.stdout == f"{token}\n"  # alone on stdout: TOKEN=$(careline token create EMAIL)
    assert f"token {token[:8]}:" in result.stderr and "careline token revoke" in result.stderr

    response = client.get("/api/me", headers=bearer(token))

    assert response.status_code == 200
    assert response.get_json() == {"id": agents["mo"], "email": "mo@lakeside.example", "name": "Mo Chen",
                                   "role": "manager", "practices": ["lakeside"]}


def test_given_two_tokens_of_one_agent_when_one_is_revoked_by_the_command_then_the_other_still_works(
        cli_env, client, agents):
    first = careline("token", "create", EMAILS["ben"]).stdout.strip()
    second = careline("token", "create", EMAILS["ben"]).stdout.strip()
    assert first != second
    for token in (first, second):
        assert client.get("/api/me", headers=bearer(token)).get_json()["id"] == agents["ben"]

    revoked = careline("token", "revoke", first[:8])

    assert revoked.exit_code == 0, revoked.output
    assert f"revoked {first[:8]} ({EMAILS['ben']})" in revoked.output
    assert_unauthorized(client.get("/api/me", headers=bearer(first)), "invalid_token")
    assert client.get("/api/me", headers=bearer(second)).status_code == 200


def test_given_tokens_of_two_agents_when_one_agent_loses_all_then_the_others_token_still_works(
        cli_env, client, agents):
    bens = [careline("token", "create", EMAILS["ben"]).stdout.strip() for _ in range(2)]
    nias = careline("token", "create", EMAILS["nia"]).stdout.strip()

    result = careline("token", "revoke", "--email", EMAILS["ben"], "--all")

    assert result.exit_code == 0, result.output
    assert f"revoked 2 token(s): {bens[0][:8]}, {bens[1][:8]}" in result.output
    for token in bens:
        assert_unauthorized(client.get("/api/me", headers=bearer(token)), "invalid_token")
    assert client.get("/api/me", headers=bearer(nias)).status_code == 200


def test_given_tokens_when_listed_by_the_command_then_prefixes_labels_and_dates_but_no_secret(
        cli_env, client, agents, clock):
    ana = careline("token", "create", EMAILS["ana"], "--label", "desk").stdout.strip()
    ben = careline("token", "create", EMAILS["ben"]).stdout.strip()
    client.get("/api/me", headers=bearer(ana))  # at the app's clock
    careline("token", "revoke", ben[:8])

    everyone = careline("token", "list")

    assert everyone.exit_code == 0, everyone.output
    for token in (ana, ben):
        assert token not in everyone.output and hashlib.sha256(token.encode()).hexdigest() not in everyone.output
    header, ana_line, ben_line = everyone.output.splitlines()
    assert header.split() == ["PREFIX", "AGENT", "LABEL", "CREATED", "LAST", "USED", "EXPIRES", "REVOKED", "STATE"]
    assert ana_line.startswith(ana[:8]) and EMAILS["ana"] in ana_line and "desk" in ana_line
    used = f"{clock.now:%Y-%m-%d %H:%M} UTC"
    assert f"{used}  {clock.now + timedelta(days=90):%Y-%m-%d}" in ana_line  # used, then expires in 90 days
    assert ana_line.split()[-2:] == ["-", "live"]  # not revoked
    assert ben_line.startswith(ben[:8]) and ben_line.split()[2:3] == ["-"]  # no label
    assert ben_line.split()[-1] == "revoked" and ben_line.split()[-2] != "-"
    only_ben = careline("token", "list", EMAILS["ben"])
    assert only_ben.exit_code == 0 and ben[:8] in only_ben.output and ana[:8] not in only_ben.output


def test_given_no_token_when_listed_then_says_so(cli_env, agents):
    result = careline("token", "list")
    assert result.exit_code == 0 and result.output == "no tokens\n"


@pytest.mark.parametrize("args", [
    ("token", "create", "nobody@answering.example"),
    ("token", "list", "nobody@answering.example"),
    ("token", "revoke", "--email", "nobody@answering.example", "--all"),
])
def test_given_an_unknown_email_when_the_command_runs_then_exit_1_and_nothing_written(
        cli_env, agents, session_factory, args):
    result = careline(*args)
    assert result.exit_code == 1
    assert "no agent has the email 'nobody@answering.example'" in result.output
    assert stored_tokens(session_factory) == []


def test_given_an_unknown_prefix_when_revoked_then_exit_1(cli_env, agents):
    result = careline("token", "revoke", "AAAAAAAA")
    assert result.exit_code == 1 and "no token has the prefix 'AAAAAAAA'" in result.output


@pytest.mark.parametrize("args", [(), ("AAAAAAAA", "--email", "ben@answering.example", "--all"),
                                  ("--email", "ben@answering.example"), ("--all",)])
def test_given_neither_or_both_ways_of_naming_tokens_when_revoked_then_usage_error(cli_env, agents, args):
    result = careline("token", "revoke", *args)
    assert result.exit_code == 2 and "give either a token PREFIX, or --email EMAIL --all" in result.output


def test_given_a_label_over_100_characters_when_created_then_refused(cli_env, agents, session_factory):
    result = careline("token", "create", EMAILS["ana"], "--label", "x" * 101)
    assert result.exit_code == 2 and "--label" in result.output
    assert stored_tokens(session_factory) == []


# --- storage ------------------------------------------------------------------------------------------------

def test_given_a_new_token_then_only_its_sha256_is_stored(tokens, agents, session_factory):
    issued = tokens.issue_token(EMAILS["ana"], "phone")

    (row,) = stored_tokens(session_factory)
    assert len(issued.token) == 43  # 256 random bits
    assert row.token_hash == hashlib.sha256(issued.token.encode()).hexdigest()
    assert row.prefix == issued.prefix == issued.token[:8]
    assert issued.token not in (row.token_hash, row.prefix, row.label)
    assert row.agent_id == agents["ana"] and row.created_at == OPEN_TIME and row.revoked_at is None


def test_given_a_drawn_token_with_a_taken_prefix_or_a_leading_dash_then_another_is_drawn(
        tokens, agents, monkeypatch):
    """A prefix names one token (`token revoke PREFIX`), and one starting with "-" would read as an option."""
    taken = issue(tokens, "ana")
    draws = iter(["-" + "a" * 42, taken[:8] + "b" * 35, "c" * 43])
    monkeypatch.setattr("agents.tokens.secrets.token_urlsafe", lambda nbytes: next(draws))
    assert tokens.issue_token(EMAILS["ben"]).token == "c" * 43


def test_given_a_raw_token_in_place_of_a_hash_then_the_database_refuses_it(tokens, agents, session_factory):
    raw = issue(tokens, "ana")
    with pytest.raises(IntegrityError), session_scope(session_factory) as session:
        session.add(ApiToken(agent_id=agents["ana"], prefix="rawtoken", token_hash=raw, created_at=OPEN_TIME))


def test_given_an_agent_row_deleted_then_its_tokens_go_with_it(tokens, agents, session_factory):
    issue(tokens, "ana")
    issue(tokens, "ben")
    with session_scope(session_factory) as session:
        session.execute(delete(Agent).where(Agent.id == agents["ana"]))
    assert [row.agent_id for row in stored_tokens(session_factory)] == [agents["ben"]]


def test_given_a_token_revoked_twice_then_it_keeps_the_first_time(tokens, agents, clock, session_factory):
    prefix = tokens.issue_token(EMAILS["ana"]).prefix
    assert tokens.revoke_token(prefix).revoked_at == OPEN_TIME
    clock.now = OPEN_TIME + timedelta(hours=1)
    assert tokens.revoke_token(prefix).revoked_at == OPEN_TIME


def test_given_a_token_used_again_within_a_minute_then_last_used_is_written_once_a_minute(
        client, tokens, agents, clock, session_factory):
    token = issue(tokens, "ana")
    assert stored_tokens(session_factory)[0].last_used_at is None
    for seconds, last_used in ((0, 0), (59, 0), (60, 60)):
        clock.now = OPEN_TIME + timedelta(seconds=seconds)
        assert client.get("/api/me", headers=bearer(token)).status_code == 200
        assert stored_tokens(session_factory)[0].last_used_at == OPEN_TIME + timedelta(seconds=last_used)


# --- authentication -----------------------------------------------------------------------------------------

def test_given_no_authorization_header_when_get_me_then_401_with_a_bearer_challenge(client, agents):
    assert_unauthorized(client.get("/api/me"), bearer_error=None)


@pytest.mark.parametrize("header", ["Basic YW5hOnNlY3JldA==", "Token {token}", "Bearer", "Bearer ",
                                    "Bearer {token} {token}", "Bearer <{token}>", "{token}"])
def test_given_a_malformed_authorization_header_when_get_me_then_401_invalid_request(
        client, tokens, agents, header):
    token = issue(tokens, "ana")  # a good token in a bad header is still refused
    response = client.get("/api/me", headers={"Authorization": header.format(token=token)})
    assert_unauthorized(response, "invalid_request")


def test_given_an_unknown_token_when_get_me_then_401_invalid_token(client, tokens, agents):
    token = issue(tokens, "ana")
    for unknown in (token[:-1], token + "A", "A" * 43):
        assert_unauthorized(client.get("/api/me", headers=bearer(unknown)), "invalid_token")


def test_given_a_revoked_token_when_get_me_then_401_invalid_token(client, tokens, agents):
    issued = tokens.issue_token(EMAILS["ana"])
    tokens.revoke_token(issued.prefix)
    assert_unauthorized(client.get("/api/me", headers=bearer(issued.token)), "invalid_token")


def test_given_the_scheme_in_another_case_when_get_me_then_accepted(client, tokens, agents):
    """RFC 7235: the auth scheme is case-insensitive."""
    response = client.get("/api/me", headers={"Authorization": f"bearer {issue(tokens, 'ana')}"})
    assert response.status_code == 200


@pytest.mark.parametrize("name, practices", [("ana", "*"), ("nia", ["northside"]), ("root", [])])
def test_given_an_agents_token_when_get_me_then_its_practices_or_star(client, tokens, agents, name, practices):
    body = client.get("/api/me", headers=bearer(issue(tokens, name))).get_json()
    assert body["id"] == agents[name] and body["email"] == EMAILS[name] and body["practices"] == practices


def test_given_the_database_down_when_get_me_then_503(config, redis_client):
    broken = Config(**{**config.__dict__, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    app = create_app(broken)
    try:
        response = app.test_client().get("/api/me", headers=bearer("A" * 43))
    finally:
        app.extensions["careline"].close()
    assert response.status_code == 503
    assert response.get_json() == {"error_id": "service-unavailable", "details": {"dependency": "database"}}


def test_given_requests_good_and_bad_then_the_log_holds_no_token_and_no_email(
        cli_env, client, tokens, agents, caplog):
    caplog.set_level(logging.DEBUG)
    created = careline("token", "create", EMAILS["ben"]).stdout.strip()
    good = issue(tokens, "nia")
    revoked = tokens.issue_token(EMAILS["mo"])
    tokens.revoke_token(revoked.prefix)
    client.get("/api/me", headers=bearer(created))
    client.get(f"/api/agents/{agents['ana']}", headers=bearer(good))  # 403
    client.get("/api/me", headers=bearer(revoked.token))  # 401
    client.get("/api/me", headers={"Authorization": f"Basic {good}"})  # 401
    assert "refused GET /api/me" in caplog.text  # the refusals are logged...
    for secret in (created, good, revoked.token, *EMAILS.values()):
        assert secret not in caplog.text  # ...without the token or whose it is


# --- authorization ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("actor, target, status", [
    ("ben", "ben", 200),  # oneself
    ("ben", "nia", 403),  # an agent on another agent
    ("ana", "ben", 403),  # ... even one answering for every practice
    ("ben", "mo", 403),  # an agent on its manager
    ("mo", "mo", 200),
    ("mo", "ben", 200),  # a manager on an agent of its practice
    ("mo", "ana", 200),  # ... and on one answering for every practice
    ("mo", "nia", 403),  # ... not on an agent of another practice
    ("mo", "lee", 403),  # ... nor on another manager of its practice
    ("mo", "root", 403),
    ("root", "nia", 200),  # an admin on anyone
    ("root", "mo", 200),
])
def test_given_a_user_when_getting_an_agent_then_only_those_it_may_act_on(
        client, tokens, agents, actor, target, status):
    response = client.get(f"/api/agents/{agents[target]}", headers=bearer(issue(tokens, actor)))
    assert response.status_code == status
    if status == 200:
        assert response.get_json()["id"] == agents[target]
        assert response.get_json()["email"] == EMAILS[target]
    else:
        body = response.get_json()
        assert body["error_id"] == "forbidden" and body["details"]["agent_id"] == agents[target]


@pytest.mark.parametrize("actor, status, error_id", [("root", 404, "agent-not-found"), ("mo", 403, "forbidden"),
                                                     ("ben", 403, "forbidden")])
def test_given_an_unknown_agent_id_then_404_for_an_admin_and_403_for_others(
        client, tokens, agents, actor, status, error_id):
    unknown = max(agents.values()) + 1
    response = client.get(f"/api/agents/{unknown}", headers=bearer(issue(tokens, actor)))
    assert response.status_code == status and response.get_json()["error_id"] == error_id


def test_given_no_token_when_getting_an_agent_then_401(client, agents):
    assert_unauthorized(client.get(f"/api/agents/{agents['ben']}"), bearer_error=None)


@pytest.fixture
def admin_only_client(app):
    """The app with one more route, for admins only: the product has none yet."""

    @token_required(roles=("admin",))
    def admin_only():
        return jsonify(ok=True)

    app.add_url_rule("/api/test-admin-only", "admin_only", admin_only)
    return app.test_client()


@pytest.mark.parametrize("name, status", [("root", 200), ("mo", 403), ("ben", 403)])
def test_given_a_view_for_one_role_then_other_roles_get_403(admin_only_client, tokens, agents, name, status):
    response = admin_only_client.get("/api/test-admin-only", headers=bearer(issue(tokens, name)))
    assert response.status_code == status
    if status == 403:
        assert response.get_json() == {"error_id": "forbidden", "details": {
            "description": "this needs the role admin", "allowed_roles": ["admin"]}}


def test_given_a_view_for_one_role_when_no_token_then_401_before_403(admin_only_client, agents):
    assert_unauthorized(admin_only_client.get("/api/test-admin-only"), bearer_error=None)


def test_given_an_unknown_role_when_a_view_is_declared_then_refused():
    with pytest.raises(ValueError, match="roles must be some of"):
        token_required(roles=("boss",))
    with pytest.raises(ValueError, match="roles must be some of"):
        token_required(roles=())


def test_given_the_api_registered_then_webhooks_still_skip_the_cookie_session(app):
    with app.test_request_context("/voice/incoming", method="POST"):
        assert isinstance(flask_session._get_current_object(), NullSession)
    with app.test_request_context("/api/me"):
        assert not isinstance(flask_session._get_current_object(), NullSession)

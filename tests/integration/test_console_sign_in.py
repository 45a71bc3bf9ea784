"""The console's sign-in safeguards: attempts counted per account and per address before each is checked (also
when they come at once), refused while Redis cannot count them; managers' and admins' second factor (TOTP), its
code step, replays refused; `careline user totp`; the client's address behind trusted proxies."""
from __future__ import annotations

import dataclasses
import logging
import re
import threading
from datetime import timedelta

import pyotp
import pytest
import redis
from click.testing import CliRunner
from sqlalchemy import select

from careline.app import create_app
from console.throttle import SignInThrottle
from models import Agent, AuditEvent
from tests.integration.conftest import (CONSOLE_CODE, CONSOLE_SIGN_IN, EMAILS, REDIS_NOWHERE, console_password,
                                       console_sign_in, give_second_factor, second_factor_code)

PASSWORD = "correct horse battery"
WRONG = "not the password at all"
TOO_MANY = "Too many sign-in attempts for this account or from this address. Wait 15 minutes and try again."
UNAVAILABLE = "Sign-in is unavailable right now."
CODE_REFUSED = "That code does not match, or it was used already."


@pytest.fixture
def people(services, agents):
    """Every test person has the password PASSWORD; the managers and the admin a second factor too."""
    console_password(services, EMAILS.values(), PASSWORD)
    return agents


@pytest.fixture
def app_with(config, services):
    """`app_with(**settings)`: another Careline on the test database and Redis at the test's clock, its settings
    changed by `settings`; closed after the test."""
    built = []

    def build(**settings):
        application = create_app(dataclasses.replace(config, **settings))
        application.extensions["careline"].clock = services.clock
        built.append(application)
        return application

    yield build
    for application in built:
        application.extensions["careline"].close()


def from_address(app, address: str):
    """A test client whose requests come from `address` (the connection's own address, REMOTE_ADDR)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def csrf(client, path: str = CONSOLE_SIGN_IN) -> str:
    page = client.get(path, follow_redirects=True)  # the code's form without a password first: the sign-in's
    return re.findall(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))[-1]


def password_step(client, email: str, password: str = PASSWORD, **headers):
    return client.post(CONSOLE_SIGN_IN, data={"email": email, "password": password, "csrf_token": csrf(client)},
                       headers=headers)


def code_step(client, code: str):
    return client.post(CONSOLE_CODE, data={"code": code, "csrf_token": csrf(client, CONSOLE_CODE)})


def alert(response) -> str:
    found = re.search(r'role="alert"[^>]*>([^<]*)<', response.get_data(as_text=True))
    return found[1] if found else ""


def signed_in(client) -> bool:
    return client.get("/console/desk").status_code == 200


def attempts_at_once(app, attempts: list[tuple[str, str, str]]) -> list[int]:
    """Each (address, email, password) a sign-in from its own client in its own thread, all released together
    behind a barrier once each has its form's CSRF token; returns the answers' statuses in order."""
    clients = [from_address(app, address) for address, _, _ in attempts]
    tokens = [csrf(client) for client in clients]
    barrier = threading.Barrier(len(attempts))
    statuses, failures = [None] * len(attempts), []

    def send(index: int) -> None:
        _, email, password = attempts[index]
        try:
            barrier.wait(timeout=30)
            statuses[index] = clients[index].post(CONSOLE_SIGN_IN, data={
                "email": email, "password": password, "csrf_token": tokens[index]}).status_code
        except Exception as exc:  # noqa: BLE001 - reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    return statuses


# --- counted per account and per address, before the check ---------------------------------------------------

def test_given_10_attempts_on_an_account_from_10_addresses_then_the_11th_is_refused_from_anywhere(app, people):
    for n in range(10):
        assert password_step(from_address(app, f"198.51.100.{n}"), EMAILS["ben"], WRONG).status_code == 401

    refused = password_step(from_address(app, "198.51.100.99"), EMAILS["ben"])  # the right password, elsewhere

    assert refused.status_code == 429 and alert(refused) == TOO_MANY
    assert password_step(from_address(app, "198.51.100.99"), EMAILS["ana"]).status_code == 303  # another account


def test_given_an_account_that_does_not_exist_then_refused_the_same_way(app, people):
    answers = {}
    for email in (EMAILS["ben"], "nobody@answering.example"):
        for n in range(10):
            assert password_step(from_address(app, f"198.51.100.{n}"), email, WRONG).status_code == 401
        answers[email] = password_step(from_address(app, "198.51.100.99"), email, WRONG)

    known, unknown = answers.values()
    assert known.status_code == unknown.status_code == 429
    assert alert(known) == alert(unknown) == TOO_MANY


def test_given_30_attempts_from_an_address_then_the_31st_is_refused_for_any_account_and_others_go_on(app, people):
    there = from_address(app, "203.0.113.7")
    for n in range(29):
        assert password_step(there, f"guess{n}@answering.example", WRONG).status_code == 401
    assert password_step(there, EMAILS["ben"]).status_code == 303  # the 30th, a sign-in that ends well

    refused = password_step(from_address(app, "203.0.113.7"), EMAILS["ana"])  # the right password: not erased

    assert refused.status_code == 429 and alert(refused) == TOO_MANY
    assert password_step(from_address(app, "203.0.113.8"), EMAILS["ana"]).status_code == 303  # another address


def test_given_a_sign_in_that_ends_well_then_its_accounts_attempts_are_forgotten(app, people):
    for n in range(9):
        assert password_step(from_address(app, f"198.51.100.{n}"), EMAILS["ben"], WRONG).status_code == 401
    assert password_step(from_address(app, "198.51.100.50"), EMAILS["ben"]).status_code == 303  # the 10th

    for n in range(10):  # a new count: ten more are checked
        assert password_step(from_address(app, f"198.51.100.{n}"), EMAILS["ben"], WRONG).status_code == 401
    assert password_step(from_address(app, "198.51.100.50"), EMAILS["ben"], WRONG).status_code == 429


def test_given_25_guesses_at_once_on_one_account_then_no_more_than_10_reach_the_password_check(app, people):
    statuses = attempts_at_once(app, [(f"198.51.100.{n}", EMAILS["ben"], WRONG) for n in range(25)])

    assert sorted(statuses) == [401] * 10 + [429] * 15


def test_given_20_guesses_at_once_from_one_address_then_no_more_than_its_limit_reach_the_password_check(
        app_with, people):
    # A limit of 8 (SIGN_IN_ATTEMPTS_PER_ADDRESS): no more password checks at once than the database pool serves.
    limited = app_with(SIGN_IN_ATTEMPTS_PER_ADDRESS=8)

    statuses = attempts_at_once(limited, [("203.0.113.9", f"guess{n}@answering.example", WRONG) for n in range(20)])

    assert sorted(statuses) == [401] * 8 + [429] * 12


def test_given_redis_down_when_signing_in_then_refused_with_a_clear_message_and_a_log_without_the_email(
        client, people, services, monkeypatch, caplog):
    monkeypatch.setattr(services, "sign_in_throttle",
                        SignInThrottle(redis.Redis.from_url(REDIS_NOWHERE), services.now))
    caplog.set_level(logging.INFO)

    refused = password_step(client, EMAILS["ben"])  # the right password

    assert refused.status_code == 503 and UNAVAILABLE in alert(refused)
    assert not signed_in(client)
    assert "attempts cannot be counted (ConnectionError)" in caplog.text
    assert EMAILS["ben"] not in caplog.text and "ben@" not in caplog.text


def test_given_redis_down_at_the_code_step_then_refused_too(client, people, services, monkeypatch):
    assert password_step(client, EMAILS["mo"]).headers["Location"] == CONSOLE_CODE
    monkeypatch.setattr(services, "sign_in_throttle",
                        SignInThrottle(redis.Redis.from_url(REDIS_NOWHERE), services.now))

    refused = code_step(client, second_factor_code(services, EMAILS["mo"]))

    assert refused.status_code == 503 and UNAVAILABLE in alert(refused)
    assert not signed_in(client)


# --- the second factor ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mo", "root"])
def test_given_a_manager_or_admin_without_a_second_factor_then_refused_with_what_to_ask_for(
        client, agents, services, name):
    services.passwords.set_password(EMAILS[name], PASSWORD)  # a password only

    refused = password_step(client, EMAILS[name])

    assert refused.status_code == 403
    assert f"Ask an admin to run: careline user totp {EMAILS[name]}" in alert(refused)
    assert not signed_in(client)
    assert password_step(client, EMAILS[name], WRONG).status_code == 401  # a wrong password: the one refusal


def test_given_an_agent_without_a_second_factor_then_the_password_signs_in(client, people):
    answer = password_step(client, EMAILS["ben"])

    assert answer.status_code == 303 and answer.headers["Location"] == "/console/desk"
    assert signed_in(client)


def test_given_an_agent_with_a_second_factor_then_asked_for_the_code(client, people, services):
    give_second_factor(services, EMAILS["ben"])

    assert password_step(client, EMAILS["ben"]).headers["Location"] == CONSOLE_CODE
    assert not signed_in(client)
    assert code_step(client, second_factor_code(services, EMAILS["ben"])).headers["Location"] == "/console/desk"
    assert signed_in(client)


def test_given_a_manager_with_a_second_factor_then_a_wrong_code_is_refused_and_the_right_one_signs_in(
        client, people, services, clock):
    secret = give_second_factor(services, EMAILS["mo"])
    totp = pyotp.TOTP(secret)

    asked = password_step(client, EMAILS["mo"])
    assert asked.status_code == 303 and asked.headers["Location"] == CONSOLE_CODE
    assert not signed_in(client)  # the password alone is not a session
    form = client.get(CONSOLE_CODE)
    assert form.status_code == 200 and 'autocomplete="one-time-code"' in form.get_data(as_text=True)

    for wrong in (totp.at(clock.now, counter_offset=2), totp.at(clock.now, counter_offset=-2), "12345", "abcdef"):
        refused = code_step(client, wrong)
        assert refused.status_code == 401 and CODE_REFUSED in alert(refused)
        assert not signed_in(client)

    accepted = code_step(client, totp.at(clock.now - timedelta(seconds=30)))  # one step late: valid_window=1

    assert accepted.status_code == 303 and accepted.headers["Location"] == "/console/"
    assert client.get("/console/").status_code == 200


def test_given_a_code_used_once_then_it_is_refused_again_within_its_window_and_the_next_one_accepted(
        app, people, services, clock):
    first = app.test_client()
    code = second_factor_code(services, EMAILS["mo"])
    assert console_sign_in(first, EMAILS["mo"], PASSWORD, code=code).status_code == 303

    clock.now += timedelta(seconds=20)  # the same code is still shown, or still within the window
    second = app.test_client()
    replayed = console_sign_in(second, EMAILS["mo"], PASSWORD, code=code)
    assert replayed.status_code == 401 and CODE_REFUSED in alert(replayed)
    assert not signed_in(second)

    clock.now += timedelta(seconds=30)  # the app shows the next code
    assert code_step(second, second_factor_code(services, EMAILS["mo"])).status_code == 303
    assert signed_in(second)


def test_given_one_code_sent_twice_at_once_then_only_one_sign_in_passes(app, people, services):
    clients = [app.test_client(), app.test_client()]
    for client in clients:
        assert password_step(client, EMAILS["mo"]).headers["Location"] == CONSOLE_CODE
    code = second_factor_code(services, EMAILS["mo"])
    tokens = [csrf(client, CONSOLE_CODE) for client in clients]
    barrier, statuses = threading.Barrier(2), []

    def send(client, token):
        barrier.wait(timeout=30)
        statuses.append(client.post(CONSOLE_CODE, data={"code": code, "csrf_token": token}).status_code)

    threads = [threading.Thread(target=send, args=pair) for pair in zip(clients, tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [303, 401]


def test_given_codes_then_each_is_counted_by_the_throttle(client, people, services, clock):
    wrong = pyotp.TOTP(give_second_factor(services, EMAILS["mo"])).at(clock.now, counter_offset=5)
    assert password_step(client, EMAILS["mo"]).headers["Location"] == CONSOLE_CODE  # attempt 1
    for _ in range(9):  # attempts 2 to 10
        assert code_step(client, wrong).status_code == 401

    refused = code_step(client, second_factor_code(services, EMAILS["mo"]))  # the 11th, the right code

    assert refused.status_code == 429 and alert(refused) == TOO_MANY
    assert not signed_in(client)


def test_given_a_password_then_the_code_waits_5_minutes_at_most(client, people, services, clock):
    assert code_step(client, "123456").status_code == 401  # no password first: nothing to complete
    assert client.get(CONSOLE_CODE).headers["Location"] == CONSOLE_SIGN_IN
    assert password_step(client, EMAILS["mo"]).headers["Location"] == CONSOLE_CODE

    clock.now += timedelta(minutes=5)
    late = code_step(client, second_factor_code(services, EMAILS["mo"]))

    assert late.status_code == 401 and "took too long" in alert(late)
    assert not signed_in(client)


def test_given_a_password_changed_after_the_password_step_then_the_code_does_not_complete_it(
        client, people, services):
    assert password_step(client, EMAILS["mo"]).headers["Location"] == CONSOLE_CODE
    services.passwords.set_password(EMAILS["mo"], "another long password")

    assert code_step(client, second_factor_code(services, EMAILS["mo"])).status_code == 401
    assert not signed_in(client)


# --- careline user totp ------------------------------------------------------------------------------------------

def careline(*args: str, input: str | None = None):
    from careline.cli import main

    return CliRunner().invoke(main, list(args), input=input)


def test_given_the_command_then_a_provisioning_uri_whose_codes_sign_in(cli_env, client, agents, services):
    services.passwords.set_password(EMAILS["mo"], PASSWORD)

    result = careline("user", "totp", "MO@lakeside.example")

    assert result.exit_code == 0, result.output
    uri = result.stdout.strip()
    totp = pyotp.parse_uri(uri)
    assert uri.startswith("otpauth://totp/Careline:mo%40lakeside.example?") and "issuer=Careline" in uri
    assert len(totp.secret) == 32 and totp.digits == 6 and totp.interval == 30
    with services.session_factory() as session:
        assert session.scalar(select(Agent.totp_secret).where(Agent.email == EMAILS["mo"])) is not None
        audited = session.execute(select(AuditEvent.subject_kind, AuditEvent.subject_id)
                                  .where(AuditEvent.action == "user.totp")).all()
    assert audited == [("agent", EMAILS["mo"])]  # an administrative act, in the audit trail (never the secret)
    assert console_sign_in(client, EMAILS["mo"], PASSWORD, code=totp.at(services.clock())).status_code == 303


def test_given_a_second_factor_when_the_command_runs_again_then_asked_and_the_new_one_replaces_it(
        cli_env, app, agents, services):
    services.passwords.set_password(EMAILS["mo"], PASSWORD)
    old = pyotp.parse_uri(careline("user", "totp", EMAILS["mo"]).stdout.strip())

    declined = careline("user", "totp", EMAILS["mo"], input="n\n")
    assert declined.exit_code == 1 and "has a second factor already" in declined.output
    assert declined.stdout.count("otpauth://") == 0
    new = pyotp.parse_uri(careline("user", "totp", EMAILS["mo"], "--yes").stdout.strip())

    assert new.secret != old.secret
    now = services.clock()
    refused = console_sign_in(app.test_client(), EMAILS["mo"], PASSWORD, code=old.at(now))
    assert refused.status_code == 401
    assert console_sign_in(app.test_client(), EMAILS["mo"], PASSWORD, code=new.at(now)).status_code == 303


def test_given_an_unknown_email_when_the_command_runs_then_refused(cli_env, agents):
    result = careline("user", "totp", "nobody@example.org")

    assert result.exit_code == 1 and "no agent has the email" in result.output


# --- the client's address behind trusted proxies (TRUSTED_PROXIES) ---------------------------------------------

@pytest.fixture
def proxied(request, app_with, people):
    """Careline behind TRUSTED_PROXIES (the test's parameter) proxies, with an address limit of 3."""
    return app_with(TRUSTED_PROXIES=request.param, SIGN_IN_ATTEMPTS_PER_ADDRESS=3)


@pytest.mark.parametrize("proxied", [1], indirect=True)
def test_given_a_trusted_proxy_then_attempts_are_counted_by_the_address_it_forwards(proxied):
    client = from_address(proxied, "10.0.0.2")  # the proxy
    for n in range(3):
        answer = password_step(client, f"guess{n}@answering.example", WRONG, **{"X-Forwarded-For": "192.0.2.1"})
        assert answer.status_code == 401

    assert password_step(client, EMAILS["ben"], **{"X-Forwarded-For": "192.0.2.1"}).status_code == 429
    assert password_step(client, EMAILS["ben"], **{"X-Forwarded-For": "192.0.2.2"}).status_code == 303


@pytest.mark.parametrize("proxied", [0], indirect=True)
def test_given_no_trusted_proxy_then_a_forwarded_address_is_ignored(proxied):
    client = from_address(proxied, "192.0.2.9")
    for n in range(3):  # each claims another address: all are counted on the connection's own
        answer = password_step(client, f"guess{n}@answering.example", WRONG, **{"X-Forwarded-For": f"10.1.1.{n}"})
        assert answer.status_code == 401

    assert password_step(client, EMAILS["ben"], **{"X-Forwarded-For": "10.1.1.99"}).status_code == 429

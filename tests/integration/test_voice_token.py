"""GET /api/agents/me/voice-token: the Twilio access token of the desk's softphone, decoded with PyJWT and its
signature checked with the API key's secret, as Twilio would; who gets one, and what an unconfigured Careline
answers."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import jwt
import pytest

from agents.passwords import PasswordService
from agents.voice_token import VOICE_TOKEN_TTL_SECONDS
from careline.app import create_app
from core.clock import system_clock
from tests.integration.conftest import (ACCOUNT_SID, AGENTS_TOML, EMAILS, OPEN_TIME, PRACTICES_TOML, bearer, issue,
                                        load_practices)
from tests.integration.test_console import PASSWORD, sign_in

PATH = "/api/agents/me/voice-token"
API_KEY_SID = "SK" + "1" * 32
API_KEY_SECRET = "voice-key-secret-0123456789abcdef"
TWIML_APP_SID = "AP" + "2" * 32
BEN_CLIENT = "ben.desk"  # Ben has a Twilio Client identity; Nia has none


@pytest.fixture
def config(config):
    """The test settings with the softphone's API key and TwiML app."""
    return dataclasses.replace(config, TWILIO_API_KEY_SID=API_KEY_SID, TWILIO_API_KEY_SECRET=API_KEY_SECRET,
                               TWILIO_TWIML_APP_SID=TWIML_APP_SID)


@pytest.fixture
def agents(services):
    """The test people, Ben with a client identity."""
    with_client = AGENTS_TOML.replace('name = "Ben Adler"\n', f'name = "Ben Adler"\nclient = "{BEN_CLIENT}"\n')
    assert with_client != AGENTS_TOML
    load_practices(services, PRACTICES_TOML + with_client)


@pytest.fixture
def now(clock) -> datetime:
    """Careline's clock set to the wall clock's now (whole seconds), so PyJWT's own exp and nbf checks apply."""
    clock.now = system_clock().replace(microsecond=0)
    return clock.now


def decode(token: str, **options) -> dict:
    """The token's claims; raises unless it is signed with the API key's secret (HS256, as Twilio signs)."""
    return jwt.decode(token, API_KEY_SECRET, algorithms=["HS256"], options={"require": ["exp", "nbf"], **options})


def test_given_an_agent_with_a_client_identity_then_a_signed_token_granting_incoming_and_the_twiml_app(
        client, tokens, agents, now):
    response = client.get(PATH, headers=bearer(issue(tokens, "ben")))

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {"token", "identity", "expires_at"} and body["identity"] == BEN_CLIENT
    assert jwt.get_unverified_header(body["token"])["cty"] == "twilio-fpa;v=1"  # Twilio's access-token type
    claims = decode(body["token"])
    assert claims["iss"] == API_KEY_SID and claims["sub"] == ACCOUNT_SID
    grants = claims["grants"]
    assert grants["identity"] == BEN_CLIENT
    assert grants["voice"]["incoming"]["allow"] is True
    assert grants["voice"]["outgoing"]["application_sid"] == TWIML_APP_SID
    # twilio's Python AccessToken writes no `iat`: `nbf`, the moment it was issued, is where its life starts.
    assert claims["nbf"] == int(now.timestamp())
    assert 0 < claims["exp"] - claims["nbf"] <= 3600 and VOICE_TOKEN_TTL_SECONDS <= 3600
    assert datetime.fromisoformat(body["expires_at"]) == now + timedelta(seconds=claims["exp"] - claims["nbf"])
    assert datetime.fromisoformat(body["expires_at"]).timestamp() == claims["exp"]
    assert body["expires_at"].endswith("+00:00")


def test_given_careline_s_clock_then_the_token_lives_from_it_not_from_the_system_clock(client, tokens, agents, clock):
    clock.now = OPEN_TIME  # a fixed date, whatever the wall clock says

    body = client.get(PATH, headers=bearer(issue(tokens, "ben"))).get_json()

    claims = decode(body["token"], verify_exp=False, verify_nbf=False)  # the signature is still checked
    assert claims["nbf"] == int(OPEN_TIME.timestamp())
    assert claims["exp"] == int(OPEN_TIME.timestamp()) + VOICE_TOKEN_TTL_SECONDS
    assert body["expires_at"] == (OPEN_TIME + timedelta(seconds=VOICE_TOKEN_TTL_SECONDS)).isoformat()


def test_given_a_token_signed_with_another_secret_then_pyjwt_refuses_it(client, tokens, agents, now):
    """The check above can fail: a token is not accepted with the wrong key."""
    token = client.get(PATH, headers=bearer(issue(tokens, "ben"))).get_json()["token"]

    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "another secret of thirty-two bytes", algorithms=["HS256"])


def test_given_an_agent_without_a_client_identity_then_409_no_client_identity(client, tokens, agents, services):
    response = client.get(PATH, headers=bearer(issue(tokens, "nia")))

    assert response.status_code == 409
    body = response.get_json()
    assert body["error_id"] == "no-client-identity"
    assert body["details"]["agent_id"] == services.tokens.authenticate(issue(tokens, "nia")).id


def test_given_no_credentials_then_401(client, agents):
    response = client.get(PATH)

    assert response.status_code == 401 and response.get_json()["error_id"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("blank", [("TWILIO_API_KEY_SID",), ("TWILIO_API_KEY_SECRET",),
                                   ("TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET")])
def test_given_no_api_key_then_503_softphone_not_configured_naming_the_settings(config, services, tokens, agents,
                                                                                blank):
    unconfigured = create_app(dataclasses.replace(config, **{name: "" for name in blank}))
    unconfigured.extensions["careline"].clock = services.clock  # the token was issued on the test's clock
    try:
        response = unconfigured.test_client().get(PATH, headers=bearer(issue(tokens, "ben")))
    finally:
        unconfigured.extensions["careline"].close()

    assert response.status_code == 503
    body = response.get_json()
    assert body["error_id"] == "softphone-not-configured"
    assert body["details"]["missing"] == list(blank)


def test_given_no_twiml_app_then_the_token_allows_incoming_calls_only(config, services, tokens, agents, now):
    answering_only = create_app(dataclasses.replace(config, TWILIO_TWIML_APP_SID=""))
    answering_only.extensions["careline"].clock = services.clock
    try:
        response = answering_only.test_client().get(PATH, headers=bearer(issue(tokens, "ben")))
    finally:
        answering_only.extensions["careline"].close()

    assert response.status_code == 200
    assert decode(response.get_json()["token"])["grants"]["voice"] == {"incoming": {"allow": True}}


def test_given_the_console_session_then_the_desk_gets_a_token_without_a_csrf_token(client, services, agents, now):
    """The desk asks with its cookie; a GET changes nothing, so it needs no CSRF token."""
    PasswordService(services.session_factory).set_password(EMAILS["ben"], PASSWORD)
    assert sign_in(client, EMAILS["ben"]).status_code == 303

    response = client.get(PATH)

    assert response.status_code == 200
    assert decode(response.get_json()["token"])["grants"]["identity"] == BEN_CLIENT

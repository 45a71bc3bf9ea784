"""TWILIO_API_BASE_URL sends every Twilio REST request Careline makes to the stand-in."""
from __future__ import annotations

import pytest

from callsim import TwilioRestStandin
from core.config import Config
from careline.services import Services

ACCOUNT_SID, TOKEN = "AC" + "3" * 32, "rest-token"
CALL_SID = "CA" + "4" * 32


@pytest.fixture
def standin():
    with TwilioRestStandin(ACCOUNT_SID, TOKEN) as server:
        yield server


def test_given_api_base_url_then_the_services_client_talks_to_it(standin, redis_url):
    services = Services.build(Config(ENV="test", REDIS_URL=redis_url, TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                                     TWILIO_AUTH_TOKEN=TOKEN, TWILIO_API_BASE_URL=standin.url))
    try:
        call = services.twilio.calls(CALL_SID).update(url="https://careline.test/voice/menu", method="POST")
        services.twilio.messages.create(to="+13125550199", from_="+13125550100", body="Received")
    finally:
        services.close()
    assert call.sid == CALL_SID
    (update,) = standin.requests_for("calls.update")
    assert update.auth == (ACCOUNT_SID, TOKEN) and update.params["Url"] == "https://careline.test/voice/menu"
    assert len(standin.requests_for("messages.create")) == 1


def test_given_no_api_base_url_then_the_client_targets_twilio():
    from core.twilio_rest import RedirectedHttpClient, make_twilio_client

    client = make_twilio_client(ACCOUNT_SID, TOKEN)
    assert not isinstance(client.http_client, RedirectedHttpClient)


def test_given_the_services_client_then_each_twilio_request_waits_at_most_10_s(standin, redis_url, timeouts):
    """README: Twilio "does not answer within 10 s" is a failure; every REST request carries that timeout."""
    services = Services.build(Config(ENV="test", REDIS_URL=redis_url, TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                                     TWILIO_AUTH_TOKEN=TOKEN, TWILIO_API_BASE_URL=standin.url))
    try:
        services.twilio.calls(CALL_SID).update(url="https://careline.test/voice/menu", method="POST")
    finally:
        services.close()
    assert timeouts == [10]


def test_given_no_api_base_url_then_twilios_own_client_also_waits_at_most_10_s():
    from core.twilio_rest import make_twilio_client

    assert make_twilio_client(ACCOUNT_SID, TOKEN).http_client.timeout == 10

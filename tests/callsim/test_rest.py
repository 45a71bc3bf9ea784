"""The REST stand-in answers the real twilio Client like api.twilio.com."""
from __future__ import annotations

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from callsim import TwilioRestStandin

ACCOUNT_SID, TOKEN = "AC" + "1" * 32, "rest-token"
CALL_SID = "CA" + "2" * 32


@pytest.fixture
def standin():
    with TwilioRestStandin(ACCOUNT_SID, TOKEN) as server:
        yield server


@pytest.fixture
def client(standin) -> Client:
    client = Client(ACCOUNT_SID, TOKEN)
    client.api.base_url = standin.url
    return client


def test_call_update_with_real_client(standin, client):
    call = client.calls(CALL_SID).update(url="https://x/y", method="POST")
    assert call.sid == CALL_SID and call.status == "in-progress"
    (request,) = standin.requests_for("calls.update")
    assert request.params == {"Url": "https://x/y", "Method": "POST"}
    assert request.auth == (ACCOUNT_SID, TOKEN)
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{CALL_SID}.json"


def test_hangup_create_and_sms(standin, client):
    assert client.calls(CALL_SID).update(status="completed").status == "completed"
    created = client.calls.create(to="+13125550111", from_="+13125550100", url="https://x/callback")
    assert created.sid.startswith("CA") and len(created.sid) == 34
    message = client.messages.create(to="+13125550111", from_="+13125550100", body="Your callback is booked")
    assert message.sid.startswith("SM")
    assert standin.requests_for("messages.create")[0].params["Body"] == "Your callback is booked"


def test_fail_next_and_not_found(standin, client):
    standin.fail_next("calls.update", status=500)
    with pytest.raises(TwilioRestException) as failure:
        client.calls(CALL_SID).update(url="https://x/y")
    assert failure.value.status == 500
    assert client.calls(CALL_SID).update(url="https://x/y").sid == CALL_SID  # only the next one fails
    with pytest.raises(TwilioRestException) as missing:
        client.queues("QU" + "3" * 32).fetch()
    assert missing.value.status == 404 and missing.value.code == 20404


def test_recording_download_and_wrong_credentials(standin):
    url = f"{standin.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE{'4' * 32}"
    audio = requests.get(url, auth=(ACCOUNT_SID, TOKEN), timeout=5)
    assert audio.status_code == 200 and audio.headers["Content-Type"] == "audio/wav"
    assert audio.content.startswith(b"RIFF")
    assert requests.get(url, auth=(ACCOUNT_SID, "wrong"), timeout=5).status_code == 401

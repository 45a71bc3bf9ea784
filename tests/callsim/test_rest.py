"""The REST stand-in answers the real twilio Client like api.twilio.com."""
from __future__ import annotations

import threading

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


def test_given_no_simulator_when_an_unknown_call_is_updated_then_the_standin_answers_200(standin, client):
    assert client.calls("CA" + "8" * 32).update(url="https://x/y").status == "in-progress"
    assert standin.take_updates("CA" + "8" * 32) == []  # nothing is queued when no call is live


def test_given_a_call_the_simulator_ran_when_it_is_updated_after_its_end_then_error_21220(standin, client):
    standin.call_started(CALL_SID, "in-progress")
    standin.call_ended(CALL_SID)
    with pytest.raises(TwilioRestException) as ended:
        client.calls(CALL_SID).update(url="https://x/y")
    assert (ended.value.status, ended.value.code) == (400, 21220)
    with pytest.raises(TwilioRestException) as unknown:
        client.calls("CA" + "9" * 32).update(url="https://x/y")
    assert (unknown.value.status, unknown.value.code) == (404, 20404)


def test_given_a_live_call_when_updated_with_url_and_twiml_then_the_url_wins(standin, client):
    """Twilio's API definition: with both, the Twiml parameter is ignored."""
    standin.call_started(CALL_SID, "in-progress")
    client.calls(CALL_SID).update(url="https://x/next", twiml="<Response><Hangup/></Response>")
    (update,) = standin.take_updates(CALL_SID)
    assert (update.url, update.method, update.twiml) == ("https://x/next", "POST", None)
    assert client.calls(CALL_SID).fetch().status == "in-progress"


def test_given_many_threads_when_they_update_a_live_call_at_once_then_every_update_is_queued_once(standin):
    standin.call_started(CALL_SID, "in-progress")
    answers = []
    threads = [threading.Thread(target=lambda n=n: answers.append(standin.update_call(CALL_SID, url=f"https://x/{n}")))
               for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in answers] == [200] * 16
    queued = standin.take_updates(CALL_SID)
    assert sorted(update.url for update in queued) == sorted(f"https://x/{n}" for n in range(16))
    assert standin.take_updates(CALL_SID) == []

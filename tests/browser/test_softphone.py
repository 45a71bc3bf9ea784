"""The desk's softphone module (console/static/softphone.js) in headless Chromium, against a real Careline server,
with Twilio's Device replaced by tests/browser/device_standin.js: it fetches the voice token on the console's
session, registers, rings, answers, mutes, renews its token in the middle of a call without dropping it, and
hangs up; an agent without a client identity gets no softphone.

The module runs in a console document (the console's Content-Security-Policy: scripts from 'self' only), not in
the desk page, which has its own browser test.
"""
from __future__ import annotations

import re
from datetime import timedelta

import jwt
import pytest

from agents.passwords import PasswordService
from tests.integration.conftest import AGENTS_TOML, EMAILS, PRACTICES_TOML, load_practices

try:
    from playwright.sync_api import expect
except ImportError:  # fail, never skip: the browser test is part of the suite
    pytest.fail("the playwright package is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)

STANDIN = "tests/browser/device_standin.js"
PASSWORD = "softphone password 1"
CLIENT = "ben.desk"
CALL_SID = "CA" + "5" * 32
START = """async () => {
    const module = await import("/console/static/softphone.js");
    window.__phases = [];
    window.__incoming = [];
    try {
        window.__phone = await module.startSoftphone({
            onIncoming: (call) => window.__incoming.push(call),
            onState: (phase, snapshot) => window.__phases.push(phase),
        });
        return {ok: true};
    } catch (error) {
        return {ok: false, name: error.name, errorId: error.errorId, status: error.status};
    }
}"""


@pytest.fixture
def live(serve_careline, services):
    """Careline over plain http with the softphone configured; Ben has a client identity, Nia none."""
    load_practices(services, PRACTICES_TOML + AGENTS_TOML.replace(
        'name = "Ben Adler"\n', f'name = "Ben Adler"\nclient = "{CLIENT}"\n'))
    passwords = PasswordService(services.session_factory)
    for name in ("ben", "nia"):
        passwords.set_password(EMAILS[name], PASSWORD)
    return serve_careline(TWILIO_API_KEY_SID="SK" + "1" * 32, TWILIO_API_KEY_SECRET="s" * 32,
                          TWILIO_TWIML_APP_SID="AP" + "2" * 32)


def open_console_document(page, live: str, name: str) -> None:
    """Sign in as `name`, then open a console document that runs no script of its own."""
    page.context.add_init_script(path=STANDIN)
    page.goto(f"{live}/console/sign-in")
    page.get_by_label("Email", exact=True).fill(EMAILS[name])
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/console/sign-in"))
    page.goto(f"{live}/console/static/console.css")


def phase(page) -> str:
    return page.evaluate("window.__phone.snapshot().phase")


def wait_phase(page, expected: str) -> None:
    page.wait_for_function("(p) => window.__phone && window.__phone.snapshot().phase === p", arg=expected)


def test_given_an_agent_with_a_client_identity_then_a_call_rings_is_answered_muted_renewed_and_hung_up(
        page, live, clock):
    open_console_document(page, live, "ben")

    assert page.evaluate(START) == {"ok": True}
    wait_phase(page, "ready")
    standin = page.evaluate("({tokens: __deviceStandin.tokens, identity: __deviceStandin.identity, "
                            "options: __deviceStandin.options, actions: __deviceStandin.actions})")
    assert standin["identity"] == CLIENT and standin["actions"] == ["register"]
    assert standin["options"]["tokenRefreshMs"] == 60_000 and standin["options"]["closeProtection"]
    assert page.evaluate("window.__phases").index("registering") < page.evaluate("window.__phases").index("ready")
    first = jwt.decode(standin["tokens"][0], options={"verify_signature": False})

    # A call rings in the browser: the desk hears of it with Twilio's parameters, then answers and mutes.
    page.evaluate("(sid) => __deviceStandin.ring({callSid: sid, params: {From: '+13125550199'}})", CALL_SID)
    wait_phase(page, "ringing")
    incoming = page.evaluate("window.__incoming")
    assert incoming == [{"callSid": CALL_SID, "params": {"CallSid": CALL_SID, "AccountSid": "AC" + "0" * 32,
                                                         "From": "+13125550199"}, "customParameters": {}}]
    assert page.evaluate("window.__phone.accept()") is True
    wait_phase(page, "on-call")
    assert page.evaluate("window.__phone.toggleMute()") is True
    assert page.evaluate("window.__phone.snapshot().call.muted") is True
    page.evaluate("window.__phone.toggleMute()")
    assert page.evaluate("window.__phone.snapshot().call.muted") is False

    # 14 minutes on (the queue does not know this stand-in call, and 15 minutes without the person's activity end
    # the console's session, web/session_store.py): the SDK warns that the token runs out; a new one is fetched and
    # the call goes on.
    clock.now += timedelta(minutes=14)
    page.evaluate("__deviceStandin.tokenWillExpire()")
    page.wait_for_function("() => __deviceStandin.tokens.length === 2")
    renewed = jwt.decode(page.evaluate("__deviceStandin.tokens[1]"), options={"verify_signature": False})
    assert renewed["exp"] == first["exp"] + 14 * 60 and renewed["grants"]["identity"] == CLIENT
    assert page.evaluate("window.__phone.snapshot().expiresAt").startswith(
        (clock.now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    assert phase(page) == "on-call"
    assert "disconnect" not in page.evaluate("__deviceStandin.actions")

    assert page.evaluate("window.__phone.hangUp()") is True
    wait_phase(page, "ready")
    assert page.evaluate("window.__phone.snapshot().ended") == {"sid": CALL_SID, "reason": "hung-up"}
    assert page.evaluate("__deviceStandin.actions") == [
        "register", "accept", "mute:true", "mute:false", "updateToken", "disconnect"]


@pytest.mark.parametrize("ending, reason", [("__deviceStandin.cancel()", "cancelled"),
                                            ("window.__phone.reject()", "declined"),
                                            ("(__phone.accept(), 0)", None)])
def test_given_a_ringing_call_when_it_ends_then_the_desk_is_told_why(page, live, ending, reason):
    open_console_document(page, live, "ben")
    assert page.evaluate(START) == {"ok": True}
    wait_phase(page, "ready")
    page.evaluate("(sid) => __deviceStandin.ring({callSid: sid})", CALL_SID)
    wait_phase(page, "ringing")

    page.evaluate(ending)
    if reason is None:  # answered, then the caller hangs up
        wait_phase(page, "on-call")
        page.evaluate("__deviceStandin.remoteHangUp()")
        reason = "hung-up"

    wait_phase(page, "ready")
    assert page.evaluate("window.__phone.snapshot().ended") == {"sid": CALL_SID, "reason": reason}


def test_given_an_expired_token_error_then_the_softphone_renews_and_registers_again(page, live, clock):
    """A laptop that slept past the warning: the SDK reports the expired token (20104)."""
    open_console_document(page, live, "ben")
    assert page.evaluate(START) == {"ok": True}
    wait_phase(page, "ready")
    # Asleep 14 minutes: longer, and the console's session would have ended (15 idle minutes, web/session_store.py).
    clock.now += timedelta(minutes=14)

    page.evaluate("__deviceStandin.tokenExpired()")

    page.wait_for_function("() => __deviceStandin.tokens.length === 2")
    wait_phase(page, "ready")
    assert page.evaluate("__deviceStandin.actions") == ["register", "updateToken", "register"]


def test_given_an_agent_without_a_client_identity_then_no_softphone_and_the_reason(page, live):
    open_console_document(page, live, "nia")

    assert page.evaluate(START) == {"ok": False, "name": "SoftphoneError", "errorId": "no-client-identity",
                                    "status": 409}
    assert page.evaluate("__deviceStandin.devices.length") == 0

"""The answering desk as an agent uses it, in headless Chromium against a real Careline server: signing in to
the desk, going available and pausing with a reason from the keyboard, a call's wrap-up with its countdown and
the Ready button that ends it early, a missed offer explained, the shift's figures, and no serious or critical
accessibility violation (axe-core). Screenshots go to tests/browser/artifacts/desk-*.png."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from agents.passwords import PasswordService
from callsim import Callee, Caller
from careline.app import create_app
from queueing.model import AgentStatus
from tests.browser.conftest import ARTIFACTS
from tests.integration.conftest import CALLER, EMAILS, NORTHSIDE, queue_simulator, with_rest_standin
from tests.integration.test_queue_calls import NIA, QUEUE_TOML, load_people

try:
    from playwright.sync_api import expect
except ImportError:  # fail, never skip: the browser test is part of the suite
    pytest.fail("the playwright package is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)

PASSWORD = "desk password 12"
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@pytest.fixture
def people(services) -> dict[str, int]:
    ids = load_people(services, QUEUE_TOML)
    PasswordService(services.session_factory).set_password(EMAILS["nia"], PASSWORD)
    return ids


@pytest.fixture
def qsim(client, clock, standin, people):
    return queue_simulator(client, clock, standin)


@pytest.fixture
def live(serve, config, services, people):
    """Careline over real HTTP (plain http: the cookie is not Secure), at the test's clock."""
    served = create_app(dataclasses.replace(config, PUBLIC_BASE_URL=""))
    served.extensions["careline"].clock = services.clock
    yield serve(served)
    served.extensions["careline"].close()


@pytest.fixture
def desk_page(browser):
    """A page whose context may inject axe-core into the desk despite its Content-Security-Policy."""
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-US", bypass_csp=True)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def serious_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def test_given_an_agent_at_the_desk_then_presence_wrap_up_and_a_missed_offer_work_from_the_keyboard(
        desk_page, live, qsim, services, people, drain):
    page = desk_page
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto(f"{live}/console/desk")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.get_by_label("Email", exact=True).fill(EMAILS["nia"])
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/console/desk$"))
    status = page.locator("[data-presence-label]")
    expect(status).to_have_text("Offline")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "desk-signed-in.png"), full_page=True)

    page.keyboard.press("Alt+R")  # ready, from the keyboard
    expect(status).to_have_text("Available")
    assert services.queue.agent(people["nia"]).status == AgentStatus.AVAILABLE

    page.get_by_label("Pause reason").select_option("Lunch")
    page.get_by_role("button", name=re.compile("^Pause")).click()
    expect(status).to_have_text("Paused")
    expect(page.locator("[data-presence-detail]")).to_have_text("(Lunch)")
    assert services.queue.agent(people["nia"]).reason == "Lunch"
    page.keyboard.press("Alt+R")
    expect(status).to_have_text("Available")

    # A call: Nia answers on her phone and talks 20 s; then wrap-up (10 s at Northside) with its countdown.
    call = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                     dial={NIA: Callee(press="1", talk_seconds=20)})
    assert call.dial_results[-1].status == "completed"
    expect(status).to_have_text("Wrap-up", timeout=8_000)
    expect(page.locator("[data-wrap-up]")).to_be_visible()
    expect(page.locator("[data-wrap-up-left]")).to_have_text(re.compile(r"^\d+$"))
    page.screenshot(path=str(ARTIFACTS / "desk-wrap-up.png"), full_page=True)
    page.get_by_role("button", name=re.compile("^Ready")).click()  # ends the wrap-up early
    expect(status).to_have_text("Available")
    assert services.queue.agent(people["nia"]).status == AgentStatus.AVAILABLE

    # A missed offer: the phone rings out; the queue pauses Nia, and the desk says why and what to do.
    qsim.call(to=NORTHSIDE, from_="+13125550177", caller=Caller(press="1").hang_up(at=40), dial={NIA: "no-answer"})
    expect(status).to_have_text("Paused", timeout=8_000)
    expect(page.locator("[data-missed]")).to_have_text(
        re.compile(r"^You missed a call at \d\d:\d\d\. Press Ready when you are back\.$"))
    page.screenshot(path=str(ARTIFACTS / "desk-missed.png"), full_page=True)

    drain()  # the worker's job: the call log into the database
    page.reload()  # the shift's figures, read again: one call handled, one offer missed
    expect(page.locator("[data-day-handled]")).to_have_text("1")
    expect(page.locator("[data-day-missed]")).to_have_text("1")
    assert serious_violations(page) == []
    assert [p for p in problems if "events" not in p] == []  # no script error (the feed may still be building)

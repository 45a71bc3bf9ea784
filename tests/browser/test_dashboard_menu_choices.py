"""Calls by menu choice on the managers' dashboard (issue 16), in headless Chromium against a real Careline.

Four callers walk a practice's own menu through the call simulator (two to the refills mailbox, one through the
submenu to the results mailbox, one only hears the hours); the manager signs in from the keyboard, reads the
"Calls by menu choice" panel and checks it against GET /api/metrics for the same day, and axe finds nothing
serious in the panel. Screenshot: tests/browser/artifacts/dashboard_menu_choices.png.
"""
from __future__ import annotations

import pytest
import requests

from callsim import Caller
from tests.browser.conftest import ARTIFACTS, sign_in
from tests.browser.test_dashboard_survey import serious_violations
from tests.integration.conftest import CALLER, bearer, console_password, load_practices, simulator
from tests.integration.test_practice_menus import CLINIC, MANAGER, clinic_toml

try:
    from playwright.sync_api import expect
except ImportError:  # fail, never skip: the browser test is part of the suite
    pytest.fail("the playwright package is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)

PASSWORD = "menu dashboard password 1"


@pytest.fixture
def chosen(client, clock, services):
    load_practices(services, clinic_toml())
    console_password(services, [MANAGER], PASSWORD)
    sim = simulator(client, clock)
    for caller in (Caller().press("2").speak(8, then="#"), Caller().press("2").speak(8, then="#"),
                   Caller().press("4").press("1").speak(8, then="#").silence(), Caller().press("5").hang_up()):
        assert not sim.call(to=CLINIC, from_=CALLER, caller=caller).problems
    services.calllog_writer.drain()


def test_given_menu_choices_when_a_manager_reads_the_dashboard_then_the_panel_shows_the_apis_counts(
        axe_page, serve_careline, chosen, tokens, clock):
    live = serve_careline()
    page = axe_page
    sign_in(page, live, MANAGER, PASSWORD, "/console/")

    day = clock.now.date().isoformat()
    answer = requests.get(f"{live}/api/metrics", headers=bearer(tokens.issue_token(MANAGER, None).token),
                          params={"practice": "clinic", "from": day, "to": day}, timeout=10)
    assert answer.status_code == 200, answer.text
    rows = answer.json()["by_menu_choice"]
    assert [(r["digits"], r["calls"]) for r in rows] == [("2", 2), ("41", 1), ("5", 1)]

    panel = page.get_by_role("region", name="Calls by menu choice")
    expect(panel).to_be_visible()
    for row in rows:
        line = panel.locator(f'[data-menu-choice="{row["digits"]}"]')
        expect(line.locator("th")).to_have_text(" then ".join(row["digits"]))
        expect(line.locator("td").nth(0)).to_have_text(row["choice"])
        expect(line.locator("td").nth(1)).to_have_text(row["target"] or "—")
        expect(line.locator("td").nth(2)).to_have_text(str(row["calls"]))

    panel.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard_menu_choices.png"), full_page=True)
    assert serious_violations(page, "[aria-labelledby=menu-choices-title]") == []

"""The survey's results on the managers' dashboard (issue 16), in headless Chromium against a real Careline.

Three callers answer the one question after Ana (two days) and Ben hang up on them, played through the call
simulator; a manager signs in, reads the "Caller satisfaction" panel (average, count, the distribution, per
agent, per day) and checks it against GET /api/metrics for the same period, opens the days from the keyboard,
and axe finds nothing serious in the panel. Screenshot: tests/browser/artifacts/dashboard_survey.png.
"""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import requests

from callsim import Callee, Caller
from tests.browser.conftest import ARTIFACTS, AXE, sign_in
from tests.integration.conftest import (EMAILS, LAKESIDE, LAKESIDE_FRONT_DESK, OPEN_TIME, PHONE_AGENTS_TOML,
                                        PRACTICES_TOML, bearer, console_password, issue, load_practices, simulator,
                                        with_rest_standin)

try:
    from playwright.sync_api import expect
except ImportError:  # fail, never skip: the browser test is part of the suite
    pytest.fail("the playwright package is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)

PASSWORD = "survey dashboard password 1"
ANA, BEN = "+13125550133", "+13125550134"
TODAY = date(2026, 11, 24)  # OPEN_TIME's day in Chicago
TOML = PRACTICES_TOML.replace("max_length_seconds = 120\n", "max_length_seconds = 120\n\n[practices.survey]\n"
                              "enabled = true\n", 1) + PHONE_AGENTS_TOML + """
[[agents]]
email = "mo@lakeside.example"
name = "Mo Chen"
practices = ["lakeside"]
role = "manager"
"""


def serious_violations(page, within: str) -> list[str]:
    """axe-core's serious and critical violations inside `within` (a CSS selector) as the page is now.

    The panel only: the rest of the dashboard has colour-contrast findings of its own (the period line, the live
    queue's "Offline"), which are not this panel's.
    """
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async (within) => await axe.run(within, {resultTypes: ['violations']})", within)
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@pytest.fixture
def answered(client, clock, standin, tokens, services):
    """Yesterday Ana's caller pressed 5; today Ana's pressed 4 and Ben's 2 (each agent hung up first)."""
    load_practices(services, TOML)
    console_password(services, [EMAILS["mo"]], PASSWORD)
    sim = simulator(client, clock)
    sim.rest = standin
    sim.on_time = lambda now: setattr(clock, "now", now)
    sim.media_seconds["https://careline.test/voice/hold-audio.wav"] = 12.0
    for n, (days_ago, agent, phone, score) in enumerate(((1, "ana", ANA, "5"), (0, "ana", ANA, "4"),
                                                         (0, "ben", BEN, "2"))):
        clock.now = OPEN_TIME - timedelta(days=days_ago) + timedelta(hours=n)
        for name in ("ana", "ben"):
            status = "available" if name == agent else "offline"
            answer = client.post("/api/agents/me/status", json={"status": status},
                                 headers=bearer(issue(tokens, name)))
            assert answer.status_code == 200, answer.get_json()
        result = sim.call(to=LAKESIDE, from_=f"+1312555{4000 + n}", caller=Caller(press="11").press(score),
                          dial={LAKESIDE_FRONT_DESK: "busy", phone: Callee(press="1", talk_seconds=30)})
        assert not result.problems, result.problems
        assert "How satisfied were you with your call?" in " ".join(result.heard)
    services.calllog_writer.drain()
    clock.now = OPEN_TIME + timedelta(hours=4)


def test_given_survey_answers_when_a_manager_reads_the_dashboard_then_the_panel_shows_the_apis_figures(
        axe_page, serve_careline, answered, tokens, services):
    live = serve_careline()
    page = axe_page
    sign_in(page, live, EMAILS["mo"], PASSWORD, "/console/")
    page.get_by_label("Period", exact=True).select_option("7d")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()

    answer = requests.get(f"{live}/api/metrics", headers=bearer(issue(tokens, "mo")), timeout=10, params={
        "practice": "lakeside", "from": (TODAY - timedelta(days=6)).isoformat(), "to": TODAY.isoformat()})
    assert answer.status_code == 200, answer.text
    survey = answer.json()["survey"]
    assert (survey["answers"], survey["average"]) == (3, 3.67)

    panel = page.get_by_role("region", name="Caller satisfaction")
    expect(panel.locator('[data-survey-average]')).to_have_text("3.67 / 5")
    expect(panel.locator("[data-survey-answers]")).to_have_text("3")
    for bar in survey["distribution"]:
        expect(panel.locator(f'[data-score="{bar["score"]}"] td')).to_have_text(str(bar["answers"]))
    agents = {a["name"]: a for a in survey["agents"]}
    assert (agents["Ana Lopez"]["answers"], agents["Ana Lopez"]["average"]) == (2, 4.5)
    assert (agents["Ben Adler"]["answers"], agents["Ben Adler"]["average"]) == (1, 2.0)
    for agent in (agents["Ana Lopez"], agents["Ben Adler"]):
        row = panel.locator(f'[data-survey-agent="{agent["id"]}"]')
        expect(row.locator("th")).to_have_text(agent["name"])
        expect(row.locator("td").nth(0)).to_have_text(str(agent["answers"]))
        expect(row.locator("td").nth(1)).to_have_text(f'{agent["average"]:.2f} / 5')

    # The days, opened from the keyboard.
    days = panel.locator("[data-survey-days]")
    expect(days).to_be_hidden()
    panel.locator("summary", has_text="By day").focus()
    page.keyboard.press("Enter")
    expect(days).to_be_visible()
    expect(days.locator(f'[data-survey-day="{TODAY.isoformat()}"] td').nth(1)).to_have_text("3.00 / 5")
    expect(days.locator(f'[data-survey-day="{(TODAY - timedelta(days=1)).isoformat()}"] td').nth(1)) \
        .to_have_text("5.00 / 5")
    expect(days.locator(f'[data-survey-day="{(TODAY - timedelta(days=2)).isoformat()}"] td').nth(1)) \
        .to_have_text("—")  # no answer behind it

    panel.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard_survey.png"), full_page=True)
    assert serious_violations(page, "[data-survey]") == []

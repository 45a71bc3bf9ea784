"""The staffing advice on the managers' dashboard (issue 18), in headless Chromium against a real Careline.

Four weeks of Lakeside's queue calls are played through the call simulator (tests/integration/staffing_story.py);
the manager signs in and reads the "Agents needed each hour" panel for the current week: the chart (agents needed
beside the agents on duty the week before, the hour short of the target in red and labelled), the basis line and the
table, each figure checked against GET /api/staffing; then goes to the next week from the keyboard, where this week's
agents so far are compared. The advice and the period's figures download as CSV from the keyboard, as the API gives
them. axe finds nothing serious in the panel. Screenshots: tests/browser/artifacts/
dashboard_staffing.png and dashboard_staffing_next_week.png.
"""
from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from models import Agent, AuditEvent
from tests.browser.conftest import ARTIFACTS, AXE, press, sign_in
from tests.integration.conftest import (EMAILS, PHONE_AGENTS_TOML, PRACTICES_TOML, bearer, console_password, issue,
                                        load_practices, with_rest_standin)
from tests.integration.staffing_story import WEEK, StaffingWeeks

try:
    from playwright.sync_api import expect
except ImportError:  # fail, never skip: the browser test is part of the suite
    pytest.fail("the playwright package is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)

PASSWORD = "staffing dashboard password 1"
TOML = PRACTICES_TOML + PHONE_AGENTS_TOML + """
[[agents]]
email = "mo@lakeside.example"
name = "Mo Chen"
practices = ["lakeside"]
role = "manager"
"""


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@pytest.fixture
def weeks(client, clock, standin, tokens, services) -> StaffingWeeks:
    load_practices(services, TOML)
    console_password(services, [EMAILS["mo"]], PASSWORD)
    with services.session_factory() as session:
        assert session.scalar(select(Agent.id).where(Agent.email == EMAILS["ben"])) is not None
    story = StaffingWeeks(client, clock, standin, tokens, services)
    story.play()
    return story


def serious_violations(page, within: str) -> list[str]:
    """axe-core's serious and critical violations inside `within` (a CSS selector)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async (within) => await axe.run(within, {resultTypes: ['violations']})", within)
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def api_staffing(live: str, token: str, week: str) -> dict:
    answer = requests.get(f"{live}/api/staffing", headers=bearer(token), timeout=10,
                          params={"practice": "lakeside", "week": week})
    assert answer.status_code == 200, answer.text
    return answer.json()


def check_table(panel, advice: dict) -> None:
    """Every hour with calls or agents is a row of the table, with the API's figures."""
    rows = [h for h in advice["hours"] if h["calls_offered"] or h["agents_on_duty"]]
    expect(panel.locator("[data-staffing-hour]")).to_have_count(len(rows))
    for hour in rows:
        row = panel.locator(f'[data-staffing-hour="{hour["day"]}-{hour["hour"]:02d}"]')
        cells = row.locator("td")
        expect(cells.nth(0)).to_have_text(f'{hour["calls_offered"]:.2f}')
        expect(cells.nth(2)).to_have_text(str(hour["agents_needed"]))
        on_duty = hour["agents_on_duty"]
        expect(cells.nth(3)).to_have_text("—" if on_duty is None else f"{on_duty:.1f}")
        if hour["short"]:
            expect(cells.nth(6)).to_have_text(f'Short by {hour["gap"]:.1f}')
            expect(row).to_have_class("overdue")


def period(page) -> dict:
    """The dashboard's period, from its title row: {"from": ..., "to": ...} (ISO dates)."""
    date_from, date_to = page.locator("[data-period]").get_attribute("data-period").split("/")
    return {"from": date_from, "to": date_to}


def test_given_four_weeks_of_calls_when_a_manager_reads_the_dashboard_then_the_staffing_chart_marks_the_short_hour(
        axe_page, serve_careline, weeks, tokens, services):
    live = serve_careline()
    page = axe_page
    sign_in(page, live, EMAILS["mo"], PASSWORD, "/console/")
    advice = api_staffing(live, issue(tokens, "mo"), WEEK)
    assert advice["summary"]["hours_short"] == 1

    panel = page.get_by_role("region", name="Agents needed each hour")
    expect(panel.locator("[data-staffing-week]")).to_have_text(f"Week {WEEK}")
    expect(panel.locator("[data-staffing-basis]")).to_contain_text("calls of the 4 weeks from 2026-10-26 to 2026-11-22")
    expect(panel.locator("[data-staffing-basis]")).to_contain_text("target 80.0% within 30 s")
    expect(panel.locator("[data-staffing-basis]")).to_contain_text("Erlang A")
    expect(panel.locator("[data-staffing-short]")).to_contain_text("1 hour short of the target")

    chart = panel.get_by_role("img", name="Agents needed and agents on duty the week before, by hour of the week")
    expect(chart).to_be_visible()
    # The chart's two series and its hours, the short one labelled in words as well as drawn in red.
    expect(chart.locator("g.series:has(g.bars)")).to_have_count(2)
    expect(chart.locator("g.bar")).to_have_count(4)  # two hours, two bars each
    labels = chart.locator(".axis.x text").all_text_contents()
    assert labels == ["Mon 10", "Tue 09 · short"], labels
    needed = chart.locator("g.series.serie-0 g.bar rect")
    fills = [needed.nth(n).evaluate("rect => getComputedStyle(rect).fill") for n in (0, 1)]
    assert fills == ["rgb(37, 99, 235)", "rgb(220, 38, 38)"], fills  # blue, and the red of the short hour

    # The numbers, opened from the keyboard.
    table = panel.locator("[data-staffing-hours]")
    expect(table).to_be_hidden()
    press(page, panel.locator("summary", has_text="The numbers"))
    expect(table).to_be_visible()
    check_table(panel, advice)
    panel.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard_staffing.png"), full_page=True)
    assert serious_violations(page, "[data-staffing]") == []

    # The advice and the period's figures as CSV, downloaded from the keyboard: the API's files, their reading
    # audited as the manager's.
    for link, api_path, params, name in [
            (panel.get_by_role("link", name="Download the advice (CSV)"), "/api/staffing.csv",
             {"practice": "lakeside", "week": WEEK}, f"careline-staffing-lakeside-{WEEK}.csv"),
            (page.get_by_role("link", name="Download these figures (CSV)"), "/api/metrics.csv",
             {"practice": "lakeside", **period(page)}, "careline-metrics-lakeside-{from}-{to}.csv")]:
        with page.expect_download() as download:
            press(page, link)
        assert download.value.suggested_filename == name.format(**params)
        with open(download.value.path(), encoding="utf-8", newline="") as got:
            body = got.read()
        answer = requests.get(f"{live}{api_path}", headers=bearer(issue(tokens, "mo")), params=params, timeout=10)
        assert answer.status_code == 200 and body == answer.text and body.count("\r\n") > 1
    with services.session_factory() as session:
        exports = session.execute(select(AuditEvent.subject_kind, AuditEvent.via, Agent.email)
                                  .join(Agent, Agent.id == AuditEvent.agent_id)
                                  .where(AuditEvent.action == "export.csv")).all()
    assert sorted(exports) == [(kind, via, EMAILS["mo"]) for kind in ("metrics", "staffing")
                               for via in ("session", "token")]  # the page's download, then the API's file

    # Next week, from the keyboard: this week's agents so far are what it is compared with.
    with page.expect_navigation():
        press(page, panel.get_by_role("link", name="Next week"))
    assert "week=2026-W49" in page.url
    panel = page.get_by_role("region", name="Agents needed each hour")
    expect(panel.locator("[data-staffing-week]")).to_have_text("Week 2026-W49")
    ahead = api_staffing(live, issue(tokens, "mo"), "2026-W49")
    press(page, panel.locator("summary", has_text="The numbers"))
    check_table(panel, ahead)
    expect(panel.locator('[data-staffing-hour="tue-10"]')).to_have_count(0)  # no calls, and not over yet
    expect(panel.locator("[data-staffing-short]")).to_contain_text(f'{ahead["summary"]["hours_short"]} hours short')
    page.screenshot(path=str(ARTIFACTS / "dashboard_staffing_next_week.png"), full_page=True)
    assert serious_violations(page, "[data-staffing]") == []

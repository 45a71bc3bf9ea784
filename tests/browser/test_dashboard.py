"""The managers' dashboard as a person uses it, in headless Chromium against a real Careline server.

A week of calls is played through the call simulator first (front desk, the live queue, messages, hang-ups,
after hours), then the browser signs in, reads the headline figures and checks each against GET /api/metrics
for the same practice and period, switches practice and period, watches the live queue change, and saves a
screenshot to tests/browser/artifacts/dashboard.png.
"""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import requests

from callsim import Callee, Caller
from tests.browser.conftest import ARTIFACTS, press, sign_in
from tests.integration.conftest import (PHONE_AGENTS_TOML,
    EMAILS,
    LAKESIDE,
    LAKESIDE_FRONT_DESK,
    NORTHSIDE,
    OPEN_TIME,
    PRACTICES_TOML,
    bearer,
    console_password,
    issue,
    load_practices,
    simulator,
    with_rest_standin,
)

try:
    from playwright.sync_api import expect
except ImportError:  # fail, never skip: the browser test is part of the suite
    pytest.fail("the playwright package is missing: .venv/bin/pip install -e '.[test]'", pytrace=False)

PASSWORD = "dashboard password 1"
BEN, NIA = "+13125550134", "+16175550135"
TODAY = date(2026, 11, 24)  # OPEN_TIME, a Tuesday, in both practices' zones
HEADLINES = ("calls_offered", "answered_within_ring_budget", "service_level", "abandonment_rate",
             "speed_of_answer_mean_seconds", "messages", "callbacks_overdue_now")
AGENTS_TOML = """
""" + PHONE_AGENTS_TOML + """
[[agents]]
email = "mo@lakeside.example"
name = "Mo Chen"
practices = ["lakeside"]
role = "manager"

[[agents]]
email = "root@answering.example"
name = "Root Admin"
role = "admin"
"""


@pytest.fixture
def config(config, standin):
    """The queue's REST redirects go to the stand-in, which the simulator plays."""
    return with_rest_standin(config, standin)


@pytest.fixture
def people(services) -> dict[str, int]:
    load_practices(services, PRACTICES_TOML + AGENTS_TOML)
    console_password(services, [EMAILS[name] for name in ("mo", "root", "ben")], PASSWORD)
    from sqlalchemy import select

    from models import Agent
    with services.session_factory() as session:
        ids = dict(session.execute(select(Agent.email, Agent.id)).all())
    return {name: ids[email] for name, email in EMAILS.items() if email in ids}


class History:
    """Plays calls through the simulator at chosen times, with agents set by the status API."""

    def __init__(self, client, clock, standin, tokens, services):
        self.sim = simulator(client, clock)
        self.sim.rest = standin
        self.sim.on_time = lambda now: setattr(clock, "now", now)
        self.sim.media_seconds["https://careline.test/voice/hold-audio.wav"] = 12.0
        self.client, self.clock, self.tokens, self.services = client, clock, tokens, services
        self.callers = 0

    def at(self, days_ago: int, utc_hour: int, minute: int = 0) -> None:
        self.clock.now = (OPEN_TIME - timedelta(days=days_ago)).replace(hour=utc_hour, minute=minute)

    def status(self, name: str, status: str) -> None:
        answer = self.client.post("/api/agents/me/status", json={"status": status},
                                  headers=bearer(issue(self.tokens, name)))
        assert answer.status_code == 200, answer.get_json()

    def call(self, to: str, caller: Caller, **dial) -> None:
        self.callers += 1
        result = self.sim.call(to=to, from_=f"+1312555{3000 + self.callers}", caller=caller, dial=dial or None)
        assert not result.problems, result.problems

    def abandoned(self, to: str, practice_id: int, agent: str, agent_id: int) -> None:
        """A caller who holds (the agent is on another call) and hangs up after 40 s of the call."""
        self.status(agent, "available")
        queue, now, other = self.services.queue, self.clock.now, f"CA{self.callers:032d}"
        queue.enqueue(practice_id, other, urgent=False, language=None, now=now)
        assert queue.match(practice_id, now, 30).agent_id == agent_id
        assert queue.offer_answered(other, agent_id, now) is not None
        self.call(to, Caller(press="11").hang_up(at=40), **{LAKESIDE_FRONT_DESK: "busy"})
        queue.call_ended(other, agent_id, self.clock.now, 0)
        self.status(agent, "offline")

    def drain(self) -> None:
        self.services.calllog_writer.drain()


@pytest.fixture
def history(client, clock, standin, tokens, services, people) -> History:
    """A week of Lakeside calls (fewer at the weekend, when it is closed) and a few at Northside."""
    h = History(client, clock, standin, tokens, services)
    lakeside = services.directory.find_by_number(LAKESIDE).id
    for days_ago in range(6, -1, -1):
        weekend = (TODAY - timedelta(days=days_ago)).weekday() >= 5
        h.at(days_ago, 15)
        if weekend:  # closed: a routine message after the emergency notice
            h.call(LAKESIDE, Caller(press="12").speak(9, then="#"))
            continue
        h.call(LAKESIDE, Caller(), **{LAKESIDE_FRONT_DESK: "answered"})
        for n in range(1 + days_ago % 3):  # the live queue: Ben answers
            h.at(days_ago, 16 + n, 10)
            h.status("ben", "available")
            h.call(LAKESIDE, Caller(press="11"), **{LAKESIDE_FRONT_DESK: "busy", BEN: Callee(press="1", talk_seconds=50)})
        h.at(days_ago, 19, 5)
        h.call(LAKESIDE, Caller(press="12").speak(10, then="#"), **{LAKESIDE_FRONT_DESK: "no-answer"})
        if days_ago % 2 == 0:  # a hang-up in the menu
            h.at(days_ago, 20, 40)
            h.call(LAKESIDE, Caller().hang_up(), **{LAKESIDE_FRONT_DESK: "busy"})
        if days_ago in (0, 3, 5):  # a caller who gave up waiting
            h.at(days_ago, 21, 10)
            h.abandoned(LAKESIDE, lakeside, "ben", people["ben"])
        h.at(days_ago, 21, 50)
        h.status("ben", "offline")
    # Northside: a message and a queue call each of the last two days.
    for days_ago in (1, 0):
        h.at(days_ago, 14, 30)
        h.call(NORTHSIDE, Caller(press="2").speak(8, then="#"))
        h.at(days_ago, 15, 20)
        h.status("nia", "available")
        h.call(NORTHSIDE, Caller(press="1"), **{NIA: Callee(press="1", talk_seconds=70)})
        h.status("nia", "offline")
    h.drain()
    h.at(0, 22)  # 16:00 in Chicago, 17:00 in New York: the day is nearly done
    return h


@pytest.fixture
def live(serve_careline, history):
    """Careline as `make run` serves it in development, after the week of calls."""
    return serve_careline()


def api_metrics(live: str, token: str, practice: str, date_from: date, date_to: date) -> dict:
    answer = requests.get(f"{live}/api/metrics", headers=bearer(token), timeout=10,
                          params={"practice": practice, "from": date_from.isoformat(), "to": date_to.isoformat()})
    assert answer.status_code == 200, answer.text
    return answer.json()


def sign_in_as(page, live: str, name: str) -> None:
    """Sign in as one of the dashboard's people, by name, and land on the dashboard."""
    sign_in(page, live, EMAILS[name], PASSWORD, "/console/")


def shown(page, metric: str) -> str:
    return page.locator(f'[data-metric="{metric}"]').inner_text().strip()


def as_number(text: str) -> float | None:
    """A headline figure read back: "1,234" -> 1234, "81.3%" -> 0.813, "21.4 s" -> 21.4, "—" -> None."""
    if text == "—":
        return None
    value = float(re.sub(r"[,%s ]", "", text))
    return value / 100 if text.endswith("%") else value


def assert_page_matches_api(page, metrics: dict, open_callbacks: int) -> None:
    """Every headline figure on the page is the API's, to the page's rounding."""
    for key in HEADLINES:
        text, expected = shown(page, key), metrics[key]
        value = as_number(text)
        if expected is None:
            assert value is None, f"{key}: page shows {text!r}, the API has null"
            continue
        tolerance = 0.0005 if text.endswith("%") else 0.05
        assert value is not None and abs(value - expected) <= tolerance, f"{key}: page {text!r}, API {expected!r}"
    assert as_number(shown(page, "callbacks_open")) == open_callbacks


def open_callbacks(live: str, token: str, practice: str | None = None) -> int:
    params = {"status": "open", **({"practice": practice} if practice else {})}
    answer = requests.get(f"{live}/api/callbacks", headers=bearer(token), params=params, timeout=10)
    assert answer.status_code == 200, answer.text
    return len(answer.json()["callbacks"])


def choose(page, practice: str | None = None, period: str | None = None, dates: tuple[date, date] | None = None):
    """Use the dashboard's form as a person does, and wait for the new page."""
    if practice is not None:
        page.get_by_label("Practice", exact=True).select_option(practice)
    if period is not None:
        page.get_by_label("Period", exact=True).select_option(period)
    if dates is not None:
        page.get_by_label("From", exact=True).fill(dates[0].isoformat())
        page.get_by_label("To", exact=True).fill(dates[1].isoformat())
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()


def test_given_a_week_of_calls_when_a_manager_reads_the_dashboard_then_the_figures_are_the_apis(
        page, live, tokens, people):
    token = issue(tokens, "mo")
    problems = []  # a blocked inline script or style, a request refused by the CSP, a failed load
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("requestfailed", lambda request: problems.append(f"{request.url}: {request.failure}"))
    sign_in_as(page, live, "mo")

    expect(page.get_by_role("heading", level=1)).to_have_text("Lakeside Family Medicine")
    today = api_metrics(live, token, "lakeside", TODAY, TODAY)
    assert today["calls_offered"] > 0 and today["service_level"] is not None  # a real day, not an empty page
    callbacks = open_callbacks(live, token, "lakeside")
    assert callbacks > 0
    assert_page_matches_api(page, today, callbacks)

    choose(page, period="7d")
    week = api_metrics(live, token, "lakeside", TODAY - timedelta(days=6), TODAY)
    assert week["calls_offered"] > today["calls_offered"]
    assert_page_matches_api(page, week, callbacks)
    assert page.locator("figure.chart svg").count() == 4  # the metrics' three, and the staffing advice's (issue 18)
    for agent in week["agents"]:
        expect(page.locator(f'[data-agent-row="{agent["id"]}"] th')).to_have_text(agent["name"])

    choose(page, period="custom", dates=(TODAY - timedelta(days=3), TODAY - timedelta(days=1)))
    expect(page.locator("[data-period]")).to_have_attribute("data-period", "2026-11-21/2026-11-23")
    assert_page_matches_api(page, api_metrics(live, token, "lakeside", TODAY - timedelta(days=3),
                                              TODAY - timedelta(days=1)), callbacks)

    # Each time of the practice's says its zone (the page also shows the live queue's time in UTC).
    opened = page.locator("[data-callbacks] tbody tr td:nth-child(3)")
    assert opened.count() == callbacks and all(
        re.fullmatch(r"\w{3} \d\d \w{3} \d\d:\d\d C[SD]T", text) for text in opened.all_inner_texts())
    expect(page.locator("[data-hours-zone]")).to_contain_text("America/Chicago")

    choose(page, period="7d")
    expect(page.locator("[data-queue]")).to_have_attribute("data-queue-updated", re.compile("."), timeout=15_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert problems == []


def test_given_an_admin_when_switching_practice_then_each_practice_and_all_together_match_the_api(
        page, live, tokens, people):
    token = issue(tokens, "root")
    sign_in_as(page, live, "root")
    expect(page.get_by_role("heading", level=1)).to_have_text("All practices together")

    for practice, heading in (("northside", "Northside Pediatrics"), ("lakeside", "Lakeside Family Medicine"),
                              ("all", "All practices together")):
        choose(page, practice=practice, period="7d")
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expected = api_metrics(live, token, practice, TODAY - timedelta(days=6), TODAY)
        assert_page_matches_api(page, expected, open_callbacks(live, token, None if practice == "all" else practice))

    lakeside = api_metrics(live, token, "lakeside", TODAY - timedelta(days=6), TODAY)
    northside = api_metrics(live, token, "northside", TODAY - timedelta(days=6), TODAY)
    assert as_number(shown(page, "calls_offered")) == lakeside["calls_offered"] + northside["calls_offered"]

    # All practices together as CSV, from the keyboard: the API's practice=all file for the same week.
    with page.expect_download() as download:
        press(page, page.get_by_role("link", name="Download these figures (CSV)"))
    week = {"from": (TODAY - timedelta(days=6)).isoformat(), "to": TODAY.isoformat()}
    assert download.value.suggested_filename == "careline-metrics-all-{from}-{to}.csv".format(**week)
    with open(download.value.path(), encoding="utf-8", newline="") as got:
        body = got.read()
    answer = requests.get(f"{live}/api/metrics.csv", headers=bearer(token), timeout=10,
                          params={"practice": "all", **week})
    assert answer.status_code == 200 and body == answer.text and body.count("\r\nday,") == 7  # a row a day


def test_given_the_dashboard_open_when_an_agent_changes_status_then_the_live_queue_follows_without_a_reload(
        page, live, tokens, people):
    sign_in_as(page, live, "mo")
    ben = page.locator(f'[data-queue-agents] tr[data-agent-id="{people["ben"]}"] [data-agent-status]')
    expect(ben).to_have_text("Offline")
    page.evaluate("window.notReloaded = true")

    answer = requests.post(f"{live}/api/agents/me/status", json={"status": "available"},
                           headers=bearer(issue(tokens, "ben")), timeout=10)
    assert answer.status_code == 200

    expect(ben).to_have_text("Available", timeout=15_000)  # the script polls every 5 s
    expect(page.locator('[data-queue-count="available"]')).to_have_text("1")
    assert page.evaluate("window.notReloaded") is True

    requests.post(f"{live}/api/agents/me/status", json={"status": "paused", "reason": "lunch"},
                  headers=bearer(issue(tokens, "ben")), timeout=10)
    expect(ben).to_have_text("Paused", timeout=15_000)
    expect(page.locator(f'[data-queue-agents] tr[data-agent-id="{people["ben"]}"]')).to_contain_text("lunch")


def test_given_a_lakeside_manager_then_no_northside_numbers_in_the_page_or_the_api(page, live, tokens, people):
    token = issue(tokens, "mo")
    admin = issue(tokens, "root")
    sign_in_as(page, live, "mo")
    choose(page, period="7d")
    northside = api_metrics(live, admin, "northside", TODAY - timedelta(days=6), TODAY)
    lakeside = api_metrics(live, admin, "lakeside", TODAY - timedelta(days=6), TODAY)
    assert northside["calls_offered"] > 0 and northside["calls_offered"] != lakeside["calls_offered"]

    options = page.get_by_label("Practice", exact=True).locator("option").all_inner_texts()
    assert options == ["Lakeside Family Medicine"]
    assert as_number(shown(page, "calls_offered")) == lakeside["calls_offered"]
    body = page.content()
    for northside_only in ("Northside", "Nia Okafor", "+1617"):
        assert northside_only not in body

    response = page.goto(f"{live}/console/?practice=northside&period=7d")
    assert response.status == 403
    assert "Northside" not in page.content() and page.locator("[data-metric]").count() == 0
    together = page.goto(f"{live}/console/?practice=all&period=7d")
    assert together.status == 403
    queue = requests.get(f"{live}/console/queue.json", params={"practice": "northside"},
                         cookies={c["name"]: c["value"] for c in page.context.cookies()}, timeout=10)
    assert queue.status_code == 403
    refused = requests.get(f"{live}/api/metrics", headers=bearer(token), timeout=10,
                           params={"practice": "northside", "from": "2026-11-18", "to": "2026-11-24"})
    assert refused.status_code == 403

"""GET /api/staffing and /api/staffing.csv (issue 18): Lakeside's advice for a week, from four weeks of its own calls
played through the simulator (tests/integration/staffing_story.py), each input checked against what was played."""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from models import Agent, AuditEvent
from models.metrics import CallFact
from staffing.model import HourDemand, agents_needed, outlook
from tests.integration.conftest import (EMAILS, PHONE_AGENTS_TOML, PRACTICES_TOML, bearer, issue, load_practices,
                                        with_rest_standin)
from tests.integration.staffing_story import (HANG_UP_AT, HISTORY, LONG_TALK, SHORT_TALK, WEEK,
                                              WRAP_UP, StaffingWeeks)

PEOPLE_TOML = PHONE_AGENTS_TOML + """
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
TARGET, THRESHOLD = 0.8, 30  # Lakeside's defaults: [practices.queue] service_level_target, service_level_seconds


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@pytest.fixture
def people(services) -> dict[str, int]:
    load_practices(services, PRACTICES_TOML + PEOPLE_TOML)
    with services.session_factory() as session:
        ids = dict(session.execute(select(Agent.email, Agent.id)).all())
    return {name: ids[email] for name, email in EMAILS.items() if email in ids}


@pytest.fixture
def weeks(client, clock, standin, tokens, services, people) -> StaffingWeeks:
    story = StaffingWeeks(client, clock, standin, tokens, services)
    story.play()
    return story


def advice(client, tokens, **params) -> dict:
    answer = client.get("/api/staffing", query_string=params, headers=bearer(issue(tokens, "mo")))
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def hour(document: dict, day: str, at: int) -> dict:
    (row,) = [h for h in document["hours"] if h["day"] == day and h["hour"] == at]
    return row


def test_given_four_weeks_of_calls_then_each_hour_is_sized_from_its_own_calls_and_last_weeks_agents(
        weeks, client, tokens):
    document = advice(client, tokens, practice="lakeside", week=WEEK)
    assert (document["week"], document["week_start"], document["week_end"]) == (WEEK, "2026-11-23", "2026-11-29")
    assert document["history"] == {"from": HISTORY[0].isoformat(), "to": "2026-11-22", "weeks_asked": 4, "weeks": 4}
    assert document["on_duty_week"] == {"from": "2026-11-16", "to": "2026-11-22"}
    assert document["target"] == {"service_level": TARGET, "seconds": THRESHOLD}
    assert len(document["hours"]) == 168 and document["hours"][0]["day"] == "mon" and document["hours"][0]["hour"] == 0

    # Two abandons a week, eight in all: patience is known, so Erlang A. Patience is every queue caller's time
    # holding (as the metrics count each call's wait) over the abandons: the 8 who gave up are known to have had
    # that much patience, the 20 put through at least as much as they waited.
    assert document["model"] == "erlang-a" and document["abandons"] == 8
    with weeks.services.session_factory() as session:
        waits = [(fact.abandoned, fact.wait_seconds) for fact in session.scalars(select(CallFact))]
    assert sorted(abandoned for abandoned, _ in waits).count(True) == 8 and len(waits) == 28
    gave_up = [wait for abandoned, wait in waits if abandoned]
    assert all(0 < wait < HANG_UP_AT for wait in gave_up)
    assert document["patience_seconds"] == pytest.approx(sum(wait for _, wait in waits) / 8, abs=0.06)  # to 0.1 s
    assert document["patience_seconds"] > max(gave_up)  # the callers put through raise it: they were patient
    # Each caller put through was offered to Ben as it joined (he was free): its whole wait is the offer's ring and
    # whisper (his phone answers after 3 s), the time each connection takes.
    put_through = [wait for abandoned, wait in waits if not abandoned]
    assert document["ring_seconds"] == pytest.approx(sum(put_through) / len(put_through), abs=0.05)
    assert document["ring_seconds"] > 3

    monday = hour(document, "mon", 10)
    assert monday["date"] == "2026-11-23" and monday["calls_offered"] == 5.0  # 3 answered + 2 gave up, each week
    assert monday["handle_from"] == "hour" and abs(monday["handle_seconds"] - (SHORT_TALK + WRAP_UP)) <= 2
    demand = HourDemand(5.0, monday["handle_seconds"], document["ring_seconds"], document["patience_seconds"])
    assert monday["traffic_erlangs"] == pytest.approx(demand.traffic, abs=1e-3)
    assert monday["agents_needed"] == agents_needed(demand, TARGET, THRESHOLD) == 1
    assert monday["agents_on_duty"] == pytest.approx(1.5, abs=0.01)  # Ben all hour, Ana the second half
    expected = outlook(demand, 2, THRESHOLD)  # 1.5 agents read as the nearest whole number
    assert monday["expected_service_level"] == pytest.approx(expected.service_level, abs=1e-4)
    assert monday["gap"] == pytest.approx(-0.5) and monday["short"] is False

    tuesday = hour(document, "tue", 9)  # two 25-minute calls an hour: one agent falls behind
    assert tuesday["calls_offered"] == 2.0 and tuesday["handle_from"] == "hour"  # 8 calls with their talk timed
    assert abs(tuesday["handle_seconds"] - (LONG_TALK + WRAP_UP)) <= 2
    heavy = HourDemand(2.0, tuesday["handle_seconds"], document["ring_seconds"], document["patience_seconds"])
    assert tuesday["agents_needed"] == agents_needed(heavy, TARGET, THRESHOLD) >= 2
    assert tuesday["agents_on_duty"] == pytest.approx(1.0, abs=0.01)
    assert tuesday["short"] is True and tuesday["gap"] >= 1
    assert tuesday["expected_service_level"] < TARGET

    quiet = hour(document, "wed", 3)
    assert (quiet["calls_offered"], quiet["agents_needed"], quiet["agents_on_duty"], quiet["short"]) == (0, 0, 0, False)
    assert document["summary"]["hours_with_calls"] == 2 and document["summary"]["hours_short"] == 1


def test_given_no_week_then_the_current_one_and_a_week_ahead_compares_this_weeks_agents_so_far(weeks, client, tokens):
    assert advice(client, tokens, practice="lakeside")["week"] == WEEK  # OPEN_TIME is in it

    ahead = advice(client, tokens, practice="lakeside", week="2026-W49")
    # This week is not over: the history is still the four weeks before it, and this week's agents are compared.
    assert ahead["history"]["to"] == "2026-11-22" and ahead["on_duty_week"] == {"from": "2026-11-23",
                                                                                 "to": "2026-11-29"}
    monday, tuesday = hour(ahead, "mon", 10), hour(ahead, "tue", 9)
    assert monday["date"] == "2026-11-30" and monday["calls_offered"] == 5.0
    assert monday["agents_on_duty"] == 0.0 and monday["short"] is True  # nobody took calls this Monday
    assert tuesday["agents_on_duty"] == 0.0  # Tuesday 09:00-10:00 in Chicago ended at OPEN_TIME
    later = hour(ahead, "tue", 10)  # not over yet: unknown, so neither short nor a gap
    assert (later["agents_on_duty"], later["gap"], later["short"]) == (None, None, False)

    two = advice(client, tokens, practice="lakeside", weeks="2")
    assert two["history"] == {"from": "2026-11-09", "to": "2026-11-22", "weeks_asked": 2, "weeks": 2}
    assert hour(two, "mon", 10)["calls_offered"] == 5.0 and two["abandons"] == 4


def test_given_a_practice_without_calls_then_every_hour_needs_nobody(people, client, tokens):
    document = advice(client, tokens, practice="lakeside", week=WEEK)
    assert document["history"]["weeks"] == 0 and document["model"] == "erlang-c"
    assert document["patience_seconds"] is None and document["handle_seconds"] is None
    assert {(h["calls_offered"], h["agents_needed"], h["short"]) for h in document["hours"]} == {(0, 0, False)}
    assert document["summary"] == {"calls_offered": 0, "hours_with_calls": 0, "hours_short": 0,
                                   "agent_hours_needed": 0, "agent_hours_on_duty": 0}


def test_the_csv_holds_the_same_hours_and_its_reading_is_audited(weeks, client, tokens, services):
    document = advice(client, tokens, practice="lakeside", week=WEEK)
    answer = client.get("/api/staffing.csv", query_string={"practice": "lakeside", "week": WEEK},
                        headers=bearer(issue(tokens, "mo")))
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert answer.headers["Content-Disposition"] == f'attachment; filename="careline-staffing-lakeside-{WEEK}.csv"'
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert len(rows) == 168 and list(rows[0]) == ["day", "date", "hour", "calls_offered", "handle_seconds",
                                                  "traffic_erlangs", "agents_needed", "agents_on_duty",
                                                  "expected_service_level", "expected_wait_seconds",
                                                  "expected_abandon_share", "gap", "short"]
    for row, expected in zip(rows, document["hours"]):
        assert (row["day"], row["date"], int(row["hour"])) == (expected["day"], expected["date"], expected["hour"])
        assert float(row["calls_offered"]) == expected["calls_offered"]
        assert row["agents_needed"] == str(expected["agents_needed"])
        assert row["short"] == ("true" if expected["short"] else "false")
    tuesday = next(r for r in rows if (r["day"], r["hour"]) == ("tue", "9"))
    assert tuesday["short"] == "true" and float(tuesday["expected_service_level"]) < TARGET
    assert next(r for r in rows if (r["day"], r["hour"]) == ("wed", "3"))["expected_service_level"] == ""
    with services.session_factory() as session:
        (event,) = session.scalars(select(AuditEvent).where(AuditEvent.subject_kind == "staffing")).all()
    assert (event.action, event.subject_id) == ("export.csv", "lakeside")


@pytest.mark.parametrize("who, params, status, field", [
    ("mo", {"practice": "lakeside", "week": "2026-48"}, 400, "week"),
    ("mo", {"practice": "lakeside", "week": "2026-W54"}, 400, "week"),
    ("mo", {"practice": "lakeside", "weeks": "0"}, 400, "weeks"),
    ("mo", {"practice": "lakeside", "weeks": "13"}, 400, "weeks"),
    ("mo", {"practice": "lakeside", "weeks": "²"}, 400, "weeks"),
    ("mo", {"practice": "lakeside", "when": "now"}, 400, "when"),
    ("root", {"practice": "all"}, 400, "practice"),
    ("root", {}, 400, "practice"),
    ("mo", {"practice": "northside"}, 403, None),
    ("mo", {"practice": "nowhere"}, 403, None),  # unknown answers like another practice's: slugs are not probed
    ("root", {"practice": "nowhere"}, 404, None),
    ("ben", {"practice": "lakeside"}, 403, None),  # agents do not read the advice
])
def test_given_a_bad_or_forbidden_request_then_a_clear_error(people, client, tokens, who, params, status, field):
    for path in ("/api/staffing", "/api/staffing.csv"):
        answer = client.get(path, query_string=params, headers=bearer(issue(tokens, who)))
        assert answer.status_code == status, answer.get_json()
        if field:
            assert answer.get_json()["error_id"] == "invalid-field"
            assert answer.get_json()["details"]["field"] == field

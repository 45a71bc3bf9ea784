"""The managers' metrics over hand-built call histories, written through the real path: call events through
the call-log writer (`persist`), agents' status through the status API, callback attempts through the
callbacks API, and whole calls through the simulator. Each expected figure is worked out here, by hand.

Lakeside (America/Chicago, ring budget 15 s) has service_level_seconds = 20 and short_abandon_seconds = 5.
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from callsim import Callee, Caller
from calllog.events import Event
from core.db import session_scope
from metrics.rollup import rebuild
from metrics.summary import MetricsService
from models import Agent, CallbackTask, Practice, QueueEvent
from models.metrics import (AgentStatsDaily, AgentTimeHourly, CallAgentFact, CallbackStatsDaily, CallFact,
                            CallStatsHourly, CumulativeHistogram)
from tests.integration.conftest import (PHONE_AGENTS_TOML, EMAILS, LAKESIDE, NORTHSIDE, PRACTICES_TOML, bearer, issue,
                                        load_practices, simulator, with_rest_standin)

UTC = timezone.utc
METRICS_TOML = PRACTICES_TOML.replace("""max_length_seconds = 120
""", """max_length_seconds = 120

[practices.queue]
service_level_seconds = 20
short_abandon_seconds = 5
""") + """
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
NIA_PHONE = "+16175550135"
DAY = date(2026, 11, 24)  # a Tuesday; Chicago is UTC-6 (CST)
SUMMARY_TIME = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)  # Wednesday noon in Chicago


def utc(hour: int, minute: int = 0, second: float = 0.0, day: int = 24, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) + timedelta(seconds=second)


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@pytest.fixture
def people(services) -> dict[str, int]:
    load_practices(services, METRICS_TOML)
    with services.session_factory() as session:
        ids = dict(session.execute(select(Agent.email, Agent.id)).all())
    return {name: ids[email] for name, email in EMAILS.items() if email in ids}


@pytest.fixture
def pids(services, people) -> dict[str, int]:
    with services.session_factory() as session:
        return dict(session.execute(select(Practice.slug, Practice.id)).all())


@pytest.fixture
def api(client, tokens, people, clock):
    """Call the API as one of the people; tokens are issued once each."""
    cache = {}

    def call(name: str, method: str, path: str, **kwargs):
        token = cache.setdefault(name, issue(tokens, name))
        return client.open(path, method=method, headers=bearer(token), **kwargs)

    return call


def set_status(api, clock, name: str, status: str, when: datetime) -> None:
    clock.now = when
    answer = api(name, "POST", "/api/agents/me/status", json={"status": status})
    assert answer.status_code == 200 and answer.get_json()["changed"] is True, answer.get_json()


# --- building call histories as the webhooks log them ---------------------------------------------------------

class History:
    """Call events for one practice's number, as the webhooks append them."""

    def __init__(self, practice_id: int, number: str = LAKESIDE, tag: int = 1):
        self.practice_id = practice_id
        self.number = number
        self.tag = tag  # one digit: in the CallSids and the callers' numbers
        self.events: list[Event] = []
        self.count = 0

    def call(self, start: datetime) -> "CallBuilder":
        self.count += 1
        return CallBuilder(self, f"CA{self.tag:02d}{self.count:030d}", start, caller_number(self.tag, self.count))


def caller_number(tag: int, n: int) -> str:
    """The caller of call `n` of a History tagged `tag`: +1312555TNNN."""
    return f"+1312555{tag:01d}{n:03d}"


class CallBuilder:
    def __init__(self, history: History, sid: str, start: datetime, caller: str):
        self.history, self.sid, self.start, self.caller = history, sid, start, caller
        self.who = {"from": caller, "to": history.number}
        self.add("incoming", "incoming", 0, practice_id=history.practice_id, language="en",
                 after_hours=False, **self.who)

    def add(self, kind: str, key: str, seconds: float, **data) -> "CallBuilder":
        self.history.events.append(Event(self.sid, kind, key, self.start + timedelta(seconds=seconds), data))
        return self

    def ivr(self, seconds: float = 0) -> "CallBuilder":
        return self.add("ivr-answer", "ivr-answer", seconds)

    def front_desk(self, seconds: float, status: str, talk: int = 0) -> "CallBuilder":
        return self.add("front-desk-result", "front-desk-result", seconds, dial_call_status=status,
                        dial_call_duration=str(talk) if talk else None)

    def queue(self, kind: str, seconds: float, key: str | None = None, **data) -> "CallBuilder":
        return self.add(f"queue-{kind}", key or f"queue-{kind}", seconds, practice_id=self.history.practice_id,
                        urgent=False, **data)

    def talk_ended(self, seconds: float, agent_id: int, talk: int, wrap: int = 0) -> "CallBuilder":
        return self.add("agent-call-ended", f"agent-call-ended:{agent_id}", seconds,
                        practice_id=self.history.practice_id, agent_id=agent_id, talk_seconds=talk,
                        wrap_up_seconds=wrap)

    def message(self, seconds: float, urgent: bool = False) -> "CallBuilder":
        recording = "RE" + self.sid[2:]
        return self.add("message", "message:1", seconds, kept=True, duration=9, recording_sid=recording,
                        recording_url=f"https://api.twilio.com/{recording}", urgent=urgent)

    def ended(self, seconds: float) -> "CallBuilder":
        return self.add("status", "status:completed", seconds, call_status="completed", sequence=5,
                        call_duration=str(int(seconds)), **self.who)


def lakeside_day(lakeside: int, northside: int, ana: int, ben: int) -> list[Event]:
    """Tuesday 24 November 2026 at Lakeside (times local, CST = UTC-6), plus one Northside call:

    C1  09:00 front desk answers after 8 s (talks 60 s)                 in budget, person
    C2  09:10 front desk does not answer; IVR at 20 s; queue at 40 s;    not in budget, person, connected
              Ben misses the offer, Ana answers: wait 25.0 s, talk 120 s (outside the 20 s service level)
    C3  09:30 IVR; queue; Ben answers: wait 12.4 s, talk 90 s, 10 s wrap-up    connected within 20 s
    C4  10:05 IVR; queue; hangs up after 3.0 s                           short abandon
    C5  10:20 IVR; queue; hangs up after 47.5 s                          abandon
    C6  11:00 IVR; queue; presses 1 after 30 s: an urgent message        not an abandon; urgent message
    C7  11:15 IVR; queue at 20 s; presses 2 after 62 s: a callback       not an abandon
    C8  14:00 IVR; a routine message                                     message
    C9  14:30 IVR; queue; the maximum wait, 180 s; then a message        not an abandon; message
    C10 23:30 IVR; hangs up (05:30 UTC on the 25th)                      counted on the 24th, hour 23
    C11 15:00 Ana's callback to a patient: outbound                      not offered
    N1  Northside, 11:00 in New York                                     another practice
    """
    h = History(lakeside)
    h.call(utc(15)).front_desk(68, "completed", talk=60).ended(68)
    (h.call(utc(15, 10)).front_desk(15, "no-answer").ivr(20).queue("entered", 40, position=1)
     .queue("offered", 41, key=f"queue-offered:{ben}:1", agent_id=ben, wait_seconds=1.0)
     .queue("no-answer", 56, key=f"queue-no-answer:{ben}", agent_id=ben)
     .queue("offered", 57, key=f"queue-offered:{ana}:2", agent_id=ana, wait_seconds=17.0)
     .queue("connected", 65, key=f"queue-connected:{ana}", agent_id=ana, wait_seconds=25.0)
     .talk_ended(185, ana, 120).ended(185))
    (h.call(utc(15, 30)).ivr().queue("entered", 20, position=1)
     .queue("offered", 20, key=f"queue-offered:{ben}:3", agent_id=ben, wait_seconds=0.0)
     .queue("connected", 32.4, key=f"queue-connected:{ben}", agent_id=ben, wait_seconds=12.4)
     .talk_ended(122.4, ben, 90, wrap=10).ended(122.4))
    h.call(utc(16, 5)).ivr().queue("entered", 20).queue("abandoned", 23, wait_seconds=3.0).ended(23)
    h.call(utc(16, 20)).ivr().queue("entered", 20).queue("abandoned", 67.5, wait_seconds=47.5).ended(67.5)
    (h.call(utc(17)).ivr().queue("entered", 20).queue("left-by-key", 50, wait_seconds=30.0, reason="message")
     .message(70, urgent=True).ended(75))
    c7 = h.call(utc(17, 15))
    (c7.ivr().queue("entered", 20).queue("left-by-key", 82, wait_seconds=62.0, reason="callback")
     .add("callback-requested", "callback-requested", 82, practice_id=lakeside, urgent=False,
          queued_at=(utc(17, 15) + timedelta(seconds=20)).isoformat()).ended(85))
    h.call(utc(20)).ivr().message(40).ended(45)
    (h.call(utc(20, 30)).ivr().queue("entered", 20).queue("max-wait", 200, wait_seconds=180.0)
     .message(230).ended(240))
    h.call(utc(5, 30, day=25)).ivr().ended(30)
    outbound = f"CA99{1:030d}"
    h.events += [
        Event(outbound, "callback-call", "callback-call", utc(21), {
            "practice_id": lakeside, "direction": "outbound", "from": LAKESIDE, "to": "+13125550999",
            "task_id": 1, "agent_id": ana, "attempt": 1, "urgent": False}),
        Event(outbound, "status", "status:completed", utc(21, 2), {
            "call_status": "completed", "sequence": 4, "call_duration": "120", "from": LAKESIDE, "to": "+1"})]
    n = History(northside, NORTHSIDE, tag=2)
    n.call(utc(16)).ivr().ended(30)
    return h.events + n.events


def task_id_for(services, caller: str) -> int:
    with services.session_factory() as session:
        return session.scalar(select(CallbackTask.id).where(CallbackTask.callback_number == caller))


def attempt(api, clock, task_id: int, outcome: str, when: datetime) -> dict:
    clock.now = when
    answer = api("ben", "POST", f"/api/callbacks/{task_id}/attempts", json={"outcome": outcome})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


@pytest.fixture
def lakeside_history(services, api, clock, people, pids):
    """The day above, with Ben's status set through the API and the callback tasks worked through it.

    Ben's status rows come first (14:55 .. 23:00 UTC); the call-driven rows of C2 and C3 only arrive later,
    with the calls' events: the hours they fall in are recounted then.
    """
    ben, ana = people["ben"], people["ana"]
    set_status(api, clock, "ben", "available", utc(14, 55))
    set_status(api, clock, "ben", "paused", utc(15, 15))
    set_status(api, clock, "ben", "available", utc(15, 20))
    set_status(api, clock, "ben", "paused", utc(17))
    set_status(api, clock, "ben", "available", utc(17, 30))
    set_status(api, clock, "ben", "offline", utc(23))
    services.calllog_writer.persist(lakeside_day(pids["lakeside"], pids["northside"], ana, ben))
    # Callbacks: C6's urgent task (due 17:15 UTC) reached at 17:10; C8's (due 22:00) reached at 23:30;
    # C4's closed as a wrong number; C5's unanswered three times: flagged for a manager at 20:30.
    attempt(api, clock, task_id_for(services, caller_number(1, 6)), "reached", utc(17, 10))
    attempt(api, clock, task_id_for(services, caller_number(1, 8)), "reached", utc(23, 30))
    attempt(api, clock, task_id_for(services, caller_number(1, 4)), "wrong-number", utc(21))
    c5 = task_id_for(services, caller_number(1, 5))
    for when in (utc(18), utc(19), utc(20, 30)):
        shown = attempt(api, clock, c5, "no-answer", when)
    assert shown["needs_manager"] is True
    clock.now = SUMMARY_TIME
    return people


# The Tuesday's figures, worked out from the table in lakeside_day's docstring.
EXPECTED_TUESDAY = {
    "calls_offered": 10,  # C1 .. C10
    "answered_within_ring_budget": 9 / 10,  # all but C2 (IVR at 20 s > 15 s)
    "handled_by_person": 3,  # C1 front desk, C2 and C3 agents
    "queue_entered": 7, "queue_connected": 2,  # C2 C3 C4 C5 C6 C7 C9; C2 C3
    "speed_of_answer_mean_seconds": 18.7,  # (25.0 + 12.4) / 2
    "speed_of_answer_p90_seconds": 25,  # whole seconds 25 and 13; nearest rank ceil(0.9 x 2) = 2nd
    "service_level": 1 / 6,  # C3 only, over 7 entered - 1 short abandon
    "abandonment_rate": 1 / 6,  # C5, over 7 - 1
    "abandoned": 1, "short_abandons": 1,
    "longest_wait_seconds": 180.0,  # C9
    "messages": 3, "urgent_messages": 1,  # C6 (urgent), C8, C9
    "callbacks_opened": 7,  # C4 .. C10: every call that reached nobody
    "callbacks_closed": 3, "callbacks_reached": 2,  # C4 wrong number; C6 and C8 reached
    "callback_reach_median_minutes": 10,  # C6: 11:00 -> 11:10; C8: 14:00 -> 17:30 = 210 min
    "callback_reach_p90_minutes": 210,
    "callbacks_reached_within_due": 1 / 2,  # C6 by its 15-minute urgent target; C8 after its 16:00 target
    "callbacks_max_attempts": 1,  # C5
}
# Percentiles are the period's only (a day's row has the counts, rates and means).
PERIOD_ONLY = {"speed_of_answer_p90_seconds", "callback_reach_median_minutes", "callback_reach_p90_minutes"}
# Open and past due at Wednesday 12:00: C5 (due 21:30 UTC after its 3rd attempt), C7 (13:15:20 local),
# C9 (16:30 local) and C10 (the next open day, Wednesday, by 10:00).
EXPECTED_OVERDUE = 4
# Ben, from his rows (UTC): available 14:55-15:10:41 (941 s), ringing, paused (missed) 15:10:56-15:15
# (244 s), paused 15:15-15:20 (300 s), available 15:20-15:30:20 (620 s), ringing, busy, wrap-up until
# 15:32:12.4, available until 17:00 (5267.6 s), paused 17:00-17:30 (1800 s), available 17:30-23:00
# (19800 s), then offline. Ana: ringing 15:10:57, busy 15:11:05, available from 15:13:05 on, until the
# Tuesday's end, 06:00 UTC (53215 s).
EXPECTED_AGENTS = [
    {"name": "Ana Lopez", "calls_handled": 1, "talk_mean_seconds": 120.0, "offers_missed": 0,
     "available_seconds": 53215.0, "paused_seconds": 0.0},
    {"name": "Ben Adler", "calls_handled": 1, "talk_mean_seconds": 90.0, "offers_missed": 1,
     "available_seconds": 26628.6, "paused_seconds": 2344.0},
]


def agents_without_ids(document: dict) -> list[dict]:
    return [{k: v for k, v in agent.items() if k != "id"} for agent in document["agents"]]


def test_given_a_hand_built_day_then_every_definition_counts_as_worked_out(lakeside_history, api, services):
    answer = api("mo", "GET", "/api/metrics?practice=lakeside&from=2026-11-24&to=2026-11-24")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert (body["practices"], body["from"], body["to"]) == (["lakeside"], "2026-11-24", "2026-11-24")
    assert {name: body[name] for name in EXPECTED_TUESDAY} == EXPECTED_TUESDAY
    assert body["callbacks_overdue_now"] == EXPECTED_OVERDUE
    assert agents_without_ids(body) == EXPECTED_AGENTS
    assert [a["id"] for a in body["agents"]] == [lakeside_history["ana"], lakeside_history["ben"]]
    (day,) = body["days"]
    assert {name: day[name] for name in EXPECTED_TUESDAY if name not in PERIOD_ONLY} == {
        name: value for name, value in EXPECTED_TUESDAY.items() if name not in PERIOD_ONLY}
    assert PERIOD_ONLY.isdisjoint(day)
    assert (day["date"], day["weekday"]) == ("2026-11-24", "tue")
    # For staffing: 09h C1 C2 C3 (2 entered, none abandoned); 10h C4 C5 (short + abandon: 1 / (2 - 1));
    # 11h C6 C7; 14h C8 C9; 23h C10 (never in the queue: no rate).
    hours = {row["hour"]: (row["calls_offered"], row["abandonment_rate"]) for row in body["by_hour"]}
    assert hours == {**{hour: (0, None) for hour in range(24)},
                     9: (3, 0.0), 10: (2, 1.0), 11: (2, 0.0), 14: (2, 0.0), 23: (1, None)}
    weekdays = {row["weekday"]: (row["calls_offered"], row["abandonment_rate"]) for row in body["by_weekday"]}
    assert weekdays == {"mon": (0, None), "tue": (10, 1 / 6), "wed": (0, None), "thu": (0, None),
                        "fri": (0, None), "sat": (0, None), "sun": (0, None)}
    assert body["wait_distribution"] == [
        {"up_to_seconds": 10, "calls": 0}, {"up_to_seconds": 30, "calls": 2}, {"up_to_seconds": 60, "calls": 0},
        {"up_to_seconds": 120, "calls": 0}, {"up_to_seconds": 300, "calls": 0}, {"up_to_seconds": None, "calls": 0}]


def test_given_a_call_still_in_progress_then_it_counts_once_it_has_ended(lakeside_history, api, services, pids):
    h = History(pids["lakeside"])
    h.count = 50
    live = h.call(utc(22)).ivr()
    services.calllog_writer.persist(h.events)
    query = "/api/metrics?practice=lakeside&from=2026-11-24&to=2026-11-24"
    assert api("mo", "GET", query).get_json()["calls_offered"] == 10
    services.calllog_writer.persist([live.ended(40).history.events[-1]])
    body = api("mo", "GET", query).get_json()
    assert (body["calls_offered"], body["answered_within_ring_budget"]) == (11, 10 / 11)


def test_given_the_same_figures_then_the_csv_equals_the_json(lakeside_history, api):
    query = "practice=lakeside&from=2026-11-23&to=2026-11-25"
    body = api("mo", "GET", f"/api/metrics?{query}").get_json()
    answer = api("mo", "GET", f"/api/metrics.csv?{query}")
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert answer.headers["Content-Disposition"] == \
        'attachment; filename="careline-metrics-lakeside-2026-11-23-2026-11-25.csv"'
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    days = [r for r in rows if r["row_type"] == "day"]
    agents = [r for r in rows if r["row_type"] == "agent"]
    assert len(rows) == len(days) + len(agents) and len(days) == 3 and len(agents) == 2

    def cell(value) -> str:
        return "" if value is None else repr(value) if isinstance(value, float) else str(value)

    for row, day in zip(days, body["days"]):
        assert row["date"] == day["date"]
        assert {k: row[k] for k in day if k in row} == {k: cell(v) for k, v in day.items() if k in row}
        assert set(day) - set(row) == set()  # every day figure is a column
    for row, agent in zip(agents, body["agents"]):
        assert (row["agent_id"], row["agent_name"]) == (str(agent["id"]), agent["name"])
        assert {k: row[k] for k in agent if k in row} == {k: cell(v) for k, v in agent.items() if k in row}
    tuesday = next(r for r in days if r["date"] == "2026-11-24")
    assert float(tuesday["service_level"]) == 1 / 6 and tuesday["speed_of_answer_mean_seconds"] == "18.7"
    monday = next(r for r in days if r["date"] == "2026-11-23")
    assert (monday["calls_offered"], monday["service_level"]) == ("0", "")  # nothing counted: empty, not 0


def test_given_two_practices_then_a_manager_sees_only_theirs_and_an_admin_all_together(lakeside_history, api):
    query = "from=2026-11-24&to=2026-11-24"
    refused = api("mo", "GET", f"/api/metrics?practice=northside&{query}")
    assert refused.status_code == 403 and refused.get_json()["error_id"] == "forbidden"
    assert api("mo", "GET", f"/api/metrics.csv?practice=northside&{query}").status_code == 403
    assert api("mo", "GET", f"/api/metrics?practice=all&{query}").status_code == 403
    assert api("ben", "GET", f"/api/metrics?practice=lakeside&{query}").status_code == 403  # an agent
    mine = api("mo", "GET", f"/api/metrics?{query}")  # one practice: no need to name it
    assert mine.status_code == 200 and mine.get_json()["calls_offered"] == 10
    together = api("root", "GET", f"/api/metrics?practice=all&{query}").get_json()
    assert together["practices"] == ["lakeside", "northside"]
    assert together["calls_offered"] == 11  # 10 at Lakeside + N1
    assert together["answered_within_ring_budget"] == 10 / 11
    assert together["days"][0]["calls_offered"] == 11
    northside = api("root", "GET", f"/api/metrics?practice=northside&{query}").get_json()
    assert (northside["calls_offered"], northside["queue_entered"], northside["service_level"]) == (1, 0, None)
    assert api("root", "GET", f"/api/metrics?{query}").get_json()["details"]["field"] == "practice"


@pytest.mark.parametrize("query, field", [
    ("practice=lakeside&from=2026-11-31&to=2026-12-01", "from"),
    ("practice=lakeside&from=2026-11-01&to=tomorrow", "to"),
    ("practice=lakeside&from=20261101&to=2026-11-02", "from"),
    ("practice=lakeside&to=2026-11-02", "from"),
    ("practice=lakeside&from=2026-11-02&to=2026-11-01", "to"),
    ("practice=lakeside&from=2025-11-01&to=2026-11-02", "to"),  # 367 days
    ("practice=lakeside&from=2026-11-01&to=2026-11-02&agent=3", "agent"),
    ("practice=&from=2026-11-01&to=2026-11-02", "practice"),
])
def test_given_a_bad_parameter_then_400_naming_it(api, people, query, field):
    answer = api("mo", "GET", f"/api/metrics?{query}")
    assert answer.status_code == 400
    assert answer.get_json()["error_id"] == "invalid-field" and answer.get_json()["details"]["field"] == field


def test_given_a_year_and_an_unknown_practice_then_366_days_pass_and_the_slug_is_404(api, people):
    assert api("mo", "GET", "/api/metrics?practice=lakeside&from=2025-11-02&to=2026-11-02").status_code == 200
    unknown = api("root", "GET", "/api/metrics?practice=nowhere&from=2026-11-01&to=2026-11-02")
    assert unknown.status_code == 404 and unknown.get_json()["error_id"] == "practice-not-found"


def test_given_no_practice_then_nothing_is_counted_never_everything(lakeside_history, services):
    document = MetricsService(services.session_factory, services.clock).summary([], DAY, DAY)
    assert (document["practices"], document["calls_offered"], document["service_level"]) == ([], 0, None)
    assert document["agents"] == [] and document["callbacks_overdue_now"] == 0
    assert document["days"][0]["calls_offered"] == 0


# --- time zones -------------------------------------------------------------------------------------------------

def test_given_the_fall_back_day_then_25_hours_of_calls_and_time_count_on_their_local_day(api, clock, services,
                                                                                          pids):
    """Sunday 1 November 2026 in Chicago: 01:00-02:00 twice, 05:00 UTC to 06:00 UTC the next day."""
    h = History(pids["lakeside"])
    h.call(utc(4, 50, day=1)).ivr().ended(20)  # Saturday 23:50 CDT
    h.call(utc(5, 30, day=1)).ivr().ended(20)  # 00:30 CDT
    h.call(utc(6, 30, day=1)).ivr().ended(20)  # 01:30 CDT
    h.call(utc(7, 30, day=1)).ivr().ended(20)  # 01:30 CST, the second time
    h.call(utc(5, 30, day=2)).ivr().ended(20)  # 23:30 CST
    h.call(utc(6, 10, day=2)).ivr().ended(20)  # Monday 00:10 CST
    services.calllog_writer.persist(h.events)
    set_status(api, clock, "ben", "available", utc(4, day=1))  # Saturday 23:00 CDT
    set_status(api, clock, "ben", "offline", utc(7, day=2))  # Monday 01:00 CST
    clock.now = utc(12, day=3)
    body = api("mo", "GET", "/api/metrics?practice=lakeside&from=2026-10-31&to=2026-11-02").get_json()
    assert [(d["date"], d["calls_offered"]) for d in body["days"]] == [
        ("2026-10-31", 1), ("2026-11-01", 4), ("2026-11-02", 1)]
    sunday = api("mo", "GET", "/api/metrics?practice=lakeside&from=2026-11-01&to=2026-11-01").get_json()
    hours = {row["hour"]: row["calls_offered"] for row in sunday["by_hour"] if row["calls_offered"]}
    assert hours == {0: 1, 1: 2, 23: 1}
    assert next(a for a in sunday["agents"] if a["name"] == "Ben Adler")["available_seconds"] == 25 * 3600.0


def test_given_the_spring_forward_day_then_23_hours_of_calls_and_time_count_on_their_local_day(
        api, clock, services, pids):
    """Sunday 8 March 2026 in Chicago: 02:00-03:00 never happens; 06:00 UTC to 05:00 UTC the next day."""
    h = History(pids["lakeside"])
    h.call(utc(5, 30, day=8, month=3)).ivr().ended(20)  # Saturday 23:30 CST
    h.call(utc(7, 30, day=8, month=3)).ivr().ended(20)  # 01:30 CST
    h.call(utc(8, 30, day=8, month=3)).ivr().ended(20)  # 03:30 CDT
    h.call(utc(4, 30, day=9, month=3)).ivr().ended(20)  # 23:30 CDT
    h.call(utc(5, 30, day=9, month=3)).ivr().ended(20)  # Monday 00:30 CDT
    services.calllog_writer.persist(h.events)
    set_status(api, clock, "ben", "available", utc(5, day=8, month=3))  # Saturday 23:00 CST
    set_status(api, clock, "ben", "offline", utc(6, day=9, month=3))  # Monday 01:00 CDT
    clock.now = utc(12, day=10, month=3)
    body = api("mo", "GET", "/api/metrics?practice=lakeside&from=2026-03-07&to=2026-03-09").get_json()
    assert [(d["date"], d["calls_offered"]) for d in body["days"]] == [
        ("2026-03-07", 1), ("2026-03-08", 3), ("2026-03-09", 1)]
    sunday = api("mo", "GET", "/api/metrics?practice=lakeside&from=2026-03-08&to=2026-03-08").get_json()
    assert {row["hour"]: row["calls_offered"] for row in sunday["by_hour"] if row["calls_offered"]} == \
        {1: 1, 3: 1, 23: 1}
    assert next(a for a in sunday["agents"] if a["name"] == "Ben Adler")["available_seconds"] == 23 * 3600.0


# --- idempotence ------------------------------------------------------------------------------------------------

ROLLUP_TABLES = (CallFact, CallAgentFact, CallStatsHourly, AgentStatsDaily, AgentTimeHourly, CallbackStatsDaily,
                 CumulativeHistogram)


def table_rows(services) -> dict[str, list[tuple]]:
    with services.session_factory() as session:
        out = {}
        for model in ROLLUP_TABLES:
            columns = list(model.__table__.columns)
            key = list(model.__table__.primary_key.columns)
            out[model.__tablename__] = [tuple(row) for row in session.execute(select(*columns).order_by(*key))]
        return out


def test_given_events_twice_and_out_of_order_then_the_roll_ups_are_right_and_equal_a_rebuild(
        lakeside_history, services, api, pids, people):
    """The whole day again, twice, each call's events newest first one batch at a time (a call's status
    callback before its incoming webhook), and the roll-ups stay as they were; `rebuild` writes the same rows."""
    before = table_rows(services)
    events = lakeside_day(pids["lakeside"], pids["northside"], people["ana"], people["ben"])
    for event in reversed(events):
        services.calllog_writer.persist([event])
    services.calllog_writer.persist(events[::2])
    services.calllog_writer.persist(events)
    assert table_rows(services) == before
    body = api("mo", "GET", "/api/metrics?practice=lakeside&from=2026-11-24&to=2026-11-24").get_json()
    assert {name: body[name] for name in EXPECTED_TUESDAY} == EXPECTED_TUESDAY
    assert agents_without_ids(body) == EXPECTED_AGENTS
    with session_scope(services.session_factory) as session:
        rebuild(session)
    assert table_rows(services) == before


def test_given_events_out_of_order_on_a_fresh_history_then_the_same_rows_as_in_order(services, pids, people):
    """Built from scratch with every call's events in reverse order, the roll-ups match `rebuild`'s."""
    events = lakeside_day(pids["lakeside"], pids["northside"], people["ana"], people["ben"])
    for event in reversed(events):
        services.calllog_writer.persist([event])
    incremental = table_rows(services)
    with session_scope(services.session_factory) as session:
        rebuild(session, [pids["lakeside"], pids["northside"]])
    assert table_rows(services) == incremental
    with session_scope(services.session_factory) as session:
        rebuild(session, [])  # no practice: nothing rebuilt, nothing deleted
    assert table_rows(services) == incremental
    document = MetricsService(services.session_factory, lambda: SUMMARY_TIME).summary([pids["lakeside"]], DAY, DAY)
    assert document["calls_offered"] == 10 and document["service_level"] == 1 / 6


# --- whole calls through the simulator --------------------------------------------------------------------------

@pytest.fixture
def qsim(client, clock, standin, people):
    sim = simulator(client, clock)
    sim.rest = standin
    sim.on_time = lambda now: setattr(clock, "now", now)
    sim.media_seconds["https://careline.test/voice/hold-audio.wav"] = 12.0
    return sim


def test_given_whole_queue_calls_through_the_simulator_then_their_metrics(qsim, api, clock, services, drain,
                                                                          people, pids):
    """Nia takes the first Northside caller (40 s); a second caller holds while she talks and hangs up."""
    set_status(api, clock, "nia", "available", clock.now)
    second = {}

    def second_caller(run):
        second["result"] = qsim.call(to=NORTHSIDE, from_="+16175550177",
                                     caller=Caller().press("1", after=1).hang_up(at=15))

    first = qsim.call(to=NORTHSIDE, from_="+16175550166", caller=Caller(press="1"),
                      at={30.0: second_caller}, dial={NIA_PHONE: Callee(press="1", talk_seconds=40)})
    assert first.dial_results[-1].status == "completed" and second["result"].call_sid
    drain()
    with services.session_factory() as session:
        connected = session.scalars(select(QueueEvent).where(QueueEvent.kind == "connected")).one()
        abandoned = session.scalars(select(QueueEvent).where(QueueEvent.kind == "abandoned")).one()
    assert abandoned.wait_seconds > 5  # not a short abandon
    today = clock.now.astimezone(services.directory.get(pids["northside"]).tz).date().isoformat()
    body = api("root", "GET", f"/api/metrics?practice=northside&from={today}&to={today}").get_json()
    assert (body["calls_offered"], body["handled_by_person"], body["queue_entered"], body["queue_connected"]) == \
        (2, 1, 2, 1)
    assert body["answered_within_ring_budget"] == 1.0  # Northside's IVR answers at once
    assert body["speed_of_answer_mean_seconds"] == round(connected.wait_seconds, 1)
    assert body["service_level"] == 1 / 2  # connected within 30 s (the default), over 2 entered
    assert (body["abandonment_rate"], body["abandoned"], body["short_abandons"]) == (1 / 2, 1, 0)
    assert body["longest_wait_seconds"] == max(connected.wait_seconds, abandoned.wait_seconds)
    nia = next(a for a in body["agents"] if a["name"] == "Nia Okafor")
    assert (nia["calls_handled"], nia["talk_mean_seconds"], nia["offers_missed"]) == (1, 40.0, 0)

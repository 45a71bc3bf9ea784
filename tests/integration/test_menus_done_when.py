"""Issue 16's "Done when", played as one day at Lakeside through the simulator (real Redis, real database).

Lakeside's own menu: 1 prescription refills (a queue, skill "refills"), 2 billing (forwarded to the billing
office), 3 test results (a mailbox), 4 the nurse (a queue, skill "nurse", urgent), 9 a complaint; the survey
is on and a refill caller may go to any agent after 40 seconds. Ana has the skills refills and nurse, Ben has
none. Northside, on the same Careline, has a menu of its own. Every Lakeside caller first meets the busy front
desk and presses 1 for English, as Lakeside's callers do (it is bilingual and has a front desk).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from agents.tokens import TokenService
from callsim import Callee, Caller
from careline.services import Services
from models import Agent, Call, CallbackTask, Message, QueueEvent, SurveyAnswer
from tests.integration.conftest import (CALLER, EMAILS, LAKESIDE, LAKESIDE_FRONT_DESK, NORTHSIDE, PHONE_AGENTS_TOML,
                                        PRACTICES_TOML, Clock, ClockedSimulator, bearer, console_password,
                                        console_sign_in, issue, load_practices, queue_simulator, with_rest_standin)
from tests.integration.test_complaints import complaint_of
from tests.integration.test_survey import QUESTION, THANKS

ANA, BEN = "+13125550133", "+13125550134"  # the agents' phones (PHONE_AGENTS_TOML)
BILLING = "+13125550150"  # Lakeside's billing office
FALLBACK = 40  # Lakeside's [practices.skills] fallback_seconds
RESULTS_DUE_MINUTES = 240
MO = EMAILS["mo"]  # Lakeside's manager
PASSWORD = "a long console password for the story"
DONE, TOLD = "Reviewed the hold times with the front desk", "Called back, apologised and explained the change"

LAKESIDE_MENU = f"""
[practices.survey]
enabled = true

[practices.skills]
fallback_seconds = {FALLBACK}

[[practices.menu]]
key = "1"
action = "queue"
skill = "refills"
prompt = {{ en = "For prescription refills, press 1.", es = "Para recetas, oprima 1." }}

[[practices.menu]]
key = "2"
action = "forward"
number = "{BILLING}"
mailbox = "billing"
prompt = {{ en = "For billing, press 2.", es = "Para facturas, oprima 2." }}

[[practices.menu]]
key = "3"
action = "message"
mailbox = "results"
urgent = false
due_minutes = {RESULTS_DUE_MINUTES}
prompt = {{ en = "For test results, press 3.", es = "Para resultados, oprima 3." }}

[[practices.menu]]
key = "4"
action = "queue"
skill = "nurse"
urgent = true
prompt = {{ en = "To speak with a nurse, press 4.", es = "Para hablar con una enfermera, oprima 4." }}

[[practices.menu]]
key = "9"
action = "complaint"
prompt = {{ en = "To tell us about a problem, press 9.", es = "Para una queja, oprima 9." }}
"""
# Northside (the last [[practices]]: these tables bind to it): a menu of its own.
NORTHSIDE_MENU = """
[[practices.menu]]
key = "1"
action = "message"
mailbox = "appointments"
urgent = false
prompt = { en = "To book or change an appointment, press 1." }

[[practices.menu]]
key = "2"
action = "say"
text = { en = "Walk-in flu shots are on Saturday mornings." }
prompt = { en = "For flu shots, press 2." }
"""
STORY_TOML = (PRACTICES_TOML.replace("max_length_seconds = 120\n", "max_length_seconds = 120\n" + LAKESIDE_MENU, 1)
              + NORTHSIDE_MENU
              + PHONE_AGENTS_TOML.replace('phone = "+13125550133"\n',  # Ana: refills and nurse; Ben: none
                                          'phone = "+13125550133"\nskills = ["refills", "nurse"]\n', 1)
              + f"""
[[agents]]
email = "{MO}"
name = "Mo Chen"
practices = ["lakeside"]
role = "manager"
""")
LAKESIDE_PROMPTS = ("For prescription refills, press 1.", "For billing, press 2.", "For test results, press 3.",
                    "To speak with a nurse, press 4.", "To tell us about a problem, press 9.")
NORTHSIDE_PROMPTS = ("To book or change an appointment, press 1.", "For flu shots, press 2.")
FRONT_DESK_BUSY = {LAKESIDE_FRONT_DESK: "busy"}
# The day's callers, one patient each.
REFILL, REFILL_2, BILL, RESULTS, NURSE, COMPLAINT = CALLER, *(f"+1312555018{n}" for n in range(1, 6))


@pytest.fixture
def config(config, standin):
    """The queue redirects holding callers through Twilio's REST API: the stand-in plays it."""
    return with_rest_standin(config, standin)


@dataclass
class Day:
    """What the story's steps share: the simulator playing Twilio, the app, and the people's tokens."""

    qsim: ClockedSimulator
    services: Services
    client: FlaskClient
    clock: Clock
    tokens: TokenService
    drain: Callable[[], int]
    ids: dict[str, int]  # the people's agent ids by first name

    def lakeside_call(self, patient: str, caller: Caller, dial: dict | None = None):
        """`patient` calls Lakeside and meets its busy front desk; `dial`: how the numbers Careline dials answer."""
        return self.qsim.call(to=LAKESIDE, from_=patient, caller=caller, dial={**FRONT_DESK_BUSY, **(dial or {})})

    def status(self, name: str, status: str) -> None:
        """`name` sets their status on the agents' API."""
        answer = self.client.post("/api/agents/me/status", json={"status": status},
                                  headers=bearer(issue(self.tokens, name)))
        assert answer.status_code == 200, answer.get_json()

    def api(self, method: str, path: str, body: dict | None = None):
        """The manager Mo on the API."""
        return self.client.open(path, method=method, json=body, headers=bearer(issue(self.tokens, "mo")))

    def rows(self, model, **where) -> list:
        """The rows of `model` that match `where`."""
        with self.services.session_factory() as session:
            return session.scalars(select(model).filter_by(**where)).all()


@pytest.fixture
def day(client, clock, standin, services, tokens, drain) -> Day:
    load_practices(services, STORY_TOML)
    with services.session_factory() as session:
        ids = dict(session.execute(select(Agent.email, Agent.id)).all())
    return Day(queue_simulator(client, clock, standin), services, client, clock, tokens, drain,
               {name: ids[email] for name, email in EMAILS.items() if email in ids})


def english_then(key: str) -> Caller:
    """A Lakeside caller who presses 1 for English, then `key` in Lakeside's menu."""
    return Caller(press="1" + key)


def rung(result) -> list[tuple]:
    """Who the call rang, in order, and how each ring ended."""
    return [(d.targets, d.status) for d in result.dial_results]


def queue_events(day: Day, call_sid: str) -> dict[str, QueueEvent]:
    """The call's queue events by kind (entered, offered, connected, talk-ended)."""
    return {e.kind: e for e in day.rows(QueueEvent, call_sid=call_sid)}


def test_issue_16_done_when_a_day_at_lakeside_and_northside_through_the_simulator(day):
    """Each step below is one sentence of the issue's "Done when", in the order of one day (7 reads 1 to 6)."""
    refill_caller_goes_to_the_skilled_agent_before_one_idle_longer_then_answers_the_survey(day)
    refill_caller_goes_to_anyone_only_after_the_fallback(day)
    billing_caller_reaches_the_billing_office(day)
    results_caller_leaves_a_message_in_the_results_mailbox(day)
    nurse_caller_reaches_an_agent_with_the_nurse_skill_urgently(day)
    complaint_id = complaint_is_walked_to_patient_informed(day)
    dashboard_and_metrics_show_the_survey_and_the_menu_choices(day, complaint_id)
    northside_has_its_own_menu(day)


def refill_caller_goes_to_the_skilled_agent_before_one_idle_longer_then_answers_the_survey(day: Day) -> None:
    """1. Ben is idle longer, but the refill caller is put through to Ana (refills); Ana hangs up, the caller
    answers the survey with 4."""
    day.status("ben", "available")  # Ben first: idle the longest, no skills
    day.clock.now += timedelta(seconds=30)
    day.status("ana", "available")
    result = day.lakeside_call(REFILL, english_then("1").press("4"),
                               dial={ANA: Callee(press="1", talk_seconds=40), BEN: Callee(press="1")})
    assert all(prompt in result.heard for prompt in LAKESIDE_PROMPTS)  # Lakeside's own menu, in English
    assert rung(result) == [((LAKESIDE_FRONT_DESK,), "busy"), ((ANA,), "completed")]  # Ben never rang
    dial_result = next(d for d in result.documents if "/voice/queue/dial-result" in d.url)
    assert dial_result.params["CallStatus"] == "in-progress"  # Ana hung up first; the caller was still there
    heard = " ".join(result.heard)
    assert QUESTION in heard and heard.endswith(THANKS)
    day.drain()
    (answer,) = day.rows(SurveyAnswer)
    assert (answer.call_sid, answer.score, answer.agent_id) == (result.call_sid, 4, day.ids["ana"])
    events = queue_events(day, result.call_sid)
    assert (events["entered"].skill, events["connected"].agent_id) == ("refills", day.ids["ana"])


def refill_caller_goes_to_anyone_only_after_the_fallback(day: Day) -> None:
    """2. Ana away: the next refill caller holds, and is put through to Ben after the fallback, not before."""
    day.status("ana", "paused")  # Ana steps away; Ben, without the skill, is free all along
    result = day.lakeside_call(REFILL_2, english_then("1"), dial={BEN: Callee(press="1", talk_seconds=10)})
    assert rung(result) == [((LAKESIDE_FRONT_DESK,), "busy"), ((BEN,), "completed")]
    day.drain()
    events = queue_events(day, result.call_sid)
    assert events["entered"].skill == "refills" and events["offered"].agent_id == day.ids["ben"]
    assert events["offered"].wait_seconds >= FALLBACK
    # The hold turns before the fallback left Ben alone (each turn dispatches); the first after it rang him.
    joined_at = [step.t for step in result.transcript if step.kind == "input"][1]  # the language, then 1
    turns = [step.t for step in result.transcript if step.kind == "redirect"]
    ben_rang_at = next(step.t for step in result.transcript if step.kind == "dial" and step.text == BEN)
    assert any(t - joined_at < FALLBACK for t in turns)
    assert ben_rang_at - joined_at >= FALLBACK
    assert ben_rang_at == pytest.approx(next(t for t in turns if t - joined_at >= FALLBACK), abs=3)


def billing_caller_reaches_the_billing_office(day: Day) -> None:
    """3. The billing key forwards the caller to the billing office, which answers."""
    result = day.lakeside_call(BILL, english_then("2"), dial={BILLING: "answered"})
    assert rung(result) == [((LAKESIDE_FRONT_DESK,), "busy"), ((BILLING,), "completed")]
    day.drain()
    (call,) = day.rows(Call, call_sid=result.call_sid)
    assert call.outcome == "answered"
    assert day.rows(Message, call_sid=result.call_sid) == []  # answered: no message for billing


def results_caller_leaves_a_message_in_the_results_mailbox(day: Day) -> None:
    """4. The results key takes a message into the results mailbox, due back within its own minutes."""
    result = day.lakeside_call(RESULTS, english_then("3").speak(8, then="#"))
    assert rung(result) == [((LAKESIDE_FRONT_DESK,), "busy")]  # nobody else: a mailbox
    assert "Thank you, your message has been saved." in result.heard
    assert "If your message is urgent, press 1. Otherwise, you can hang up now." not in result.heard  # urgent = false
    day.drain()
    (message,) = day.rows(Message, call_sid=result.call_sid)
    assert (message.mailbox, message.kind, message.urgent) == ("results", "message", False)
    (task,) = day.rows(CallbackTask)  # the day's first message
    assert task.due_at - task.opened_at == timedelta(minutes=RESULTS_DUE_MINUTES)


def nurse_caller_reaches_an_agent_with_the_nurse_skill_urgently(day: Day) -> None:
    """5. The nurse key queues the caller as urgent, for an agent with the nurse skill."""
    day.clock.now += timedelta(minutes=1)  # Ben has been free since his call; Ana comes back after him
    day.status("ana", "available")
    result = day.lakeside_call(NURSE, english_then("4"),
                               dial={ANA: Callee(press="1", talk_seconds=30), BEN: Callee(press="1")})
    assert rung(result) == [((LAKESIDE_FRONT_DESK,), "busy"), ((ANA,), "completed")]
    assert "Urgent." in result.dial_results[-1].whisper_heard  # what Ana heard before pressing 1
    day.drain()
    events = queue_events(day, result.call_sid)
    assert (events["entered"].skill, events["entered"].urgent) == ("nurse", True)
    assert events["connected"].agent_id == day.ids["ana"]


def complaint_is_walked_to_patient_informed(day: Day) -> int:
    """6. A recorded complaint, walked by the manager through the API to "patient informed" with its notes."""
    result = day.lakeside_call(COMPLAINT, english_then("9").speak(8, then="#").silence())
    day.drain()
    (message,) = day.rows(Message, call_sid=result.call_sid)
    assert (message.mailbox, message.kind) == ("complaints", "complaint")
    complaint = complaint_of(day.services, result.call_sid)
    assert (complaint.state, complaint.source) == ("received", "recorded")
    moved = day.api("POST", f"/api/complaints/{complaint.id}/state", {"state": "being-looked-at"})
    assert moved.status_code == 200, moved.get_json()
    informed = day.api("POST", f"/api/complaints/{complaint.id}/state", {
        "state": "patient-informed", "action_taken": DONE, "patient_told": TOLD})
    assert informed.status_code == 200, informed.get_json()
    shown = day.api("GET", f"/api/complaints/{complaint.id}").get_json()
    assert (shown["state"], shown["action_taken"], shown["patient_told"]) == ("patient-informed", DONE, TOLD)
    assert [(h["to"], h["agent_name"]) for h in shown["history"]] == [
        ("received", None), ("being-looked-at", "Mo Chen"), ("patient-informed", "Mo Chen")]
    return complaint.id


def dashboard_and_metrics_show_the_survey_and_the_menu_choices(day: Day, complaint_id: int) -> None:
    """7. The manager's dashboard and /api/metrics: the survey answer, the calls by menu choice and by skill, and
    the complaint as "patient informed"."""
    today = day.clock.now.astimezone(day.services.directory.find_by_number(LAKESIDE).tz).date().isoformat()
    query = f"practice=lakeside&from={today}&to={today}"
    answer = day.api("GET", f"/api/metrics?{query}")
    assert answer.status_code == 200, answer.get_json()
    figures = answer.get_json()
    assert (figures["survey"]["answers"], figures["survey"]["average"]) == (1, 4.0)
    by_choice = {(r["digits"], r["choice"], r["target"]): r["calls"] for r in figures["by_menu_choice"]}
    assert by_choice == {("1", "queue", "refills"): 2, ("2", "forward", BILLING): 1, ("3", "message", "results"): 1,
                         ("4", "queue", "nurse"): 1, ("9", "message", "complaints"): 1}
    by_skill = {r["skill"]: (r["offered"], r["connected"], r["abandoned"]) for r in figures["by_skill"]}
    assert by_skill == {"refills": (2, 2, 0), "nurse": (1, 1, 0)}

    console_password(day.services, [MO], PASSWORD)
    assert console_sign_in(day.client, MO, PASSWORD).status_code == 303
    page = day.client.get(f"/console/?practice=lakeside&period=custom&from={today}&to={today}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "data-survey-average>4.00 / 5<" in html and "<span data-survey-answers>1</span> answer " in html
    assert f'data-survey-agent="{day.ids["ana"]}"><th scope="row">Ana Lopez</th><td class="num">1</td>' in html
    choices = html.split('id="menu-choices-title"')[1].split("</section>")[0]
    refills = choices.split('data-menu-choice="1"')[1].split("</tr>")[0]
    assert "refills" in refills and '<td class="num">2</td>' in refills
    for key, target in (("2", BILLING), ("3", "results"), ("4", "nurse"), ("9", "complaints")):
        assert target in choices.split(f'data-menu-choice="{key}"')[1].split("</tr>")[0]
    complaints = html.split('id="complaints-title"')[1].split("</section>")[0]
    row = complaints.split(f'data-complaint-id="{complaint_id}"')[1].split("</tr>")[0]
    assert "<td>Patient informed</td>" in row  # told, not yet closed: still on the board
    detail = day.client.get(f"/console/complaints/{complaint_id}").get_data(as_text=True)
    assert "<dd data-state>Patient informed</dd>" in detail
    assert f"<dd data-action-taken>{DONE}</dd>" in detail and f"<dd data-patient-told>{TOLD}</dd>" in detail


def northside_has_its_own_menu(day: Day) -> None:
    """8. Northside, on the same Careline: its caller hears its own menu, and its 1 leads to its own mailbox."""
    result = day.qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller().press("2").press("1").speak(8, then="#"))
    assert all(prompt in result.heard for prompt in NORTHSIDE_PROMPTS)
    assert not any(prompt in result.heard for prompt in LAKESIDE_PROMPTS)
    said = result.heard
    flu = said.index("Walk-in flu shots are on Saturday mornings.")
    assert said[flu + 1] == NORTHSIDE_PROMPTS[0]  # back to Northside's menu after the announcement
    assert rung(result) == []  # its 1 is a mailbox, not Lakeside's refills queue
    day.drain()
    (message,) = day.rows(Message, call_sid=result.call_sid)
    assert message.mailbox == "appointments"
    assert message.practice_id == day.services.directory.find_by_number(NORTHSIDE).id

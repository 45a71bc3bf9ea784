"""The one-question survey after a call with an agent (issue 16), played by the simulator: the agent hangs up
first, Twilio requests the caller's <Dial action> with the caller still on the line, and a practice with the
survey on asks "How satisfied were you with your call? Press 1 to 5"; the answer is stored once and shown on
the dashboard, in the metrics API and in its CSV.
"""
from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from sqlalchemy import select

from callsim import Callee, Caller
from models import CallEvent, SurveyAnswer
from practices.errors import ConfigInvalid
from practices.loader import load_config_text
from tests.integration.conftest import (CALLER, EMAILS, LAKESIDE, LAKESIDE_FRONT_DESK, NORTHSIDE, PHONE_AGENTS_TOML,
                                        PRACTICES_TOML, bearer, console_password, console_sign_in, issue,
                                        load_practices, queue_simulator, with_rest_standin)

ANA, NIA = "+13125550133", "+16175550135"
SURVEY_ON = """
[practices.survey]
enabled = true
"""
# Lakeside asks the question (the table binds to Lakeside: it follows Lakeside's [practices.messages]);
# Northside does not.
SURVEY_TOML = PRACTICES_TOML.replace("max_length_seconds = 120\n", "max_length_seconds = 120\n" + SURVEY_ON, 1) + \
    PHONE_AGENTS_TOML + """
[[agents]]
email = "mo@lakeside.example"
name = "Mo Chen"
practices = ["lakeside"]
role = "manager"
"""
QUESTION = "How satisfied were you with your call? Press 1 (not at all) to 5 (very)."
QUESTION_ES = "¿Qué tan satisfecho quedó con su llamada? Oprima del 1 (nada) al 5 (muy satisfecho)."
RETRY = "Sorry, please press a key from 1 to 5."
THANKS = "Thank you for your answer. Goodbye."
DAY = date(2026, 11, 24)  # the clock's day (OPEN_TIME: 10:00 in Chicago)
PASSWORD = "survey-password-1234"
# Lakeside's front desk is busy, so the caller reaches the menu; Ana answers the queue's ring and talks, then
# hangs up first: the simulator then requests the caller's Dial action with CallStatus in-progress.
AGENT_HANGS_UP = {LAKESIDE_FRONT_DESK: "busy", ANA: Callee(press="1", talk_seconds=40)}


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@pytest.fixture
def people(services) -> dict[str, int]:
    load_practices(services, SURVEY_TOML)
    from models import Agent
    with services.session_factory() as session:
        ids = dict(session.execute(select(Agent.email, Agent.id)).all())
    return {name: ids[email] for name, email in EMAILS.items() if email in ids}


@pytest.fixture
def qsim(client, clock, standin, people):
    return queue_simulator(client, clock, standin)


@pytest.fixture
def api(client, tokens, people):
    cache = {}

    def call(name: str, path: str):
        token = cache.setdefault(name, issue(tokens, name))
        return client.get(path, headers=bearer(token))

    return call


@pytest.fixture
def available(api, client, tokens, people):
    def set_available(name: str):
        answer = client.post("/api/agents/me/status", json={"status": "available"},
                             headers=bearer(issue(tokens, name)))
        assert answer.status_code == 200, answer.get_json()

    return set_available


def heard(result) -> str:
    return " ".join(result.heard)


def answers(session_factory) -> list[SurveyAnswer]:
    with session_factory() as session:
        return session.scalars(select(SurveyAnswer).order_by(SurveyAnswer.id)).all()


def survey_documents(result):
    return [d for d in result.documents if "/voice/queue/survey" in d.url]


def event_kinds(session_factory, call_sid: str) -> list[str]:
    with session_factory() as session:
        return list(session.scalars(select(CallEvent.kind).where(CallEvent.call_sid == call_sid)
                                    .order_by(CallEvent.id)))


# --- asked, answered, stored once ----------------------------------------------------------------------------

def test_given_survey_on_when_the_agent_hangs_up_first_then_the_caller_is_asked_and_the_answer_stored_once(
        qsim, available, drain, services, session_factory, people):
    available("ana")
    result = qsim.call(to=LAKESIDE, from_=CALLER, caller=Caller(press="11").press("4"), dial=AGENT_HANGS_UP)
    assert result.dial_results[-1].status == "completed"
    dial_result = next(d for d in result.documents if "/voice/queue/dial-result" in d.url)
    assert dial_result.params["CallStatus"] == "in-progress"  # the caller was still on the line
    assert "<Gather" in dial_result.text and 'numDigits="1"' in dial_result.text
    assert 'action="/voice/queue/survey?' in dial_result.text
    spoken = heard(result)
    assert QUESTION in spoken and spoken.endswith(THANKS)
    assert "Thank you for calling. Goodbye." not in spoken
    drain()
    (answer,) = answers(session_factory)
    assert (answer.call_sid, answer.score, answer.agent_id) == (result.call_sid, 4, people["ana"])
    assert (answer.local_date, answer.language) == (DAY, "en")
    assert answer.practice_id == services.directory.find_by_number(LAKESIDE).id

    # Twilio retries the survey's webhook (a slow answer it abandoned): the same answer, nothing stored twice.
    (document,) = survey_documents(result)
    again, _ = qsim.send("POST", document.url, document.params)
    assert again.status == 200 and again.text == document.text
    drain()
    stored = [e for e in event_kinds(session_factory, result.call_sid) if e == "survey-answered"]
    assert stored == ["survey-answered"] and len(answers(session_factory)) == 1


def test_given_an_invalid_key_then_the_question_is_asked_once_more(qsim, available, drain, session_factory):
    available("ana")
    result = qsim.call(to=LAKESIDE, from_=CALLER, caller=Caller(press="11").press("9").press("5"),
                       dial=AGENT_HANGS_UP)
    spoken = heard(result)
    assert spoken.count(QUESTION) == 2 and RETRY in spoken and spoken.endswith(THANKS)
    drain()
    assert [a.score for a in answers(session_factory)] == [5]


def test_given_no_key_twice_then_the_caller_is_thanked_and_nothing_is_stored(qsim, available, drain,
                                                                              session_factory):
    available("ana")
    result = qsim.call(to=LAKESIDE, from_=CALLER, caller=Caller(press="11").silence().silence(),
                       dial=AGENT_HANGS_UP)
    spoken = heard(result)
    assert spoken.count(QUESTION) == 2 and spoken.endswith("Thank you for calling. Goodbye.")
    assert result.transcript[-1].kind == "hangup"
    drain()
    assert answers(session_factory) == []


def test_given_a_spanish_caller_then_the_question_is_in_spanish(qsim, available, drain, session_factory):
    available("ana")
    result = qsim.call(to=LAKESIDE, from_=CALLER, caller=Caller(press="21").press("3"), dial=AGENT_HANGS_UP)
    spoken = heard(result)
    assert QUESTION_ES in spoken and spoken.endswith("Gracias por su respuesta. Adiós.")
    assert QUESTION not in spoken
    drain()
    (answer,) = answers(session_factory)
    assert (answer.score, answer.language) == (3, "es")


# --- no survey ---------------------------------------------------------------------------------------------------

def test_given_survey_off_then_the_caller_is_thanked_without_a_question(qsim, available, drain, session_factory):
    available("nia")  # Northside has no [practices.survey]
    result = qsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                       dial={NIA: Callee(press="1", talk_seconds=40)})
    assert result.dial_results[-1].status == "completed"
    spoken = heard(result)
    assert spoken.endswith("Thank you for calling. Goodbye.") and "satisfied" not in spoken
    assert not survey_documents(result)
    drain()
    assert answers(session_factory) == []
    assert "survey-asked" not in event_kinds(session_factory, result.call_sid)


def test_given_the_caller_hangs_up_first_then_there_is_no_survey(qsim, available, drain, session_factory):
    available("ana")
    result = qsim.call(to=LAKESIDE, from_=CALLER, caller=Caller(press="11").hang_up(at=60),
                       dial={LAKESIDE_FRONT_DESK: "busy", ANA: Callee(press="1", talk_seconds=300)})
    dial_result = next(d for d in result.documents if "/voice/queue/dial-result" in d.url)
    assert dial_result.params["CallStatus"] == "completed" and dial_result.params["DialCallStatus"] == "completed"
    assert "<Gather" not in dial_result.text and "satisfied" not in heard(result)
    drain()
    assert answers(session_factory) == []
    assert "survey-asked" not in event_kinds(session_factory, result.call_sid)


def test_given_the_agent_did_not_answer_then_there_is_no_survey(qsim, available, drain, session_factory):
    available("ana")
    result = qsim.call(to=LAKESIDE, from_=CALLER, caller=Caller(press="11").hang_up(at=70),
                       dial={LAKESIDE_FRONT_DESK: "busy", ANA: "no-answer"})
    assert all(d.status != "completed" for d in result.dial_results)
    assert "satisfied" not in heard(result) and not survey_documents(result)
    drain()
    assert answers(session_factory) == []


# --- the results ---------------------------------------------------------------------------------------------------

def test_given_an_answer_then_the_metrics_api_the_csv_and_the_dashboard_show_it(
        qsim, available, drain, api, client, services, people):
    available("ana")
    qsim.call(to=LAKESIDE, from_=CALLER, caller=Caller(press="11").press("4"), dial=AGENT_HANGS_UP)
    drain()
    query = "practice=lakeside&from=2026-11-23&to=2026-11-24"
    body = api("mo", f"/api/metrics?{query}").get_json()
    survey = body["survey"]
    assert (survey["answers"], survey["average"]) == (1, 4.0)
    assert survey["distribution"] == [{"score": s, "answers": 1 if s == 4 else 0} for s in range(1, 6)]
    days = {d["date"]: d for d in survey["days"]}
    assert (days["2026-11-23"]["answers"], days["2026-11-23"]["average"]) == (0, None)  # nothing behind it: None
    assert (days["2026-11-24"]["answers"], days["2026-11-24"]["average"]) == (1, 4.0)
    ana = next(a for a in survey["agents"] if a["id"] == people["ana"])
    assert (ana["answers"], ana["average"]) == (1, 4.0)
    ben = next(a for a in survey["agents"] if a["id"] == people["ben"])
    assert (ben["answers"], ben["average"]) == (0, None)

    answer = api("mo", f"/api/metrics.csv?{query}")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    day_rows = {r["date"]: r for r in rows if r["row_type"] == "day"}
    assert (day_rows["2026-11-24"]["survey_answers"], day_rows["2026-11-24"]["survey_average"]) == ("1", "4.0")
    assert (day_rows["2026-11-23"]["survey_answers"], day_rows["2026-11-23"]["survey_average"]) == ("0", "")
    assert [day_rows["2026-11-24"][f"survey_score_{s}"] for s in range(1, 6)] == ["0", "0", "0", "1", "0"]
    agent_row = next(r for r in rows if r["row_type"] == "agent" and r["agent_id"] == str(people["ana"]))
    assert (agent_row["survey_answers"], agent_row["survey_average"]) == ("1", "4.0")

    console_password(services, [EMAILS["mo"]], PASSWORD)
    console_sign_in(client, EMAILS["mo"], PASSWORD)
    page = client.get("/console/?practice=lakeside&period=custom&from=2026-11-23&to=2026-11-24")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-survey-average>4.00 / 5<' in html and "<span data-survey-answers>1</span> answer " in html
    assert f'data-survey-agent="{people["ana"]}"><th scope="row">Ana Lopez</th><td class="num">1</td>' \
           '<td class="num">4.00 / 5</td>' in html
    assert '<tr data-score="4"><th scope="row">4</th><td class="num">1</td></tr>' in html


def test_given_a_survey_table_that_is_not_true_or_false_then_the_configuration_is_refused():
    text = SURVEY_TOML.replace("enabled = true", 'enabled = "yes"')
    with pytest.raises(ConfigInvalid) as refused:
        load_config_text(text)
    assert "practices[0] (lakeside).survey.enabled: " in str(refused.value)
    spec = load_config_text(SURVEY_TOML)
    assert [p.survey_enabled for p in spec.practices] == [True, False]

"""Taking a message during a call: an agent connected to a caller fills in the practice's form; the message is a
message like a recorded one (pages, callback task, receipt), a bad field saves nothing, another agent's call is
refused, and the draft typed so far outlives the call until the message is saved.

Whole calls run through the simulator (Twilio's REST API is the stand-in), the agent's requests are sent from
the simulator's timed hooks while the agent talks to the caller, and RQ's jobs run with `run_jobs`.
"""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from callsim import Callee, Caller
from core.db import session_scope
from models import (Call, CallbackTask, CallbackTaskCall, CallEvent, Message, MessageDraft, OnCallPage, OutboundSms,
                    SmsOptOut)
from practices.loader import load_config_text
from practices.store import apply_config
from tests.integration.conftest import (CLOSED_TIME, NORTHSIDE, ON_CALL_TOML, PHONE_AGENTS_TOML, PRACTICES_TOML,
                                        bearer, issue, load_practices, run_jobs, simulator, with_rest_standin)

CALLER = "+13125550199"
ANA, NIA = "+13125550133", "+16175550135"
DR_RIVERA, DR_OKAFOR = "+16175550122", "+16175550123"
CALLBACK = "+16175550188"  # the number the caller gives the agent
NAME = "Maria Gonzalez"
REASON = "Needs a refill of her inhaler"
DESK_TOML = PRACTICES_TOML + ON_CALL_TOML + PHONE_AGENTS_TOML
# The after-hours table and the on-call providers bind to the last [[practices]]: Northside. Its form is the default.
CUSTOM_FORM = """
[[practices.message_fields]]
name = "patient_name"
label = "Patient"
kind = "text"
required = true

[[practices.message_fields]]
name = "phone"
label = "Best number"
kind = "phone"
required = true

[[practices.message_fields]]
name = "topic"
label = "Topic"
kind = "choice"
choices = ["refill", "results", "appointment"]
required = true

[[practices.message_fields]]
name = "consent"
label = "Consents to SMS"
kind = "bool"
required = true
"""
FORM = {"patient_name": NAME, "callback_number": "(617) 555-0188", "date_of_birth": "1980-04-30",
        "reason": REASON, "urgent": False}


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@pytest.fixture
def people(services) -> dict[str, int]:
    load_practices(services, DESK_TOML)
    from models import Agent
    with services.session_factory() as session:
        return {email.split("@")[0]: agent_id for email, agent_id in session.execute(select(Agent.email, Agent.id))}


@pytest.fixture
def dsim(client, clock, standin, people):
    sim = simulator(client, clock)
    sim.rest = standin
    sim.on_time = lambda now: setattr(clock, "now", now)
    return sim


@pytest.fixture
def desk(client, tokens, people):
    """The agents' desks: `desk.post("ana", sid, body)` and friends, each agent with a token of its own."""
    return Desk(client, {name: issue(tokens, name) for name in ("ana", "nia", "ben")})


class Desk:
    def __init__(self, client, tokens: dict[str, str]):
        self.client, self.tokens = client, tokens

    def available(self, name: str) -> None:
        answer = self.client.post("/api/agents/me/status", json={"status": "available"},
                                  headers=bearer(self.tokens[name]))
        assert answer.status_code == 200, answer.get_json()

    def post(self, name: str, sid: str, body):
        return self.client.post(f"/api/calls/{sid}/messages", json=body, headers=bearer(self.tokens[name]))

    def put_draft(self, name: str, sid: str, body):
        return self.client.put(f"/api/calls/{sid}/message-draft", json=body, headers=bearer(self.tokens[name]))

    def get_draft(self, name: str, sid: str):
        return self.client.get(f"/api/calls/{sid}/message-draft", headers=bearer(self.tokens[name]))

    def get(self, name: str, path: str):
        return self.client.get(path, headers=bearer(self.tokens[name]))


def rows(services, model, *where):
    with services.session_factory() as session:
        return session.scalars(select(model).where(*where)).all()


def texts_to(standin, number: str) -> list[str]:
    return [r.params.get("Body") for r in standin.requests_for("messages.create") if r.params.get("To") == number]


def talk_to_ana(dsim, desk, hooks: dict, *, caller=None, talk_seconds: int = 300, dial=None):
    """A caller to Northside who asks for someone (after hours: an urgent caller) and talks with Ana, the
    hooks running (at their seconds into the call) while they talk."""
    desk.available("ana")
    return dsim.call(to=NORTHSIDE, from_=CALLER, caller=caller or Caller(press="1"),
                     dial=dial or {ANA: Callee(press="1", talk_seconds=talk_seconds)}, at=hooks)


def during_talk(outcome: dict, key: str, request):
    """A timed hook that sends `request(call_sid)` and keeps its answer as outcome[key]."""
    def hook(run):
        outcome[key] = request(run.call_sid)
    return hook


# --- saved ------------------------------------------------------------------------------------------------------------

def test_given_a_call_connected_to_the_agent_when_she_takes_a_message_then_201_and_the_message_has_fields_and_author(
        dsim, desk, services, people, drain, clock, caplog):
    caplog.set_level(logging.DEBUG)
    outcome = {}
    result = talk_to_ana(dsim, desk, {60: during_talk(outcome, "saved", lambda sid: desk.post("ana", sid, FORM))})
    answer = outcome["saved"]
    assert answer.status_code == 201, answer.get_json()
    kept = {**FORM, "callback_number": CALLBACK}  # normalised to E.164, to read back
    assert answer.get_json() == {"id": answer.get_json()["id"], "fields": kept, "message_type": "message",
                                 "complaint_id": None}
    (message,) = rows(services, Message)
    assert (message.id, message.call_sid, message.author_agent_id) == (answer.get_json()["id"], result.call_sid,
                                                                       people["ana"])
    assert message.fields == kept and message.from_number == CALLBACK
    assert (message.urgent, message.after_hours, message.language) == (False, False, "en")
    assert (message.recording_sid, message.recording_url, message.duration_seconds) == (None, None, None)

    shown = desk.get("ana", f"/api/messages/{message.id}")
    assert shown.status_code == 200
    assert (shown.get_json()["fields"], shown.get_json()["author_agent_id"]) == (kept, people["ana"])
    assert (shown.get_json()["recording_url"], shown.get_json()["duration_seconds"]) == (None, None)
    assert shown.get_json()["from"] == CALLBACK
    no_audio = desk.get("ana", f"/api/messages/{message.id}/recording")
    assert (no_audio.status_code, no_audio.get_json()["error_id"]) == (404, "recording-not-found")

    drain()
    (call,) = rows(services, Call, Call.call_sid == result.call_sid)
    assert (call.answered_by, call.outcome) == ("agent", "answered")  # a person answered: a message, not a miss
    (event,) = rows(services, CallEvent, CallEvent.call_sid == result.call_sid, CallEvent.kind == "message-taken")
    assert event.data == {"practice_id": message.practice_id, "agent_id": people["ana"], "message_id": message.id,
                          "urgent": False}  # ids only
    for secret in (NAME, REASON, CALLBACK, CALLBACK[2:], "1980-04-30", CALLER):
        assert secret not in caplog.text


def test_given_a_message_saved_when_saved_again_then_409_and_still_one_message(dsim, desk, services):
    outcome = {}
    talk_to_ana(dsim, desk, {60: during_talk(outcome, "first", lambda sid: desk.post("ana", sid, FORM)),
                             61: during_talk(outcome, "again", lambda sid: desk.post("ana", sid, FORM))})
    assert outcome["first"].status_code == 201
    again = outcome["again"]
    assert (again.status_code, again.get_json()["error_id"]) == (409, "message-already-taken")
    assert again.get_json()["details"]["message_id"] == outcome["first"].get_json()["id"]
    assert len(rows(services, Message)) == 1 and len(rows(services, OutboundSms)) == 1


# --- bad fields -------------------------------------------------------------------------------------------------------

BAD_FORMS = [
    ({k: v for k, v in FORM.items() if k != "patient_name"}, "patient_name"),  # required, missing
    ({**FORM, "reason": "   "}, "reason"),  # required, blank
    ({**FORM, "patient_name": None}, "patient_name"),
    ({**FORM, "favourite_colour": "blue"}, "favourite_colour"),  # not on the form
    ({**FORM, "callback_number": "555-0188x"}, "callback_number"),
    ({**FORM, "callback_number": "12"}, "callback_number"),
    ({**FORM, "callback_number": 6175550188}, "callback_number"),
    ({**FORM, "date_of_birth": "30/04/1980"}, "date_of_birth"),
    ({**FORM, "date_of_birth": "1980-02-30"}, "date_of_birth"),
    ({**FORM, "urgent": "yes"}, "urgent"),
    ({**FORM, "urgent": 1}, "urgent"),
    ({**FORM, "patient_name": "x" * 2001}, "patient_name"),
    # The first bad field in the form's order is named.
    ({**FORM, "date_of_birth": "soon", "callback_number": "nope"}, "callback_number"),
]


def test_given_a_bad_field_then_400_names_it_nothing_is_saved_and_the_draft_is_kept(dsim, desk, services, drain,
                                                                                   clock, standin):
    outcome = {}

    def bad_forms(run):
        outcome["draft"] = desk.put_draft("ana", run.call_sid, {"patient_name": "Mar"})
        outcome["answers"] = [(desk.post("ana", run.call_sid, body), field) for body, field in BAD_FORMS]
        outcome["not_json"] = desk.client.post(f"/api/calls/{run.call_sid}/messages", data="patient_name=x",
                                               headers=bearer(desk.tokens["ana"]))
        outcome["a_list"] = desk.post("ana", run.call_sid, [FORM])

    result = talk_to_ana(dsim, desk, {60: bad_forms})
    assert outcome["draft"].status_code == 204
    for answer, field in outcome["answers"]:
        assert answer.status_code == 400, (field, answer.get_json())
        assert answer.get_json()["error_id"] == "invalid-field"
        assert answer.get_json()["details"]["field"] == field, answer.get_json()
    for answer in (outcome["not_json"], outcome["a_list"]):
        assert (answer.status_code, answer.get_json()["error_id"]) == (400, "invalid-body")
    drain()
    run_jobs(services, clock)
    assert rows(services, Message) == [] and rows(services, CallbackTask) == [] and rows(services, OutboundSms) == []
    assert standin.requests_for("messages.create") == []
    kept = desk.get_draft("ana", result.call_sid)
    assert kept.status_code == 200 and kept.get_json()["fields"] == {"patient_name": "Mar"}


def test_given_a_practice_form_then_its_fields_kinds_and_choices_are_checked(dsim, desk, services, people):
    load_practices(services, DESK_TOML + CUSTOM_FORM)
    good = {"patient_name": NAME, "phone": "+16175550188", "topic": "refill", "consent": False}
    outcome = {}

    def forms(run):
        outcome["default_fields"] = desk.post("ana", run.call_sid, FORM)
        outcome["not_a_choice"] = desk.post("ana", run.call_sid, {**good, "topic": "billing"})
        outcome["bool_missing"] = desk.post("ana", run.call_sid, {k: v for k, v in good.items() if k != "consent"})
        outcome["good"] = desk.post("ana", run.call_sid, good)

    talk_to_ana(dsim, desk, {60: forms})
    assert outcome["default_fields"].get_json()["details"]["field"] == "phone"  # the form's first bad field
    assert outcome["not_a_choice"].get_json()["details"]["field"] == "topic"
    assert outcome["bool_missing"].get_json()["details"]["field"] == "consent"
    assert outcome["good"].status_code == 201, outcome["good"].get_json()
    (message,) = rows(services, Message)
    assert message.fields == good and message.from_number == CALLBACK  # the form's phone field is the number
    (task,) = rows(services, CallbackTask)
    assert task.callback_number == CALLBACK


# --- whose call -------------------------------------------------------------------------------------------------------

def test_given_a_call_not_the_agents_then_403_and_nothing_changes(dsim, desk, services, people, drain, clock):
    outcome = {}

    def others(run):
        sid = run.call_sid
        outcome["nia"] = [desk.post("nia", sid, FORM), desk.put_draft("nia", sid, FORM), desk.get_draft("nia", sid)]
        outcome["ben"] = [desk.post("ben", sid, FORM), desk.put_draft("ben", sid, FORM)]
        unknown = "CA" + "0" * 32
        outcome["unknown"] = [desk.post("ana", unknown, FORM), desk.put_draft("ana", unknown, FORM),
                              desk.get_draft("ana", unknown)]
        outcome["malformed"] = desk.post("ana", "not-a-sid", FORM)
        outcome["anonymous"] = desk.client.post(f"/api/calls/{sid}/messages", json=FORM)

    result = talk_to_ana(dsim, desk, {60: others})
    for answer in outcome["nia"] + outcome["ben"] + outcome["unknown"]:
        assert answer.status_code == 403, answer.get_json()
        assert answer.get_json()["error_id"] == "forbidden"
    assert outcome["nia"][0].get_json()["details"]["call_sid"] == result.call_sid
    assert outcome["malformed"].status_code == 400 and outcome["anonymous"].status_code == 401
    assert rows(services, Message) == [] and rows(services, MessageDraft) == []
    # Later, from the call log (the live queue forgot the call): still Ana's only.
    drain()
    forget_live_call(services, result.call_sid)
    assert desk.post("nia", result.call_sid, FORM).status_code == 403
    assert desk.put_draft("ana", result.call_sid, {"reason": "typed later"}).status_code == 204
    assert desk.post("ana", result.call_sid, FORM).status_code == 201


def forget_live_call(services, call_sid: str) -> None:
    """What Redis forgets of a call after some hours: the queue's connected caller and the IVR state."""
    assert services.redis.delete(f"{{careline:q}}:call:{call_sid}", f"careline:call:{call_sid}") == 2


# --- what a message sets in motion ------------------------------------------------------------------------------------

def test_given_an_urgent_message_after_hours_then_the_on_call_provider_is_paged_with_escalation(
        dsim, desk, services, clock, standin, drain):
    clock.now = CLOSED_TIME
    outcome = {}
    result = talk_to_ana(dsim, desk, {
        60: during_talk(outcome, "saved", lambda sid: desk.post("ana", sid, {**FORM, "urgent": True}))})
    assert outcome["saved"].status_code == 201
    (message,) = rows(services, Message)
    assert (message.urgent, message.after_hours) == (True, True)
    (page,) = rows(services, OnCallPage)
    assert page.message_id == message.id
    run_jobs(services, clock)
    (text,) = texts_to(standin, DR_RIVERA)
    # The practice, "urgent message" and a link to the PIN page: never the number, the name or the reason.
    assert "urgent message" in text and "https://careline.test/p/" in text
    assert CALLBACK not in text and NAME not in text and REASON not in text
    assert texts_to(standin, DR_OKAFOR) == []
    paged_at = clock.now
    run_jobs(services, clock, until=paged_at + timedelta(minutes=10, seconds=5))  # not acknowledged: again
    assert len(texts_to(standin, DR_RIVERA)) == 2 and texts_to(standin, DR_OKAFOR) == []
    run_jobs(services, clock, until=paged_at + timedelta(minutes=20, seconds=10))  # then the next provider
    assert len(texts_to(standin, DR_OKAFOR)) == 1
    (task,) = rows(services, CallbackTask)
    assert task.urgent and task.due_at == message.created_at + timedelta(minutes=15)
    drain()
    (call,) = rows(services, Call, Call.call_sid == result.call_sid)
    assert (call.outcome, call.urgent) == ("answered", True)


def test_given_a_routine_message_then_a_callback_task_with_its_due_time_and_no_second_one_from_the_call_log(
        dsim, desk, services, clock, drain):
    outcome = {}
    result = talk_to_ana(dsim, desk, {60: during_talk(outcome, "saved", lambda sid: desk.post("ana", sid, FORM))})
    assert outcome["saved"].status_code == 201
    (message,) = rows(services, Message)
    assert rows(services, OnCallPage) == []  # routine, in office hours: nobody paged
    (task,) = rows(services, CallbackTask)
    # Northside is open (11:00 in New York): a routine callback within 120 minutes, in office hours.
    assert (task.callback_number, task.urgent, task.status) == (CALLBACK, False, "open")
    assert task.due_at == message.created_at + timedelta(minutes=120) == task.target_at
    (link,) = rows(services, CallbackTaskCall)
    assert (link.call_sid, link.reason, link.task_id) == (result.call_sid, "message", task.id)
    drain()
    drain()
    assert len(rows(services, CallbackTask)) == 1 and len(rows(services, CallbackTaskCall)) == 1


def test_given_a_message_then_the_caller_gets_the_receipt_at_the_callback_number(dsim, desk, services, clock,
                                                                                 standin):
    outcome = {}
    talk_to_ana(dsim, desk, {60: during_talk(outcome, "saved", lambda sid: desk.post("ana", sid, FORM))})
    assert outcome["saved"].status_code == 201
    run_jobs(services, clock)
    (sms,) = rows(services, OutboundSms)
    assert (sms.purpose, sms.to_number, sms.status, sms.message_id) == ("receipt", CALLBACK, "sent",
                                                                       outcome["saved"].get_json()["id"])
    (text,) = texts_to(standin, CALLBACK)
    # Received, and by when to expect the call back: nothing of what the agent typed.
    assert text == ("Northside Pediatrics: we received your message. We will call you back by today at 1:01 PM. "
                    "Reply STOP to stop these texts.")
    assert NAME not in text and REASON not in text and CALLBACK not in text


def test_given_the_callback_number_opted_out_then_no_receipt_is_sent(dsim, desk, services, clock, standin):
    with services.session_factory() as session:
        session.add(SmsOptOut(phone=CALLBACK, opted_out_at=clock.now))
        session.commit()
    outcome = {}
    talk_to_ana(dsim, desk, {60: during_talk(outcome, "saved", lambda sid: desk.post("ana", sid, FORM))})
    assert outcome["saved"].status_code == 201
    run_jobs(services, clock)
    assert texts_to(standin, CALLBACK) == []
    (sms,) = rows(services, OutboundSms)
    assert sms.status == "opted-out"


def test_given_a_taken_message_and_then_a_recorded_one_after_a_failed_patch_then_both_kept_and_one_callback_task(
        dsim, desk, services, clock, standin, drain, people):
    """The desk's after-hours path: Ana takes an urgent message, patches the on-call provider, who does not
    answer, and the caller records a message: two messages (and two pages), one callback task for the call."""
    clock.now = CLOSED_TIME
    outcome = {}
    patch = during_talk(outcome, "patched", lambda sid: desk.client.post(f"/api/calls/{sid}/patch-on-call",
                                                                         headers=bearer(desk.tokens["ana"])))
    form = {**FORM, "callback_number": CALLER, "urgent": True}
    result = talk_to_ana(dsim, desk, {50: during_talk(outcome, "saved", lambda sid: desk.post("ana", sid, form)),
                                      60: patch},
                         caller=Caller(press="1").speak(10, then="#"),
                         dial={ANA: Callee(press="1", talk_seconds=300), DR_RIVERA: Callee(answer=False)})
    assert outcome["saved"].status_code == 201 and outcome["patched"].status_code == 202
    drain()
    run_jobs(services, clock)
    taken, recorded = sorted(rows(services, Message), key=lambda m: m.recording_sid is not None)
    assert (taken.author_agent_id, recorded.author_agent_id) == (people["ana"], None)
    assert recorded.recording_sid is not None and recorded.call_sid == taken.call_sid == result.call_sid
    assert {p.message_id for p in rows(services, OnCallPage)} == {taken.id, recorded.id}
    (call,) = rows(services, Call, Call.call_sid == result.call_sid)
    assert call.outcome == "message"
    (task,) = rows(services, CallbackTask)
    assert task.urgent and task.call_count == 1
    (link,) = rows(services, CallbackTaskCall)
    assert link.call_sid == result.call_sid


# --- drafts -----------------------------------------------------------------------------------------------------------

def test_given_a_draft_then_it_outlives_the_call_and_saving_the_message_removes_it(dsim, desk, services, drain):
    outcome = {}

    def type_some(run):
        outcome["first"] = desk.put_draft("ana", run.call_sid, {"patient_name": "Mar"})
        outcome["second"] = desk.put_draft("ana", run.call_sid, {"patient_name": NAME, "urgent": True,
                                                                 "callback_number": "617 555"})
        outcome["read"] = desk.get_draft("ana", run.call_sid)

    result = talk_to_ana(dsim, desk, {60: type_some}, talk_seconds=70)  # the caller hangs up mid-form
    assert (outcome["first"].status_code, outcome["second"].status_code) == (204, 204)
    typed = {"patient_name": NAME, "urgent": True, "callback_number": "617 555"}  # as typed, not checked
    assert outcome["read"].status_code == 200 and outcome["read"].get_json()["fields"] == typed
    assert outcome["read"].headers["Cache-Control"] == "no-store"
    drain()
    later = desk.get_draft("ana", result.call_sid)  # the call has ended
    assert later.status_code == 200 and later.get_json()["fields"] == typed
    # Ana's desk lists it among her unfinished messages, with Northside's form to finish it in; Nia's lists none.
    unfinished = desk.get("ana", "/api/agents/me/message-drafts")
    assert unfinished.status_code == 200 and unfinished.headers["Cache-Control"] == "no-store"
    (draft,) = unfinished.get_json()["drafts"]
    assert (draft["call_sid"], draft["fields"], draft["practice"]["name"], draft["practice"]["timezone"]) == (
        result.call_sid, typed, "Northside Pediatrics", "America/New_York")
    assert [f["name"] for f in draft["practice"]["message_fields"]] == [
        "patient_name", "callback_number", "date_of_birth", "reason", "urgent"]
    assert desk.get("nia", "/api/agents/me/message-drafts").get_json() == {"drafts": []}
    saved = desk.post("ana", result.call_sid, FORM)
    assert saved.status_code == 201, saved.get_json()
    gone = desk.get_draft("ana", result.call_sid)
    assert (gone.status_code, gone.get_json()["error_id"]) == (404, "draft-not-found")
    late = desk.put_draft("ana", result.call_sid, {"patient_name": "late"})  # a draft sent after the save
    assert (late.status_code, late.get_json()["error_id"]) == (409, "message-already-taken")
    assert rows(services, MessageDraft) == []
    assert desk.get("ana", "/api/agents/me/message-drafts").get_json() == {"drafts": []}


def test_given_no_draft_or_one_too_large_then_404_and_400(dsim, desk, services):
    outcome = {}

    def drafts(run):
        sid = run.call_sid
        outcome["none"] = desk.get_draft("ana", sid)
        outcome["too_long"] = desk.put_draft("ana", sid, {"reason": "x" * 2001})
        outcome["too_many"] = desk.put_draft("ana", sid, {f"f{i}": "x" for i in range(51)})
        outcome["nested"] = desk.put_draft("ana", sid, {"reason": {"a": 1}})
        outcome["not_an_object"] = desk.put_draft("ana", sid, ["x"])

    talk_to_ana(dsim, desk, {60: drafts})
    assert (outcome["none"].status_code, outcome["none"].get_json()["error_id"]) == (404, "draft-not-found")
    assert outcome["too_long"].get_json()["details"]["field"] == "reason"
    assert outcome["too_many"].get_json()["details"]["field"] == "draft"
    assert outcome["nested"].get_json()["details"]["field"] == "reason"
    assert outcome["not_an_object"].get_json()["error_id"] == "invalid-body"
    assert rows(services, MessageDraft) == []


# --- the practice's form in its configuration -------------------------------------------------------------------------

def test_given_a_form_in_the_file_then_the_practice_snapshot_has_it_and_a_second_load_changes_nothing(services):
    load_practices(services, DESK_TOML)
    northside = services.directory.find_by_number(NORTHSIDE)
    assert [f.name for f in northside.message_fields] == ["patient_name", "callback_number", "date_of_birth",
                                                          "reason", "urgent"]  # the default form
    load_practices(services, DESK_TOML + CUSTOM_FORM)
    northside = services.directory.find_by_number(NORTHSIDE)
    assert [(f.name, f.kind, f.required) for f in northside.message_fields] == [
        ("patient_name", "text", True), ("phone", "phone", True), ("topic", "choice", True),
        ("consent", "bool", True)]
    assert northside.message_fields[2].choices == ("refill", "results", "appointment")
    assert northside.message_fields[2].as_dict() == {"name": "topic", "label": "Topic", "kind": "choice",
                                                     "required": True,
                                                     "choices": ["refill", "results", "appointment"]}
    with session_scope(services.session_factory) as session:
        report = apply_config(session, load_config_text(DESK_TOML + CUSTOM_FORM), services.now)
    assert report.updated == [] and report.created == []

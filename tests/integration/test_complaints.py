"""Complaints (issue 16): a message taken at the desk as a complaint, or left in a practice's complaints mailbox (the
Record action's call-log event says `kind = "complaint"`), opens a complaint that the practice's managers walk from
received to closed, each step with who and when; it is due by the practice's respond_within_days on Careline's
clock; another practice's managers and the agents cannot move it; every read is audited; the console lists the
open ones with their age and moves them, and the dashboard shows them.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from callsim import Caller
from calllog.events import Event
from models import Agent, AuditEvent, Complaint, ComplaintChange, Message, Practice
from practices.errors import ConfigInvalid
from practices.loader import load_config_text
from tests.integration import test_practice_menus as menus
from tests.integration.conftest import (CALLER, LAKESIDE, NORTHSIDE, OPEN_TIME, PHONE_AGENTS_TOML, PRACTICES_TOML, bearer,
                                        console_password, console_sign_in, load_practices, with_rest_standin)
from tests.integration.test_taken_messages import FORM, during_talk, talk_to_ana
from tests.integration.test_taken_messages import desk, dsim  # noqa: F401 - fixtures, reused

RESPOND_DAYS = 3  # Northside's [practices.complaints] respond_within_days
# [practices.complaints] binds to the last [[practices]]: Northside. Lakeside keeps the default (5 days).
COMPLAINTS_TOML = PRACTICES_TOML + f"""
[practices.complaints]
respond_within_days = {RESPOND_DAYS}
""" + PHONE_AGENTS_TOML + """
[[agents]]
email = "noor@northside.example"
name = "Noor Haddad"
practices = ["northside"]
role = "manager"

[[agents]]
email = "mo@lakeside.example"
name = "Mo Chen"
practices = ["lakeside"]
role = "manager"
"""
NOOR, MO, ROOT = "noor@northside.example", "mo@lakeside.example", "root@answering.example"
ROOT_TOML = f"""
[[agents]]
email = "{ROOT}"
name = "Root Admin"
practices = ["*"]
role = "admin"
"""
PASSWORD = "a long console password 16"
SAID = "The receptionist was rude and my refill was lost"


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@pytest.fixture
def people(services) -> dict[str, int]:
    load_practices(services, COMPLAINTS_TOML)
    with services.session_factory() as session:
        return {email.split("@")[0]: agent_id for email, agent_id in session.execute(select(Agent.email, Agent.id))}


@pytest.fixture
def api(client, tokens, people):
    """`api.get("noor", path)`, `api.post("noor", path, body)`: each person with a token of their own."""
    return Api(client, {name: tokens.issue_token(email).token for name, email in (
        ("noor", NOOR), ("mo", MO), ("ana", "ana@answering.example"), ("nia", "nia@answering.example"))})


class Api:
    def __init__(self, client, tokens: dict[str, str]):
        self.client, self.tokens = client, tokens

    def get(self, name: str, path: str):
        return self.client.get(path, headers=bearer(self.tokens[name]))

    def post(self, name: str, path: str, body):
        return self.client.post(path, json=body, headers=bearer(self.tokens[name]))

    def move(self, name: str, complaint_id: int, body):
        return self.post(name, f"/api/complaints/{complaint_id}/state", body)


def recorded_complaint(services, n: int, kind: str = "complaint", minute: int = 0, to: str = NORTHSIDE) -> str:
    """A call to Northside (or `to`) whose caller left a recorded message in the complaints mailbox (the Record
    action's event says `kind`), written by the call log as the worker's job does; returns its CallSid."""
    call_sid = f"CA{n:032d}"
    practice_id = services.directory.find_by_number(to).id
    at = OPEN_TIME + timedelta(minutes=minute)
    who = {"from": "+13125550199", "to": to}
    recording = "RE" + call_sid[2:]
    services.calllog_writer.persist([
        Event(call_sid, "incoming", "incoming:0", at, {**who, "practice_id": practice_id, "language": "en"}),
        Event(call_sid, "ivr-answer", "ivr-answer:0", at, {}),
        Event(call_sid, "message", "message:2", at + timedelta(seconds=20),
              {"kept": True, "duration": 9, "recording_sid": recording, "recording_url": f"https://x/{recording}",
               "urgent": False, "kind": kind, "mailbox": "complaints"}),
        Event(call_sid, "status", "status:0", at + timedelta(seconds=40),
              {**who, "call_status": "completed", "sequence": 0, "call_duration": "40"}),
    ])
    return call_sid


def complaint_of(services, call_sid: str) -> Complaint | None:
    with services.session_factory() as session:
        return session.scalars(select(Complaint).join(Message, Message.id == Complaint.message_id)
                               .where(Message.call_sid == call_sid)).one_or_none()


def changes(services, complaint_id: int) -> list[tuple]:
    with services.session_factory() as session:
        return [(c.from_state, c.to_state, c.agent_id, c.at, c.note) for c in session.scalars(
            select(ComplaintChange).where(ComplaintChange.complaint_id == complaint_id)
            .order_by(ComplaintChange.at, ComplaintChange.id))]


# --- how a complaint comes in -----------------------------------------------------------------------------------------

def test_given_an_agent_takes_a_message_of_type_complaint_at_the_desk_then_a_received_complaint_due_in_the_practice_days(
        dsim, desk, services, people, api, clock):  # noqa: F811 - fixtures
    outcome = {}
    talk_to_ana(dsim, desk, {
        60: during_talk(outcome, "bad", lambda sid: desk.post("ana", sid, {**FORM, "message_type": "grievance"})),
        61: during_talk(outcome, "saved", lambda sid: desk.post("ana", sid, {
            **FORM, "reason": SAID, "message_type": "complaint"}))})
    bad = outcome["bad"]
    assert (bad.status_code, bad.get_json()["details"]["field"]) == (400, "message_type")
    saved = outcome["saved"]
    assert saved.status_code == 201, saved.get_json()
    body = saved.get_json()
    assert body["message_type"] == "complaint" and body["complaint_id"] is not None
    assert "message_type" not in body["fields"] and body["fields"]["reason"] == SAID

    with services.session_factory() as session:
        message = session.get(Message, body["id"])
        complaint = session.get(Complaint, body["complaint_id"])
        assert (message.kind, message.author_agent_id) == ("complaint", people["ana"])
        assert (complaint.message_id, complaint.source, complaint.state) == (message.id, "desk", "received")
        assert complaint.due_at == complaint.received_at + timedelta(days=RESPOND_DAYS)
        assert complaint.received_at == message.created_at
    assert changes(services, complaint.id) == [(None, "received", people["ana"], complaint.received_at, None)]

    shown = api.get("noor", f"/api/complaints/{complaint.id}")
    assert shown.status_code == 200, shown.get_json()
    shown = shown.get_json()
    assert (shown["state"], shown["source"], shown["next_state"], shown["practice"]) == (
        "received", "desk", "being-looked-at", "northside")
    assert shown["message"]["fields"]["reason"] == SAID
    assert [(h["from"], h["to"], h["agent_name"]) for h in shown["history"]] == [(None, "received", "Ana Lopez")]


def test_given_a_desk_message_without_a_type_then_it_is_a_message_and_opens_no_complaint(dsim, desk, services, api):  # noqa: F811,E501
    outcome = {}
    talk_to_ana(dsim, desk, {60: during_talk(outcome, "saved", lambda sid: desk.post("ana", sid, FORM))})
    assert outcome["saved"].status_code == 201
    assert (outcome["saved"].get_json()["message_type"], outcome["saved"].get_json()["complaint_id"]) == (
        "message", None)
    with services.session_factory() as session:
        assert session.scalar(select(Message.kind)) == "message"
        assert session.scalars(select(Complaint)).all() == []
    assert api.get("noor", "/api/complaints").get_json() == {"complaints": []}


def test_given_a_recorded_message_in_the_complaints_mailbox_then_one_complaint_received_by_careline_however_often_written(
        services, people, api):
    complaint_sid = recorded_complaint(services, 1)
    plain_sid = recorded_complaint(services, 2, kind="message", minute=5)
    recorded_complaint(services, 1)  # the call log writes the same call again: nothing new
    complaint = complaint_of(services, complaint_sid)
    assert complaint is not None and complaint_of(services, plain_sid) is None
    with services.session_factory() as session:
        kinds = dict(session.execute(select(Message.call_sid, Message.kind)).all())
    assert kinds == {complaint_sid: "complaint", plain_sid: "message"}
    assert (complaint.source, complaint.state, complaint.received_at) == (
        "recorded", "received", OPEN_TIME + timedelta(seconds=20))
    assert complaint.due_at == complaint.received_at + timedelta(days=RESPOND_DAYS)
    assert changes(services, complaint.id) == [(None, "received", None, complaint.received_at, None)]  # Careline
    listed = api.get("noor", "/api/complaints").get_json()["complaints"]
    assert [(c["id"], c["source"], c["state"]) for c in listed] == [(complaint.id, "recorded", "received")]


# --- walked to the patient being told ---------------------------------------------------------------------------------

def test_given_a_complaint_when_a_manager_walks_it_then_each_step_has_who_and_when_and_the_notes_are_kept_encrypted(
        services, people, api, clock, session_factory):
    complaint_id = complaint_of(services, recorded_complaint(services, 3)).id
    step = OPEN_TIME + timedelta(hours=1)
    clock.now = step
    looked = api.move("noor", complaint_id, {"state": "being-looked-at", "note": "Calling the front desk lead"})
    assert looked.status_code == 200, looked.get_json()
    assert (looked.get_json()["state"], looked.get_json()["owner_name"]) == ("being-looked-at", "Noor Haddad")

    clock.now = step + timedelta(hours=2)
    missing = api.move("noor", complaint_id, {"state": "patient-informed", "action_taken": "Refill re-sent"})
    assert (missing.status_code, missing.get_json()["details"]["field"]) == (400, "patient_told")
    informed = api.move("noor", complaint_id, {"state": "patient-informed", "action_taken": "Refill re-sent today",
                                               "patient_told": "Apologised; the refill is at the pharmacy"})
    assert informed.status_code == 200, informed.get_json()
    body = informed.get_json()
    assert (body["state"], body["action_taken"], body["patient_told"]) == (
        "patient-informed", "Refill re-sent today", "Apologised; the refill is at the pharmacy")
    assert body["informed_at"] == (step + timedelta(hours=2)).isoformat()

    clock.now = step + timedelta(days=1)
    closed = api.move("noor", complaint_id, {"state": "closed"})
    assert closed.status_code == 200 and closed.get_json()["closed_at"] == (step + timedelta(days=1)).isoformat()
    received_at = OPEN_TIME + timedelta(seconds=20)
    assert changes(services, complaint_id) == [
        (None, "received", None, received_at, None),
        ("received", "being-looked-at", people["noor"], step, "Calling the front desk lead"),
        ("being-looked-at", "patient-informed", people["noor"], step + timedelta(hours=2), None),
        ("patient-informed", "closed", people["noor"], step + timedelta(days=1), None)]
    history = api.get("noor", f"/api/complaints/{complaint_id}").get_json()["history"]
    assert [(h["to"], h["agent_name"], h["at"]) for h in history][1:] == [
        ("being-looked-at", "Noor Haddad", step.isoformat()),
        ("patient-informed", "Noor Haddad", (step + timedelta(hours=2)).isoformat()),
        ("closed", "Noor Haddad", (step + timedelta(days=1)).isoformat())]
    # What was done and what the patient was told are stored encrypted, like every note about a patient.
    with session_factory() as session:
        raw = session.execute(text("SELECT action_taken, patient_told FROM complaints WHERE id = :id"),
                              {"id": complaint_id}).one()
        notes = session.execute(text("SELECT note FROM complaint_changes WHERE note IS NOT NULL")).scalars().all()
    assert "Refill" not in raw.action_taken and "pharmacy" not in raw.patient_told
    assert notes and all("front desk" not in note for note in notes)


@pytest.mark.parametrize("path, body", [
    ([], {"state": "patient-informed", "action_taken": "x", "patient_told": "y"}),  # a step skipped
    ([], {"state": "closed"}),
    ([], {"state": "received"}),  # where it is already
    (["being-looked-at"], {"state": "received"}),  # back
    (["being-looked-at", "patient-informed", "closed"], {"state": "being-looked-at"}),  # after closed
])
def test_given_a_complaint_when_moved_other_than_one_step_forward_then_409_and_nothing_changes(
        services, people, api, path, body):
    complaint_id = complaint_of(services, recorded_complaint(services, 4)).id
    for state in path:
        extra = {"action_taken": "done", "patient_told": "told"} if state == "patient-informed" else {}
        assert api.move("noor", complaint_id, {"state": state, **extra}).status_code == 200
    before = changes(services, complaint_id)
    answer = api.move("noor", complaint_id, body)
    assert (answer.status_code, answer.get_json()["error_id"]) == (409, "transition-not-allowed")
    assert answer.get_json()["details"]["to"] == body["state"]
    assert changes(services, complaint_id) == before


@pytest.mark.parametrize("body, field", [
    ({"state": "looked-at"}, "state"),
    ({}, "state"),
    ({"state": "being-looked-at", "owner": 3}, "owner"),
    ({"state": "being-looked-at", "note": "x" * 2001}, "note"),
    ({"state": "being-looked-at", "action_taken": "early"}, "action_taken"),
])
def test_given_a_bad_body_when_moving_then_400_naming_the_field(services, people, api, body, field):
    complaint_id = complaint_of(services, recorded_complaint(services, 5)).id
    answer = api.move("noor", complaint_id, body)
    assert (answer.status_code, answer.get_json()["error_id"], answer.get_json()["details"]["field"]) == (
        400, "invalid-field", field)
    not_json = api.client.post(f"/api/complaints/{complaint_id}/state", data="state=closed",
                               headers=bearer(api.tokens["noor"]))
    assert not_json.status_code == 400
    assert len(changes(services, complaint_id)) == 1


def test_given_another_practice_or_an_agent_then_403_and_unknown_404(services, people, api):
    complaint_id = complaint_of(services, recorded_complaint(services, 6)).id
    for answer in (api.get("mo", f"/api/complaints/{complaint_id}"),
                   api.move("mo", complaint_id, {"state": "being-looked-at"}),
                   api.get("mo", "/api/complaints?practice=northside")):
        assert (answer.status_code, answer.get_json()["error_id"]) == (403, "forbidden")
    assert api.get("mo", "/api/complaints").get_json() == {"complaints": []}  # Lakeside's own: none
    # An agent of the practice reads it (agents take complaints) but does not move it.
    assert api.get("nia", f"/api/complaints/{complaint_id}").status_code == 200
    refused = api.move("nia", complaint_id, {"state": "being-looked-at"})
    assert (refused.status_code, refused.get_json()["error_id"]) == (403, "forbidden")
    unknown = api.get("noor", "/api/complaints/999999")
    assert (unknown.status_code, unknown.get_json()["error_id"]) == (404, "complaint-not-found")
    assert len(changes(services, complaint_id)) == 1


def test_given_the_clock_passes_the_due_time_then_overdue_until_the_patient_is_informed(services, people, api, clock):
    complaint_id = complaint_of(services, recorded_complaint(services, 7)).id
    due = OPEN_TIME + timedelta(seconds=20) + timedelta(days=RESPOND_DAYS)

    def listed(query: str = "") -> list[tuple]:
        answer = api.get("noor", f"/api/complaints{query}")
        assert answer.status_code == 200, answer.get_json()
        return [(c["id"], c["overdue"]) for c in answer.get_json()["complaints"]]

    clock.now = due - timedelta(minutes=1)
    assert listed() == [(complaint_id, False)] and listed("?overdue=true") == []
    assert listed("?overdue=false") == [(complaint_id, False)]
    clock.now = due + timedelta(minutes=1)
    assert listed("?overdue=true") == [(complaint_id, True)] and listed("?overdue=false") == []
    one = api.get("noor", f"/api/complaints/{complaint_id}").get_json()
    assert (one["due_at"], one["overdue"], one["age_seconds"]) == (
        due.isoformat(), True, RESPOND_DAYS * 86400 + 60)
    api.move("noor", complaint_id, {"state": "being-looked-at"})
    assert listed("?overdue=true") == [(complaint_id, True)]  # looked at is not told
    api.move("noor", complaint_id, {"state": "patient-informed", "action_taken": "a", "patient_told": "b"})
    assert listed("?overdue=true") == [] and listed("?state=patient-informed") == [(complaint_id, False)]
    bad = api.get("noor", "/api/complaints?state=done")
    assert (bad.status_code, bad.get_json()["details"]["field"]) == (400, "state")


def test_given_complaints_read_and_moved_then_each_read_has_its_audit_row(services, people, api):
    complaint_id = complaint_of(services, recorded_complaint(services, 8)).id
    api.get("noor", "/api/complaints?state=received")
    api.get("noor", f"/api/complaints/{complaint_id}")
    api.move("noor", complaint_id, {"state": "being-looked-at"})
    practice_id = services.directory.find_by_number(NORTHSIDE).id
    with services.session_factory() as session:
        rows = session.execute(select(AuditEvent.action, AuditEvent.agent_id, AuditEvent.subject_kind,
                                      AuditEvent.subject_id, AuditEvent.practice_id, AuditEvent.details)
                               .where(AuditEvent.action.like("complaint%")).order_by(AuditEvent.id)).all()
    assert [tuple(row[:5]) for row in rows] == [
        ("complaints.list", people["noor"], None, None, None),
        ("complaint.read", people["noor"], "complaint", str(complaint_id), practice_id),
        ("complaint.move", people["noor"], "complaint", str(complaint_id), practice_id)]
    assert rows[0].details["complaint_ids"] == [complaint_id] and rows[0].details["filter"] == {"state": "received"}


# --- the console --------------------------------------------------------------------------------------------------------

def _csrf(page: str) -> str:
    return re.findall(r'name="csrf_token" value="([^"]+)"', page)[-1]


def test_given_a_manager_on_the_console_then_the_list_shows_age_and_due_and_the_page_walks_it_to_patient_informed(
        services, people, client, clock):
    complaint_id = complaint_of(services, recorded_complaint(services, 9)).id
    console_password(services, [NOOR, "nia@answering.example"], PASSWORD)
    clock.now = OPEN_TIME + timedelta(days=RESPOND_DAYS, hours=2)  # overdue by about two hours
    assert console_sign_in(client, NOOR, PASSWORD).status_code == 303

    listing = client.get("/console/complaints")
    assert listing.status_code == 200
    page = listing.get_data(as_text=True)
    assert f'data-complaint="{complaint_id}" class="overdue"' in page
    assert "3 days 1 h" in page and "Overdue" in page and "Received" in page
    assert 'href="/console/complaints"' in page  # in the nav

    detail = client.get(f"/console/complaints/{complaint_id}").get_data(as_text=True)
    assert "Move to “Being looked at”" in detail
    moved = client.post(f"/console/complaints/{complaint_id}/state",
                        data={"state": "being-looked-at", "note": "", "csrf_token": _csrf(detail)})
    assert (moved.status_code, moved.headers["Location"]) == (303, f"/console/complaints/{complaint_id}")
    detail = client.get(f"/console/complaints/{complaint_id}").get_data(as_text=True)
    assert f"Complaint {complaint_id} is now: being looked at." in detail
    assert 'name="action_taken"' in detail and 'name="patient_told"' in detail

    skipped = client.post(f"/console/complaints/{complaint_id}/state",
                          data={"state": "patient-informed", "action_taken": "Spoke with the team",
                                "patient_told": "", "csrf_token": _csrf(detail)})
    assert skipped.status_code == 303
    detail = client.get(f"/console/complaints/{complaint_id}").get_data(as_text=True)
    assert "not moved" in detail and complaint_of(services, f"CA{9:032d}").state == "being-looked-at"
    client.post(f"/console/complaints/{complaint_id}/state",
                data={"state": "patient-informed", "action_taken": "Spoke with the team",
                      "patient_told": "Called back and apologised", "csrf_token": _csrf(detail)})
    assert complaint_of(services, f"CA{9:032d}").state == "patient-informed"
    detail = client.get(f"/console/complaints/{complaint_id}").get_data(as_text=True)
    assert "Called back and apologised" in detail and "Noor Haddad" in detail

    client.post("/console/sign-out", data={"csrf_token": _csrf(detail)})
    assert console_sign_in(client, "nia@answering.example", PASSWORD).status_code == 303
    assert client.get("/console/complaints").status_code == 403  # agents take complaints at the desk


def test_given_complaints_of_two_practices_then_the_console_list_filters_by_practice_and_overdue(
        services, people, client, clock):
    load_practices(services, COMPLAINTS_TOML + ROOT_TOML)
    northside = complaint_of(services, recorded_complaint(services, 12)).id
    lakeside = complaint_of(services, recorded_complaint(services, 13, minute=1, to=LAKESIDE)).id
    console_password(services, [ROOT, NOOR], PASSWORD)
    clock.now = OPEN_TIME + timedelta(days=RESPOND_DAYS, hours=2)  # Northside's is overdue; Lakeside's (5 days) not
    assert console_sign_in(client, ROOT, PASSWORD).status_code == 303

    def shown(query: str) -> tuple[list[int], str]:
        answer = client.get("/console/complaints" + query)
        assert answer.status_code == 200
        page = answer.get_data(as_text=True)
        return [int(found) for found in re.findall(r'data-complaint="(\d+)"', page)], page

    ids, page = shown("")
    assert ids == [northside, lakeside] and 'id="filter-practice"' in page  # an admin chooses among practices
    assert shown("?practice=lakeside")[0] == [lakeside]
    ids, page = shown("?overdue=true")
    assert ids == [northside] and 'id="filter-overdue" name="overdue" value="true" checked' in page
    ids, page = shown("?practice=lakeside&overdue=true")
    assert ids == [] and "No open complaint matches these filters." in page
    assert client.get("/console/complaints?practice=riverside").status_code == 404  # one who sees every practice
    with services.session_factory() as session:
        details = session.scalars(select(AuditEvent.details).where(AuditEvent.action == "complaints.list")
                                  .order_by(AuditEvent.id.desc()).limit(1)).one()
    assert details == {"count": 0, "complaint_ids": [], "filter": {"practice": "lakeside", "overdue": True}}

    client.post("/console/sign-out", data={"csrf_token": _csrf(page)})
    assert console_sign_in(client, NOOR, PASSWORD).status_code == 303
    ids, page = shown("")
    assert ids == [northside] and 'id="filter-practice"' not in page  # one practice: nothing to choose
    assert client.get("/console/complaints?practice=lakeside").status_code == 403


def test_given_open_complaints_then_the_dashboard_panel_shows_them_with_their_age(services, people, client, clock):
    first = complaint_of(services, recorded_complaint(services, 10)).id
    second = complaint_of(services, recorded_complaint(services, 11, minute=60)).id
    console_password(services, [NOOR], PASSWORD)
    clock.now = OPEN_TIME + timedelta(days=1, hours=5)
    assert console_sign_in(client, NOOR, PASSWORD).status_code == 303
    page = client.get("/console/").get_data(as_text=True)
    panel = page[page.index('id="complaints-title"'):page.index('id="agents-title"')]
    assert "2 open" in panel
    rows = re.findall(r'data-complaint-id="(\d+)".*?data-age>([^<]+)<', panel)
    assert rows == [(str(first), "1 day 4 h"), (str(second), "1 day 3 h")]
    with services.session_factory() as session:
        session.execute(text("UPDATE complaints SET state = 'closed' WHERE id = :id"), {"id": first})
        session.commit()
    panel = client.get("/console/").get_data(as_text=True)
    panel = panel[panel.index('id="complaints-title"'):panel.index('id="agents-title"')]
    assert "1 open" in panel and f'data-complaint-id="{first}"' not in panel


# --- the configuration ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("extra, named", [
    ("[practices.complaints]\nrespond_within_days = 0\n", "practices[1] (northside).complaints.respond_within_days"),
    ("[practices.complaints]\nrespond_within_days = 91\n", "practices[1] (northside).complaints.respond_within_days"),
    ("[practices.complaints]\nanswer_within_days = 5\n", "practices[1] (northside).complaints.answer_within_days"),
    ('[[practices.message_fields]]\nname = "message_type"\nlabel = "Type"\nkind = "text"\n',
     "practices[1] (northside).message_fields[0].name"),
])
def test_given_a_bad_complaints_setting_when_loaded_then_refused_naming_the_field(extra, named):
    with pytest.raises(ConfigInvalid) as refused:
        load_config_text(PRACTICES_TOML + extra)
    assert any(problem.startswith(named) for problem in refused.value.problems), refused.value.problems


def test_given_no_complaints_table_then_five_days_and_the_file_s_days_are_stored(services, people):
    with services.session_factory() as session:
        days = dict(session.execute(select(Practice.slug, Practice.complaint_respond_days)).all())
    assert days == {"lakeside": 5, "northside": RESPOND_DAYS}


# --- through the simulator: the practice's menu, to the patient being told ---------------------------------------------

def test_given_a_caller_presses_the_menu_s_complaint_key_then_a_complaint_is_opened_and_walked_to_patient_informed(
        sim, services, drain, tokens, client, tmp_path):
    """Issue 16's "done when": a caller chooses the practice's complaints entry ([[practices.menu]] action
    "complaint") and leaves a recorded message; the practice's manager walks the complaint to "patient informed"."""
    greeting = tmp_path / "greeting.wav"
    greeting.write_bytes(menus.wav_bytes())
    load_practices(services, menus.clinic_toml(greeting=greeting))
    result = sim.call(to=menus.CLINIC, from_=CALLER, caller=Caller().press("9").speak(8, then="#").silence())
    drain()
    complaint = complaint_of(services, result.call_sid)
    assert complaint is not None and (complaint.source, complaint.state) == ("recorded", "received")
    assert complaint.due_at == complaint.received_at + timedelta(days=5)  # the default: no [practices.complaints]
    rita = bearer(tokens.issue_token(menus.MANAGER).token)
    for body in ({"state": "being-looked-at"},
                 {"state": "patient-informed", "action_taken": "Spoke with the billing office",
                  "patient_told": "The charge was removed; we apologised"}):
        answer = client.post(f"/api/complaints/{complaint.id}/state", json=body, headers=rita)
        assert answer.status_code == 200, answer.get_json()
    shown = client.get(f"/api/complaints/{complaint.id}", headers=rita).get_json()
    assert shown["state"] == "patient-informed" and shown["message"]["call_sid"] == result.call_sid
    assert [(h["to"], h["agent_name"]) for h in shown["history"]] == [
        ("received", None), ("being-looked-at", "Rita Manager"), ("patient-informed", "Rita Manager")]


def test_given_a_complaint_s_message_past_the_practice_s_days_when_retention_runs_then_the_complaint_goes_with_it(
        services, people, api, clock):
    complaint_id = complaint_of(services, recorded_complaint(services, 30)).id
    assert api.move("noor", complaint_id, {"state": "being-looked-at"}).status_code == 200
    kept_id = complaint_of(services, recorded_complaint(services, 31, minute=60 * 24 * 2)).id
    clock.now = OPEN_TIME + timedelta(days=2555, hours=12)  # past messages_days (2555) for the first one only
    with services.session_factory() as session:  # step 1 (recordings at Twilio) is retention's own test
        session.execute(text("UPDATE messages SET recording_url = NULL, recording_deleted_at = :at"),
                        {"at": clock.now})
        session.commit()
    report = services.retention.run()
    assert report.messages == 1
    with services.session_factory() as session:
        assert session.scalars(select(Complaint.id)).all() == [kept_id]
        assert session.scalars(select(ComplaintChange.complaint_id).distinct()).all() == [kept_id]
        audited = session.scalars(select(AuditEvent.subject_id).where(AuditEvent.action == "complaint.move")).all()
    assert audited == [str(complaint_id)]  # audit rows stay

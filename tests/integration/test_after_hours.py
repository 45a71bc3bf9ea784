"""After hours: urgent callers reach the answering agents or page the on-call provider, routine callers leave a
message; pages escalate through the on-call list until acknowledged; callers get a receipt unless they said STOP.

Whole calls run through the simulator; Twilio's REST API is the stand-in; RQ's jobs run in a burst worker with
the app's clock moved forward (`run_jobs`), as RQ's scheduler would run them when their time comes.
"""
from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from callsim import Callee, Caller
from calllog.events import STREAM_KEY, Event
from models import Call, CallbackTask, InboundSms, Message, OnCallPage, OutboundSms, PageEvent, QueueEvent, SmsOptOut
from jobs.paging import sweep_follow_ups
from tests.integration.conftest import (ACCOUNT_SID, CLOSED_TIME, LAKESIDE, ON_CALL_TOML,
                                        NORTHSIDE, OPEN_TIME, PRACTICES_TOML, bearer, issue, load_practices,
                                        post_at_once, run_jobs, simulator, with_rest_standin)

CALLER = "+13125550199"
ANA = "+13125550133"
DR_RIVERA, DR_OKAFOR = "+16175550122", "+16175550123"
PAT = "+16175550144"  # Northside's manager
AFTER_HOURS_TOML = PRACTICES_TOML + ON_CALL_TOML + """

[[agents]]
email = "ana@answering.example"
name = "Ana Lopez"
phone = "+13125550133"
languages = ["en", "es"]
practices = ["*"]

[[agents]]
email = "pat@northside.example"
name = "Pat Quinn"
phone = "+16175550144"
practices = ["northside"]
role = "manager"

[[agents]]
email = "ben@answering.example"
name = "Ben Adler"
practices = ["lakeside"]

[[agents]]
email = "nia@answering.example"
name = "Nia Okafor"
practices = ["northside"]
"""
# The [practices.after_hours] table and the [[practices.on_call]] entries bind to the last [[practices]]: Northside.
WORDS = "my daughter has a fever of one hundred and three"


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@pytest.fixture
def people(services, clock) -> dict[str, int]:
    load_practices(services, AFTER_HOURS_TOML)
    clock.now = CLOSED_TIME
    from models import Agent
    with services.session_factory() as session:
        return {email.split("@")[0]: agent_id for email, agent_id in session.execute(select(Agent.email, Agent.id))}


@pytest.fixture
def ahsim(client, clock, standin, people):
    sim = simulator(client, clock)
    sim.rest = standin
    sim.on_time = lambda now: setattr(clock, "now", now)
    return sim


def texts_to(standin, number: str) -> list[str]:
    return [r.params.get("Body") for r in standin.requests_for("messages.create") if r.params.get("To") == number]


def rows(services, model, *where):
    with services.session_factory() as session:
        return session.scalars(select(model).where(*where)).all()


def urgent_message_with_nobody_on_duty(ahsim, drain, services, clock):
    result = ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").speak(8, then="#", words=WORDS))
    drain()
    run_jobs(services, clock)
    return result


# --- the menu and the three paths -------------------------------------------------------------------------------

def test_given_after_hours_then_the_menu_offers_1_urgent_and_2_a_routine_message_after_the_emergency_notice(ahsim):
    result = ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller().hang_up())
    heard = " ".join(result.heard)
    emergency = heard.index("If this is a medical emergency")
    urgent = heard.index("If you have an urgent medical question, press 1 to reach our after-hours team.")
    routine = heard.index("To leave a routine message for the office, press 2.")
    assert emergency < urgent < routine
    assert "To speak with someone, press 1." not in heard


def test_given_after_hours_urgent_with_an_agent_on_duty_then_the_after_hours_agent_answers_it(
        ahsim, client, tokens, services, drain, standin):
    answer = client.post("/api/agents/me/status", json={"status": "available"},
                         headers=bearer(issue(tokens, "ana")))
    assert answer.status_code == 200
    result = ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"), dial={ANA: Callee(press="1")})
    assert result.dial_results[-1].status == "completed"
    assert "Urgent." in result.dial_results[-1].whisper_heard  # the whisper tells the agent
    drain()
    (call,) = rows(services, Call, Call.call_sid == result.call_sid)
    assert (call.after_hours, call.urgent, call.answered_by, call.outcome) == (True, True, "agent", "answered")
    entered = rows(services, QueueEvent, QueueEvent.call_sid == result.call_sid, QueueEvent.kind == "entered")
    assert [e.urgent for e in entered] == [True]
    assert rows(services, OnCallPage) == []  # a person took it: nobody is paged
    assert standin.requests_for("messages.create") == []


def test_given_after_hours_urgent_with_nobody_on_duty_then_an_urgent_message_and_the_provider_is_paged_at_once(
        ahsim, services, drain, clock, standin):
    result = urgent_message_with_nobody_on_duty(ahsim, drain, services, clock)
    heard = " ".join(result.heard)
    assert "We will treat it as urgent." in heard
    assert "Your message will be sent to the on-call team as soon as you finish." in heard
    (message,) = rows(services, Message)
    assert (message.urgent, message.after_hours) == (True, True)
    (page,) = rows(services, OnCallPage)
    assert (page.message_id, page.status, page.step) == (message.id, "open", 1)
    (text,) = texts_to(standin, DR_RIVERA)
    assert "urgent message" in text and "Northside Pediatrics" in text
    assert re.search(r"https://careline\.test/p/[A-Za-z0-9_-]{32} ", text)  # the message is behind a PIN
    assert CALLER not in text and WORDS not in text and "fever" not in text  # never the caller or the content
    (sent,) = [r for r in standin.requests_for("messages.create") if r.params["To"] == DR_RIVERA]
    assert sent.params["From"] == NORTHSIDE
    (event,) = rows(services, PageEvent)
    assert (event.kind, event.step, event.target) == ("sent", 0, f"provider:{_provider_id(services, DR_RIVERA)}")


def test_given_after_hours_routine_message_then_kept_not_urgent_no_page_and_the_caller_gets_a_receipt(
        ahsim, services, drain, clock, standin):
    result = ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(8, then="#"))
    assert "If your message is urgent, press 1." in " ".join(result.heard)
    drain()
    run_jobs(services, clock)
    (message,) = rows(services, Message)
    assert (message.urgent, message.after_hours) == (False, True)
    assert rows(services, OnCallPage) == []
    # Tuesday 21:00 in Boston: due by 10:00 the next open day, Wednesday.
    (task,) = rows(services, CallbackTask)
    assert task.due_at.astimezone(tz("America/New_York")).strftime("%a %H:%M") == "Wed 10:00"
    (receipt,) = texts_to(standin, CALLER)
    assert receipt == ("Northside Pediatrics: we received your message. We will call you back by tomorrow at 10 AM. "
                       "Reply STOP to stop these texts.")
    (sms,) = rows(services, OutboundSms)
    assert (sms.purpose, sms.status, sms.attempts) == ("receipt", "sent", 1)


def test_given_a_holiday_then_the_after_hours_menu_and_paging(ahsim, services, drain, clock, standin):
    load_practices(services, AFTER_HOURS_TOML.replace(
        'timezone = "America/New_York"\nlanguages = ["en"]',
        'timezone = "America/New_York"\nlanguages = ["en"]\nholidays = ["2026-11-24"]'))
    clock.now = OPEN_TIME  # 11:00 in Boston on a Tuesday, which is now a holiday
    result = ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").speak(8, then="#"))
    assert "press 1 to reach our after-hours team" in " ".join(result.heard)
    drain()
    run_jobs(services, clock)
    assert len(texts_to(standin, DR_RIVERA)) == 1


def test_given_a_spanish_caller_then_the_receipt_is_in_spanish_and_the_message_is_not_sent_for_transcription(
        ahsim, services, drain, clock, standin):
    result = ahsim.call(to=LAKESIDE, from_=CALLER, caller=Caller(press="2").press("2", after=1).speak(8, then="#"))
    record = next(s for s in result.transcript if s.kind == "record")
    assert "transcribe" not in record.attrs  # Twilio transcribes US English only
    drain()
    run_jobs(services, clock)
    (message,) = rows(services, Message)
    assert (message.language, message.transcription_status) == ("es", None)
    (receipt,) = texts_to(standin, CALLER)
    assert receipt.startswith("Lakeside Family Medicine: recibimos su mensaje.")
    assert "a más tardar mañana a las 10 de la mañana" in receipt


@pytest.mark.parametrize("to, caller, receipt", [
    (NORTHSIDE, Caller(press="1").speak(8, then="#"),
     "Northside Pediatrics: we received your message. We will call you back within 14 minutes. "
     "Reply STOP to stop these texts."),
    (LAKESIDE, Caller(press="2").press("1", after=1).speak(8, then="#"),
     "Lakeside Family Medicine: recibimos su mensaje. Le devolveremos la llamada dentro de 14 minutos. "
     "Responda STOP para no recibir más mensajes."),
], ids=["en", "es"])
def test_given_an_urgent_message_then_the_receipt_promises_the_callback_within_the_minutes_left(
        ahsim, services, drain, clock, standin, to, caller, receipt):
    """An urgent task is due 15 minutes after the call began; the receipt leaves when the call ends, about a
    minute later, and says how many minutes are left (13 min and some seconds: 14)."""
    began = clock.now
    result = ahsim.call(to=to, from_=CALLER, caller=caller.copy())
    assert 30 <= result.duration <= 89  # so that 15 minutes less the call round to 14
    drain()
    run_jobs(services, clock)
    (task,) = rows(services, CallbackTask)
    assert task.urgent and task.due_at == began + timedelta(minutes=15)
    assert texts_to(standin, CALLER) == [receipt]


def test_given_a_message_joining_an_overdue_task_then_the_receipt_says_as_soon_as_we_can(
        ahsim, services, drain, clock, standin):
    """The task's due time has passed (no time left to promise): the receipt promises no time."""
    ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(8, then="#"))  # due Wed 10:00 Boston
    drain()
    run_jobs(services, clock)
    clock.now = CLOSED_TIME + timedelta(hours=14)  # Wednesday 11:00 in Boston, open: the task is an hour late
    ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(8, then="#"))
    drain()
    run_jobs(services, clock)
    (task,) = rows(services, CallbackTask)
    assert task.call_count == 2 and task.due_at < clock.now
    assert texts_to(standin, CALLER) == [
        "Northside Pediatrics: we received your message. We will call you back by tomorrow at 10 AM. "
        "Reply STOP to stop these texts.",
        "Northside Pediatrics: we received your message. We will call you back as soon as we can. "
        "Reply STOP to stop these texts."]


# --- escalation ---------------------------------------------------------------------------------------------

def test_given_a_page_unacknowledged_then_it_escalates_again_then_the_next_provider_then_every_manager(
        ahsim, services, drain, clock, standin):
    urgent_message_with_nobody_on_duty(ahsim, drain, services, clock)
    paged_at = clock.now
    assert len(texts_to(standin, DR_RIVERA)) == 1
    # The next step waits in RQ's scheduled-job registry (Redis), not in a process: a restart keeps it.
    registry = services.jobs.scheduled_job_registry
    (page,) = rows(services, OnCallPage)
    (step,) = [job for job in map(services.jobs.fetch_job, registry.get_job_ids())
               if job.func_name == "jobs.paging.run_page_step"]
    assert step.args == (page.id, 1) and step.retries_left == 3
    assert registry.get_scheduled_time(step).replace(tzinfo=paged_at.tzinfo) == \
        (paged_at + timedelta(minutes=10)).replace(microsecond=0)
    clock.now = paged_at + timedelta(minutes=9)
    run_jobs(services, clock)
    assert len(texts_to(standin, DR_RIVERA)) == 1  # not yet: escalation_minutes is 10
    clock.now = paged_at + timedelta(minutes=10, seconds=5)
    run_jobs(services, clock)
    assert len(texts_to(standin, DR_RIVERA)) == 2  # paged again
    assert "(page repeated)" in texts_to(standin, DR_RIVERA)[1]
    assert texts_to(standin, DR_OKAFOR) == []
    clock.now += timedelta(minutes=10)
    run_jobs(services, clock)
    assert len(texts_to(standin, DR_OKAFOR)) == 1  # then the next provider in the list
    assert texts_to(standin, PAT) == []
    clock.now += timedelta(minutes=10)
    run_jobs(services, clock)
    (alert,) = texts_to(standin, PAT)  # then every manager of the practice
    assert "was not acknowledged" in alert and "Northside Pediatrics" in alert
    (page,) = rows(services, OnCallPage)
    assert page.status == "exhausted"
    clock.now += timedelta(hours=1)
    run_jobs(services, clock)
    pages = [r for r in standin.requests_for("messages.create") if r.params["To"] != CALLER]
    assert len(pages) == 4  # and then nothing more
    steps = [(e.step, e.kind, e.target.split(":")[0]) for e in rows(services, PageEvent)]
    assert sorted(steps) == [(0, "sent", "provider"), (1, "sent", "provider"), (2, "sent", "provider"),
                             (3, "sent", "manager")]


def test_given_the_provider_replies_then_the_page_is_acknowledged_and_the_escalation_stops(
        ahsim, services, drain, clock, standin):
    urgent_message_with_nobody_on_duty(ahsim, drain, services, clock)
    answer = ahsim.send_sms(DR_RIVERA, NORTHSIDE, "On it, calling now")
    assert answer.status == 200
    ahsim.send_sms(DR_RIVERA, NORTHSIDE, "On it, calling now", message_sid=_last_sms_sid(services))  # Twilio again
    (page,) = rows(services, OnCallPage)
    assert (page.status, page.acknowledged_by) == ("acknowledged", f"provider:{_provider_id(services, DR_RIVERA)}")
    clock.now += timedelta(minutes=45)
    run_jobs(services, clock)
    assert len(texts_to(standin, DR_RIVERA)) == 1 and texts_to(standin, DR_OKAFOR) == [] == texts_to(standin, PAT)
    acks = [e for e in rows(services, PageEvent) if e.kind == "acknowledged"]
    assert len(acks) == 1
    assert [row.handled_as for row in rows(services, InboundSms)] == ["acknowledgement"]


def test_given_an_agent_acknowledges_in_the_api_then_the_escalation_stops(
        ahsim, client, tokens, services, drain, clock, standin, people):
    urgent_message_with_nobody_on_duty(ahsim, drain, services, clock)
    (page,) = rows(services, OnCallPage)
    refused = client.post(f"/api/pages/{page.id}/acknowledge", headers=bearer(issue(tokens, "ben")))
    assert refused.status_code == 403  # Ben answers for Lakeside only
    assert client.post("/api/pages/999999/acknowledge", headers=bearer(issue(tokens, "ana"))).status_code == 404
    answer = client.post(f"/api/pages/{page.id}/acknowledge", headers=bearer(issue(tokens, "ana")))
    assert answer.status_code == 200 and answer.get_json()["changed"] is True
    assert answer.get_json()["page"]["acknowledged_by"] == f"agent:{people['ana']}"
    again = client.post(f"/api/pages/{page.id}/acknowledge", headers=bearer(issue(tokens, "ana")))
    assert again.get_json()["changed"] is False
    clock.now += timedelta(minutes=30)
    run_jobs(services, clock)
    assert len(texts_to(standin, DR_RIVERA)) == 1 and texts_to(standin, DR_OKAFOR) == []
    pat = tokens.issue_token("pat@northside.example").token
    listed = client.get("/api/pages?practice=northside", headers=bearer(pat)).get_json()["pages"]
    assert [p["status"] for p in listed] == ["acknowledged"]
    assert [e["kind"] for e in listed[0]["events"]] == ["sent", "acknowledged"]


def test_given_a_lost_step_job_then_the_sweep_runs_it_late(ahsim, services, drain, clock, standin):
    urgent_message_with_nobody_on_duty(ahsim, drain, services, clock)
    services.jobs.scheduled_job_registry.remove(services.jobs.scheduled_job_registry.get_job_ids()[0])
    clock.now += timedelta(minutes=12)
    assert sweep_follow_ups(services) == 1
    run_jobs(services, clock)
    assert len(texts_to(standin, DR_RIVERA)) == 2


def test_given_sms_fails_then_rq_retries_it_with_backoff_and_it_is_sent(ahsim, services, drain, clock, standin,
                                                                       caplog):
    standin.fail_next("messages.create", 500)
    caplog.set_level(logging.WARNING)
    ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(8, then="#"))
    drain()
    run_jobs(services, clock)
    (sms,) = rows(services, OutboundSms)
    assert (sms.purpose, sms.status, sms.attempts, sms.error_code) == ("receipt", "pending", 1, 20500)
    assert "RQ retries it" in caplog.text
    (retry,) = [job for job in map(services.jobs.fetch_job, services.jobs.scheduled_job_registry.get_job_ids())
                if job.func_name == "jobs.sms.send_sms"]
    assert retry.retries_left == 2
    # The retry is due 10 s (jobs.sms.RETRY's first interval) after the failure on Careline's clock, whatever
    # the real date: not a second earlier, and then it runs again.
    failed_at = clock.now
    assert services.jobs.scheduled_job_registry.get_scheduled_time(retry) == \
        (failed_at + timedelta(seconds=10)).replace(microsecond=0)
    assert run_jobs(services, clock, until=failed_at + timedelta(seconds=9)) == 0
    assert rows(services, OutboundSms)[0].attempts == 1
    assert run_jobs(services, clock, until=failed_at + timedelta(seconds=10)) == 1
    (sms,) = rows(services, OutboundSms)
    assert (sms.status, sms.attempts) == ("sent", 2)
    assert len(texts_to(standin, CALLER)) == 2  # the refused request, then the one Twilio accepted
    assert CALLER not in caplog.text


def test_given_sms_fails_every_time_then_marked_failed_and_logged_never_lost_silently(
        ahsim, services, drain, clock, standin, caplog):
    for _ in range(4):
        standin.fail_next("messages.create", 503)
    ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(8, then="#"))
    drain()
    run_jobs(services, clock, until=clock.now + timedelta(days=30))
    (sms,) = rows(services, OutboundSms)
    assert (sms.status, sms.attempts) == ("failed", 4)
    assert "FAILED for good after 4 attempt(s)" in caplog.text


# --- STOP ----------------------------------------------------------------------------------------------------

def test_given_a_caller_replied_stop_then_no_receipt_and_start_brings_them_back(ahsim, services, drain, clock,
                                                                                standin):
    assert ahsim.send_sms(CALLER, NORTHSIDE, " stop ").status == 200
    assert [o.phone for o in rows(services, SmsOptOut)] == [CALLER]
    ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(8, then="#"))
    drain()
    run_jobs(services, clock)
    assert texts_to(standin, CALLER) == []
    (sms,) = rows(services, OutboundSms)
    assert sms.status == "opted-out"
    ahsim.send_sms(CALLER, NORTHSIDE, "START")
    assert rows(services, SmsOptOut) == []
    clock.now += timedelta(days=1)
    ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(8, then="#"))
    drain()
    run_jobs(services, clock)
    assert len(texts_to(standin, CALLER)) == 1


def test_given_twilio_says_the_number_unsubscribed_then_marked_opted_out_and_not_retried(
        ahsim, services, drain, clock, standin):
    standin.opt_out(CALLER)
    ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(8, then="#"))
    drain()
    run_jobs(services, clock, until=clock.now + timedelta(days=30))
    (sms,) = rows(services, OutboundSms)
    assert (sms.status, sms.error_code, sms.attempts) == ("opted-out", 21610, 1)
    assert [o.phone for o in rows(services, SmsOptOut)] == [CALLER]


def test_given_an_sms_webhook_unsigned_or_malformed_then_refused_and_nothing_written(ahsim, services):
    params = {"MessageSid": "SM" + "1" * 32, "From": CALLER, "To": NORTHSIDE, "Body": "STOP",
              "AccountSid": ACCOUNT_SID}
    assert ahsim.post_unsigned("/sms/incoming", params).status == 403
    assert ahsim.post_forged("/sms/incoming", params).status == 403
    assert ahsim.post_signed("/sms/incoming", {k: v for k, v in params.items() if k != "From"}).status == 400
    assert rows(services, SmsOptOut) == [] and rows(services, InboundSms) == []


# --- transcription --------------------------------------------------------------------------------------------

def test_given_a_message_then_twilio_is_asked_to_transcribe_and_the_text_is_stored(ahsim, services, drain):
    result = ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(8, then="#", words=WORDS))
    record = next(s for s in result.transcript if s.kind == "record")
    assert record.attrs["transcribe"] == "true"
    assert record.attrs["transcribeCallback"].endswith("/voice/transcription")
    drain()
    (message,) = rows(services, Message)
    assert (message.transcription_status, message.transcription_text) == ("completed", WORDS)


def test_given_a_transcription_arriving_late_and_twice_then_stored_once_and_a_failure_never_replaces_it(
        ahsim, services, drain):
    from core.db import session_scope
    from models import CallEvent

    result = ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(8, then="#", words=WORDS))
    (sent,) = [r for r in result.requests if r.url.endswith("/voice/transcription")]
    drain()
    # As if Twilio's callback had not come yet: the message is saved, its transcription pending.
    with session_scope(services.session_factory) as session:
        session.query(CallEvent).filter(CallEvent.kind == "transcription").delete()
        message = session.scalars(select(Message)).one()
        message.transcription_status, message.transcription_text = "pending", None
    assert ahsim.post_signed("/voice/transcription", sent.params).status == 204  # late
    assert ahsim.post_signed("/voice/transcription", sent.params).status == 204  # and again
    drain()
    (message,) = rows(services, Message)
    assert (message.transcription_status, message.transcription_text) == ("completed", WORDS)
    assert message.transcription_sid == sent.params["TranscriptionSid"]
    assert len(rows(services, CallEvent, CallEvent.kind == "transcription")) == 1
    failed = {**sent.params, "TranscriptionSid": "TR" + "6" * 32, "TranscriptionStatus": "failed",
              "TranscriptionText": ""}
    assert ahsim.post_signed("/voice/transcription", failed).status == 204
    drain()
    (message,) = rows(services, Message)
    assert (message.transcription_status, message.transcription_text) == ("completed", WORDS)


def test_given_a_failed_transcription_then_the_message_stands_marked_failed(ahsim, services, drain):
    load_practices(services, AFTER_HOURS_TOML + "\n[practices.messages]\nmax_length_seconds = 300\n")
    result = ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(150, then="#"))
    drain()  # Twilio transcribes 2-120 s only: a 150 s message's transcription fails
    (message,) = rows(services, Message)
    assert message.call_sid == result.call_sid
    assert (message.transcription_status, message.transcription_text) == ("failed", None)


def test_given_a_malformed_transcription_callback_then_400_and_nothing_written(ahsim, services, drain):
    params = {"CallSid": "CA" + "1" * 32, "RecordingSid": "RE" + "1" * 32, "TranscriptionSid": "TR" + "1" * 32,
              "TranscriptionStatus": "in-progress", "AccountSid": ACCOUNT_SID}
    assert ahsim.post_signed("/voice/transcription", params).status == 400
    assert ahsim.post_signed("/voice/transcription", {**params, "TranscriptionStatus": ""}).status == 400
    assert ahsim.post_unsigned("/voice/transcription", {**params, "TranscriptionStatus": "completed"}).status == 403
    assert drain() == 0


def _provider_id(services, phone: str) -> int:
    from models import OnCallProvider
    (provider,) = rows(services, OnCallProvider, OnCallProvider.phone == phone)
    return provider.id


def _last_sms_sid(services) -> str:
    return rows(services, InboundSms)[-1].message_sid


def tz(name: str):
    from zoneinfo import ZoneInfo
    return ZoneInfo(name)


# --- patching a caller to the on-call provider -------------------------------------------------------------------

def _patch_during_talk(client, token, outcome):
    def hook(run):
        outcome["answer"] = client.post(f"/api/calls/{run.call_sid}/patch-on-call", headers=bearer(token))
    return hook


def test_given_an_agent_patches_an_urgent_caller_then_the_on_call_provider_is_dialled_with_the_caller_on_the_line(
        ahsim, client, tokens, services, drain, standin, people, clock):
    token = issue(tokens, "ana")
    assert client.post("/api/agents/me/status", json={"status": "available"}, headers=bearer(token)).status_code == 200
    outcome = {}
    result = ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                        dial={ANA: Callee(press="1", talk_seconds=300), DR_RIVERA: Callee(press="1", talk_seconds=40)},
                        at={60: _patch_during_talk(client, token, outcome)})
    assert outcome["answer"].status_code == 202, outcome["answer"].get_json()
    (update,) = standin.requests_for("calls.update")
    assert result.call_sid in update.path
    provider_id = _provider_id(services, DR_RIVERA)
    assert update.params["Url"] == f"https://careline.test/voice/on-call/patch?provider={provider_id}"
    agent_dial, provider_dial = result.dial_results
    assert agent_dial.targets == (ANA,) and agent_dial.status == "completed"  # the patch ended the agent's leg
    assert provider_dial.targets == (DR_RIVERA,) and provider_dial.status == "completed"
    assert "Urgent call from Careline for Northside Pediatrics" in " ".join(provider_dial.whisper_heard)
    provider_doc = next(d for d in result.documents if "/voice/on-call/patch" in d.url)
    assert f'callerId="{NORTHSIDE}"' in provider_doc.text
    assert "connect you with the on-call provider" in " ".join(result.heard)
    ana = services.queue.agent(people["ana"], clock.now)
    assert ana.status.value in ("wrap-up", "available")  # free for the next caller
    # Ana's desk is told how the patch goes, in the provider's name: ringing, taken, ended.
    assert _patch_events(services, people["ana"]) == [
        (result.call_sid, "Dr. Ines Rivera", "ringing", None), (result.call_sid, "Dr. Ines Rivera", "connected", None),
        (result.call_sid, "Dr. Ines Rivera", "ended", 40)]
    drain()
    (call,) = rows(services, Call, Call.call_sid == result.call_sid)
    assert (call.answered_by, call.outcome) == ("agent", "answered")
    assert rows(services, Message) == []


def _patch_events(services, agent_id: int) -> list[tuple]:
    """The `patch` events of an agent's desk feed: (call, provider, outcome, talk seconds)."""
    return [(e.data["call_sid"], e.data["provider"]["name"], e.data["outcome"], e.data.get("talk_seconds"))
            for e in services.agent_feed.read(agent_id, "0-0") if e.type == "patch"]


def test_given_the_on_call_provider_does_not_take_the_patch_then_an_urgent_message_pages_them(
        ahsim, client, tokens, services, drain, standin, clock, people):
    token = issue(tokens, "ana")
    client.post("/api/agents/me/status", json={"status": "available"}, headers=bearer(token))
    outcome = {}
    result = ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").speak(10, then="#"),
                        dial={ANA: Callee(press="1", talk_seconds=300), DR_RIVERA: Callee(answer=False)},
                        at={60: _patch_during_talk(client, token, outcome)})
    assert outcome["answer"].status_code == 202
    assert result.dial_results[-1].status == "no-answer"
    assert "The on-call provider could not be reached." in " ".join(result.heard)
    assert _patch_events(services, people["ana"]) == [
        (result.call_sid, "Dr. Ines Rivera", "ringing", None), (result.call_sid, "Dr. Ines Rivera", "not-taken", None)]
    drain()
    run_jobs(services, clock)
    (message,) = rows(services, Message)
    assert (message.urgent, message.after_hours) == (True, True)
    assert len(texts_to(standin, DR_RIVERA)) == 1  # paged about the urgent message
    (call,) = rows(services, Call, Call.call_sid == result.call_sid)
    assert call.outcome == "message"  # not "answered": its message needs a callback
    assert len(rows(services, CallbackTask)) == 1


def test_given_a_patch_request_that_cannot_be_done_then_clear_errors_and_nothing_changes(
        ahsim, client, tokens, services, standin):
    token = issue(tokens, "ana")
    assert client.post("/api/calls/not-a-sid/patch-on-call", headers=bearer(token)).status_code == 400
    unknown = client.post(f"/api/calls/CA{'0' * 32}/patch-on-call", headers=bearer(token))
    assert unknown.status_code == 409 and unknown.get_json()["error_id"] == "call-not-connected"
    assert client.post(f"/api/calls/CA{'0' * 32}/patch-on-call").status_code == 401
    assert standin.requests_for("calls.update") == []


def test_given_twilio_refuses_the_patch_then_502_and_the_agent_keeps_the_caller(
        ahsim, client, tokens, services, standin, people, clock):
    token = issue(tokens, "ana")
    client.post("/api/agents/me/status", json={"status": "available"}, headers=bearer(token))
    outcome = {}

    def refuse_then_patch(run):
        standin.fail_next("calls.update", 500)
        outcome["answer"] = client.post(f"/api/calls/{run.call_sid}/patch-on-call", headers=bearer(token))
        outcome["agent"] = services.queue.agent(people["ana"], clock.now).status.value

    result = ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                        dial={ANA: Callee(press="1", talk_seconds=120)}, at={60: refuse_then_patch})
    assert outcome["answer"].status_code == 502
    assert outcome["answer"].get_json()["error_id"] == "twilio-unavailable"
    assert outcome["agent"] == "busy"  # still on the call with the caller
    assert [d.targets for d in result.dial_results] == [(ANA,)] and result.dial_results[0].status == "completed"


def test_given_an_agent_of_another_practice_then_the_patch_is_refused(ahsim, client, tokens, services, standin):
    ana = issue(tokens, "ana")
    client.post("/api/agents/me/status", json={"status": "available"}, headers=bearer(ana))
    outcome = {}

    def ben_patches(run):
        outcome["answer"] = client.post(f"/api/calls/{run.call_sid}/patch-on-call",
                                        headers=bearer(issue(tokens, "ben")))

    ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"), dial={ANA: Callee(press="1", talk_seconds=90)},
               at={60: ben_patches})
    assert outcome["answer"].status_code == 403
    assert standin.requests_for("calls.update") == []


def test_given_someone_other_than_the_calls_agent_then_the_patch_is_refused_403_and_the_agent_may(
        ahsim, client, tokens, services, standin):
    """Only the agent connected to the call may patch it: Nia (an agent of Northside) and Pat (Northside's
    manager) see the practice, yet are refused 403 and Twilio is asked nothing; then Ana, on the call, patches."""
    ana = issue(tokens, "ana")
    client.post("/api/agents/me/status", json={"status": "available"}, headers=bearer(ana))
    outcome = {}

    def others_then_ana(run):
        path = f"/api/calls/{run.call_sid}/patch-on-call"
        outcome["nia"] = client.post(path, headers=bearer(issue(tokens, "nia")))
        outcome["pat"] = client.post(path, headers=bearer(tokens.issue_token("pat@northside.example").token))
        outcome["updates_before_ana"] = len(standin.requests_for("calls.update"))
        outcome["ana"] = client.post(path, headers=bearer(ana))

    result = ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                        dial={ANA: Callee(press="1", talk_seconds=300), DR_RIVERA: Callee(press="1", talk_seconds=20)},
                        at={60: others_then_ana})
    for who in ("nia", "pat"):
        answer = outcome[who]
        assert (answer.status_code, answer.get_json()["error_id"]) == (403, "forbidden"), (who, answer.get_json())
        assert answer.get_json()["details"] == {"description": "only the agent connected to this call may patch it",
                                                "call_sid": result.call_sid}
    assert outcome["updates_before_ana"] == 0
    assert outcome["ana"].status_code == 202
    assert [d.targets for d in result.dial_results] == [(ANA,), (DR_RIVERA,)]


def test_given_a_practice_without_an_on_call_provider_then_the_patch_is_refused_409(
        ahsim, client, tokens, services, standin):
    ana = issue(tokens, "ana")
    client.post("/api/agents/me/status", json={"status": "available"}, headers=bearer(ana))
    outcome = {}

    def patch(run):
        outcome["answer"] = client.post(f"/api/calls/{run.call_sid}/patch-on-call", headers=bearer(ana))

    result = ahsim.call(to=LAKESIDE, from_=CALLER, caller=Caller(press="1").press("1", after=1),
                        dial={ANA: Callee(press="1", talk_seconds=120)}, at={90: patch})
    assert result.dial_results[0].status == "completed"
    assert outcome["answer"].status_code == 409
    assert outcome["answer"].get_json()["error_id"] == "no-on-call-provider"
    assert standin.requests_for("calls.update") == []


def test_given_the_on_call_providers_voicemail_answers_the_patch_then_an_urgent_message_pages_them(
        ahsim, client, tokens, services, drain, standin, clock):
    """A voicemail picks up and presses nothing: the whisper hangs up on it, so the caller falls back exactly
    as when the provider does not answer (Twilio would bridge a whisper that ends without <Hangup>)."""
    token = issue(tokens, "ana")
    client.post("/api/agents/me/status", json={"status": "available"}, headers=bearer(token))
    outcome = {}
    result = ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").speak(10, then="#"),
                        dial={ANA: Callee(press="1", talk_seconds=300), DR_RIVERA: Callee(press="")},
                        at={60: _patch_during_talk(client, token, outcome)})
    assert outcome["answer"].status_code == 202
    provider_dial = result.dial_results[-1]
    assert (provider_dial.targets, provider_dial.status, provider_dial.answered_by) == ((DR_RIVERA,), "no-answer",
                                                                                       None)
    provider_whisper = next(d for d in result.documents if d.leg == DR_RIVERA)
    assert "Press 1 to accept." in provider_whisper.text  # the voicemail was asked, and pressed nothing
    assert "The on-call provider could not be reached." in " ".join(result.heard)
    drain()
    run_jobs(services, clock)
    (message,) = rows(services, Message)
    assert (message.urgent, message.after_hours) == (True, True)
    assert len(texts_to(standin, DR_RIVERA)) == 1  # paged about the urgent message
    (call,) = rows(services, Call, Call.call_sid == result.call_sid)
    assert call.outcome == "message"
    assert len(rows(services, CallbackTask)) == 1


# --- one patch per call, whoever asks and however often ----------------------------------------------------------

PATCH_ROUNDS = 50  # concurrent pairs of patch requests, each on a call of its own


def _appended(services, call_sid: str, kind: str) -> int:
    """How many `kind` events were appended for the call (the stream, before the writer dedupes them)."""
    return sum(1 for _, fields in services.redis.xrange(STREAM_KEY)
               if (event := Event.from_stream(fields)).call_sid == call_sid and event.kind == kind)


def _patch_at_once(app, tokens_pair, answers):
    """A timed hook: two patch requests for the call, each from its own test client, released together."""
    def hook(run):
        answers[:] = post_at_once(app, f"/api/calls/{run.call_sid}/patch-on-call", list(tokens_pair))
    return hook


def test_given_two_patch_requests_at_once_then_one_redirect_one_patch_and_the_other_gets_409(
        app, ahsim, client, tokens, services, standin, people, clock):
    """A double click (Ana twice), or another desk (Nia, also answering for Northside, not on the call) asking
    together: Twilio gets one redirect, the call log one patch and one end of the agent's call; Ana's second
    request 409, Nia's 403 (only the call's agent may patch it; 409 once the patch ended Ana's call)."""
    ana, nia = issue(tokens, "ana"), issue(tokens, "nia")
    losers = set()
    for round_ in range(PATCH_ROUNDS):
        assert client.post("/api/agents/me/status", json={"status": "available"},
                           headers=bearer(ana)).status_code == 200
        answers = [None, None]
        pair = (ana, ana) if round_ % 2 == 0 else (ana, nia)
        result = ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                            dial={ANA: Callee(press="1", talk_seconds=300),
                                  DR_RIVERA: Callee(press="1", talk_seconds=20)},
                            at={60: _patch_at_once(app, pair, answers)})
        codes = sorted(answer.status_code for answer in answers)
        if pair == (ana, nia):
            assert answers[0].status_code == 202, (round_, [answer.get_json() for answer in answers])
            refused = (answers[1].status_code, answers[1].get_json()["error_id"])
            assert refused in ((403, "forbidden"), (409, "patch-in-progress"), (409, "call-not-connected")), refused
        else:
            assert codes == [202, 409], (round_, [answer.get_json() for answer in answers])
            loser = next(answer for answer in answers if answer.status_code == 409).get_json()
            # Late enough, the loser finds the agent's call ended already; otherwise the patch's claim.
            assert loser["error_id"] in ("patch-in-progress", "call-not-connected"), loser
            losers.add(loser["error_id"])
        updates = [r for r in standin.requests_for("calls.update") if result.call_sid in r.path]
        assert len(updates) == 1, round_
        assert _appended(services, result.call_sid, "on-call-patch") == 1, round_
        assert _appended(services, result.call_sid, "agent-call-ended") == 1, round_
        assert [d.targets for d in result.dial_results] == [(ANA,), (DR_RIVERA,)], round_
        assert result.dial_results[-1].status == "completed"
    assert "patch-in-progress" in losers  # the claim, not only the agent's state, turned requests away


def test_given_a_patched_call_when_patched_again_then_409_and_twilio_gets_no_second_redirect(
        ahsim, client, tokens, services, standin):
    token = issue(tokens, "ana")
    client.post("/api/agents/me/status", json={"status": "available"}, headers=bearer(token))
    first, again = {}, {}
    result = ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                        dial={ANA: Callee(press="1", talk_seconds=300), DR_RIVERA: Callee(press="1", talk_seconds=60)},
                        at={60: _patch_during_talk(client, token, first), 75: _patch_during_talk(client, token, again)})
    assert first["answer"].status_code == 202
    assert (again["answer"].status_code, again["answer"].get_json()["error_id"]) == (409, "patch-in-progress")
    assert len(standin.requests_for("calls.update")) == 1
    assert [(d.targets, d.status) for d in result.dial_results] == [((ANA,), "completed"),
                                                                     ((DR_RIVERA,), "completed")]


def test_given_twilio_refused_a_patch_when_the_agent_tries_again_then_the_caller_is_patched(
        ahsim, client, tokens, services, standin, people, clock):
    token = issue(tokens, "ana")
    client.post("/api/agents/me/status", json={"status": "available"}, headers=bearer(token))
    outcome = {}

    def refused_then_again(run):
        standin.fail_next("calls.update", 500)
        outcome["refused"] = client.post(f"/api/calls/{run.call_sid}/patch-on-call", headers=bearer(token))
        outcome["again"] = client.post(f"/api/calls/{run.call_sid}/patch-on-call", headers=bearer(token))

    result = ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1"),
                        dial={ANA: Callee(press="1", talk_seconds=300), DR_RIVERA: Callee(press="1", talk_seconds=40)},
                        at={60: refused_then_again})
    assert outcome["refused"].status_code == 502
    assert outcome["again"].status_code == 202, outcome["again"].get_json()
    assert [(d.targets, d.status) for d in result.dial_results] == [((ANA,), "completed"),
                                                                     ((DR_RIVERA,), "completed")]
    assert _appended(services, result.call_sid, "on-call-patch") == 1

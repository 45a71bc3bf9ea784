"""Pages whose SMS failed (issue 13): a failed send is not a sent page, so the page goes to its next step at
once, on Careline's clock, not after the escalation interval; once per step, whatever Twilio repeats. And
`careline config load` warns about, or refuses, a practice with no on-call provider.

Whole calls run through the simulator; Twilio's REST API is the stand-in (refusing a number that replied STOP);
delivery reports are Twilio's signed status callbacks; jobs run with `run_jobs`, in time order.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from callsim import Caller
from models import Agent, OnCallPage, OnCallProvider, OutboundSms, PageEvent, Practice
from tests.integration.conftest import (ACCOUNT_SID, CLOSED_TIME, NORTHSIDE, ON_CALL_TOML, PRACTICES_TOML,
                                        bearer, console_password, console_sign_in, load_practices, run_jobs,
                                        simulator, with_rest_standin)

CALLER = "+13125550199"
DR_RIVERA, DR_OKAFOR = "+16175550122", "+16175550123"
PAT = "+16175550144"  # Northside's manager
PEOPLE_TOML = """

[[agents]]
email = "pat@northside.example"
name = "Pat Quinn"
phone = "+16175550144"
practices = ["northside"]
role = "manager"

[[agents]]
email = "mo@lakeside.example"
name = "Mo Chen"
practices = ["lakeside"]
role = "manager"
"""
STATUS_URL = "https://careline.test/sms/status"


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@pytest.fixture
def ahsim(client, clock, standin, services):
    load_practices(services, PRACTICES_TOML + ON_CALL_TOML + PEOPLE_TOML)
    clock.now = CLOSED_TIME
    sim = simulator(client, clock)
    sim.rest = standin
    sim.on_time = lambda now: setattr(clock, "now", now)
    return sim


def rows(services, model, *where):
    with services.session_factory() as session:
        return session.scalars(select(model).where(*where).order_by(model.id)).all()


def texts_to(standin, number: str) -> list:
    return [r for r in standin.requests_for("messages.create") if r.params.get("To") == number]


def urgent_call(ahsim, services, clock):
    ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="1").speak(8, then="#"))
    services.calllog_writer.drain()
    run_jobs(services, clock)


def status_callback(ahsim, sid: str, status: str, error_code: str | None = None):
    params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
              "AccountSid": ACCOUNT_SID, "From": NORTHSIDE, "To": DR_RIVERA, "ApiVersion": "2010-04-01"}
    if error_code:
        params["ErrorCode"] = error_code
    return ahsim.post_signed("/sms/status", params)


def sms_to(services, number: str) -> list[OutboundSms]:
    return rows(services, OutboundSms, OutboundSms.to_number == number)


def test_given_twilio_refuses_the_providers_number_then_the_next_step_goes_out_at_once_not_after_10_minutes(
        ahsim, services, clock, standin):
    standin.opt_out(DR_RIVERA)  # Twilio refuses every create to Dr. Rivera (error 21610)
    urgent_call(ahsim, services, clock)
    failed_at = clock.now
    # Step 0 (Dr. Rivera) refused, step 1 (Dr. Rivera again) not sent to a number that opted out, step 2 (Dr.
    # Okafor) sent: all at the same moment on Careline's clock, not 10 and 20 minutes later.
    (refused,) = texts_to(standin, DR_RIVERA)
    assert not refused.sid  # the stand-in answered 400
    (okafor,) = sms_to(services, DR_OKAFOR)
    assert okafor.status == "sent" and okafor.sent_at == failed_at
    assert [(s.status, s.error_code) for s in sms_to(services, DR_RIVERA)] == [("opted-out", 21610),
                                                                                ("opted-out", None)]
    (page,) = rows(services, OnCallPage)
    assert (page.status, page.step, page.next_step_at) == ("open", 3, failed_at + timedelta(minutes=10))
    events = sorted((e.step, e.kind) for e in rows(services, PageEvent))
    assert events == [(0, "send-failed"), (1, "send-failed"), (2, "sent")]
    # The timers of the skipped steps run later and do nothing; only the managers' step, 10 minutes after
    # Dr. Okafor's, pages anyone.
    run_jobs(services, clock, until=failed_at + timedelta(minutes=9, seconds=59))
    assert texts_to(standin, PAT) == [] and len(texts_to(standin, DR_OKAFOR)) == 1
    run_jobs(services, clock, until=failed_at + timedelta(hours=1))
    assert len(texts_to(standin, PAT)) == 1 and len(texts_to(standin, DR_OKAFOR)) == 1
    assert len(texts_to(standin, DR_RIVERA)) == 1
    assert rows(services, OnCallPage)[0].status == "exhausted"


def test_given_a_failed_status_callback_then_the_next_step_at_once_and_a_repeat_or_late_one_changes_nothing(
        ahsim, services, clock, standin, client, tokens):
    urgent_call(ahsim, services, clock)
    first = [m for m in standin.sent_messages() if m["to"] == DR_RIVERA][0]
    assert first["status_callback"] == STATUS_URL  # Twilio is asked to report each SMS's delivery
    clock.now += timedelta(minutes=2)
    failed_at = clock.now
    assert status_callback(ahsim, first["sid"], "sent").status == 204
    assert status_callback(ahsim, first["sid"], "undelivered", "30003").status == 204
    run_jobs(services, clock)
    # Step 1 (Dr. Rivera again) went out when the failure was reported, 8 minutes before its timer.
    assert len(texts_to(standin, DR_RIVERA)) == 2
    step0, step1 = sms_to(services, DR_RIVERA)
    assert (step0.status, step0.delivery_status, step0.error_code) == ("sent", "undelivered", 30003)
    # The API says so too: the first step's SMS failed, the second went out.
    (listed,) = client.get("/api/pages", headers=bearer(tokens.issue_token("pat@northside.example", None).token)).get_json()["pages"]
    assert [(step["step"], step["name"], step["outcome"], step["detail"]) for step in listed["steps"]] == [
        (0, "Dr. Ines Rivera", "failed: not delivered", "Twilio error 30003"),
        (1, "Dr. Ines Rivera", "sent", None)]
    assert listed["steps"][0]["failed_at"] == failed_at.isoformat()
    assert step1.sent_at == failed_at
    (page,) = rows(services, OnCallPage)
    assert (page.step, page.next_step_at) == (2, failed_at + timedelta(minutes=10))
    # Twilio repeats the failure, then a late "delivered" for the same SMS: no second step is skipped.
    assert status_callback(ahsim, first["sid"], "undelivered", "30003").status == 204
    assert status_callback(ahsim, first["sid"], "delivered").status == 204
    run_jobs(services, clock)
    assert texts_to(standin, DR_OKAFOR) == []
    assert rows(services, OnCallPage)[0].step == 2
    assert sms_to(services, DR_RIVERA)[0].delivery_status == "undelivered"
    # Step 1's own timer (due 10 minutes after the first SMS) finds it ran; step 2 comes 10 minutes after it.
    run_jobs(services, clock, until=failed_at + timedelta(minutes=9, seconds=59))
    assert texts_to(standin, DR_OKAFOR) == [] and len(texts_to(standin, DR_RIVERA)) == 2
    run_jobs(services, clock, until=failed_at + timedelta(minutes=10))
    assert len(texts_to(standin, DR_OKAFOR)) == 1


def test_given_the_timer_ran_the_next_step_then_a_late_failure_of_the_earlier_one_runs_nothing(
        ahsim, services, clock, standin):
    urgent_call(ahsim, services, clock)
    paged_at = clock.now
    first = [m for m in standin.sent_messages() if m["to"] == DR_RIVERA][0]
    run_jobs(services, clock, until=paged_at + timedelta(minutes=10, seconds=5))
    assert len(texts_to(standin, DR_RIVERA)) == 2  # the timer ran step 1
    assert status_callback(ahsim, first["sid"], "failed", "30006").status == 204
    run_jobs(services, clock)
    assert texts_to(standin, DR_OKAFOR) == []  # step 2 stays at its time
    assert rows(services, OnCallPage)[0].step == 2
    run_jobs(services, clock, until=paged_at + timedelta(minutes=20, seconds=5))
    assert len(texts_to(standin, DR_OKAFOR)) == 1


def test_given_a_delivered_callback_then_kept_and_the_page_waits_its_interval(ahsim, services, clock, standin):
    urgent_call(ahsim, services, clock)
    first = [m for m in standin.sent_messages() if m["to"] == DR_RIVERA][0]
    assert status_callback(ahsim, first["sid"], "delivered").status == 204
    assert status_callback(ahsim, first["sid"], "sent").status == 204  # out of order: the final one stays
    run_jobs(services, clock)
    assert len(texts_to(standin, DR_RIVERA)) == 1
    assert sms_to(services, DR_RIVERA)[0].delivery_status == "delivered"


def test_given_a_status_callback_unsigned_or_malformed_then_refused_and_nothing_written(
        ahsim, services, clock, standin):
    urgent_call(ahsim, services, clock)
    sid = [m for m in standin.sent_messages() if m["to"] == DR_RIVERA][0]["sid"]
    params = {"MessageSid": sid, "MessageStatus": "undelivered", "AccountSid": ACCOUNT_SID}
    assert ahsim.post_unsigned("/sms/status", params).status == 403
    assert ahsim.post_forged("/sms/status", params).status == 403
    missing = ahsim.post_signed("/sms/status", {"MessageSid": sid, "AccountSid": ACCOUNT_SID})
    assert missing.status == 400 and "MessageStatus" in missing.text
    bad = ahsim.post_signed("/sms/status", {**params, "ErrorCode": "x"})
    assert bad.status == 400 and "ErrorCode" in bad.text
    assert ahsim.post_signed("/sms/status", {**params, "MessageSid": "SM" + "9" * 32}).status == 204  # unknown
    run_jobs(services, clock)
    assert sms_to(services, DR_RIVERA)[0].delivery_status is None
    assert len(texts_to(standin, DR_RIVERA)) == 1 and rows(services, OnCallPage)[0].step == 1


# --- the console's worklist ------------------------------------------------------------------------------------

PASSWORD = "correct horse battery"


def console_client(app, services, email: str):
    console_password(services, [email], PASSWORD)
    client = app.test_client()
    assert console_sign_in(client, email, PASSWORD).status_code == 303
    return client


def test_given_a_page_whose_sms_failed_then_the_worklist_shows_it_and_acknowledging_stops_it_for_its_practice_only(
        app, ahsim, services, clock, standin):
    from tests.integration.test_console import read

    standin.opt_out(DR_RIVERA)
    urgent_call(ahsim, services, clock)
    (page,) = rows(services, OnCallPage)
    pat, mo = console_client(app, services, "pat@northside.example"), console_client(app, services,
                                                                                     "mo@lakeside.example")
    listed = pat.get("/console/pages")
    html = re.sub(r"\s+", " ", listed.get_data(as_text=True))
    assert listed.status_code == 200
    assert f"Page #{page.id}" in html and f'href="/console/messages/{page.message_id}"' in html
    # Tuesday 20:00 in Chicago is 21:00 in New York (EST): each step with its time, labelled.
    assert html.count("failed: not delivered") == 2 and "the number replied STOP" in html
    assert "Dr. Ines Rivera" in html and "Dr. Sam Okafor" in html and "21:0" in html and " EST" in html
    assert "Next: step 4, manager Pat Quinn, due at 21:1" in html
    assert DR_RIVERA not in html and CALLER not in html  # names, never numbers
    assert pat.get("/console/pages?status=bogus").status_code == 400
    # Another practice's manager sees nothing of it and cannot acknowledge it.
    other = re.sub(r"\s+", " ", mo.get("/console/pages").get_data(as_text=True))
    assert f"Page #{page.id}" not in other and "No pages." in other
    assert mo.get("/console/pages?practice=northside").status_code == 403
    token = read(mo.get("/console/pages")).hidden["csrf_token"]
    assert mo.post(f"/console/pages/{page.id}/acknowledge", data={"csrf_token": token}).status_code == 403
    assert pat.post(f"/console/pages/{page.id}/acknowledge", data={}).status_code == 400  # no CSRF token
    assert rows(services, OnCallPage)[0].status == "open"
    token = read(listed).hidden["csrf_token"]
    done = pat.post(f"/console/pages/{page.id}/acknowledge", data={"csrf_token": token, "status": "open"})
    assert done.status_code == 303 and done.headers["Location"].endswith(
        f"/console/pages?status=open&acknowledged={page.id}")
    (page,) = rows(services, OnCallPage)
    assert page.status == "acknowledged" and page.acknowledged_by.startswith("agent:")
    acknowledged = re.sub(r"\s+", " ", pat.get("/console/pages?status=acknowledged").get_data(as_text=True))
    assert f"Page #{page.id}" in acknowledged and "Acknowledged by Pat Quinn at Nov 24, 21:0" in acknowledged
    assert f"Page #{page.id}" not in pat.get("/console/pages?status=open").get_data(as_text=True)
    clock.now += timedelta(hours=1)
    run_jobs(services, clock)
    assert texts_to(standin, PAT) == []  # the escalation stopped


# --- careline config load: a practice with no on-call provider ------------------------------------------------

NO_ON_CALL = """
[[practices]]
slug = "hillcrest"
name = "Hillcrest Clinic"
numbers = ["+13125550300"]
timezone = "America/Chicago"
languages = ["en"]
"""
MANAGER_WITH_PHONE = """
[[agents]]
email = "kim@hillcrest.example"
name = "Kim Ortiz"
phone = "+13125550301"
practices = ["hillcrest"]
role = "manager"
"""


def test_given_a_practice_without_on_call_but_a_manager_with_a_phone_then_loaded_with_a_warning_naming_it(
        cli_env, session_factory, tmp_path, caplog):
    from careline.cli import main

    path = tmp_path / "careline.toml"
    path.write_text(NO_ON_CALL + MANAGER_WITH_PHONE)
    result = CliRunner().invoke(main, ["config", "load", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning: practices (hillcrest).on_call: Hillcrest Clinic has no on-call provider" in result.stderr
    assert "page its managers instead: Kim Ortiz" in result.stderr
    assert "created: practice hillcrest" in result.stdout
    assert "Hillcrest Clinic has no on-call provider" in caplog.text  # logged too
    assert "+13125550301" not in caplog.text
    with session_factory() as session:
        assert session.scalars(select(Practice.slug)).all() == ["hillcrest"]


def test_given_a_practice_without_on_call_then_its_urgent_messages_page_its_managers_at_once(
        ahsim, services, clock, standin):
    """What the load's warning promises: Lakeside lists no on-call provider; its manager with a phone is paged."""
    load_practices(services, PRACTICES_TOML + ON_CALL_TOML + PEOPLE_TOML.replace(
        'practices = ["lakeside"]\nrole = "manager"', 'phone = "+13125550155"\npractices = ["lakeside"]\nrole = "manager"'))
    ahsim.call(to="+13125550100", from_=CALLER, caller=Caller(press="1").press("1", after=1).speak(8, then="#"))
    services.calllog_writer.drain()
    run_jobs(services, clock)
    (alert,) = texts_to(standin, "+13125550155")
    assert "Lakeside Family Medicine" in alert.params["Body"] and "was not acknowledged" in alert.params["Body"]
    (page,) = rows(services, OnCallPage)
    assert page.status == "exhausted"
    assert [(e.step, e.kind, e.target.split(":")[0]) for e in rows(services, PageEvent)] == [(0, "sent", "manager")]


def test_given_a_practice_with_neither_on_call_nor_a_manager_phone_then_refused_and_nothing_written(
        cli_env, session_factory, tmp_path):
    from careline.cli import main

    path = tmp_path / "careline.toml"
    # A manager without a phone, and an agent with one, cannot be paged about this practice's messages.
    path.write_text(NO_ON_CALL + MANAGER_WITH_PHONE.replace('phone = "+13125550301"\n', "") + """
[[agents]]
email = "abe@hillcrest.example"
name = "Abe Stone"
phone = "+13125550302"
practices = ["hillcrest"]
""")
    result = CliRunner().invoke(main, ["config", "load", str(path)])
    assert result.exit_code == 1
    assert "not loaded, nothing was written" in result.stderr
    assert ("practices (hillcrest).on_call: Hillcrest Clinic has no on-call provider ([[practices.on_call]]) "
            "and no manager with a phone") in result.stderr
    with session_factory() as session:
        assert session.scalars(select(Practice)).all() == [] and session.scalars(select(Agent)).all() == []
    # Given an on-call provider, the same practice loads, without a warning.
    path.write_text(NO_ON_CALL + '\n[[practices.on_call]]\nname = "Dr. Lee"\nphone = "+13125550303"\n')
    loaded = CliRunner().invoke(main, ["config", "load", str(path)])
    assert loaded.exit_code == 0 and "warning" not in loaded.output
    with session_factory() as session:
        assert session.scalars(select(OnCallProvider.name)).all() == ["Dr. Lee"]

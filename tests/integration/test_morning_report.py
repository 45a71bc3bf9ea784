"""The morning report, end to end: messages left by simulated calls, the minutely sweep at the practice's local
08:00 on Careline's clock, the worker's send to a REAL SMTP server (aiosmtpd on 127.0.0.1) and what arrived
there (recipients, subject, the HTML's messages, the PDF), RQ's retries against a server that refuses, the
console's report page and sends, `careline report send`, and TLS (STARTTLS with a login, and smtps://)."""
from __future__ import annotations

import dataclasses
import email
import email.policy
import html
import re
import socket
import subprocess
import threading
import zlib
from datetime import date, datetime, timedelta, timezone

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select

from core.db import session_scope
from callsim import Caller
from careline.cli import main as careline_main
from jobs.reports import sweep_reports
from models import AuditEvent, Practice, ReportSend
from practices.loader import load_config_text
from practices.store import apply_config, snapshot_from_model
from tests.integration.conftest import (AGENTS_TOML, CALLER, LAKESIDE, NORTHSIDE, PHONE_AGENTS_TOML, PRACTICES_TOML,
                                        console_password, console_sign_in, issue, load_practices, run_jobs, simulator,
                                        with_rest_standin)
from tests.integration.test_taken_messages import CALLBACK, FORM, REASON, Desk, during_talk, talk_to_ana

OFFICE = ("office@northside.example", "lead@northside.example")
REPORT_TOML = f"""
[practices.report]
at = "08:00"
to = ["{OFFICE[0]}", "{OFFICE[1]}"]
"""
MANAGERS_TOML = """
[[agents]]
email = "nora@northside.example"
name = "Nora Hale"
practices = ["northside"]
role = "manager"
"""
SENDER = "Careline <reports@answering.test>"
PASSWORD = "correct horse battery"
ZONE_OFFSET = timedelta(hours=-5)  # New York in November (EST): Northside's local time is UTC - 5 h
DAY = date(2026, 11, 24)  # the day the report covers (a Tuesday)
REPORT_DUE = datetime(2026, 11, 25, 13, 0, tzinfo=timezone.utc)  # 08:00 EST on the 25th


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """Northside's local time as UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=timezone.utc) - ZONE_OFFSET


# --- a real SMTP server -----------------------------------------------------------------------------------------

class Inbox:
    """aiosmtpd's handler: keeps every message that arrived (or refuses every recipient, like a server that
    will not take mail) and counts the deliveries tried."""

    def __init__(self, refuse: bool = False):
        self.refuse = refuse
        self.arrived: list[tuple[str, list[str], email.message.EmailMessage]] = []
        self.tries = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            with self.lock:
                self.tries += 1
            return "550 5.7.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            self.tries += 1
            self.arrived.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp():
    """A real SMTP server on 127.0.0.1 (no TLS) and what arrived at it."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.url = f"smtp://127.0.0.1:{controller.port}?tls=off"
    yield inbox
    controller.stop()


@pytest.fixture
def config(config, smtp, standin):
    """SMTP_URL at the test's server; Twilio's REST API at its stand-in (the receipts' SMS go there)."""
    return dataclasses.replace(with_rest_standin(config, standin), SMTP_URL=smtp.url, REPORT_FROM=SENDER)


# --- the day's calls --------------------------------------------------------------------------------------------

@pytest.fixture
def northside(services) -> None:
    """Northside with its report at 08:00 New York time; Nora manages Northside, Mo Lakeside."""
    load_practices(services, PRACTICES_TOML + REPORT_TOML + AGENTS_TOML + MANAGERS_TOML)
    console_password(services, ("nora@northside.example", "mo@lakeside.example", "ben@answering.example"), PASSWORD)


@pytest.fixture
def day_of_calls(northside, sim, clock, drain) -> dict[str, str]:
    """Northside's messages around DAY, each left by a whole simulated call; their transcriptions by name."""
    words = {}

    def leave(name: str, at: datetime, to: str = NORTHSIDE, press: str = "2", seconds: float = 14) -> None:
        clock.now = at
        words[name] = f"{name} message about a refill number {len(words) + 1}"
        sim.call(to=to, from_=CALLER, caller=Caller(press=press).speak(seconds, then="#", words=words[name]))

    leave("before", local(DAY - timedelta(days=1), 15))  # the day before: not in the report
    leave("morning", local(DAY, 10))  # routine, office hours
    leave("urgent", local(DAY, 11), press="4")  # urgent (nobody on duty: straight to an urgent message)
    leave("evening", local(DAY, 20, 30))  # routine, after hours (2: a routine message)
    leave("lakeside", local(DAY, 12), to=LAKESIDE, press="12")  # another practice's, the same day
    leave("late", local(DAY + timedelta(days=1), 7, 15))  # the next morning, before the report: the next one's
    drain()
    return words


def sent_rows(services) -> list[ReportSend]:
    with services.session_factory() as session:
        return list(session.scalars(select(ReportSend).order_by(ReportSend.id)))


def listed(page: str) -> list[str]:
    """The text of the report's message rows, in order."""
    rows = re.findall(r'<tr data-report-message="\d+">(.*?)</tr>', page, flags=re.S)
    return [html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()) for row in rows]


def pdf_text(pdf: bytes) -> str:
    """The text-showing strings of a PDF's content streams (fpdf2 compresses them with Flate)."""
    shown = []
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, flags=re.S):
        try:
            content = zlib.decompress(raw)
        except zlib.error:
            content = raw
        shown += [s.decode("latin-1") for s in re.findall(rb"\(((?:[^()\\]|\\.)*)\)\s*Tj", content)]
    return " ".join(shown)


# --- the daily send ---------------------------------------------------------------------------------------------

def test_given_a_day_of_calls_when_the_clock_reaches_8_local_then_one_report_arrives_with_the_routine_messages(
        services, clock, day_of_calls, smtp):
    words = day_of_calls
    clock.now = REPORT_DUE - timedelta(minutes=1)  # 07:59 in New York
    assert sweep_reports(services) == 0
    run_jobs(services, clock)
    assert smtp.arrived == [] and sent_rows(services) == []

    clock.now = REPORT_DUE  # 08:00: the sweep queues Northside's report of DAY (Lakeside has none), the worker sends
    assert sweep_reports(services) == 1
    run_jobs(services, clock)
    (mail_from, recipients, message), = smtp.arrived
    assert mail_from == "reports@answering.test" and sorted(recipients) == sorted(OFFICE)
    assert message["To"] == ", ".join(OFFICE) and message["From"] == SENDER
    assert message["Subject"] == "Morning report: Northside Pediatrics, Tue Nov 24, 2026"

    body = message.get_body(("html",)).get_content()
    rows = listed(body)
    assert [row.split(" +")[0] for row in rows] == ["Nov 24, 2026, 10:00 EST", "Nov 24, 2026, 20:30 EST"]
    assert words["morning"] in rows[0] and CALLER in rows[0] and "14 s" in rows[0]
    assert words["evening"] in rows[1]
    for other in ("before", "urgent", "lakeside", "late"):
        assert words[other] not in body
    assert "1 urgent message of that day is not listed" in re.sub(r"\s+", " ", body)
    summary = dict(re.findall(r'<th scope="row"[^>]*>(.*?)</th>\s*<td[^>]*>(.*?)</td>', body))
    assert summary["Calls offered"] == "3" and summary["Messages"] == "3 (1 urgent)"
    assert summary["Answered within the ring budget"] == "100.0%"

    text = message.get_body(("plain",)).get_content()
    assert words["morning"] in text and words["evening"] in text and words["urgent"] not in text
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "careline-report-northside-2026-11-24.pdf"
    pdf = attachment.get_content()
    assert pdf.startswith(b"%PDF-") and len(pdf) > 1500 and pdf.rstrip().endswith(b"%%EOF")
    shown = pdf_text(pdf)
    assert "Northside Pediatrics: morning report" in shown
    assert words["morning"] in shown and words["evening"] in shown and words["urgent"] not in shown

    (row,) = sent_rows(services)
    assert (row.report_date, row.status, row.attempts, row.last_error, row.recipients) == (DAY, "sent", 1, None, 2)
    assert row.sent_at == REPORT_DUE

    # Later sweeps that day send nothing more: the day's row in the database, not a process, remembers the send.
    for later in (timedelta(minutes=1), timedelta(hours=3), timedelta(hours=15)):
        clock.now = REPORT_DUE + later
        assert sweep_reports(services) == 0
        run_jobs(services, clock)
    assert len(smtp.arrived) == 1 and len(sent_rows(services)) == 1


def test_given_the_sweep_missed_8_when_it_runs_later_that_day_then_the_report_is_sent_once(
        services, clock, day_of_calls, smtp):
    clock.now = REPORT_DUE + timedelta(hours=2, minutes=17)  # the cron process was down from 07:55 to 10:17
    assert sweep_reports(services) == 1
    run_jobs(services, clock)
    assert sweep_reports(services) == 0
    run_jobs(services, clock)
    (_, _, message), = smtp.arrived
    assert message["Subject"].endswith("Tue Nov 24, 2026")


def test_given_a_lost_job_or_a_worker_that_died_mid_send_when_the_sweep_runs_then_the_report_is_sent_once(
        services, clock, day_of_calls, smtp):
    clock.now = REPORT_DUE
    assert sweep_reports(services) == 1
    services.jobs.empty()  # Redis lost the send's job before a worker took it
    clock.now = REPORT_DUE + timedelta(minutes=1)
    assert sweep_reports(services) == 0  # not late yet: its job may still be waiting for a busy worker
    clock.now = REPORT_DUE + timedelta(minutes=2)
    assert sweep_reports(services) == 1
    run_jobs(services, clock)
    assert len(smtp.arrived) == 1

    # The next day's report: its worker dies after claiming it (killed mid-send: the row stays `sending`).
    clock.now = REPORT_DUE + timedelta(days=1)
    assert sweep_reports(services) == 1
    services.jobs.empty()
    with session_scope(services.session_factory) as session:
        row = session.scalars(select(ReportSend).where(ReportSend.report_date == DAY + timedelta(days=1))).one()
        row.status, row.attempts, row.claimed_at = "sending", 1, clock.now
    clock.now += timedelta(minutes=5)
    assert sweep_reports(services) == 0  # it may still be sending
    clock.now += timedelta(minutes=6)
    assert sweep_reports(services) == 1
    run_jobs(services, clock)
    assert len(smtp.arrived) == 2 and [r.status for r in sent_rows(services)] == ["sent", "sent"]
    assert sent_rows(services)[1].attempts == 2


def test_given_a_dst_change_when_the_report_is_due_then_it_goes_at_8_local_time(services, clock, northside, smtp):
    """New York leaves daylight time on Sunday 2026-11-01: 08:00 is 12:00 UTC on the 1st, 13:00 UTC on the 2nd."""
    clock.now = datetime(2026, 11, 1, 11, 59, tzinfo=timezone.utc)  # 06:59 EST (07:59 would have been EDT)
    assert sweep_reports(services) == 0
    clock.now = datetime(2026, 11, 1, 13, 0, tzinfo=timezone.utc)  # 08:00 EST
    assert sweep_reports(services) == 1
    clock.now = datetime(2026, 10, 31, 11, 59, tzinfo=timezone.utc)  # 07:59 EDT the day before
    assert sweep_reports(services) == 0
    clock.now = datetime(2026, 10, 31, 12, 0, tzinfo=timezone.utc)  # 08:00 EDT
    assert sweep_reports(services) == 1
    run_jobs(services, clock)
    assert sorted(row.report_date for row in sent_rows(services)) == [date(2026, 10, 30), date(2026, 10, 31)]


def test_given_a_message_an_agent_took_when_the_report_is_sent_then_its_form_and_who_took_it(
        app, services, client, clock, standin, tokens, drain, smtp):
    load_practices(services, PRACTICES_TOML + REPORT_TOML + PHONE_AGENTS_TOML)
    clock.now = local(DAY, 10)
    live_sim = simulator(client, clock)
    live_sim.rest = standin
    live_sim.on_time = lambda now: setattr(clock, "now", now)
    desk = Desk(client, {"ana": issue(tokens, "ana")})
    outcome = {}
    talk_to_ana(live_sim, desk, {60: during_talk(outcome, "saved", lambda sid: desk.post("ana", sid, FORM))})
    assert outcome["saved"].status_code == 201, outcome["saved"].get_json()
    drain()

    clock.now = REPORT_DUE
    assert sweep_reports(services) == 1
    run_jobs(services, clock)
    (_, _, message), = smtp.arrived
    (row,) = listed(message.get_body(("html",)).get_content())
    assert row.startswith("Nov 24, 2026, 10:") and f"{CALLBACK} —" in row  # the number given; no recording
    for shown in (f"Patient's name: {FORM['patient_name']}", f"Reason for the call: {REASON}",
                  "Date of birth: 1980-04-30", "Urgent: no", "Taken by Ana Lopez"):
        assert shown in row
    assert f"Patient's name: {FORM['patient_name']}" in pdf_text(next(message.iter_attachments()).get_content())


# --- a server that refuses ----------------------------------------------------------------------------------------

def sign_in(client, who: str) -> None:
    assert console_sign_in(client, who, PASSWORD).status_code == 303


def test_given_a_refusing_smtp_server_when_the_report_is_due_then_retried_and_shown_failed_in_the_console(
        services, clock, day_of_calls, smtp, client, caplog):
    smtp.refuse = True
    clock.now = REPORT_DUE
    caplog.clear()
    assert sweep_reports(services) == 1
    run_jobs(services, clock, until=REPORT_DUE + timedelta(hours=1))  # RQ's retries after 1, 5 and 15 minutes

    assert smtp.tries == 4 * len(OFFICE) and smtp.arrived == []
    (row,) = sent_rows(services)
    assert (row.status, row.attempts, row.last_error, row.sent_at) == ("failed", 4, "SMTPRecipientsRefused", None)
    assert row.claimed_at == REPORT_DUE + timedelta(seconds=60 + 300 + 900)  # the retries ran on Careline's clock
    # Careline's logs of the sends (and RQ's) name ids and error classes: no number, message text or address.
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail."))  # not aiosmtpd's
    assert f"report_send={row.id} FAILED after 4 attempt(s): SMTPRecipientsRefused" in logged
    assert CALLER not in logged and "refill" not in logged and OFFICE[0] not in logged

    sign_in(client, "nora@northside.example")
    page = client.get("/console/reports?practice=northside&date=2026-11-24").get_data(as_text=True)
    sends = re.search(r"<table class=\"data\" data-report-sends>.*?</table>", page, flags=re.S).group(0)
    assert f'data-send="{row.id}" data-send-status="failed" class="send-failed"' in sends
    assert "Failed" in sends and "SMTPRecipientsRefused" in sends and ">4<" in sends


# --- the console ---------------------------------------------------------------------------------------------------

def test_given_a_manager_when_opening_a_days_report_then_the_days_routine_messages_and_the_read_is_audited(
        services, clock, day_of_calls, client):
    words = day_of_calls
    clock.now = REPORT_DUE + timedelta(days=5)
    sign_in(client, "nora@northside.example")
    answer = client.get("/console/reports?practice=northside&date=2026-11-24")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    rows = listed(page)
    assert len(rows) == 2 and words["morning"] in rows[0] and words["evening"] in rows[1]
    assert words["urgent"] not in page and words["before"] not in page
    with services.session_factory() as session:
        audited = session.execute(select(AuditEvent.action, AuditEvent.details).where(AuditEvent.at == clock.now)
                                  ).all()
    assert [(action, details["count"]) for action, details in audited] == [("report.read", 2)]

    # Another day: the day before holds its own message; the default is the practice's yesterday.
    before = listed(client.get("/console/reports?practice=northside&date=2026-11-23").get_data(as_text=True))
    assert len(before) == 1 and words["before"] in before[0]
    default = client.get("/console/reports").get_data(as_text=True)
    assert 'data-report-date="2026-11-29"' in default and "No routine message was left that day." in default


def test_given_someone_not_of_the_practice_when_opening_its_report_then_403_and_bad_input_is_400(
        services, clock, day_of_calls, client):
    clock.now = REPORT_DUE
    sign_in(client, "mo@lakeside.example")  # Lakeside's manager
    answer = client.get("/console/reports?practice=northside&date=2026-11-24")
    assert answer.status_code == 403 and day_of_calls["morning"] not in answer.get_data(as_text=True)
    assert client.get("/console/reports?practice=nowhere").status_code == 403  # no probing of slugs
    own = client.get("/console/reports").get_data(as_text=True)  # Mo's own: Lakeside, with its message
    assert day_of_calls["lakeside"] in own and day_of_calls["morning"] not in own
    for query, field in (("date=2026-13-01", "date"), ("date=tomorrow", "date"), ("date=2026-11-25", "date"),
                         ("day=2026-11-24", "day")):
        refused = client.get(f"/console/reports?{query}")
        assert refused.status_code == 400, query
        assert f"{field}:" in refused.get_data(as_text=True)
    with services.session_factory() as session:  # the audit has Mo's read of Lakeside's report only
        read = session.execute(select(Practice.slug).join(AuditEvent, AuditEvent.practice_id == Practice.id)
                               .where(AuditEvent.action == "report.read")).scalars().all()
    assert read == ["lakeside"]

    client.post("/console/sign-out", data={"csrf_token": re.search(
        r'name="csrf_token" value="([^"]+)"', own).group(1)})
    sign_in(client, "ben@answering.example")  # an agent
    assert client.get("/console/reports?practice=lakeside").status_code == 403


# --- the command ---------------------------------------------------------------------------------------------------

def test_given_the_command_when_sending_a_days_report_then_it_arrives_now_and_again_when_asked(
        app, services, clock, day_of_calls, smtp):
    clock.now = local(DAY + timedelta(days=1), 6)  # before 08:00: the sweep has not sent it
    runner = app.test_cli_runner()
    result = runner.invoke(careline_main, ["report", "send", "northside", "--date", "2026-11-24"])
    assert result.exit_code == 0, result.output
    assert "sent: report_send" in result.output and "to 2 address(es)" in result.output
    (_, recipients, message), = smtp.arrived
    assert sorted(recipients) == sorted(OFFICE) and day_of_calls["morning"] in message.get_body(("html",)).get_content()

    again = runner.invoke(careline_main, ["report", "send", "northside"])  # default: Northside's yesterday, again
    assert again.exit_code == 0, again.output
    assert len(smtp.arrived) == 2
    (row,) = sent_rows(services)
    assert (row.report_date, row.status, row.attempts) == (DAY, "sent", 2)
    clock.now = REPORT_DUE
    assert sweep_reports(services) == 0  # the day's report went already

    for args, said in ((["report", "send", "lakeside"], "has no [practices.report]"),
                       (["report", "send", "nowhere"], "no practice has the slug"),
                       (["report", "send", "northside", "--date", "2026-11-25"], "2026-11-25 has not ended yet"),
                       (["report", "send", "northside", "--date", "24/11/2026"], "Invalid value for '--date'")):
        refused = runner.invoke(careline_main, args)
        assert refused.exit_code != 0 and said in refused.output, refused.output


def test_given_no_smtp_server_when_the_command_sends_then_it_says_why_and_the_send_is_failed(
        app, services, clock, day_of_calls, smtp, monkeypatch):
    closed = free_port()  # nothing listens there
    settings = services.reports._mailer.settings
    monkeypatch.setattr(services.reports._mailer, "settings", dataclasses.replace(settings, port=closed))
    clock.now = REPORT_DUE
    result = app.test_cli_runner().invoke(careline_main, ["report", "send", "northside"])
    assert result.exit_code == 1 and "not sent: ConnectionRefusedError" in result.output
    (row,) = sent_rows(services)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "ConnectionRefusedError")


# --- TLS -----------------------------------------------------------------------------------------------------------

@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return key, cert


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # aiosmtpd, for smtps: it is TLS
@pytest.mark.parametrize("scheme", ["smtp", "smtps"])
def test_given_a_tls_smtp_server_with_a_login_when_sending_then_the_report_arrives_over_tls(
        scheme, app, services, clock, day_of_calls, certificate, monkeypatch):
    import ssl

    from reports.mail import SmtpMailer, parse_smtp_url

    key, cert = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    logins = []

    def authenticate(server, session, envelope, mechanism, auth_data):
        over_tls = server.transport.get_extra_info("ssl_object") is not None
        logins.append((auth_data.login, auth_data.password, over_tls))
        return AuthResult(success=auth_data.login == b"office" and auth_data.password == b"s3cret pass")

    # STARTTLS: the server takes no login before TLS. smtps: TLS from the first byte (aiosmtpd's own "login only
    # after STARTTLS" check does not see that kind of TLS, so it is off there: the connection is TLS throughout).
    options = (dict(tls_context=context, require_starttls=True, auth_require_tls=True) if scheme == "smtp"
               else dict(ssl_context=context, auth_require_tls=False))
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=authenticate,
                            auth_required=True, **options)
    controller.start()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts this certificate, and checks it
        url = f"{scheme}://office:s3cret%20pass@127.0.0.1:{controller.port}"
        monkeypatch.setattr(services.reports, "_mailer", SmtpMailer(parse_smtp_url(url, 10)))
        clock.now = REPORT_DUE
        result = app.test_cli_runner().invoke(careline_main, ["report", "send", "northside"])
        assert result.exit_code == 0, result.output
        assert logins == [(b"office", b"s3cret pass", True)]
        (_, recipients, message), = inbox.arrived
        assert sorted(recipients) == sorted(OFFICE) and day_of_calls["evening"] in message.get_body(
            ("html",)).get_content()

        monkeypatch.delenv("SSL_CERT_FILE")  # an untrusted certificate: not sent, never in clear
        monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent")
        refused = app.test_cli_runner().invoke(careline_main, ["report", "send", "northside"])
        assert refused.exit_code == 1 and "SSLCertVerificationError" in refused.output
        assert len(inbox.arrived) == 1
    finally:
        controller.stop()


def test_given_the_report_table_when_loaded_twice_or_changed_then_stored_with_the_practice(services, northside):
    def load(toml: str):
        with session_scope(services.session_factory) as session:
            return apply_config(session, load_config_text(toml), services.now)

    assert "practice northside" in load(PRACTICES_TOML + REPORT_TOML).unchanged
    with services.session_factory() as session:
        report = snapshot_from_model(session.scalars(select(Practice).where(Practice.slug == "northside")).one()).report
    assert (report.at.isoformat(), report.to) == ("08:00:00", OFFICE)
    assert "practice northside" in load(PRACTICES_TOML + REPORT_TOML.replace("08:00", "07:15")).updated
    assert "practice northside" in load(PRACTICES_TOML).updated  # the table removed: no report any more
    with services.session_factory() as session:
        stored = session.scalars(select(Practice).where(Practice.slug == "northside")).one()
        assert (stored.report_at, stored.report_to) == (None, None)

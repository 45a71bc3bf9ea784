"""An audit that holds (issue 15): every read of patient data and every administrative act writes a row of one
append-only, hash-chained trail; the database refuses to change or remove a row; `careline audit verify` names
the first broken link; appends from many threads make one chain; `GET /api/audit` for admins only; `careline
audit export` for a compliance officer; rows outlive what they describe.

Rows are written through the real endpoints (the test client, tokens and console sessions) and the real
`careline` command, on the test database (SQLite or PostgreSQL) and Careline's clock.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, delete, select, text, update
from sqlalchemy.exc import DBAPIError

from agents.passwords import PasswordService
from audit.actors import Actor
from audit.chain import HASHED_FIELDS, row_hash
from audit.trail import AuditTrail
from careline.cli import main as careline_main
from core.db import make_engine, make_session_factory
from core.migrate import downgrade, upgrade
from desk.screen_pop import ScreenPop
from models import AuditChainHead, AuditEvent, Message
from queueing.model import Match
from tests.audit_support import audit_triggers_off
from tests.conftest import REPO
from tests.integration.conftest import (EMAILS, LAKESIDE, OPEN_TIME, bearer, console_sign_in, issue,
                                        with_rest_standin)
from tests.integration.test_callbacks import left_call, task_of
from tests.integration.test_migrations_and_cli import empty_db_url  # noqa: F401 - a fixture: a database with no tables

PASSWORD = "audit trail password 1"
READ_AT = OPEN_TIME + timedelta(hours=3)
BROWSER = "Mozilla/5.0 (audit test) " + "x" * 300  # longer than the trail keeps


@pytest.fixture
def config(config, standin):
    return with_rest_standin(config, standin)


@pytest.fixture
def people(services, agents) -> dict[str, int]:
    return agents


@pytest.fixture
def token(tokens, people):
    cache = {}
    return lambda name: cache.setdefault(name, issue(tokens, name))


@pytest.fixture
def trail(session_factory, clock) -> AuditTrail:
    return AuditTrail(session_factory, clock)


def rows(session_factory, action: str | None = None) -> list[AuditEvent]:
    with session_factory() as session:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return session.scalars(query).all()


def append_some(trail: AuditTrail, count: int) -> None:
    for number in range(count):
        trail.record(Actor(agent_id=number, via="token", via_ref="abcdefgh", address="10.0.0.1",
                           user_agent="client"), "message.read", "message", 100 + number, 7, {"n": number})


# --- the chain and its verification ---------------------------------------------------------------------------

def test_given_rows_appended_then_ids_run_from_one_each_chained_to_the_last_and_verify_holds(trail, session_factory,
                                                                                          clock):
    append_some(trail, 3)
    first, second, third = rows(session_factory)
    assert [first.id, second.id, third.id] == [1, 2, 3]
    assert first.prev_hash == "0" * 64
    assert (second.prev_hash, third.prev_hash) == (first.row_hash, second.row_hash)
    assert len({first.row_hash, second.row_hash, third.row_hash}) == 3
    assert first.at == clock.now  # Careline's clock, not the machine's
    verified = trail.verify()
    assert (verified.rows, verified.broken) == (3, None)


def test_given_a_row_changed_behind_the_triggers_back_then_verify_names_that_row(trail, session_factory, engine):
    append_some(trail, 4)
    with engine.begin() as conn, audit_triggers_off(conn):  # what only a database superuser could do
        conn.execute(update(AuditEvent).where(AuditEvent.id == 3).values(subject_id="999"))

    verified = trail.verify()
    assert verified.rows == 2
    assert verified.broken.row_id == 3
    assert "row_hash does not match" in verified.broken.problem


def test_given_a_row_changed_and_rehashed_then_verify_names_the_next_link(trail, session_factory, engine):
    """An attacker who recomputes the changed row's own hash still breaks the next row's prev_hash."""
    append_some(trail, 4)
    (row,) = [r for r in rows(session_factory) if r.id == 2]
    fields = {name: getattr(row, name) for name in HASHED_FIELDS} | {"agent_id": 4242}
    with engine.begin() as conn, audit_triggers_off(conn):
        conn.execute(update(AuditEvent).where(AuditEvent.id == 2).values(agent_id=4242, row_hash=row_hash(fields)))

    broken = trail.verify().broken
    assert broken.row_id == 3 and "prev_hash" in broken.problem


def test_given_a_row_removed_in_the_middle_or_at_the_end_then_verify_names_where(trail, engine):
    append_some(trail, 5)
    with engine.begin() as conn, audit_triggers_off(conn):
        conn.execute(delete(AuditEvent).where(AuditEvent.id == 5))
    broken = trail.verify().broken
    assert broken.row_id == 5 and "head" in broken.problem  # the head still names row 5

    with engine.begin() as conn, audit_triggers_off(conn):
        conn.execute(delete(AuditEvent).where(AuditEvent.id == 2))
    broken = trail.verify().broken
    assert broken.row_id == 3 and "rows 2 to 2 are missing" in broken.problem


def test_given_the_trail_then_the_database_refuses_update_and_delete(trail, engine):
    append_some(trail, 2)
    for statement in (update(AuditEvent).where(AuditEvent.id == 1).values(action="message.list"),
                      delete(AuditEvent).where(AuditEvent.id == 2), delete(AuditEvent)):
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(statement)
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text("TRUNCATE audit_events"))
    assert trail.verify().rows == 2 and trail.verify().broken is None


def test_given_threads_appending_at_once_then_one_unbroken_chain(db_url, session_factory, clock):
    """Writers on their own connections (as several web processes are) append at the same moment; the head's
    lock makes one chain of them, ids 1..N with no gap and no fork."""
    threads_count, each = 8, 12
    engine = make_engine(db_url, statement_timeout=30)  # a writer waits for the lock rather than give up
    writers = AuditTrail(make_session_factory(engine), clock)
    start, failures = threading.Barrier(threads_count), []

    def write(number: int) -> None:
        try:
            start.wait()
            for index in range(each):
                writers.record(Actor(agent_id=number, via="session"), "messages.list", details={"i": index})
        except Exception as exc:  # noqa: BLE001 - reported below, with the thread's number
            failures.append((number, repr(exc)))

    threads = [threading.Thread(target=write, args=(number,)) for number in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    engine.dispose()

    assert failures == []
    written = rows(session_factory)
    assert [row.id for row in written] == list(range(1, threads_count * each + 1))
    assert sorted({row.agent_id for row in written}) == list(range(threads_count))
    verified = AuditTrail(session_factory, clock).verify()
    assert (verified.rows, verified.broken) == (threads_count * each, None)
    with session_factory() as session:
        head = session.get(AuditChainHead, 1)
    assert (head.last_id, head.last_hash) == (written[-1].id, written[-1].row_hash)


def test_given_a_broken_chain_then_the_verify_command_names_it_and_exits_1(app, trail, engine):
    append_some(trail, 3)
    runner = app.test_cli_runner()
    held = runner.invoke(careline_main, ["audit", "verify"])
    assert held.exit_code == 0 and "the chain holds: 3 rows" in held.output

    with engine.begin() as conn, audit_triggers_off(conn):
        conn.execute(update(AuditEvent).where(AuditEvent.id == 2).values(address="203.0.113.9"))
    broken = runner.invoke(careline_main, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "broken at row 2: row_hash does not match" in broken.output


# --- reads of patient data, through the endpoints ---------------------------------------------------------------

@pytest.fixture
def message(services, session_factory, practice_ids) -> Message:
    """A message at Lakeside (written as the call-log writer would)."""
    with session_factory.begin() as session:
        row = Message(practice_id=practice_ids["lakeside"], call_sid="CA" + "5" * 32, from_number="+13125550177",
                      language="en", urgent=True, duration_seconds=20, recording_sid="RE" + "5" * 32,
                      recording_url="https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE" + "5" * 32,
                      recording_status="completed", created_at=OPEN_TIME, after_hours=False)
        session.add(row)
    return row


def test_given_a_token_when_messages_listed_read_and_played_then_one_row_each_with_who_and_from_where(
        client, token, people, message, practice_ids, session_factory, clock):
    clock.now = READ_AT
    ben = token("ben")
    headers = {**bearer(ben), "User-Agent": BROWSER}
    assert client.get("/api/messages?practice=lakeside&urgent=true", headers=headers).status_code == 200
    assert client.get(f"/api/messages/{message.id}", headers=headers).status_code == 200
    assert client.get(f"/api/messages/{message.id}/recording", headers=headers).status_code == 200

    listed, read, played = rows(session_factory)
    assert (listed.action, listed.subject_kind, listed.practice_id) == ("messages.list", None, practice_ids["lakeside"])
    assert listed.details == {"count": 1, "message_ids": [message.id],
                              "filter": {"practice": "lakeside", "urgent": True, "limit": 50}}
    for row in (listed, read, played):
        assert (row.agent_id, row.via, row.via_ref, row.at) == (people["ben"], "token", ben[:8], READ_AT)
        assert row.address == "127.0.0.1" and row.user_agent == BROWSER[:200]
    assert (read.action, read.subject_kind, read.subject_id, read.practice_id) == (
        "message.read", "message", str(message.id), practice_ids["lakeside"])
    assert (played.action, played.subject_id, played.details) == (
        "recording.play", str(message.id), {"recording_sid": "RE" + "5" * 32})
    # Nothing of the patient in the trail: not the number, not the recording's URL.
    assert "+13125550177" not in json.dumps([r.details for r in (listed, read, played)])


def test_given_a_message_deleted_then_its_audit_rows_stay_and_the_chain_holds(
        client, token, message, session_factory, trail):
    assert client.get(f"/api/messages/{message.id}", headers=bearer(token("ana"))).status_code == 200
    with session_factory.begin() as session:
        session.execute(delete(Message).where(Message.id == message.id))

    (read,) = rows(session_factory, "message.read")
    assert read.subject_id == str(message.id)
    assert trail.verify().broken is None


@pytest.fixture
def task_id(services, people) -> int:
    return task_of(services.session_factory, left_call(services, OPEN_TIME, number="+13125553001", to=LAKESIDE)).id


def test_given_callbacks_when_listed_and_opened_by_api_then_one_row_each(client, token, task_id, people,
                                                                        practice_ids, session_factory):
    answer = client.get("/api/callbacks?practice=lakeside", headers=bearer(token("ben")))
    assert answer.status_code == 200 and [t["id"] for t in answer.get_json()["callbacks"]] == [task_id]
    assert client.get(f"/api/callbacks/{task_id}", headers=bearer(token("ben"))).status_code == 200
    assert client.post(f"/api/callbacks/{task_id}/claim", headers=bearer(token("ben"))).status_code == 200

    listed, opened, claimed = rows(session_factory)
    assert (claimed.action, claimed.subject_id, claimed.agent_id) == ("callback.claim", str(task_id), people["ben"])
    assert (listed.action, listed.agent_id, listed.via) == ("callbacks.list", people["ben"], "token")
    assert listed.details["count"] == 1 and listed.details["task_ids"] == [task_id]
    assert listed.details["filter"]["practice"] == "lakeside"
    assert (opened.action, opened.subject_kind, opened.subject_id, opened.practice_id) == (
        "callback.read", "callback", str(task_id), practice_ids["lakeside"])


def test_given_the_console_session_when_callbacks_and_pages_opened_then_rows_say_session(
        app, services, task_id, people, session_factory):
    PasswordService(services.session_factory).set_password(EMAILS["ben"], PASSWORD)
    client = app.test_client()
    assert console_sign_in(client, EMAILS["ben"], PASSWORD).status_code == 303
    assert client.get("/console/callbacks").status_code == 200
    assert client.get(f"/console/callbacks/{task_id}").status_code == 200
    assert client.get("/console/pages?status=open").status_code == 200

    listed, opened, pages = rows(session_factory)
    assert [r.action for r in (listed, opened, pages)] == ["callbacks.list", "callback.read", "pages.list"]
    assert {(r.agent_id, r.via) for r in (listed, opened, pages)} == {(people["ben"], "session")}
    # The session's id (on the server) is named by the start of its hash, the same for every read of one sign-in.
    assert len({r.via_ref for r in (listed, opened, pages)}) == 1 and len(listed.via_ref or "") == 12
    assert listed.details["task_ids"] == [task_id]
    assert pages.details == {"count": 0, "page_ids": [], "filter": {"status": "open"}}


def test_given_pages_listed_by_api_then_one_row_with_the_filter(client, token, people, session_factory):
    assert client.get("/api/pages?status=open", headers=bearer(token("nia"))).status_code == 200
    (listed,) = rows(session_factory)
    assert (listed.action, listed.agent_id, listed.details) == (
        "pages.list", people["nia"], {"count": 0, "page_ids": [], "filter": {"status": "open"}})


def test_given_a_csv_export_then_a_row_names_it(client, token, people, practice_ids, session_factory):
    answer = client.get("/api/metrics.csv?practice=lakeside&from=2026-11-23&to=2026-11-24",
                        headers=bearer(token("mo")))
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    (exported,) = rows(session_factory)
    assert (exported.action, exported.agent_id, exported.subject_kind, exported.subject_id) == (
        "export.csv", people["mo"], "metrics", "lakeside")
    assert exported.details == {"practice_ids": [practice_ids["lakeside"]], "from": "2026-11-23",
                                "to": "2026-11-24"}


def test_given_an_offer_then_its_screen_pop_and_the_callers_history_are_audited_for_the_agent(
        services, people, practice_ids, session_factory, clock):
    sid = left_call(services, OPEN_TIME, number="+13125553002", to=LAKESIDE)
    left_call(services, OPEN_TIME + timedelta(minutes=5), number="+13125553002", to=LAKESIDE)
    pop = ScreenPop(services.session_factory, services.redis, services.directory, services.now, services.audit)
    built = pop.build(Match(call_sid=sid, agent_id=people["ben"], practice_id=practice_ids["lakeside"],
                            urgent=False, language="en", wait_seconds=12))
    assert built["caller"]["number"] == "+13125553002"

    popped, history = rows(session_factory)
    assert (popped.action, popped.agent_id, popped.via, popped.subject_kind, popped.subject_id) == (
        "desk.screen-pop", people["ben"], "system", "call", sid)
    assert (history.action, history.subject_kind, history.practice_id) == (
        "caller.history", "caller", practice_ids["lakeside"])
    assert history.details["calls"] == len(built["history"]["calls"]) == 1


# --- administrative acts --------------------------------------------------------------------------------------

def test_given_tokens_and_a_password_set_at_the_command_then_each_act_is_a_cli_row(app, people, session_factory):
    runner = app.test_cli_runner()
    created = runner.invoke(careline_main, ["token", "create", EMAILS["mo"]])
    assert created.exit_code == 0, created.output
    prefix = created.stdout.strip()[:8]
    assert runner.invoke(careline_main, ["token", "revoke", prefix]).exit_code == 0
    assert runner.invoke(careline_main, ["token", "revoke", "--email", EMAILS["mo"], "--all"]).exit_code == 0
    assert runner.invoke(careline_main, ["user", "set-password", EMAILS["mo"], "--password-stdin"],
                         input=PASSWORD + "\n").exit_code == 0

    create, revoke, revoke_all, password = rows(session_factory)
    assert (create.action, create.subject_kind, create.subject_id, create.via) == (
        "token.create", "token", prefix, "cli")
    assert create.details["agent"] == EMAILS["mo"]
    assert (revoke.action, revoke.subject_id) == ("token.revoke", prefix)
    assert (revoke_all.action, revoke_all.subject_kind, revoke_all.details) == (
        "token.revoke", "agent", {"tokens": []})
    assert (password.action, password.subject_id) == ("user.password", EMAILS["mo"])
    assert PASSWORD not in json.dumps([r.details for r in (create, revoke, revoke_all, password)])


def test_given_a_configuration_loaded_by_the_command_then_the_load_is_a_row_with_the_files_hash(
        app, session_factory):
    path = REPO / "config" / "demo.toml"
    loaded = app.test_cli_runner().invoke(careline_main, ["config", "load", str(path), "--yes"])
    assert loaded.exit_code == 0, loaded.output
    (load,) = rows(session_factory, "config.load")
    assert (load.via, load.subject_kind, load.subject_id) == ("cli", "config", "demo.toml")
    assert load.details["created"] > 0
    assert load.details["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


# --- reading the trail: the API for admins, the export ----------------------------------------------------------

def test_given_the_trail_then_get_api_audit_serves_admins_only_with_filters_and_pages(
        client, token, people, trail, session_factory, practice_ids):
    for number in range(5):
        trail.record(Actor(people["ben"] if number % 2 else people["nia"], "token"),
                     "message.read" if number < 4 else "token.create", "message", number,
                     practice_ids["lakeside"] if number < 2 else practice_ids["northside"])
    for name in ("mo", "ben"):  # a manager, an agent
        refused = client.get("/api/audit", headers=bearer(token(name)))
        assert refused.status_code == 403 and refused.get_json()["error_id"] == "forbidden"
    assert client.get("/api/audit").status_code == 401

    root = bearer(token("root"))
    page = client.get("/api/audit?limit=2", headers=root).get_json()
    assert [e["id"] for e in page["events"]] == [1, 2] and page["next_offset"] == 2
    assert set(page["events"][0]) >= {"at", "agent_id", "via", "action", "subject_id", "prev_hash", "row_hash"}
    last = client.get("/api/audit?limit=2&offset=4", headers=root).get_json()
    assert [e["id"] for e in last["events"]] == [5, 6] and last["next_offset"] is None
    assert last["events"][1]["action"] == "audit.list"  # the first page's read, by root
    assert last["events"][1]["agent_id"] == people["root"]
    by_agent = client.get(f"/api/audit?agent={people['ben']}&action=message.read", headers=root).get_json()
    assert [e["subject_id"] for e in by_agent["events"]] == ["1", "3"]
    lakeside = client.get("/api/audit?practice=lakeside", headers=root).get_json()
    assert [e["subject_id"] for e in lakeside["events"]] == ["0", "1"]
    window = client.get("/api/audit?from=2026-11-24T16:00:00Z&to=2026-11-24T16:00:01Z&action=token.create",
                        headers=root).get_json()
    assert [e["subject_id"] for e in window["events"]] == ["4"]
    assert client.get("/api/audit?from=2026-11-25&to=2026-11-24", headers=root).status_code == 400
    assert client.get("/api/audit?limit=0", headers=root).get_json()["details"]["field"] == "limit"
    assert client.get("/api/audit?practice=nowhere", headers=root).status_code == 404
    # Reading the trail is itself in it.
    assert rows(session_factory)[-1].action == "audit.list"


def test_given_the_trail_then_the_export_command_writes_the_range_as_csv_or_json_lines(app, trail, clock):
    append_some(trail, 2)
    clock.now = OPEN_TIME + timedelta(days=1)
    append_some(trail, 1)
    runner = app.test_cli_runner()
    exported = runner.invoke(careline_main, ["audit", "export", "--from", "2026-11-24", "--to", "2026-11-25"])
    assert exported.exit_code == 0, exported.output
    table = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [(r["id"], r["action"], r["subject_id"], json.loads(r["details"])) for r in table] == [
        ("1", "message.read", "100", {"n": 0}), ("2", "message.read", "101", {"n": 1})]
    assert table[1]["prev_hash"] == table[0]["row_hash"]

    lines = runner.invoke(careline_main, ["audit", "export", "--from", "2026-11-24T00:00:00Z",
                                          "--to", "2026-11-26", "--format", "jsonl"]).stdout.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [1, 2, 3]
    backwards = runner.invoke(careline_main, ["audit", "export", "--from", "2026-11-26", "--to", "2026-11-24"])
    assert backwards.exit_code == 2 and "--to" in backwards.output


# --- the earlier message_access log, carried into the chain ------------------------------------------------------

BEFORE_AUDIT = "c15a2f0a7b06"  # the revision before the audit trail's
AUDIT_REVISION = "c15b2a0d1f02"


def test_given_message_access_rows_when_migrated_then_they_open_the_chain_and_the_downgrade_puts_them_back(
        empty_db_url, clock):  # noqa: F811 - the fixture imported above
    upgrade(empty_db_url, BEFORE_AUDIT)
    engine = create_engine(empty_db_url)
    at = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO practices (id, slug, name, timezone, languages, ring_budget_seconds, hours, holidays, "
            "max_wait_seconds, announce_every_seconds, agent_ring_seconds, wrap_up_seconds, service_level_seconds, "
            "short_abandon_seconds, message_max_seconds, updated_at) VALUES (1, 'lakeside', 'Lakeside', "
            "'America/Chicago', '[\"en\"]', 15, '{}', '[]', 300, 60, 20, 10, 30, 10, 120, :at)"), {"at": at})
        conn.execute(text("INSERT INTO agents (id, email, name, languages, role, all_practices) VALUES "
                          "(1, 'ana@answering.example', 'Ana', '[]', 'agent', true)"))
        conn.execute(text("INSERT INTO messages (id, practice_id, call_sid, from_number, language, urgent, "
                          "created_at, after_hours, author_agent_id) VALUES (1, 1, :sid, '+13125550199', 'en', "
                          "false, :at, false, 1)"), {"sid": "CA" + "1" * 32, "at": at})
        for number, action in enumerate(("list", "read", "play")):
            conn.execute(text("INSERT INTO message_access (agent_id, message_id, action, at) VALUES "
                              "(1, 1, :action, :at)"), {"action": action, "at": at + timedelta(minutes=number)})

    upgrade(empty_db_url, AUDIT_REVISION)
    factory = make_session_factory(engine)
    with factory() as session:
        carried = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(r.id, r.action, r.agent_id, r.via, r.subject_kind, r.subject_id, r.practice_id) for r in carried] == [
        (1, "messages.list", 1, "migrated", "message", "1", 1), (2, "message.read", 1, "migrated", "message", "1", 1),
        (3, "recording.play", 1, "migrated", "message", "1", 1)]
    trail = AuditTrail(factory, clock)
    trail.record(Actor(1, "token"), "message.read", "message", 1, 1)  # the chain goes on from the carried rows
    assert (trail.verify().rows, trail.verify().broken) == (4, None)

    downgrade(empty_db_url, BEFORE_AUDIT)
    with engine.connect() as conn:
        back = conn.execute(text("SELECT agent_id, message_id, action FROM message_access ORDER BY id")).all()
    assert [tuple(row) for row in back] == [(1, 1, "list"), (1, 1, "read"), (1, 1, "play"), (1, 1, "read")]
    engine.dispose()

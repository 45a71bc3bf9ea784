"""Patient free text is encrypted at rest: the database holds Fernet tokens of CARELINE_DATA_KEY, the app reads
plaintext; the call log (its Redis stream, `call_events`) holds a transcription's token, never its words; `careline
keys rotate` re-encrypts everything with the first key; the migration encrypts rows written before it."""
from __future__ import annotations

import zlib

import pytest
import redis
import sqlalchemy as sa
from click.testing import CliRunner

from callsim import Caller
from calllog.events import STREAM_KEY
from core.crypto import DataCipher, DataKeyError, generate_data_key, is_token
from core.db import make_engine, make_session_factory
from core.migrate import downgrade, upgrade
from models import AuditEvent, CallbackTask, CallbackTaskAction, CallEvent, Message, MessageDraft, MessageHandling
from tests.integration.conftest import NORTHSIDE, OPEN_TIME
from tests.integration.test_after_hours import CALLER, WORDS, ahsim, config, people  # noqa: F401, F811 (fixtures)
from tests.integration.test_migrations_and_cli import empty_db_url  # noqa: F401, F811 (a fixture)
from tests.services import TEST_DATA_KEY

NAME = "Rosalind Okonkwo-Baptiste"  # a patient's name, as an agent types it
SYMPTOM = "wheezing since the new inhaler"
NOTE = "spoke with her mother about the inhaler"
CLOSE_REASON = "patient moved to another practice"
PREVIOUS_REVISION = "c15b2a0d1f02"  # the migration before the one that encrypts
ENCRYPTING_REVISION = "c15c3e0c4a03"


def redis_contents(redis_url: str) -> str:
    """Everything the test's Redis database holds, keys and values, as one text (RQ's zlib-compressed job data
    decompressed)."""
    client = redis.Redis.from_url(redis_url)
    values: list[bytes] = []
    for key in client.scan_iter():
        kind = client.type(key)
        if kind == b"string":
            values.append(client.get(key) or b"")
        elif kind == b"hash":
            values.extend(k + b"=" + v for k, v in client.hgetall(key).items())
        elif kind == b"list":
            values.extend(client.lrange(key, 0, -1))
        elif kind == b"set":
            values.extend(client.smembers(key))
        elif kind == b"zset":
            values.extend(client.zrange(key, 0, -1))
        elif kind == b"stream":
            values.extend(k + b"=" + v for _id, entry in client.xrange(key) for k, v in entry.items())
        values.append(key)
    client.close()
    return "\n".join(_readable(value) for value in values)


def _readable(value: bytes) -> str:
    for candidate in (value, *(value[i:] for i in range(min(len(value), 16)))):
        try:
            return zlib.decompress(candidate).decode("latin-1")
        except zlib.error:
            continue
    return value.decode("latin-1")


def raw(engine, sql: str) -> list:
    """Rows as the database holds them, past the models' column types."""
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(sql))]


def test_given_a_whole_call_with_a_transcription_then_redis_and_call_events_hold_a_token_never_the_words(
        ahsim, services, redis_client, redis_url):
    result = ahsim.call(to=NORTHSIDE, from_=CALLER, caller=Caller(press="2").speak(8, then="#", words=WORDS))
    assert result.requests_to("/voice/transcription"), "the simulator sent the transcription"

    # Before the drain: the transcription's event waits in the call log's stream, its text a token.
    assert redis_client.xlen(STREAM_KEY) > 0
    in_redis = redis_contents(redis_url)
    assert "text_sealed" in in_redis
    assert WORDS not in in_redis and "fever" not in in_redis

    services.calllog_writer.drain()
    (data,) = [d for kind, d in raw(services.engine, "SELECT kind, data FROM call_events") if kind == "transcription"]
    assert WORDS not in data and "fever" not in data
    assert "fever" not in redis_contents(redis_url)
    (stored,) = raw(services.engine, "SELECT transcription_text FROM messages")
    assert is_token(stored[0]) and "fever" not in stored[0]

    with services.session_factory() as session:  # the app reads the words
        (message,) = session.scalars(sa.select(Message)).all()
        assert (message.transcription_status, message.transcription_text) == ("completed", WORDS)
        (event,) = session.scalars(sa.select(CallEvent).where(CallEvent.kind == "transcription")).all()
        assert services.data_cipher.decrypt(event.data["text_sealed"]) == WORDS


def store_free_text(session_factory, people) -> dict[str, int]:
    """A taken message with a name and what the caller said, a draft, a handled note, a manager's closing note,
    and a transcription's event: every kind of encrypted value, written through the models."""
    agent_id = people["ana"]
    with session_factory() as session:
        practice_id = session.scalar(sa.text("SELECT id FROM practices WHERE slug = 'northside'"))
        message = Message(practice_id=practice_id, call_sid="CA" + "1" * 32, from_number=CALLER, language="en",
                          urgent=False, created_at=OPEN_TIME, author_agent_id=agent_id,
                          transcription_text=WORDS, fields={"name": NAME, "reason": SYMPTOM})
        session.add(message)
        session.add(MessageDraft(agent_id=agent_id, call_sid="CA" + "2" * 32, practice_id=practice_id,
                                 fields={"name": NAME}, updated_at=OPEN_TIME))
        task = CallbackTask(practice_id=practice_id, callback_number=CALLER, status="closed", opened_at=OPEN_TIME,
                            last_call_at=OPEN_TIME, closed_at=OPEN_TIME, close_note=CLOSE_REASON)
        session.add(task)
        session.flush()
        session.add(MessageHandling(message_id=message.id, agent_id=agent_id, handled_at=OPEN_TIME, note=NOTE))
        session.add(CallbackTaskAction(task_id=task.id, action="closed", agent_id=agent_id, at=OPEN_TIME,
                                       details={"reason": CLOSE_REASON}))
        session.add(CallEvent(call_sid="CA" + "1" * 32, kind="transcription", dedupe_key="transcription:TR1",
                              occurred_at=OPEN_TIME, data={"recording_sid": "RE1", "status": "completed",
                                                           "text_sealed": DataCipher([TEST_DATA_KEY]).encrypt(WORDS)}))
        session.commit()
        return {"message": message.id, "task": task.id}


ENCRYPTED_SQL = {
    "messages.transcription_text": "SELECT transcription_text FROM messages",
    "messages.fields": "SELECT fields FROM messages",
    "message_drafts.fields": "SELECT fields FROM message_drafts",
    "message_handlings.note": "SELECT note FROM message_handlings",
    "callback_tasks.close_note": "SELECT close_note FROM callback_tasks",
    "callback_task_actions.details": "SELECT details FROM callback_task_actions",
}
PLAINTEXTS = (WORDS, NAME, "Okonkwo", SYMPTOM, NOTE, CLOSE_REASON, "inhaler", "fever")


def raw_values(engine) -> dict[str, str]:
    values = {name: raw(engine, sql)[0][0] for name, sql in ENCRYPTED_SQL.items()}
    (data,) = raw(engine, "SELECT data FROM call_events WHERE kind = 'transcription' ORDER BY id")[0]
    values["call_events.data"] = data if isinstance(data, str) else str(data)
    return values


def read_back(session_factory) -> tuple:
    with session_factory() as session:
        message = session.scalars(sa.select(Message)).one()
        return (message.transcription_text, message.fields, session.scalars(sa.select(MessageDraft)).one().fields,
                session.scalars(sa.select(MessageHandling)).one().note,
                session.scalars(sa.select(CallbackTask)).one().close_note,
                session.scalars(sa.select(CallbackTaskAction)).one().details)


EXPECTED = (WORDS, {"name": NAME, "reason": SYMPTOM}, {"name": NAME}, NOTE, CLOSE_REASON, {"reason": CLOSE_REASON})


def test_given_free_text_saved_then_the_database_holds_tokens_and_the_app_reads_plaintext(
        people, services, session_factory):
    store_free_text(session_factory, people)
    values = raw_values(services.engine)
    for name, value in values.items():
        if name != "call_events.data":
            assert is_token(value), name
        assert not any(text in value for text in PLAINTEXTS), name
    assert read_back(services.session_factory) == EXPECTED  # the app's engine, with the config's key

    # Another key reads nothing: the text is not merely encoded.
    stranger = make_engine(services.config.DATABASE_URL, data_cipher=DataCipher([generate_data_key()]))
    with pytest.raises(DataKeyError):
        read_back(make_session_factory(stranger))
    stranger.dispose()


def test_given_a_new_first_key_when_keys_rotate_runs_then_the_old_key_can_go_and_everything_reads(
        people, services, session_factory, cli_env, monkeypatch):
    from careline.cli import main

    store_free_text(session_factory, people)
    with session_factory() as session:  # a transcription a process of the earlier release wrote during the rollout
        session.add(CallEvent(call_sid="CA" + "3" * 32, kind="transcription", dedupe_key="transcription:TR3",
                              occurred_at=OPEN_TIME, data={"recording_sid": "RE3", "status": "completed",
                                                           "text": WORDS}))
        session.commit()
    before = raw_values(services.engine)
    new_key = generate_data_key()
    monkeypatch.setenv("CARELINE_DATA_KEY", f"{new_key},{TEST_DATA_KEY}")
    outcome = CliRunner().invoke(main, ["keys", "rotate", "--batch", "1"])  # one row per batch: batches join up
    assert outcome.exit_code == 0, outcome.output
    assert "8 values re-encrypted" in outcome.output
    after = raw_values(services.engine)
    assert all(after[name] != before[name] for name in before)
    assert not any(WORDS in str(data) for (data,) in raw(services.engine, "SELECT data FROM call_events"))

    only_new = make_engine(services.config.DATABASE_URL, data_cipher=DataCipher([new_key]))
    assert read_back(make_session_factory(only_new)) == EXPECTED
    with only_new.connect() as conn:
        sealed = conn.execute(sa.select(CallEvent.data).where(CallEvent.kind == "transcription")).scalars().all()
    assert [DataCipher([new_key]).decrypt(data["text_sealed"]) for data in sealed] == [WORDS, WORDS]
    only_old = make_engine(services.config.DATABASE_URL, data_cipher=DataCipher([TEST_DATA_KEY]))
    with pytest.raises(DataKeyError):
        read_back(make_session_factory(only_old))

    again = CliRunner().invoke(main, ["keys", "rotate"])  # safe to run again
    assert again.exit_code == 0, again.output
    assert read_back(make_session_factory(only_new)) == EXPECTED
    with session_factory() as session:  # each run is an administrative act in the audit trail
        rotations = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "keys.rotate")
                                    .order_by(AuditEvent.id)).all()
    assert [(row.via, row.details["values"]) for row in rotations] == [("cli", 8), ("cli", 8)]
    only_new.dispose()
    only_old.dispose()


def test_given_a_malformed_data_key_then_the_app_refuses_to_start_and_production_needs_one(config):
    import dataclasses

    from careline.app import create_app
    from core.config import ConfigError

    with pytest.raises(ConfigError, match="key 2 is not a Fernet key"):
        create_app(dataclasses.replace(config, CARELINE_DATA_KEY=f"{TEST_DATA_KEY},not-a-key"))
    production = dataclasses.replace(config, ENV="production", CARELINE_DATA_KEY="",
                                     CARELINE_ALLOW_INSECURE="sqlite,redis")
    with pytest.raises(ConfigError, match="CARELINE_DATA_KEY"):
        production.check()


# --- the migration ----------------------------------------------------------------------------------------------

def insert_plaintext(engine) -> None:
    """Rows as Careline wrote them before the migration: free text in plaintext, JSON as JSON."""
    with engine.begin() as conn:
        at = OPEN_TIME.isoformat() if engine.dialect.name == "sqlite" else OPEN_TIME
        conn.execute(sa.text(
            "INSERT INTO practices (id, slug, name, timezone, languages, ring_budget_seconds, hours, holidays, "
            "max_wait_seconds, announce_every_seconds, agent_ring_seconds, wrap_up_seconds, service_level_seconds, "
            "short_abandon_seconds, message_max_seconds, updated_at) VALUES (1, 'northside', 'Northside', "
            "'America/New_York', '[\"en\"]', 12, '{}', '[]', 300, 60, 20, 30, 30, 10, 120, :at)"), {"at": at})
        conn.execute(sa.text("INSERT INTO agents (id, email, name, languages, role, all_practices) VALUES "
                             "(1, 'ana@answering.example', 'Ana Lopez', '[\"en\"]', 'agent', :yes)"), {"yes": True})
        conn.execute(sa.text(
            "INSERT INTO messages (id, practice_id, call_sid, from_number, language, urgent, created_at, "
            "author_agent_id, transcription_text, fields) VALUES (1, 1, :sid, :caller, 'en', :no, :at, 1, :words, "
            ":fields)"), {"sid": "CA" + "1" * 32, "caller": CALLER, "no": False, "at": at, "words": WORDS,
                          "fields": f'{{"name": "{NAME}", "reason": "{SYMPTOM}"}}'})
        conn.execute(sa.text(
            "INSERT INTO message_drafts (agent_id, call_sid, practice_id, fields, updated_at) VALUES "
            "(1, :sid, 1, :fields, :at)"), {"sid": "CA" + "2" * 32, "fields": f'{{"name": "{NAME}"}}', "at": at})
        conn.execute(sa.text("INSERT INTO message_handlings (message_id, agent_id, handled_at, note) VALUES "
                             "(1, 1, :at, :note)"), {"at": at, "note": NOTE})
        conn.execute(sa.text(
            "INSERT INTO callback_tasks (id, practice_id, callback_number, status, urgent, call_count, opened_at, "
            "last_call_at, close_note) VALUES (1, 1, :caller, 'closed', :no, 1, :at, :at, :note)"),
            {"caller": CALLER, "no": False, "at": at, "note": CLOSE_REASON})
        conn.execute(sa.text("INSERT INTO callback_task_actions (id, task_id, action, agent_id, at, details) VALUES "
                             "(1, 1, 'closed', 1, :at, :details)"),
                     {"at": at, "details": f'{{"reason": "{CLOSE_REASON}"}}'})
        conn.execute(sa.text(
            "INSERT INTO call_events (id, call_sid, kind, dedupe_key, occurred_at, data) VALUES "
            "(1, :sid, 'transcription', 'transcription:TR1:completed', :at, :data)"),
            {"sid": "CA" + "1" * 32, "at": at,
             "data": f'{{"recording_sid": "RE1", "status": "completed", "text": "{WORDS}"}}'})


def test_given_plaintext_rows_when_migrated_then_encrypted_and_a_downgrade_decrypts(empty_db_url, monkeypatch):
    monkeypatch.setenv("CARELINE_ENV", "test")
    monkeypatch.delenv("CARELINE_DATA_KEY", raising=False)
    upgrade(empty_db_url, PREVIOUS_REVISION)
    upgrade(empty_db_url, ENCRYPTING_REVISION)  # nothing to encrypt: no key needed
    downgrade(empty_db_url, PREVIOUS_REVISION)
    engine = sa.create_engine(empty_db_url)
    insert_plaintext(engine)

    monkeypatch.setenv("CARELINE_DATA_KEY", TEST_DATA_KEY)
    upgrade(empty_db_url, ENCRYPTING_REVISION)
    values = raw_values(engine)
    for name, value in values.items():
        if name != "call_events.data":
            assert is_token(value), name
        assert not any(text in value for text in PLAINTEXTS), name
    keyed = make_engine(empty_db_url, data_cipher=DataCipher([TEST_DATA_KEY]))
    with keyed.connect() as conn:
        message = conn.execute(sa.select(Message.transcription_text, Message.fields)).one()
        draft = conn.execute(sa.select(MessageDraft.fields)).scalar_one()
        note = conn.execute(sa.select(MessageHandling.note)).scalar_one()
        close_note = conn.execute(sa.select(CallbackTask.close_note)).scalar_one()
        details = conn.execute(sa.select(CallbackTaskAction.details)).scalar_one()
        event = conn.execute(sa.select(CallEvent.data)).scalar_one()
    assert tuple(message) == (WORDS, {"name": NAME, "reason": SYMPTOM})
    assert (draft, note, close_note, details) == ({"name": NAME}, NOTE, CLOSE_REASON, {"reason": CLOSE_REASON})
    assert "text" not in event and DataCipher([TEST_DATA_KEY]).decrypt(event["text_sealed"]) == WORDS
    keyed.dispose()

    upgrade(empty_db_url, ENCRYPTING_REVISION)  # again: nothing changes
    downgrade(empty_db_url, PREVIOUS_REVISION)
    assert raw(engine, "SELECT transcription_text, note FROM messages JOIN message_handlings "
                       "ON message_handlings.message_id = messages.id") == [(WORDS, NOTE)]
    (data,) = raw(engine, "SELECT data FROM call_events")[0]
    assert WORDS in (data if isinstance(data, str) else str(data))
    assert NAME in str(raw(engine, "SELECT fields FROM message_drafts")[0][0])
    engine.dispose()


def test_given_plaintext_rows_and_no_key_in_production_then_the_migration_refuses(empty_db_url, monkeypatch):
    monkeypatch.setenv("CARELINE_ENV", "production")
    monkeypatch.delenv("CARELINE_DATA_KEY", raising=False)
    upgrade(empty_db_url, PREVIOUS_REVISION)
    engine = sa.create_engine(empty_db_url)
    insert_plaintext(engine)
    with pytest.raises(Exception, match="CARELINE_DATA_KEY"):
        upgrade(empty_db_url, ENCRYPTING_REVISION)
    assert raw(engine, "SELECT transcription_text FROM messages") == [(WORDS,)]  # left as it was
    engine.dispose()

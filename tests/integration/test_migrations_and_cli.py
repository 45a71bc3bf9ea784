"""Migrations run up and down on this session's database engine; the `careline` command works."""
from __future__ import annotations

import uuid

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, select

from core.migrate import downgrade, upgrade
from models import Base, Practice, PracticeNumber
from tests.conftest import TEST_DB


@pytest.fixture
def empty_db_url(request, tmp_path):
    """A database of this run's kind with no tables at all."""
    if TEST_DB == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    admin = request.getfixturevalue("postgres_admin_url")
    name = f"careline_mig_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{admin.rpartition('/')[0]}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_given_an_empty_database_when_upgraded_downgraded_upgraded_then_schema_matches_models(empty_db_url):
    upgrade(empty_db_url)
    engine = create_engine(empty_db_url)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    downgrade(empty_db_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(empty_db_url)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_given_models_when_compared_with_migrations_then_no_difference(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_given_the_demo_file_when_loaded_twice_by_the_command_then_second_load_changes_nothing(
        cli_env, session_factory):
    from careline.cli import main

    runner = CliRunner()
    first = runner.invoke(main, ["config", "load", "config/demo.toml"])
    assert first.exit_code == 0, first.output
    assert "created: practice" in first.output
    second = runner.invoke(main, ["config", "load", "config/demo.toml"])
    assert second.exit_code == 0, second.output
    assert "created" not in second.output and "updated" not in second.output
    with session_factory() as session:
        assert session.scalars(select(Practice.slug).order_by(Practice.slug)).all()
        assert session.scalars(select(PracticeNumber)).all()


def test_given_an_invalid_file_when_loaded_by_the_command_then_refused_and_nothing_written(
        cli_env, session_factory, tmp_path):
    from careline.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text('[[practices]]\nslug = "x"\nname = "X"\nnumbers = ["+1312"]\ntimezone = "Mars/Base"\n')
    result = CliRunner().invoke(main, ["config", "load", str(bad)])
    assert result.exit_code == 1
    assert "nothing was written" in result.output
    assert "timezone" in result.output and "numbers" in result.output
    with session_factory() as session:
        assert session.scalars(select(Practice)).all() == []


def test_given_the_command_when_db_upgrade_then_at_head(cli_env):
    from careline.cli import main

    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database at head" in result.output


@pytest.fixture
def live_url(app):
    """Careline served over real HTTP on a free port, as `careline simulate` meets it."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def test_given_a_running_careline_when_simulate_then_operator_reads_the_call(live_url, config, monkeypatch):
    from careline.cli import main
    from tests.integration.conftest import NORTHSIDE

    for name in ("DATABASE_URL", "REDIS_URL", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL"):
        monkeypatch.setenv(name, getattr(config, name))
    monkeypatch.setenv("CARELINE_ENV", "test")
    result = CliRunner().invoke(main, ["simulate", "--to", NORTHSIDE, "--press", "21", "--url", live_url,
                                       "--message-seconds", "7"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("call CA") and "to +16175550200 (Northside Pediatrics)" in lines[0]
    assert "SAY (en-US): Thank you for calling Northside Pediatrics." in lines[1]
    assert any("RECORD: 7s, ended by #" in line for line in lines)
    assert any("caller pressed 1" in line for line in lines)  # marked urgent after the message
    assert "Your message is marked urgent" in result.output
    assert "END (app-hangup)" in lines[-1]


def test_given_no_careline_running_when_simulate_then_clear_error(cli_env, monkeypatch):
    from careline.cli import main

    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "cli-token")
    result = CliRunner().invoke(main, ["simulate", "--to", "+16175550200", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 1 and "Careline does not answer at http://127.0.0.1:9" in result.output


def test_given_bad_keys_when_simulate_then_usage_error(cli_env):
    from careline.cli import main

    result = CliRunner().invoke(main, ["simulate", "--to", "+16175550200", "--press", "1x"])
    assert result.exit_code == 2 and "--press" in result.output


def test_given_the_procfile_worker_when_run_in_burst_then_it_drains_the_call_log(
        sim, services, config, session_factory):
    """The Procfile's worker line, as written, runs Careline's jobs (here: the call-log drain)."""
    import os
    import shlex
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from callsim import Caller
    from jobs.calllog import drain_call_events
    from models import Call
    from tests.integration.conftest import CALLER, NORTHSIDE

    root = Path(__file__).resolve().parents[2]
    line = next(l for l in (root / "Procfile").read_text().splitlines() if l.startswith("worker:"))
    argv = shlex.split(line.split(":", 1)[1].replace("${REDIS_URL:-redis://localhost:6379/0}", config.REDIS_URL))
    assert argv[:4] == ["python", "-m", "careline.supervise", "--"]  # started again when it exits (make run)
    argv = argv[4:]
    assert argv[:2] == ["rq", "worker"] and "careline.worker.CarelineWorker" in argv
    result = sim.call(to=NORTHSIDE, from_=CALLER, caller=Caller().hang_up())
    services.jobs.enqueue(drain_call_events)
    env = {**os.environ, "DATABASE_URL": config.DATABASE_URL, "REDIS_URL": config.REDIS_URL,
           "CARELINE_ENV": "test", "TWILIO_AUTH_TOKEN": config.TWILIO_AUTH_TOKEN,
           "CARELINE_DATA_KEY": config.CARELINE_DATA_KEY, "PYTHONFAULTHANDLER": "1"}
    rq_bin = str(Path(sys.executable).parent / "rq")
    worker = subprocess.Popen([rq_bin, *argv[1:], "--burst"], env=env, cwd=root, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = worker.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        # A worker that does not end shows where every thread stood (faulthandler dumps them on SIGABRT) and its
        # whole log: that is how a 60 s wait in RQ's teardown was found (careline/worker.py, subscribe).
        worker.send_signal(signal.SIGABRT)
        stdout, stderr = worker.communicate(timeout=30)
        pytest.fail(f"the burst worker ran past 60 s; its threads:\n{stderr[-8000:]}\nits log:\n{stdout[-8000:]}")
    assert worker.returncode == 0, stderr[-2000:]
    with session_factory() as session:
        assert session.get(Call, result.call_sid).outcome == "hung-up"
    assert CALLER not in stdout + stderr  # the worker's log holds no caller number

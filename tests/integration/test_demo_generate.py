"""`careline demo generate`: realistic history (peaks, abandons, messages, callbacks) that the metrics read."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from demo.generate import GenerateOptions, NothingToGenerateFor, generate
from models import AgentStatusChange, Call, CallbackTask, CallbackTaskCall, Message, QueueEvent
from tests.integration.conftest import AGENTS_TOML, PRACTICES_TOML, load_practices

NOW = datetime(2026, 11, 30, 23, 0, tzinfo=timezone.utc)


@pytest.fixture
def loaded(services):
    load_practices(services, PRACTICES_TOML + AGENTS_TOML)
    return services


def count(session_factory, model, *where) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_given_practices_when_generated_then_calls_follow_the_paths_real_calls_take(loaded, session_factory):
    report = generate(session_factory, GenerateOptions(calls=3000, days=28, seed=7, rebuild_rollups=False), now=lambda: NOW)
    assert report.calls == 3000 == count(session_factory, Call)
    with session_factory() as session:
        calls = session.execute(select(Call.outcome, Call.answered_by, Call.after_hours, Call.started_at,
                                       Call.first_voice_at, Call.ended_at, Call.direction)).all()
    outcomes = Counter(c.outcome for c in calls)
    assert set(outcomes) == {"answered", "message", "hung-up", "callback"}
    assert outcomes["answered"] > outcomes["message"] > outcomes["callback"] > 0
    assert {c.answered_by for c in calls} == {"front-desk", "ivr", "agent"}
    assert all(c.direction == "inbound" and c.first_voice_at > c.started_at for c in calls)
    assert all(c.ended_at is not None and c.started_at <= NOW for c in calls)
    assert 0.05 < sum(c.after_hours for c in calls) / len(calls) < 0.5
    # Office-hours peaks: mid-morning in Chicago has many times the calls of the small hours.
    chicago = Counter(c.started_at.astimezone(_tz("America/Chicago")).hour for c in calls)
    assert chicago[10] > 5 * max(1, chicago[3])
    kinds = Counter(kind for (kind,) in _rows(session_factory, QueueEvent.kind))
    assert kinds["entered"] >= kinds["connected"] > kinds["abandoned"] > 0
    assert kinds["talk-ended"] == kinds["connected"] and kinds["no-answer"] > 0
    assert count(session_factory, Message) == outcomes["message"] == report.messages
    assert count(session_factory, Message, Message.urgent.is_(True)) > 0
    # Every call that reached nobody has its task, most of them reached before their due time.
    assert count(session_factory, CallbackTask) == outcomes["message"] + outcomes["callback"] + outcomes["hung-up"]
    assert count(session_factory, CallbackTaskCall) == count(session_factory, CallbackTask)
    reached = _rows(session_factory, CallbackTask.closed_at, CallbackTask.target_at,
                    where=CallbackTask.closed_reason == "reached")
    assert len(reached) > 0.7 * count(session_factory, CallbackTask)
    assert sum(closed <= target for closed, target in reached) > 0.6 * len(reached)
    assert count(session_factory, CallbackTask, CallbackTask.needs_manager.is_(True)) > 0
    assert count(session_factory, AgentStatusChange, AgentStatusChange.status == "paused") > 0


def test_given_the_same_seed_then_the_same_history_and_a_second_run_adds_to_the_first(loaded, session_factory):
    generate(session_factory, GenerateOptions(calls=400, days=10, seed=3, rebuild_rollups=False), now=lambda: NOW)
    first = sorted((o, a.isoformat()) for o, a in _rows(session_factory, Call.outcome, Call.started_at))
    generate(session_factory, GenerateOptions(calls=400, days=10, seed=3, rebuild_rollups=False), now=lambda: NOW)
    both = sorted((o, a.isoformat()) for o, a in _rows(session_factory, Call.outcome, Call.started_at))
    assert count(session_factory, Call) == 800
    assert both == sorted(first + first)  # the same calls again, under new CallSids


def test_given_no_practice_then_refused(session_factory):  # no app: its fixture loads practices
    with pytest.raises(NothingToGenerateFor):
        generate(session_factory, GenerateOptions(calls=10), now=lambda: NOW)


def test_given_the_command_then_it_writes_the_history_and_says_what(cli_env, session_factory):
    from careline.cli import main

    runner = CliRunner()
    assert runner.invoke(main, ["config", "load", "config/demo.toml"]).exit_code == 0
    result = runner.invoke(main, ["demo", "generate", "--calls", "500", "--days", "14"])
    assert result.exit_code == 0, result.output
    assert "wrote 500 calls" in result.output
    assert count(session_factory, Call) == 500
    refused = runner.invoke(main, ["demo", "generate", "--calls", "0"])
    assert refused.exit_code == 2 and "--calls" in refused.output


def _rows(session_factory, *columns, where=None):
    with session_factory() as session:
        query = select(*columns)
        if where is not None:
            query = query.where(where)
        return session.execute(query).all()


def _tz(name):
    from zoneinfo import ZoneInfo
    return ZoneInfo(name)

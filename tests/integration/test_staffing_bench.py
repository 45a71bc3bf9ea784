"""A quick run of `python -m bench staffing` (bench/staffing.py): a few simulated minutes of calls through the live
queue with the advised agents and one fewer; the harness connects every caller and computes every figure. No
figure is judged here (a few minutes of calls say nothing of a service level): the benchmark does that."""
from __future__ import annotations

import argparse

import pytest

from bench import staffing
from tests.conftest import TEST_DB

# The benchmark builds Careline on a SQLite file of its own (bench/stores.py), whatever the suite's database: the
# PostgreSQL pass would play the same calls again.
pytestmark = pytest.mark.skipif(TEST_DB != "sqlite", reason="the bench runs on its own SQLite store; once is enough")


def options(redis_url: str, **changes) -> argparse.Namespace:
    """The benchmark's options as its command line gives them, with `changes`."""
    parser = argparse.ArgumentParser()
    staffing.add_arguments(parser)
    parsed = parser.parse_args(["--redis-url", redis_url])
    for name, value in changes.items():
        setattr(parsed, name, value)
    return parsed


def test_given_a_few_minutes_of_calls_then_every_caller_is_connected_and_the_figures_are_computed(redis_url):
    report = staffing.measure(options(redis_url, minutes=4.0, warm_up_minutes=1.0, hours=1, calls_per_hour=120.0,
                                      talk_seconds=60.0))
    advised = report["advised_agents"]
    assert advised >= 2 and set(report["expected"]) == {advised, advised - 1}
    assert 0.8 <= report["expected"][advised]["service_level"] <= 1.0
    assert report["probe"]["join_seconds"] > 0 and report["probe"]["ring_to_accept_seconds"] >= staffing.RING_SECONDS
    (hour,) = report["hours"]
    assert hour["calls"] >= 2
    for agents, played in hour["played"].items():
        assert played["agents"] == agents
        # Nobody gives up without patience: every caller entered the queue and was connected to an agent, as
        # the simulator's transcripts and Careline's own metrics both say.
        assert played["connected_calls"] == hour["calls"] == played["calls_offered"]
        assert played["queue_entered"] == played["queue_connected"] == hour["calls"]
        assert played["service_level"] is not None and played["speed_of_answer_mean_seconds"] is not None
        assert played["abandoned"] == played["short_abandons"] == 0
    assert report["means"][advised]["service_level"] == hour["played"][advised]["service_level"]


def test_given_patience_then_callers_who_run_out_of_it_while_holding_are_counted_as_abandons(redis_url):
    """With one agent fewer than advised and callers who wait a minute on average, some hang up while holding."""
    report = staffing.measure(options(redis_url, minutes=6.0, warm_up_minutes=1.0, hours=1, calls_per_hour=120.0,
                                      talk_seconds=120.0,
                                      patience_seconds=60.0))
    (hour,) = report["hours"]
    fewer = hour["played"][report["advised_agents"] - 1]
    assert fewer["queue_entered"] == hour["calls"]
    gave_up = fewer["abandoned"] + fewer["short_abandons"]
    assert gave_up > 0 and fewer["queue_connected"] + gave_up == hour["calls"]

"""Careline's queue in Erlang's terms (staffing/model.py): the ring and whisper between an agent's offer and the
connection counted in the agent's handle time, in the caller's wait, and (with patience) as a chance to lose the
caller; with no ring, Erlang C and A as they stand (staffing/erlang.py, tested against published figures)."""
from __future__ import annotations

import math

import pytest

from staffing import erlang
from staffing.model import HourDemand, agents_needed, outlook


@pytest.mark.parametrize("patience", [None, 90.0])
def test_without_a_ring_the_outlook_and_advice_are_erlangs(patience):
    hour = HourDemand(118, 197.1, 0.0, patience)
    plain = erlang.Demand(118, 197.1, patience)
    assert outlook(hour, 9, 30) == erlang.outlook(plain, 9, 30)
    assert agents_needed(hour, 0.8, 30) == erlang.agents_needed(plain, 0.8, 30)


def test_the_ring_is_the_agents_time_and_the_callers_wait():
    hour = HourDemand(118, 190.0, 7.0)
    seen, plain = outlook(hour, 10, 30), erlang.outlook(erlang.Demand(118, 197.0), 10, 23)
    assert hour.traffic == pytest.approx(118 * 197 / 3600)
    assert seen.service_level == plain.service_level  # in time when an agent is free within 30 - 7 s
    assert seen.average_wait_seconds == pytest.approx(plain.average_wait_seconds + 7.0)
    assert seen.abandon_share == 0.0


def test_with_patience_a_caller_may_give_up_while_the_agents_phone_rings():
    hour = HourDemand(118, 190.0, 7.0, 120.0)
    seen, plain = outlook(hour, 8, 30), erlang.outlook(erlang.Demand(118, 197.0, 120.0), 8, 23)
    through = math.exp(-7.0 / 120.0)  # exponential patience: what was waited before the ring does not matter
    assert seen.service_level == pytest.approx(plain.service_level * through)
    assert seen.abandon_share == pytest.approx(plain.abandon_share + (1 - plain.abandon_share) * (1 - through))
    assert seen.service_level < outlook(HourDemand(118, 197.0, 0.0, 120.0), 8, 30).service_level


@pytest.mark.parametrize("ring, patience", [(0.0, None), (7.1, None), (7.1, 120.0), (10.0, 60.0), (3.0, 300.0)])
def test_the_advice_is_the_fewest_agents_that_reach_the_target(ring, patience):
    hour = HourDemand(118, 190.0, ring, patience)
    needed = agents_needed(hour, 0.8, 30)
    assert outlook(hour, needed, 30).service_level >= 0.8 > outlook(hour, needed - 1, 30).service_level


def test_callers_who_give_up_during_the_ring_alone_put_the_target_out_of_reach():
    with pytest.raises(ValueError, match="ring alone"):
        agents_needed(HourDemand(10, 180.0, 10.0, 30.0), 0.8, 30)  # exp(-10/30) = 72 % hold on through the ring
    assert agents_needed(HourDemand(0, 180.0, 10.0, 30.0), 0.8, 30) == 0

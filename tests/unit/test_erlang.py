"""Erlang B, C and A (staffing.erlang) against published figures, closed forms and a brute-force chain.

Published Erlang C figures: the worked example that callcentrehelper.com's "Erlang C formula - made simple"
uses (100 calls in 30 minutes, 180 s handle time, 80 % within 20 s), as printed to 7 digits in the README of
the CRAN package ErlangC 0.1.0 (Damonsoul, 2024, https://CRAN.R-project.org/package=ErlangC, "calculate_agents"
example and its $process table). Erlang B: Wolfram, "New in Mathematica 9: Compute Loss Probabilities for a
Queue" (2012, http://wolfram.com/mathematica/new-in-9/enhanced-core-algorithms/compute-loss-probabilities-for-a-queue.html).

No published Erlang-A worked example with its inputs and printed outputs was found (searched: Mandelbaum &
Zeltyn's Erlang-A notes, Garnett/Mandelbaum/Reiman 2002, Koole's Erlang-X calculator help and book, the
CCOptim Erlang A calculator page, call-centre blogs). Erlang A is therefore checked against (a) Erlang C as
patience grows, (b) exact closed forms for patience = handle time, where the chain is the M/M/∞ one and its
stationary law is Poisson, and (c) an independent brute-force computation: the truncated birth-death chain
for what arrivals find, and the tagged caller's pure-death chain with killing integrated step by step (RK4).
"""
from __future__ import annotations

import math

import pytest

from staffing.erlang import MAX_AGENTS, Demand, agents_needed, erlang_b, erlang_c, outlook

# --- Erlang C: the published worked example ---------------------------------------------------------------------

# 100 calls in 30 minutes = 200 calls per hour; 180 s handle time; 10 Erlangs; threshold 20 s.
PUBLISHED_DEMAND = Demand(calls_per_hour=200, handle_seconds=180)
# ErlangC 0.1.0 README, calculate_agents(...)$process: agents -> (wait probability, service level,
# average speed of answer in seconds, occupancy), printed to 7 significant digits (ASA to 15).
PUBLISHED_ROWS = {
    11: (0.6821182, 0.3896138, 122.78127684408, 0.9090909),
    12: (0.4493882, 0.640158, 40.4449401868444, 0.8333333),
    13: (0.2852705, 0.7955948, 17.1162271821896, 0.7692308),
    14: (0.1741319, 0.88835, 7.83593701177724, 0.7142857),
}


def test_erlang_c_matches_the_published_worked_example_row_by_row():
    """Each published row: Pw, service level, ASA and occupancy, to the printed rounding."""
    assert PUBLISHED_DEMAND.traffic == pytest.approx(10.0)  # README: $traffic_intensity 10
    for agents, (wait_probability, service_level, asa_seconds, occupancy) in PUBLISHED_ROWS.items():
        seen = outlook(PUBLISHED_DEMAND, agents, threshold_seconds=20)
        assert erlang_c(agents, 10.0) == pytest.approx(wait_probability, abs=5e-7)
        assert seen.probability_wait == pytest.approx(wait_probability, abs=5e-7)
        assert seen.service_level == pytest.approx(service_level, abs=5e-7)
        assert seen.average_wait_seconds == pytest.approx(asa_seconds, rel=1e-12)
        assert seen.occupancy == pytest.approx(occupancy, abs=5e-8)
        assert seen.abandon_share == 0.0


def test_agents_needed_matches_the_published_answer_of_14():
    """README: calculate_agents(..., require_service_level = 0.8) -> $agents 14 (13 gives 0.7955948)."""
    assert agents_needed(PUBLISHED_DEMAND, target=0.8, threshold_seconds=20) == 14


def test_erlang_b_matches_wolfram_example():
    """Wolfram (Mathematica 9): 30 lines offered 25 Erlangs block 'approximately 0.05'."""
    assert erlang_b(30, 25.0) == pytest.approx(0.05, abs=0.005)


def test_erlang_b_recursion_agrees_with_the_textbook_sum():
    """B = (A^n/n!) / Σ_{k<=n} A^k/k!, computed directly where it does not overflow."""
    for agents, traffic in ((1, 0.5), (5, 3.0), (14, 10.0), (40, 35.5)):
        terms = [traffic ** k / math.factorial(k) for k in range(agents + 1)]
        assert erlang_b(agents, traffic) == pytest.approx(terms[-1] / sum(terms), rel=1e-12)


def test_erlang_c_is_one_when_agents_do_not_exceed_traffic():
    assert erlang_c(10, 10.0) == 1.0
    assert erlang_c(3, 7.5) == 1.0
    assert erlang_c(0, 0.0) == 0.0  # no calls: nobody waits
    unstable = outlook(PUBLISHED_DEMAND, 10, threshold_seconds=20)
    assert (unstable.service_level, unstable.probability_wait, unstable.average_wait_seconds) == (0.0, 1.0, None)


# --- Erlang A: independent computations -------------------------------------------------------------------------

def chain(demand: Demand, agents: int, depth: int) -> list[float]:
    """Stationary law of the M/M/n+M birth-death chain truncated at n + depth (brute force, normalised)."""
    arrivals, service, abandon = demand.calls_per_hour / 3600, 1 / demand.handle_seconds, 1 / demand.patience_seconds
    weights = [1.0]
    for k in range(1, agents + depth + 1):
        death = k * service if k <= agents else agents * service + (k - agents) * abandon
        weights.append(weights[-1] * arrivals / death)
    total = sum(weights)
    return [w / total for w in weights]


def brute_force(demand: Demand, agents: int, threshold_seconds: float, depth: int = 40,
                step_seconds: float = 0.5) -> dict[str, float]:
    """SL, P(wait), P(abandon) and ASA from the truncated chain plus an RK4 run of the tagged caller's phases.

    Phase j = callers still ahead; it falls to j-1 at rate nμ + jθ (an agent frees up or one ahead gives up),
    phase 0 ends in an answer at rate nμ, and the tagged caller gives up at rate θ in every phase, so
    dp_j/ds = c_j (p_{j+1} - p_j) with c_j = nμ + (j+1)θ. Answers flow out at nμ p_0.
    """
    service, abandon = 1 / demand.handle_seconds, 1 / demand.patience_seconds
    pi = chain(demand, agents, depth)  # an arrival that finds n + q in the system starts in phase q (PASTA)
    drain = agents * service
    rates = [drain + (j + 1) * abandon for j in range(depth + 1)]
    # State: the phase masses, then ∫ nμ p_0 ds (answered so far) and ∫ s nμ p_0 ds, all stepped by RK4.
    state = pi[agents:] + [0.0, 0.0]
    phases = len(state) - 2

    def derivative(seconds: float, y: list[float]) -> list[float]:
        slopes = [rates[j] * ((y[j + 1] if j + 1 < phases else 0.0) - y[j]) for j in range(phases)]
        return slopes + [drain * y[0], seconds * drain * y[0]]

    def shifted(y: list[float], slopes: list[float], by: float) -> list[float]:
        return [value + by * slope for value, slope in zip(y, slopes)]

    served_within = None
    seconds, h = 0.0, step_seconds
    while sum(state[:phases]) > 1e-13:
        if served_within is None and seconds >= threshold_seconds - 1e-9:
            served_within = state[-2]
        k1 = derivative(seconds, state)
        k2 = derivative(seconds + h / 2, shifted(state, k1, h / 2))
        k3 = derivative(seconds + h / 2, shifted(state, k2, h / 2))
        k4 = derivative(seconds + h, shifted(state, k3, h))
        state = [y + h / 6 * (a + 2 * b + 2 * c + d) for y, a, b, c, d in zip(state, k1, k2, k3, k4)]
        seconds += h
    answered_by, answered_wait = state[-2], state[-1]
    at_once = sum(pi[:agents])
    answered = at_once + answered_by
    return {"service_level": at_once + served_within, "probability_wait": 1 - at_once,
            "abandon_share": 1 - answered, "average_wait_seconds": answered_wait / answered}


@pytest.mark.parametrize("demand, agents, threshold_seconds", [
    (Demand(calls_per_hour=60, handle_seconds=150, patience_seconds=90), 3, 30),  # 2.5 Erlangs, 3 agents
    (Demand(calls_per_hour=96, handle_seconds=150, patience_seconds=60), 2, 20),  # 4 Erlangs, overloaded
    (Demand(calls_per_hour=30, handle_seconds=240, patience_seconds=300), 1, 60),  # M/M/1+M
])
def test_erlang_a_agrees_with_the_brute_force_chain(demand, agents, threshold_seconds):
    """Closed forms (incomplete gamma series) against the truncated chain and a step-by-step integration."""
    seen = outlook(demand, agents, threshold_seconds)
    expected = brute_force(demand, agents, threshold_seconds)
    assert seen.service_level == pytest.approx(expected["service_level"], abs=1e-9)
    assert seen.probability_wait == pytest.approx(expected["probability_wait"], abs=1e-12)
    assert seen.abandon_share == pytest.approx(expected["abandon_share"], abs=1e-9)
    assert seen.average_wait_seconds == pytest.approx(expected["average_wait_seconds"], rel=1e-9)


def test_erlang_a_abandon_share_obeys_the_abandonment_identity():
    """λ P(abandon) = θ E[queue length] (every waiting caller gives up at rate θ), E[Q] from the brute chain."""
    for demand, agents in ((Demand(400, 240, 120), 22), (Demand(400, 240, 120), 30), (Demand(50, 300, 45), 3)):
        pi = chain(demand, agents, depth=300)
        queue_length = sum((k - agents) * p for k, p in enumerate(pi) if k > agents)
        arrivals, abandon = demand.calls_per_hour / 3600, 1 / demand.patience_seconds
        assert outlook(demand, agents, 20).abandon_share == pytest.approx(abandon * queue_length / arrivals,
                                                                          rel=1e-9)


def test_erlang_a_with_patience_equal_to_handle_time_has_poisson_closed_forms():
    """θ = μ: the death rate is kμ in every state, so the number in the system is Poisson(A).

    With A = 3 and n = 2: P(wait) = P(K >= 2) = 1 - 4e^-3; E[(K-2)+] = 1 + 5e^-3 and P(abandon) =
    θ E[Q] / λ = E[(K-2)+] / A; the carried load is E[min(K, 2)] = 2 - 5e^-3.
    """
    demand = Demand(calls_per_hour=90, handle_seconds=120, patience_seconds=120)  # 3 Erlangs
    seen = outlook(demand, 2, threshold_seconds=20)
    e3 = math.exp(-3)
    assert seen.probability_wait == pytest.approx(1 - 4 * e3, rel=1e-12)
    assert seen.abandon_share == pytest.approx((1 + 5 * e3) / 3, rel=1e-12)
    assert seen.occupancy == pytest.approx((2 - 5 * e3) / 2, rel=1e-12)


def test_erlang_a_tends_to_erlang_c_as_patience_grows():
    """θ -> 0: service level, wait probability and ASA converge on Erlang C's, the gap shrinking like θ."""
    for agents in (11, 13, 14):
        erlang_c_view = outlook(PUBLISHED_DEMAND, agents, 20)
        gaps = []
        for patience in (1e5, 1e6, 1e7, 1e8):
            seen = outlook(Demand(200, 180, patience), agents, 20)
            gaps.append(seen.service_level - erlang_c_view.service_level)
            assert 0.0 < seen.abandon_share < 2 * erlang_c_view.average_wait_seconds / patience
        assert all(9 < bigger / smaller < 11 for bigger, smaller in zip(gaps, gaps[1:]))  # first order in θ
        assert 0.0 < gaps[-1] < 1e-5
        assert seen.probability_wait == pytest.approx(erlang_c_view.probability_wait, abs=1e-5)
        assert seen.average_wait_seconds == pytest.approx(erlang_c_view.average_wait_seconds, rel=1e-4)


def test_erlang_a_stays_defined_with_too_few_agents():
    """Abandons keep the queue finite: with fewer agents than Erlangs the outlook still has an ASA."""
    seen = outlook(Demand(200, 180, 120), 8, 20)  # 10 Erlangs, 8 agents
    assert 0.0 < seen.service_level < 1.0
    assert seen.average_wait_seconds is not None and seen.average_wait_seconds > 0
    assert seen.abandon_share > 1 - 8 / 10  # at most 8 Erlangs can be carried
    nobody = outlook(Demand(200, 180, 120), 0, 20)
    assert (nobody.service_level, nobody.abandon_share, nobody.average_wait_seconds) == (0.0, 1.0, None)


def test_erlang_a_needs_fewer_agents_than_erlang_c():
    """Callers who give up shorten the queue for the rest: Erlang A never asks for more agents."""
    for patience in (30, 120, 600):
        assert agents_needed(Demand(200, 180, patience), 0.8, 20) <= 14
    assert agents_needed(Demand(200, 180, 30), 0.8, 20) < 14


# --- agents_needed, monotonicity, input checks ------------------------------------------------------------------

@pytest.mark.parametrize("demand", [
    Demand(200, 180), Demand(200, 180, 90), Demand(12, 300), Demand(12, 300, 60), Demand(1500, 200, 300),
    Demand(3, 1200, 30), Demand(0.5, 180),
])
@pytest.mark.parametrize("target, threshold_seconds", [(0.8, 20), (0.9, 60), (0.5, 30)])
def test_agents_needed_is_the_fewest_that_reach_the_target(demand, target, threshold_seconds):
    needed = agents_needed(demand, target, threshold_seconds)
    assert outlook(demand, needed, threshold_seconds).service_level >= target
    assert needed >= 1
    assert outlook(demand, needed - 1, threshold_seconds).service_level < target


@pytest.mark.parametrize("demand", [Demand(200, 180), Demand(200, 180, 60), Demand(900, 240, 400),
                                    Demand(20, 600, 45)])
def test_more_agents_never_make_things_worse(demand):
    previous = outlook(demand, 0, 30)
    for agents in range(1, int(demand.traffic) + 25):
        seen = outlook(demand, agents, 30)
        assert seen.service_level >= previous.service_level - 1e-12
        assert seen.probability_wait <= previous.probability_wait + 1e-12
        assert seen.abandon_share <= previous.abandon_share + 1e-12
        if previous.average_wait_seconds is not None:
            assert seen.average_wait_seconds <= previous.average_wait_seconds + 1e-9
        previous = seen
    assert previous.service_level > 0.999


def test_far_more_agents_than_calls_means_nobody_waits():
    """Erlang B underflows to 0 past ~175 agents for 1 Erlang: the outlook stays finite and says 'no wait'."""
    for agents in (50, 175, 400, MAX_AGENTS):
        for demand in (Demand(10, 360), Demand(10, 360, 60)):
            seen = outlook(demand, agents, 20)
            assert seen.service_level == pytest.approx(1.0, abs=1e-15)
            assert seen.probability_wait < 1e-60 and seen.abandon_share < 1e-60
            assert seen.occupancy == pytest.approx(1 / agents)


def test_no_calls_need_no_agents():
    for demand in (Demand(0, 180), Demand(0, 0), Demand(0, 180, 60)):
        assert agents_needed(demand, 0.8, 20) == 0
        seen = outlook(demand, 0, 20)
        assert (seen.service_level, seen.probability_wait, seen.average_wait_seconds) == (1.0, 0.0, 0.0)
        assert (seen.abandon_share, seen.occupancy) == (0.0, 0.0)


@pytest.mark.parametrize("fields", [
    dict(calls_per_hour=-1, handle_seconds=180), dict(calls_per_hour=math.nan, handle_seconds=180),
    dict(calls_per_hour=math.inf, handle_seconds=180), dict(calls_per_hour=10, handle_seconds=-5),
    dict(calls_per_hour=10, handle_seconds=math.nan), dict(calls_per_hour=10, handle_seconds=0),
    dict(calls_per_hour=10, handle_seconds=180, patience_seconds=0),
    dict(calls_per_hour=10, handle_seconds=180, patience_seconds=-30),
    dict(calls_per_hour=10, handle_seconds=180, patience_seconds=math.nan),
    dict(calls_per_hour="10", handle_seconds=180),
])
def test_nonsense_demand_is_refused(fields):
    with pytest.raises(ValueError):
        Demand(**fields)


@pytest.mark.parametrize("target", [0.0, 1.0, 1.5, -0.2, math.nan])
def test_target_outside_zero_one_is_refused(target):
    with pytest.raises(ValueError, match="target"):
        agents_needed(PUBLISHED_DEMAND, target, 20)


def test_nonsense_threshold_and_agents_are_refused():
    with pytest.raises(ValueError, match="threshold_seconds"):
        agents_needed(PUBLISHED_DEMAND, 0.8, -1)
    with pytest.raises(ValueError, match="threshold_seconds"):
        outlook(PUBLISHED_DEMAND, 12, math.nan)
    with pytest.raises(ValueError, match="agents"):
        outlook(PUBLISHED_DEMAND, -1, 20)
    with pytest.raises(ValueError, match="agents"):
        erlang_c(2.5, 1.0)


def test_unreachable_target_raises_instead_of_searching_forever():
    with pytest.raises(ValueError, match=str(MAX_AGENTS)):
        agents_needed(Demand(calls_per_hour=100_000, handle_seconds=300), 0.8, 20)  # 8333 Erlangs


def test_a_whole_week_of_hours_computes():
    """168 hours of mixed loads (0-50 Erlangs, patience 30-600 s or none, threshold 20-60 s) all resolve."""
    results = []
    for hour in range(168):
        traffic = 50 * ((hour * 37) % 101) / 100  # 0 .. 50 Erlangs, scattered over the week
        handle_seconds = 120 + (hour * 53) % 300
        patience = None if hour % 5 == 0 else 30 + (hour * 71) % 571
        threshold_seconds = (20, 30, 45, 60)[hour % 4]
        demand = Demand(traffic * 3600 / handle_seconds, handle_seconds, patience)
        needed = agents_needed(demand, 0.8, threshold_seconds)
        on_duty = max(0, needed - hour % 3)
        results.append((needed, outlook(demand, on_duty, threshold_seconds), demand))
    assert len(results) == 168
    for needed, seen, demand in results:
        assert needed <= math.ceil(demand.traffic) + 25
        assert 0.0 <= seen.service_level <= 1.0 and 0.0 <= seen.occupancy <= 1.0
    assert sum(1 for needed, _, _ in results if needed == 0) == sum(
        1 for _, _, demand in results if demand.calls_per_hour == 0)

"""Erlang C and Erlang A: how many agents an hour's calls need, and what the agents on duty will give.

Pure maths (the standard library's math only), no Careline imports. Erlang C (M/M/n) assumes nobody hangs up
while waiting; Erlang A (Palm's M/M/n+M) lets callers give up after an exponential patience, which changes
the answer: abandons shorten the queue for those who stay.

Erlang A is computed exactly from the birth-death chain (birth λ; death kμ up to n, nμ + (k-n)θ above), with
PASTA for what a caller finds on arrival. A caller who finds q others queued ahead is answered once q+1
"moves" happen (each at rate nμ + jθ with j still ahead), unless its own patience (rate θ) runs out first.
Summed over q with the stationary weights, the service level's integral collapses to an incomplete gamma
function, and the answered share given q ahead telescopes to nμ / (nμ + (q+1)θ). Derivation:

    π_{n+q} = π_n λ^q / Π_{i=1..q}(nμ + iθ)                                (the queue part of the chain)
    density of the q-ahead wait T_q (sum of Exp(nμ + jθ), j = 0..q)
        = Π_{j=0..q}(nμ + jθ) / (θ^q q!) · e^{-nμ s} (1 - e^{-θ s})^q
    P(answered, 0 < W <= t) = Σ_q π_{n+q} ∫_0^t f_q(s) e^{-θ s} ds
        = π_n (nμ/θ) ∫_{e^{-θt}}^1 u^{a} e^{b(1-u)} du,  a = nμ/θ, b = λ/θ
        = π_n a [S(a+1, b) - e^{-(a+1)θt + b(1-e^{-θt})} S(a+1, b e^{-θt})]
    with S(s, x) = Σ_k x^k / (s (s+1) ... (s+k)), so that γ(s, x) = x^s e^{-x} S(s, x);
    P(answered | q ahead) = E[e^{-θ T_q}] = nμ / (nμ + (q+1)θ),
    E[W; answered | q ahead] = that · Σ_{i=1..q+1} 1 / (nμ + iθ).

The sums over q are the chain's queue states: they stop once the weight still to come is provably below 1e-15
of the mass summed so far (past q > λ/θ - nμ/θ the terms fall faster than geometrically, so the rest is bounded
by the last term times r/(1-r)); nothing else is truncated. Mandelbaum & Zeltyn ("The Palm/Erlang-A queue,
with applications to call centers", 2005/2007, section 4) also write these measures with incomplete gamma
functions; their formulas were not at hand to compare term by term, so tests/unit/test_erlang.py checks this
module against a brute-force chain instead. Patience of math.inf is treated as None (Erlang C).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

MAX_AGENTS = 2000  # agents_needed gives up above this many agents (no practice line comes near it)
SECONDS_PER_HOUR = 3600.0
TAIL_SHARE = 1e-15  # Erlang A's sums stop once the rest is provably below this share of the sum so far
MAX_TERMS = 1_000_000  # ... and refuse to go on past this many terms (patience far longer than the handle time
# on an overloaded line: the queue then holds ~ (λ - nμ)/θ callers; use patience_seconds=None, Erlang C)
_RESCALE = 1e250  # sums whose terms grow like e^(λ/θ) are kept as (mantissa, log scale) to avoid overflow
_LOG_RESCALE = math.log(_RESCALE)


@dataclass(frozen=True)
class Demand:
    """One hour's calls: how many arrive, how long each takes, and how long callers will wait."""

    calls_per_hour: float
    handle_seconds: float  # mean handle time: talk + wrap-up
    patience_seconds: float | None = None  # mean patience (exponential); None: nobody gives up -> Erlang C

    def __post_init__(self) -> None:
        _check_finite("calls_per_hour", self.calls_per_hour, minimum=0.0)
        _check_finite("handle_seconds", self.handle_seconds, minimum=0.0)
        if self.calls_per_hour > 0 and self.handle_seconds <= 0:
            raise ValueError(f"handle_seconds must be > 0 when calls arrive, got {self.handle_seconds!r}")
        if self.patience_seconds is not None:
            patience = self.patience_seconds
            if isinstance(patience, bool) or not isinstance(patience, (int, float)) or not patience > 0:
                raise ValueError(f"patience_seconds must be > 0 (or None), got {patience!r}")

    @property
    def traffic(self) -> float:
        """Offered load in Erlangs: calls per hour times hours of handling per call."""
        return self.calls_per_hour * self.handle_seconds / SECONDS_PER_HOUR


@dataclass(frozen=True)
class Outlook:
    """What callers get from a number of agents: service level, waits, abandons, and how busy agents are."""

    agents: int
    service_level: float  # share of all callers answered within the threshold (Erlang A: answered before giving up, within it)
    probability_wait: float  # share of callers who wait at all
    average_wait_seconds: float | None  # mean wait of answered callers (ASA, 0 for those answered at once); None when the queue grows without end (Erlang C with agents <= traffic), or nobody is answered (Erlang A, no agents)
    abandon_share: float  # share who give up (0.0 for Erlang C)
    occupancy: float  # share of the agents' time busy with calls (Erlang A: carried load / agents)


def _check_finite(name: str, value: float, minimum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")


def _check_agents(agents: int) -> None:
    if isinstance(agents, bool) or not isinstance(agents, int) or agents < 0:
        raise ValueError(f"agents must be an integer >= 0, got {agents!r}")


def erlang_b(agents: int, traffic: float) -> float:
    """Blocking probability of `agents` servers offered `traffic` Erlangs (Erlang B, M/M/n/n)."""
    _check_agents(agents)
    _check_finite("traffic", traffic, minimum=0.0)
    # B(k) = A B(k-1) / (k + A B(k-1)): stays within [0, 1], where A^n / n! would overflow past n ~ 170.
    blocking = 1.0
    for k in range(1, agents + 1):
        blocking = traffic * blocking / (k + traffic * blocking)
    return blocking


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a caller waits (Erlang C); 1.0 when agents <= traffic (the queue never empties)."""
    _check_agents(agents)
    _check_finite("traffic", traffic, minimum=0.0)
    if traffic == 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    blocking = erlang_b(agents, traffic)
    return agents * blocking / (agents - traffic * (1.0 - blocking))


def outlook(demand: Demand, agents: int, threshold_seconds: float) -> Outlook:
    """Service level within `threshold_seconds`, waits, abandons and occupancy with `agents` on duty."""
    _check_agents(agents)
    _check_finite("threshold_seconds", threshold_seconds, minimum=0.0)
    if demand.calls_per_hour == 0:
        return Outlook(agents, service_level=1.0, probability_wait=0.0, average_wait_seconds=0.0,
                       abandon_share=0.0, occupancy=0.0)
    if demand.patience_seconds is None or math.isinf(demand.patience_seconds):
        return _erlang_c_outlook(demand, agents, threshold_seconds)
    return _erlang_a_outlook(demand, agents, threshold_seconds)


def _erlang_c_outlook(demand: Demand, agents: int, threshold_seconds: float) -> Outlook:
    traffic = demand.traffic
    if agents <= traffic:
        # The queue grows without end: in the long run nobody is answered within any threshold.
        return Outlook(agents, service_level=0.0, probability_wait=1.0, average_wait_seconds=None,
                       abandon_share=0.0, occupancy=1.0 if agents else 0.0)
    wait_probability = erlang_c(agents, traffic)
    # A waiting caller's wait is exponential with rate (n - A) / handle time (FCFS, M/M/n).
    drain_per_second = (agents - traffic) / demand.handle_seconds
    service_level = 1.0 - wait_probability * math.exp(-drain_per_second * threshold_seconds)
    return Outlook(agents, service_level=service_level, probability_wait=wait_probability,
                   average_wait_seconds=wait_probability / drain_per_second, abandon_share=0.0,
                   occupancy=traffic / agents)


def _erlang_a_outlook(demand: Demand, agents: int, threshold_seconds: float) -> Outlook:
    arrivals_per_second = demand.calls_per_hour / SECONDS_PER_HOUR
    service_per_second = 1.0 / demand.handle_seconds
    abandon_per_second = 1.0 / demand.patience_seconds
    traffic = demand.traffic
    drain_per_second = agents * service_per_second  # nμ: how fast the head of the queue reaches an agent
    a = drain_per_second / abandon_per_second  # nμ/θ
    b = arrivals_per_second / abandon_per_second  # λ/θ

    # One pass over q = callers found waiting ahead, weights w_q = π_{n+q} / π_n = b^q / Π_{i=1..q}(a + i).
    weight, total, abandoned, answered, answered_wait = 1.0, 0.0, 0.0, 0.0, 0.0
    inverse_rates = 0.0  # Σ_{i=1..q+1} 1 / (nμ + iθ): mean time to be answered, summed phase by phase
    log_scale = 0.0
    q = 0
    while True:
        inverse_rates += 1.0 / (drain_per_second + (q + 1) * abandon_per_second)
        answered_here = weight * a / (a + q + 1)  # P(answered | q ahead) = nμ / (nμ + (q+1)θ)
        total += weight
        answered += answered_here
        abandoned += weight * (q + 1) / (a + q + 1)
        answered_wait += answered_here * inverse_rates
        if total > _RESCALE:
            weight, total, abandoned = weight / _RESCALE, total / _RESCALE, abandoned / _RESCALE
            answered, answered_wait = answered / _RESCALE, answered_wait / _RESCALE
            log_scale += _LOG_RESCALE
        ratio = b / (a + q + 1)  # w_{q+1} / w_q, falling in q
        q += 1
        weight *= ratio
        if ratio < 1.0 and weight / (1.0 - ratio) < TAIL_SHARE * total:
            break
        if q > MAX_TERMS:
            raise ValueError(f"Erlang A needs over {MAX_TERMS} terms for patience {demand.patience_seconds} s; "
                             "use patience_seconds=None (Erlang C)")

    # Normalise with the part below n: Σ_{k<n} π_k / π_n = 1/B - 1 (B: Erlang B for n agents).
    blocking = erlang_b(agents, traffic)
    if blocking == 0.0:  # underflow: so many agents that the queue is never reached
        wait_probability = 0.0
    else:
        log_queue_mass = math.log(blocking) + math.log(total) + log_scale  # log(B Σ w_q)
        # P(wait) = BΣw / (1 - B + BΣw); clamped so that exp() neither overflows nor matters beyond 1e-304.
        wait_probability = 1.0 / (1.0 + (1.0 - blocking) * math.exp(-max(-700.0, min(log_queue_mass, 700.0))))
    abandon_share = wait_probability * abandoned / total
    answered_after_wait = wait_probability * answered / total
    answered_share = 1.0 - abandon_share

    # Of those answered after waiting, the share answered within t: 1 - R with
    # R = e^{-(a+1)θt + b(1-e^{-θt})} S(a+1, b e^{-θt}) / S(a+1, b), and S(a+1, b) = answered / a.
    if answered_after_wait > 0.0:
        decay = math.exp(-abandon_per_second * threshold_seconds)
        log_late = (-(a + 1.0) * abandon_per_second * threshold_seconds + b * (1.0 - decay)
                    + _log_gamma_series(a + 1.0, b * decay) - (math.log(answered / a) + log_scale))
        answered_within = answered_after_wait * max(0.0, 1.0 - math.exp(min(log_late, 0.0)))
    else:
        answered_within = 0.0
    service_level = (1.0 - wait_probability) + answered_within
    if answered_share > 0.0:
        average_wait_seconds = wait_probability * (answered_wait / total) / answered_share
    else:
        average_wait_seconds = None  # no agents: nobody is ever answered
    occupancy = traffic * answered_share / agents if agents else 0.0
    return Outlook(agents, service_level=min(1.0, service_level), probability_wait=wait_probability,
                   average_wait_seconds=average_wait_seconds, abandon_share=abandon_share,
                   occupancy=min(1.0, occupancy))


def _log_gamma_series(s: float, x: float) -> float:
    """log S(s, x), S = Σ_k x^k / (s (s+1) ... (s+k)): the lower incomplete gamma is x^s e^{-x} S(s, x)."""
    term = 1.0 / s
    total = term
    log_scale = 0.0
    k = 0
    while True:
        k += 1
        ratio = x / (s + k)
        term *= ratio
        total += term
        if total > _RESCALE:
            term, total = term / _RESCALE, total / _RESCALE
            log_scale += _LOG_RESCALE
        # Once the ratio is below 1 it keeps falling, so the rest is at most term * r / (1 - r).
        next_ratio = x / (s + k + 1)
        if next_ratio < 1.0 and term * next_ratio / (1.0 - next_ratio) < TAIL_SHARE * total:
            break
        if k > MAX_TERMS:
            raise ValueError(f"incomplete gamma series needs over {MAX_TERMS} terms (s={s}, x={x})")
    return math.log(total) + log_scale


def agents_needed(demand: Demand, target: float, threshold_seconds: float) -> int:
    """The fewest agents whose outlook's service level reaches `target` within `threshold_seconds`."""
    _check_finite("target", target, minimum=0.0)
    if not 0.0 < target < 1.0:
        raise ValueError(f"target must be strictly between 0 and 1, got {target!r}")
    _check_finite("threshold_seconds", threshold_seconds, minimum=0.0)
    if demand.calls_per_hour == 0:
        return 0

    def meets(agents: int) -> bool:
        return outlook(demand, agents, threshold_seconds).service_level >= target

    # The service level rises with every agent added, so bisect between one that misses and one that meets.
    low = 0  # misses: with no agents nobody is answered
    high = max(1, math.ceil(demand.traffic))
    while not meets(high):
        low = high
        if high >= MAX_AGENTS:
            raise ValueError(f"{MAX_AGENTS} agents cannot reach a service level of {target} within "
                             f"{threshold_seconds} s for {demand.traffic:.1f} Erlangs")
        high = min(2 * high, MAX_AGENTS)
    while high - low > 1:
        middle = (low + high) // 2
        if meets(middle):
            high = middle
        else:
            low = middle
    return high

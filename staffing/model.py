"""Careline's queue in Erlang's terms: what an hour's calls need, once the agent's ring is counted where it falls.

Erlang's formulas (staffing/erlang.py) serve a caller the moment an agent is free. In Careline an agent matched with
a caller is first rung (and hears the whisper) before the caller is connected, `ring_seconds` on average, measured
from the practice's own calls. That time:

- belongs to the agent: it is offered nobody else from the first ring, so it is part of the handle time;
- belongs to the caller's wait: Careline's service level and speed of answer count to the connection, so a caller
  is in time when the agent is free within the threshold less the ring;
- can lose the caller: a caller who gives up (Erlang A) may do so while the phone rings, which Careline counts as an
  abandon. With exponential patience (memoryless) the chance of holding on through the ring is
  exp(-ring / patience), whatever the wait before it.

With `ring_seconds` 0 this is Erlang C or A as they stand.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from staffing import erlang


@dataclass(frozen=True)
class HourDemand:
    """One hour's queue calls as Careline's history gives them."""

    calls_per_hour: float
    handle_seconds: float  # talk + wrap-up, per call connected
    ring_seconds: float = 0.0  # offer to connection: the agent's phone ringing and the whisper
    patience_seconds: float | None = None  # mean patience; None: nobody gives up (Erlang C)

    @property
    def erlang_demand(self) -> erlang.Demand:
        """The demand in Erlang's terms: the agent is taken from the first ring."""
        return erlang.Demand(self.calls_per_hour, self.handle_seconds + self.ring_seconds, self.patience_seconds)

    @property
    def traffic(self) -> float:
        """Offered load in Erlangs (the ring included)."""
        return self.erlang_demand.traffic


def outlook(demand: HourDemand, agents: int, threshold_seconds: float) -> erlang.Outlook:
    """What `agents` give the hour's callers, as Careline counts it: waits to the connection (the ring included),
    abandons while the phone rings included."""
    ring = demand.ring_seconds
    seen = erlang.outlook(demand.erlang_demand, agents, max(threshold_seconds - ring, 0.0))
    wait = None if seen.average_wait_seconds is None else seen.average_wait_seconds + ring
    if demand.patience_seconds is None or ring <= 0:
        return erlang.Outlook(agents, seen.service_level, seen.probability_wait, wait, seen.abandon_share,
                              seen.occupancy)
    through_ring = math.exp(-ring / demand.patience_seconds)
    return erlang.Outlook(agents, seen.service_level * through_ring, seen.probability_wait, wait,
                          seen.abandon_share + (1 - seen.abandon_share) * (1 - through_ring), seen.occupancy)


def agents_needed(demand: HourDemand, target: float, threshold_seconds: float) -> int:
    """The fewest agents whose outlook reaches `target` within `threshold_seconds`; 0 without calls. ValueError when
    no number of agents can (callers who hang up during the ring cap the service level below the target)."""
    if demand.calls_per_hour == 0:
        return 0
    threshold = max(threshold_seconds - demand.ring_seconds, 0.0)
    through_ring = (1.0 if demand.patience_seconds is None or demand.ring_seconds <= 0
                    else math.exp(-demand.ring_seconds / demand.patience_seconds))
    if through_ring <= target:
        raise ValueError(f"callers who give up during the {demand.ring_seconds:g} s ring alone keep the service "
                         f"level under {target:.0%}")
    # Erlang's agents for the target raised by the ring's losses, then one at a time while the rounding falls short.
    agents = erlang.agents_needed(demand.erlang_demand, min(target / through_ring, 0.999999), threshold)
    while outlook(demand, agents, threshold_seconds).service_level < target:
        agents += 1
    return agents

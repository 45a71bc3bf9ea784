"""What the call queue's operations return: small frozen records, times in seconds since the epoch."""
from __future__ import annotations

import enum
from dataclasses import dataclass


class AgentStatus(enum.StrEnum):
    OFFLINE = "offline"  # where every agent starts
    AVAILABLE = "available"
    PAUSED = "paused"  # with a reason, e.g. "missed"
    RINGING = "ringing"  # offered one caller
    BUSY = "busy"  # connected to that caller
    WRAP_UP = "wrap-up"  # after a call, until `wrap_up_until`; then available again


SETTABLE = frozenset({AgentStatus.OFFLINE, AgentStatus.AVAILABLE, AgentStatus.PAUSED})  # the rest come from calls


class CallerState(enum.StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"  # an agent's phone is ringing for this caller
    CONNECTED = "connected"  # an agent answered; the caller has left the queue


@dataclass(frozen=True)
class Match:
    """A caller offered to an agent: the caller is `offered`, the agent `ringing`."""

    call_sid: str
    agent_id: int
    practice_id: int
    urgent: bool
    language: str | None
    wait_seconds: float  # from joining the queue to this offer
    skill: str | None = None  # the skill the caller asked for


@dataclass(frozen=True)
class Connected:
    """An answered offer; `repeated` is True when this answer had been recorded already (a retried webhook)."""

    call_sid: str
    agent_id: int
    practice_id: int
    wait_seconds: float  # from joining the queue to the answer
    repeated: bool = False
    delivered_by: str = ""  # the path that brought the offer to the caller (queueing.store.DELIVERY_PATHS)


@dataclass(frozen=True)
class Removed:
    """A caller taken out of the queue; `agent_id` is the agent whose offer this cancelled, if any."""

    call_sid: str
    practice_id: int
    reason: str
    urgent: bool
    language: str | None
    wait_seconds: float
    agent_id: int | None = None
    skill: str | None = None  # the skill the caller asked for


@dataclass(frozen=True)
class AgentChange:
    """An agent's status after `set_agent`; `released_call_sid` is the caller it stopped holding, if any."""

    agent_id: int
    status: AgentStatus
    released_call_sid: str | None = None
    requeued: bool = False  # True when that caller (an offer) went back to the head of the queue
    reason: str | None = None
    # The state just before, read in the same script; offline for an agent not registered before.
    previous_status: AgentStatus = AgentStatus.OFFLINE
    previous_reason: str | None = None

    @property
    def changed(self) -> bool:
        """Whether the status or its reason changed (asking available while ringing or busy changes neither)."""
        return (self.status, self.reason) != (self.previous_status, self.previous_reason)


@dataclass(frozen=True)
class QueuePosition:
    """Where a caller is: `position` counts from 1 for a waiting caller, 0 once offered or connected."""

    call_sid: str
    state: CallerState
    position: int
    ahead: int  # callers before this one in the queue's order
    agent_id: int | None = None  # the agent offered or connected


@dataclass(frozen=True)
class WaitingCaller:
    """One caller in a snapshot."""

    call_sid: str
    arrived_at: float
    urgent: bool
    language: str | None
    state: CallerState
    agent_id: int | None = None
    skill: str | None = None


@dataclass(frozen=True)
class AgentView:
    """One agent as stored; `wrap_up_until` and `idle_since` are None when they do not apply."""

    agent_id: int
    status: AgentStatus
    reason: str | None
    call_sid: str | None
    practices: tuple[int, ...] | str  # practice ids, or "all"
    languages: tuple[str, ...]
    idle_since: float | None = None
    wrap_up_until: float | None = None
    skills: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueueSnapshot:
    """A practice's queue at one instant: offered callers, then waiting ones in order; its agents by id."""

    practice_id: int
    callers: tuple[WaitingCaller, ...]
    agents: tuple[AgentView, ...]

    def agents_by_status(self) -> dict[AgentStatus, list[int]]:
        """Agent ids grouped by status (statuses without agents are left out)."""
        grouped: dict[AgentStatus, list[int]] = {}
        for agent in self.agents:
            grouped.setdefault(agent.status, []).append(agent.agent_id)
        return grouped


@dataclass(frozen=True)
class DeliveryClaim:
    """The answer to a path's claim on an offer: whether it now owns the offer, and who owned it before."""

    claimed: bool
    owner_before: str

"""Fixtures for the call queue: a CallQueue on the test Redis (flushed around each test), times in seconds."""
from __future__ import annotations

import pytest

from queueing.store import CallQueue

T0 = 1_800_000_000.0  # seconds since the epoch; tests move time by adding to it
GRACE = 30.0  # seconds a caller who chose a language waits for an agent speaking it
FALLBACK = 60.0  # seconds a caller who asked for a skill waits for an agent with it


@pytest.fixture
def queue(redis_client) -> CallQueue:
    return CallQueue(redis_client)


def sid(n: int) -> str:
    """A CallSid-shaped id."""
    return f"CA{n:032d}"


def add_agent(queue: CallQueue, agent_id: int, idle_at: float, *, practices=(1,), languages=("en",),
              status: str = "available", skills=None) -> None:
    """Register an agent, available (by default) since `idle_at`; `skills` None keeps its skills (none when new)."""
    queue.set_agent(agent_id, status, idle_at, practices=practices, languages=languages, skills=skills)

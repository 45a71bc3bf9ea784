"""Expected waits, from the practice's recent handle times and the agents on duty.

A handle time is an agent's talk time with a caller plus the practice's wrap-up: the time one agent is
taken by one caller. The last HANDLE_TIMES_KEPT of each practice are kept in Redis (a capped list), so
every web process estimates from the same recent calls.
"""
from __future__ import annotations

import math

import redis

HANDLE_TIMES_KEY = "careline:q:handle:{practice}"
HANDLE_TIMES_KEPT = 20  # recent calls the estimate averages
DEFAULT_HANDLE_SECONDS = 180  # seconds assumed per caller until a practice has handled a call


class WaitEstimator:
    """Records handle times and estimates a waiting caller's remaining wait."""

    def __init__(self, client: redis.Redis):
        self.redis = client

    def record_handle_time(self, practice_id: int, talk_seconds: float, wrap_up_seconds: float,
                           pipeline=None) -> None:
        """Add one handled call's time (talk + wrap-up) to the practice's recent ones."""
        key = HANDLE_TIMES_KEY.format(practice=int(practice_id))
        pipe = pipeline if pipeline is not None else self.redis.pipeline(transaction=True)
        pipe.lpush(key, round(max(0.0, talk_seconds) + max(0.0, wrap_up_seconds), 1))
        pipe.ltrim(key, 0, HANDLE_TIMES_KEPT - 1)
        if pipeline is None:
            pipe.execute()

    def average_handle_seconds(self, practice_id: int) -> float:
        """The mean of the practice's recent handle times; DEFAULT_HANDLE_SECONDS before its first call."""
        values = [float(v) for v in self.redis.lrange(HANDLE_TIMES_KEY.format(practice=int(practice_id)), 0, -1)]
        return sum(values) / len(values) if values else float(DEFAULT_HANDLE_SECONDS)


def expected_wait_seconds(position: int, on_duty: int, average_handle_seconds: float) -> float:
    """The wait of the caller at `position` (1 = next): the callers up to and including it, shared among
    the agents on duty, each taking an average handle time (an agent still on a call frees up, on
    average, half a handle time from now, which the first round counts)."""
    if position <= 0:
        return 0.0
    agents = max(1, on_duty)
    rounds = math.ceil(position / agents)
    return (rounds - 0.5) * average_handle_seconds

"""The agents' statuses are named in three places that must agree: the queue, the history, the API."""
from __future__ import annotations

from api.agent_status import SETTABLE_NAMES
from models import AGENT_STATUSES
from queueing.model import SETTABLE, AgentStatus


def test_the_history_accepts_every_status_the_queue_gives():
    """The CHECK constraint of agent_status_changes lists the queue's statuses; they must not drift apart."""
    assert AGENT_STATUSES == tuple(status.value for status in AgentStatus)


def test_the_api_offers_the_statuses_a_person_may_set():
    assert set(SETTABLE_NAMES) == SETTABLE and len(SETTABLE_NAMES) == len(SETTABLE)

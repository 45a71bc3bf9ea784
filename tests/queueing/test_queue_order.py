"""Joining the queue: urgent callers first, then first come first served; retried joins change nothing."""
from __future__ import annotations

import pytest

from queueing.errors import AlreadyConnected
from queueing.model import CallerState
from tests.queueing.conftest import GRACE, T0, add_agent, sid


def offered_in_turn(queue, practice_id: int, count: int, at: float) -> list[str]:
    """Match `count` times with one agent that answers and ends each call at once; the callers in order."""
    order = []
    for n in range(count):
        match = queue.match(practice_id, at + n, GRACE)
        order.append(match.call_sid)
        queue.offer_answered(match.call_sid, match.agent_id, at + n)
        queue.call_ended(match.call_sid, match.agent_id, at + n, 0)
    return order


def test_given_callers_when_enqueued_then_first_come_first_served(queue):
    positions = [queue.enqueue(1, sid(n), urgent=False, language="en", now=T0 + n) for n in range(3)]
    add_agent(queue, 7, T0)
    assert positions == [1, 2, 3]
    assert offered_in_turn(queue, 1, 3, T0 + 10) == [sid(0), sid(1), sid(2)]


def test_given_an_urgent_caller_when_enqueued_later_then_it_goes_before_the_others(queue):
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0)
    queue.enqueue(1, sid(1), urgent=True, language="en", now=T0 + 1)
    queue.enqueue(1, sid(2), urgent=False, language="en", now=T0 + 2)
    assert queue.enqueue(1, sid(3), urgent=True, language="en", now=T0 + 3) == 2  # behind the earlier urgent one
    add_agent(queue, 7, T0)
    assert offered_in_turn(queue, 1, 4, T0 + 10) == [sid(1), sid(3), sid(0), sid(2)]


def test_given_practices_then_each_has_its_own_queue(queue):
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0)
    assert queue.enqueue(2, sid(1), urgent=False, language="en", now=T0 + 1) == 1
    add_agent(queue, 7, T0, practices=(2,))
    assert queue.match(2, T0 + 2, GRACE).call_sid == sid(1)
    assert queue.match(2, T0 + 3, GRACE) is None
    assert queue.position(sid(0)).position == 1


def test_given_a_queued_caller_when_enqueued_again_then_nothing_changes(queue):
    """Twilio retries a webhook that timed out: the caller keeps its place and is not queued twice."""
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0)
    queue.enqueue(1, sid(1), urgent=False, language="en", now=T0 + 1)
    assert queue.enqueue(1, sid(0), urgent=True, language="es", now=T0 + 5) == 1
    snapshot = queue.snapshot(1, T0 + 5)
    assert [(c.call_sid, c.urgent, c.language, c.arrived_at) for c in snapshot.callers] == [
        (sid(0), False, "en", T0), (sid(1), False, "en", T0 + 1)]


def test_given_an_offered_caller_when_enqueued_again_then_position_zero(queue):
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0)
    add_agent(queue, 7, T0)
    queue.match(1, T0 + 1, GRACE)
    assert queue.enqueue(1, sid(0), urgent=False, language="en", now=T0 + 2) == 0
    assert queue.position(sid(0)).state == CallerState.OFFERED


def test_given_a_connected_caller_when_enqueued_again_then_refused(queue):
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0)
    add_agent(queue, 7, T0)
    match = queue.match(1, T0 + 1, GRACE)
    queue.offer_answered(match.call_sid, match.agent_id, T0 + 2)
    with pytest.raises(AlreadyConnected):
        queue.enqueue(1, sid(0), urgent=False, language="en", now=T0 + 3)
    assert queue.snapshot(1, T0 + 3).callers == ()


def test_given_a_caller_who_left_when_enqueued_again_then_it_joins_at_the_back(queue):
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0)
    queue.enqueue(1, sid(1), urgent=False, language="en", now=T0 + 1)
    queue.remove(sid(0), "hang-up", T0 + 2)
    assert queue.enqueue(1, sid(0), urgent=False, language="en", now=T0 + 3) == 2


@pytest.mark.parametrize("language", ["e,n", "en:x", "*", "e n"])
def test_given_a_language_that_cannot_be_a_key_then_refused(queue, language):
    with pytest.raises(ValueError):
        queue.enqueue(1, sid(0), urgent=False, language=language, now=T0)


def test_given_callers_in_the_same_millisecond_then_ordered_by_call_sid_whatever_their_language(queue):
    queue.enqueue(1, sid(2), urgent=False, language="es", now=T0)
    queue.enqueue(1, sid(1), urgent=False, language="en", now=T0)
    queue.enqueue(1, sid(0), urgent=False, language="es", now=T0)
    add_agent(queue, 7, T0, languages=("en", "es"))
    assert offered_in_turn(queue, 1, 3, T0 + 10) == [sid(0), sid(1), sid(2)]

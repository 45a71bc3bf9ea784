"""Leaving the queue: hang-up, a key, maximum wait, or the sweep of callers whose hold loop stopped."""
from __future__ import annotations

from queueing.model import AgentStatus, CallerState
from tests.queueing.conftest import GRACE, T0, add_agent, sid


def test_given_a_waiting_caller_when_removed_then_returned_with_its_wait_and_gone(queue):
    queue.enqueue(1, sid(0), urgent=True, language="es", now=T0)
    queue.enqueue(1, sid(1), urgent=False, language="en", now=T0 + 1)
    removed = queue.remove(sid(0), "callback", T0 + 42.5)
    assert (removed.call_sid, removed.practice_id, removed.reason, removed.urgent, removed.language,
            removed.wait_seconds, removed.agent_id) == (sid(0), 1, "callback", True, "es", 42.5, None)
    assert queue.position(sid(0)) is None
    assert queue.position(sid(1)).position == 1
    assert queue.remove(sid(0), "hang-up", T0 + 50) is None  # idempotent
    add_agent(queue, 1, T0, languages=("es",))
    assert queue.match(1, T0 + 20, GRACE) is None  # no Spanish caller left; sid(1) waits for an English one


def test_given_an_offered_caller_when_it_hangs_up_then_the_agent_is_free_and_keeps_its_turn(queue):
    add_agent(queue, 1, T0)
    add_agent(queue, 2, T0 + 10)
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0 + 20)
    queue.match(1, T0 + 21, GRACE)
    removed = queue.remove(sid(0), "hang-up", T0 + 25)
    assert (removed.agent_id, removed.wait_seconds) == (1, 5.0)
    agent = queue.agent(1)
    assert (agent.status, agent.call_sid, agent.idle_since) == (AgentStatus.AVAILABLE, None, T0)
    queue.enqueue(1, sid(1), urgent=False, language="en", now=T0 + 30)
    assert queue.match(1, T0 + 31, GRACE).agent_id == 1
    assert queue.offer_answered(sid(0), 1, T0 + 32) is None


def test_given_a_connected_caller_then_remove_returns_none(queue):
    add_agent(queue, 1, T0)
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0)
    queue.match(1, T0 + 1, GRACE)
    queue.offer_answered(sid(0), 1, T0 + 2)
    assert queue.remove(sid(0), "hang-up", T0 + 3) is None
    assert queue.agent(1).status == AgentStatus.BUSY


def test_given_heartbeats_when_swept_then_only_callers_not_seen_lately_removed(queue):
    add_agent(queue, 1, T0)
    for n in range(4):
        queue.enqueue(1, sid(n), urgent=False, language="en", now=T0 + n)
    queue.match(1, T0 + 5, GRACE)  # sid(0) is offered to agent 1
    touched = queue.touch(sid(1), T0 + 50)
    assert (touched.state, touched.position, touched.ahead) == (CallerState.WAITING, 1, 0)
    queue.touch(sid(3), T0 + 46)
    removed = queue.sweep(T0 + 60, stale_after_seconds=15)
    assert sorted((r.call_sid, r.reason, r.wait_seconds, r.agent_id) for r in removed) == [
        (sid(0), "stale", 60.0, 1), (sid(2), "stale", 58.0, None)]
    assert [c.call_sid for c in queue.snapshot(1, T0 + 60).callers] == [sid(1), sid(3)]
    assert queue.agent(1).status == AgentStatus.AVAILABLE
    assert queue.sweep(T0 + 60, stale_after_seconds=15) == []
    assert queue.touch(sid(2), T0 + 61) is None  # the hold loop learns its caller was swept


def test_given_more_stale_callers_than_the_limit_then_a_sweep_takes_the_oldest_first(queue):
    for n in range(5):
        queue.enqueue(2, sid(n), urgent=False, language=None, now=T0 + n)
    assert [r.call_sid for r in queue.sweep(T0 + 100, 10, limit=2)] == [sid(0), sid(1)]
    assert len(queue.sweep(T0 + 100, 10, limit=2)) == 2
    assert len(queue.snapshot(2, T0 + 100).callers) == 1


def test_given_a_connected_caller_then_touch_does_not_bring_it_back_for_the_sweep(queue):
    add_agent(queue, 1, T0)
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0)
    queue.match(1, T0 + 1, GRACE)
    queue.offer_answered(sid(0), 1, T0 + 2)
    assert queue.touch(sid(0), T0 + 3).state == CallerState.CONNECTED
    assert queue.sweep(T0 + 1000, 10) == []
    assert queue.agent(1).status == AgentStatus.BUSY

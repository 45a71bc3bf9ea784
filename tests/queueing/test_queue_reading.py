"""Reading the queue: positions, a practice's snapshot, an agent; and every operation is one round trip."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
import redis

from core.redis_scripts import script
from queueing import scripts
from queueing.model import AgentStatus, CallerState
from queueing.store import CallQueue
from tests.queueing.conftest import GRACE, T0, add_agent, sid


def test_given_callers_then_position_and_count_ahead(queue):
    for n in range(4):
        queue.enqueue(1, sid(n), urgent=n == 3, language="en", now=T0 + n)
    positions = [queue.position(sid(n)) for n in range(4)]
    assert [(p.position, p.ahead) for p in positions] == [(2, 1), (3, 2), (4, 3), (1, 0)]
    assert all(p.state == CallerState.WAITING and p.agent_id is None for p in positions)
    assert queue.position(sid(9)) is None


def test_given_an_offered_caller_then_position_names_the_agent_and_others_move_up(queue):
    add_agent(queue, 4, T0)
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0 + 1)
    queue.enqueue(1, sid(1), urgent=False, language="en", now=T0 + 2)
    queue.match(1, T0 + 3, GRACE)
    offered = queue.position(sid(0))
    assert (offered.state, offered.position, offered.agent_id) == (CallerState.OFFERED, 0, 4)
    assert (queue.position(sid(1)).position, queue.position(sid(1)).ahead) == (1, 0)


def test_snapshot_lists_offered_then_waiting_callers_in_order_and_the_practices_agents(queue):
    add_agent(queue, 1, T0, languages=("es",))
    add_agent(queue, 2, T0 + 1, practices="all")
    add_agent(queue, 3, T0 + 2, status="paused")
    queue.set_agent(3, "paused", T0 + 2, reason="lunch")
    add_agent(queue, 4, T0, practices=(2,))
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0 + 10)
    queue.enqueue(1, sid(1), urgent=False, language="es", now=T0 + 11)
    queue.enqueue(1, sid(2), urgent=True, language=None, now=T0 + 12)
    queue.enqueue(2, sid(3), urgent=False, language="en", now=T0 + 13)
    queue.match(1, T0 + 14, GRACE)  # sid(2), urgent and any language, to agent 1 (idle longest)
    queue.match(1, T0 + 14, GRACE)  # sid(0) to agent 2
    snapshot = queue.snapshot(1, T0 + 15)
    assert snapshot.practice_id == 1
    assert [(c.call_sid, c.arrived_at, c.urgent, c.language, c.state, c.agent_id) for c in snapshot.callers] == [
        (sid(2), T0 + 12, True, None, CallerState.OFFERED, 1),
        (sid(0), T0 + 10, False, "en", CallerState.OFFERED, 2),
        (sid(1), T0 + 11, False, "es", CallerState.WAITING, None)]
    assert snapshot.agents_by_status() == {AgentStatus.RINGING: [1, 2], AgentStatus.PAUSED: [3]}
    assert [(a.agent_id, a.reason, a.call_sid) for a in snapshot.agents] == [(1, None, sid(2)), (2, None, sid(0)),
                                                                             (3, "lunch", None)]
    assert [c.call_sid for c in queue.snapshot(2, T0 + 15).callers] == [sid(3)]
    assert queue.snapshot(2, T0 + 15).agents_by_status() == {AgentStatus.RINGING: [2], AgentStatus.AVAILABLE: [4]}


def test_given_a_wrap_up_over_then_the_snapshot_shows_the_agent_available_from_its_end(queue):
    add_agent(queue, 1, T0)
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0)
    queue.match(1, T0 + 1, GRACE)
    queue.offer_answered(sid(0), 1, T0 + 2)
    queue.call_ended(sid(0), 1, T0 + 3, 10)
    assert queue.snapshot(1, T0 + 12.999).agents[0].status == AgentStatus.WRAP_UP
    agent = queue.snapshot(1, T0 + 20).agents[0]
    assert (agent.status, agent.idle_since, agent.wrap_up_until) == (AgentStatus.AVAILABLE, T0 + 13, None)


def test_agent_view_and_unknown_agent(queue):
    queue.set_agent(5, "available", T0, practices=[2, 1, 2], languages=["es", "en"])
    agent = queue.agent(5)
    assert (agent.agent_id, agent.status, agent.practices, agent.languages, agent.idle_since) == (
        5, AgentStatus.AVAILABLE, (1, 2), ("en", "es"), T0)
    assert queue.agent(6) is None


def test_given_an_aware_datetime_then_it_is_the_same_instant_as_seconds(queue):
    at = datetime.fromtimestamp(T0, tz=timezone.utc)
    queue.enqueue(1, sid(0), urgent=False, language="en", now=at)
    assert queue.remove(sid(0), "hang-up", T0 + 3).wait_seconds == 3.0


def test_given_two_prefixes_then_two_separate_queues(redis_client):
    first, second = CallQueue(redis_client, "{careline:q}"), CallQueue(redis_client, "{other:q}")
    first.enqueue(1, sid(0), urgent=False, language="en", now=T0)
    assert second.position(sid(0)) is None
    assert all(key.startswith("{careline:q}:") for key in redis_client.keys("*"))


def test_given_a_client_returning_bytes_then_refused(redis_url):
    with pytest.raises(ValueError):
        CallQueue(redis.Redis.from_url(redis_url))


class CountingRedis(redis.Redis):
    """A real client that records the commands it sends."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sent: list[str] = []

    def execute_command(self, *args, **options):
        self.sent.append(str(args[0]).upper())
        return super().execute_command(*args, **options)


def test_every_operation_is_one_script_call(redis_client, redis_url):
    client = CountingRedis.from_url(redis_url, decode_responses=True)
    queue = CallQueue(client)
    operations = [
        lambda: queue.set_agent(1, "available", T0, practices="all", languages=["en"]),
        lambda: queue.enqueue(1, sid(0), urgent=False, language="en", now=T0),
        lambda: queue.enqueue(1, sid(1), urgent=False, language="en", now=T0),
        lambda: queue.touch(sid(0), T0 + 1),
        lambda: queue.position(sid(0)),
        lambda: queue.on_duty(1),
        lambda: queue.snapshot(1, T0 + 1),
        lambda: queue.match(1, T0 + 1, GRACE),
        lambda: queue.offer_missed(sid(0), 1, T0 + 2),
        lambda: queue.set_agent(1, "available", T0 + 3),
        lambda: queue.match(1, T0 + 3, GRACE),
        lambda: queue.offer_answered(sid(0), 1, T0 + 4),
        lambda: queue.call_ended(sid(0), 1, T0 + 5, 10),
        lambda: queue.remove(sid(1), "hang-up", T0 + 6),
        lambda: queue.sweep(T0 + 100, 10),
    ]
    for operation in operations:  # every script is loaded after the first round
        operation()
    redis_client.flushdb()
    for operation in operations:
        client.sent.clear()
        operation()
        assert client.sent == ["EVALSHA"]
    client.close()


def test_given_redis_forgot_a_script_then_it_is_loaded_and_the_call_goes_through(queue, redis_client):
    registered = script(redis_client, scripts.ON_DUTY)
    registered.sha = "0" * 40  # a digest this Redis does not know, as after SCRIPT FLUSH or a restart
    add_agent(queue, 1, T0)
    assert queue.on_duty(1) == 1
    assert registered.sha != "0" * 40


def test_agents_reads_several_agents_and_leaves_out_unknown_ones(queue):
    queue.set_agent(5, "available", T0, practices=[1], languages=["en"])
    queue.set_agent(7, "paused", T0, practices="all", reason="lunch")
    add_agent(queue, 8, T0)
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0 + 1)
    queue.offer_answered(queue.match(1, T0 + 2, GRACE).call_sid, 5, T0 + 3)  # 5 idle longest (T0, id order)
    queue.call_ended(sid(0), 5, T0 + 4, 10)
    views = queue.agents([5, 6, 7, 8], now=T0 + 20)
    assert sorted(views) == [5, 7, 8]
    assert (views[5].status, views[5].idle_since) == (AgentStatus.AVAILABLE, T0 + 14)  # wrap-up over by now
    assert (views[7].status, views[7].reason, views[7].practices) == (AgentStatus.PAUSED, "lunch", "all")
    assert queue.agents([5], now=T0 + 5)[5].wrap_up_until == T0 + 14
    assert queue.agents([]) == {}

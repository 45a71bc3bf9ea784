"""Dispatch: the first caller with an eligible agent goes to the longest-idle one; offers are answered or missed."""
from __future__ import annotations

import pytest

from queueing.model import AgentStatus, CallerState
from tests.queueing.conftest import GRACE, T0, add_agent, sid


def test_given_agents_when_matched_then_the_longest_idle_gets_the_head_caller(queue):
    add_agent(queue, 1, T0 + 20)
    add_agent(queue, 2, T0 + 10)
    add_agent(queue, 3, T0 + 30)
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0 + 40)
    match = queue.match(1, T0 + 41, GRACE)
    assert (match.call_sid, match.agent_id, match.practice_id, match.wait_seconds) == (sid(0), 2, 1, 1.0)


def test_given_a_match_then_caller_offered_and_agent_ringing(queue):
    add_agent(queue, 1, T0)
    queue.enqueue(1, sid(0), urgent=True, language=None, now=T0 + 1)
    match = queue.match(1, T0 + 2, GRACE)
    assert (match.urgent, match.language) == (True, None)
    position = queue.position(sid(0))
    assert (position.state, position.agent_id, position.position) == (CallerState.OFFERED, 1, 0)
    agent = queue.agent(1)
    assert (agent.status, agent.call_sid) == (AgentStatus.RINGING, sid(0))
    assert queue.match(1, T0 + 3, GRACE) is None  # one caller at a time: the ringing agent is not offered more


def test_given_nobody_to_match_then_none(queue):
    assert queue.match(1, T0, GRACE) is None  # no caller, no agent
    add_agent(queue, 1, T0)
    assert queue.match(1, T0, GRACE) is None  # an agent, no caller
    queue.enqueue(2, sid(0), urgent=False, language="en", now=T0)
    assert queue.match(2, T0, GRACE) is None  # a caller, no agent of that practice
    assert queue.agent(1).status == AgentStatus.AVAILABLE


def test_given_an_agent_for_all_practices_then_matched_for_any_practice(queue):
    add_agent(queue, 1, T0 + 5, practices=(1,))
    add_agent(queue, 9, T0, practices="all")
    for practice in (1, 2, 3):
        queue.enqueue(practice, sid(practice), urgent=False, language="en", now=T0 + 10)
    assert queue.match(3, T0 + 11, GRACE).agent_id == 9
    assert queue.match(2, T0 + 11, GRACE) is None  # agent 1 answers only for practice 1
    assert queue.match(1, T0 + 11, GRACE).agent_id == 1


def test_given_a_caller_who_chose_a_language_then_an_agent_speaking_it_first(queue):
    add_agent(queue, 1, T0, languages=("en",))  # idle longest, but does not speak Spanish
    add_agent(queue, 2, T0 + 5, languages=("en", "es"))
    queue.enqueue(1, sid(0), urgent=False, language="es", now=T0 + 10)
    assert queue.match(1, T0 + 11, GRACE).agent_id == 2


def test_given_no_agent_speaking_it_then_any_agent_once_the_grace_is_over(queue):
    add_agent(queue, 1, T0, languages=("en",))
    queue.enqueue(1, sid(0), urgent=False, language="es", now=T0 + 10)
    assert queue.match(1, T0 + 10 + GRACE - 0.001, GRACE) is None
    match = queue.match(1, T0 + 10 + GRACE, GRACE)
    assert (match.call_sid, match.agent_id, match.wait_seconds) == (sid(0), 1, GRACE)


def test_given_a_speaker_free_after_the_grace_then_the_speaker_still_first(queue):
    add_agent(queue, 1, T0, languages=("en",))
    add_agent(queue, 2, T0 + 5, languages=("es",))
    queue.enqueue(1, sid(0), urgent=False, language="es", now=T0 + 10)
    assert queue.match(1, T0 + 100, GRACE).agent_id == 2


def test_given_a_caller_waiting_for_a_speaker_then_callers_behind_it_are_not_blocked(queue):
    add_agent(queue, 1, T0, languages=("en",))
    queue.enqueue(1, sid(0), urgent=True, language="es", now=T0 + 10)
    queue.enqueue(1, sid(1), urgent=False, language="en", now=T0 + 11)
    queue.enqueue(1, sid(2), urgent=False, language=None, now=T0 + 12)
    assert queue.match(1, T0 + 13, GRACE).call_sid == sid(1)
    assert queue.position(sid(0)).position == 1  # still at the head, waiting for a Spanish speaker


def test_given_an_urgent_caller_within_the_grace_then_an_earlier_caller_past_it_is_not_hidden(queue):
    """Both chose Spanish; only the non-urgent one, who came first, has waited the grace out."""
    add_agent(queue, 1, T0, languages=("en",))
    queue.enqueue(1, sid(0), urgent=False, language="es", now=T0)
    queue.enqueue(1, sid(1), urgent=True, language="es", now=T0 + GRACE)
    assert queue.match(1, T0 + GRACE + 1, GRACE).call_sid == sid(0)


def test_given_callers_of_several_languages_then_queue_order_decides(queue):
    add_agent(queue, 1, T0, languages=("en", "es"))
    queue.enqueue(1, sid(0), urgent=False, language="es", now=T0 + 2)
    queue.enqueue(1, sid(1), urgent=False, language="en", now=T0 + 1)
    queue.enqueue(1, sid(2), urgent=False, language=None, now=T0 + 3)
    assert queue.match(1, T0 + 4, GRACE).call_sid == sid(1)


def test_given_a_missed_offer_then_caller_back_at_its_place_and_agent_paused(queue):
    add_agent(queue, 1, T0)
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0 + 1)
    queue.enqueue(1, sid(1), urgent=False, language="en", now=T0 + 2)
    match = queue.match(1, T0 + 3, GRACE)
    queue.enqueue(1, sid(2), urgent=True, language="en", now=T0 + 4)  # arrived during the offer, urgent
    assert queue.offer_missed(match.call_sid, match.agent_id, T0 + 20) is True
    snapshot = queue.snapshot(1, T0 + 20)
    assert [(c.call_sid, c.arrived_at, c.state) for c in snapshot.callers] == [
        (sid(2), T0 + 4, CallerState.WAITING), (sid(0), T0 + 1, CallerState.WAITING),
        (sid(1), T0 + 2, CallerState.WAITING)]
    agent = queue.agent(1)
    assert (agent.status, agent.reason, agent.call_sid) == (AgentStatus.PAUSED, "missed", None)
    assert queue.offer_missed(match.call_sid, match.agent_id, T0 + 21) is False  # already handled
    assert queue.match(1, T0 + 21, GRACE) is None  # a paused agent is offered nobody


def test_given_an_answered_offer_then_caller_connected_and_agent_busy(queue):
    add_agent(queue, 1, T0)
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0 + 1)
    match = queue.match(1, T0 + 2, GRACE)
    connected = queue.offer_answered(sid(0), 1, T0 + 6)
    assert (connected.call_sid, connected.agent_id, connected.practice_id, connected.wait_seconds,
            connected.repeated) == (sid(0), 1, 1, 5.0, False)
    assert queue.position(match.call_sid).state == CallerState.CONNECTED
    assert queue.snapshot(1, T0 + 6).callers == ()
    agent = queue.agent(1)
    assert (agent.status, agent.call_sid) == (AgentStatus.BUSY, sid(0))
    assert queue.offer_answered(sid(0), 1, T0 + 7).repeated is True  # a retried webhook


def test_given_an_offer_that_no_longer_stands_then_answer_refused(queue):
    add_agent(queue, 1, T0)
    add_agent(queue, 2, T0 + 1)
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0 + 2)
    queue.match(1, T0 + 3, GRACE)
    assert queue.offer_answered(sid(0), 2, T0 + 4) is None  # offered to agent 1, not 2
    queue.offer_missed(sid(0), 1, T0 + 5)
    assert queue.offer_answered(sid(0), 1, T0 + 6) is None  # the offer was missed already
    assert queue.offer_answered(sid(9), 1, T0 + 6) is None  # an unknown caller
    assert queue.position(sid(0)).state == CallerState.WAITING
    assert queue.agent(1).status == AgentStatus.PAUSED


@pytest.mark.parametrize("practices", [(1,), "all"])
def test_given_a_call_ended_then_wrap_up_then_available(queue, practices):
    add_agent(queue, 1, T0, practices=practices)
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0 + 1)
    queue.match(1, T0 + 2, GRACE)
    queue.offer_answered(sid(0), 1, T0 + 3)
    assert queue.call_ended(sid(0), 1, T0 + 100, wrap_up_seconds=30) is True
    agent = queue.agent(1)
    assert (agent.status, agent.wrap_up_until, agent.call_sid) == (AgentStatus.WRAP_UP, T0 + 130, None)
    assert queue.on_duty(1) == 1
    queue.enqueue(1, sid(1), urgent=False, language="en", now=T0 + 101)
    assert queue.match(1, T0 + 129.999, GRACE) is None
    assert queue.match(1, T0 + 130, GRACE).agent_id == 1


def test_given_a_call_ended_without_wrap_up_then_available_at_once(queue):
    add_agent(queue, 1, T0)
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0 + 1)
    queue.match(1, T0 + 2, GRACE)
    queue.offer_answered(sid(0), 1, T0 + 3)
    queue.call_ended(sid(0), 1, T0 + 50, wrap_up_seconds=0)
    agent = queue.agent(1)
    assert (agent.status, agent.idle_since) == (AgentStatus.AVAILABLE, T0 + 50)


def test_given_wrap_up_over_then_idle_counts_from_its_end(queue):
    """Agent 2's wrap-up ended at T0+50, before agent 1 became available at T0+60: agent 2 is idle longest,
    though nothing moved it out of wrap-up before T0+60."""
    add_agent(queue, 2, T0)
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0 + 1)
    queue.match(1, T0 + 2, GRACE)
    queue.offer_answered(sid(0), 2, T0 + 3)
    queue.call_ended(sid(0), 2, T0 + 20, wrap_up_seconds=30)
    add_agent(queue, 1, T0 + 60)
    queue.enqueue(1, sid(1), urgent=False, language="en", now=T0 + 70)
    assert queue.match(1, T0 + 100, GRACE).agent_id == 2


def test_given_an_agent_not_on_that_call_then_call_ended_changes_nothing(queue):
    add_agent(queue, 1, T0)
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0 + 1)
    queue.match(1, T0 + 2, GRACE)
    assert queue.call_ended(sid(0), 1, T0 + 3, 10) is False  # ringing, not busy
    queue.offer_answered(sid(0), 1, T0 + 3)
    assert queue.call_ended(sid(5), 1, T0 + 4, 10) is False  # busy with another call
    assert queue.call_ended(sid(0), 1, T0 + 5, 10) is True
    assert queue.call_ended(sid(0), 1, T0 + 6, 10) is False  # a retried status callback
    assert queue.agent(1).wrap_up_until == T0 + 15

"""Agents' state: offline at first, available, paused; going away while ringing gives the caller back."""
from __future__ import annotations

import pytest

from queueing.model import AgentStatus, CallerState
from tests.queueing.conftest import GRACE, T0, add_agent, sid


def ringing(queue, agent_id: int = 1, caller: int = 0):
    """Agent `agent_id` available since T0, ringing for caller `caller` (who came at T0+1 after one other)."""
    add_agent(queue, agent_id, T0)
    queue.enqueue(1, sid(caller), urgent=False, language="en", now=T0 + 1)
    queue.enqueue(1, sid(caller + 1), urgent=False, language="en", now=T0 + 2)
    return queue.match(1, T0 + 3, GRACE)


def test_given_a_new_agent_then_offline_until_set_available(queue):
    change = queue.set_agent(1, "offline", T0, practices=[1], languages=["en"])
    assert change.status == AgentStatus.OFFLINE
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0)
    assert queue.match(1, T0 + 1, GRACE) is None
    queue.set_agent(1, "available", T0 + 2)
    assert queue.match(1, T0 + 3, GRACE).agent_id == 1


@pytest.mark.parametrize("status", ["offline", "paused"])
def test_given_a_ringing_agent_when_it_goes_away_then_the_caller_goes_back_to_the_head(queue, status):
    match = ringing(queue)
    change = queue.set_agent(1, status, T0 + 4, reason="break")
    assert (change.status, change.released_call_sid, change.requeued) == (status, match.call_sid, True)
    assert [c.call_sid for c in queue.snapshot(1, T0 + 4).callers] == [sid(0), sid(1)]
    agent = queue.agent(1)
    assert (agent.status, agent.reason, agent.call_sid) == (status, "break", None)
    assert queue.offer_answered(match.call_sid, 1, T0 + 5) is None


def test_given_a_ringing_agent_when_set_available_then_the_offer_stands(queue):
    match = ringing(queue)
    change = queue.set_agent(1, "available", T0 + 4)
    assert (change.status, change.released_call_sid) == (AgentStatus.RINGING, None)
    assert queue.offer_answered(match.call_sid, 1, T0 + 5) is not None


def test_given_a_busy_agent_when_it_goes_offline_then_it_lets_go_and_the_end_changes_nothing(queue):
    match = ringing(queue)
    queue.offer_answered(match.call_sid, 1, T0 + 4)
    change = queue.set_agent(1, "offline", T0 + 5)
    assert (change.status, change.released_call_sid, change.requeued) == (AgentStatus.OFFLINE, sid(0), False)
    assert queue.position(sid(0)).state == CallerState.CONNECTED
    assert queue.call_ended(sid(0), 1, T0 + 6, 10) is False
    assert queue.agent(1).status == AgentStatus.OFFLINE


def test_given_wrap_up_when_set_available_then_available_at_once(queue):
    match = ringing(queue)
    queue.offer_answered(match.call_sid, 1, T0 + 4)
    queue.call_ended(match.call_sid, 1, T0 + 10, 60)
    queue.set_agent(1, "available", T0 + 20)
    agent = queue.agent(1)
    assert (agent.status, agent.idle_since) == (AgentStatus.AVAILABLE, T0 + 20)
    assert queue.match(1, T0 + 21, GRACE).agent_id == 1


def test_given_a_wrap_up_over_when_set_available_then_idle_still_counts_from_its_end(queue):
    match = ringing(queue)
    queue.offer_answered(match.call_sid, 1, T0 + 4)
    queue.call_ended(match.call_sid, 1, T0 + 10, 30)
    add_agent(queue, 2, T0 + 45)
    assert queue.agent(1).status == AgentStatus.WRAP_UP  # as stored
    seen = queue.agent(1, now=T0 + 50)
    assert (seen.status, seen.idle_since, seen.wrap_up_until) == (AgentStatus.AVAILABLE, T0 + 40, None)
    assert queue.set_agent(1, "available", T0 + 50).status == AgentStatus.AVAILABLE
    assert queue.agent(1).idle_since == T0 + 40
    assert queue.match(1, T0 + 51, GRACE).agent_id == 1


def test_given_a_paused_agent_when_available_again_then_idle_counts_from_then(queue):
    add_agent(queue, 1, T0)
    add_agent(queue, 2, T0 + 10)
    queue.set_agent(1, "paused", T0 + 20, reason="lunch")
    queue.set_agent(1, "available", T0 + 30)
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0 + 40)
    assert queue.match(1, T0 + 41, GRACE).agent_id == 2


def test_given_a_profile_change_then_the_agent_answers_for_its_new_practices_and_languages(queue):
    add_agent(queue, 1, T0, practices=(1,), languages=("en",))
    queue.set_agent(1, "available", T0 + 1, practices=[2], languages=["es"])
    queue.enqueue(1, sid(0), urgent=False, language=None, now=T0 + 2)
    queue.enqueue(2, sid(1), urgent=False, language="es", now=T0 + 2)
    assert queue.match(1, T0 + 3, GRACE) is None
    assert queue.on_duty(1) == 0
    match = queue.match(2, T0 + 3, GRACE)  # within the grace: it speaks Spanish now
    assert (match.call_sid, match.agent_id) == (sid(1), 1)


def test_given_only_languages_when_updated_then_practices_kept(queue):
    add_agent(queue, 1, T0, practices=(3,), languages=("en",))
    queue.set_agent(1, "paused", T0 + 1, languages=["es", "en"])
    agent = queue.agent(1)
    assert (agent.practices, agent.languages, agent.status) == ((3,), ("en", "es"), AgentStatus.PAUSED)


@pytest.mark.parametrize("status", ["ringing", "busy", "wrap-up", "lunch"])
def test_given_a_status_only_calls_set_then_refused(queue, status):
    with pytest.raises(ValueError):
        queue.set_agent(1, status, T0)


@pytest.mark.parametrize("practices, languages", [("1", ["en"]), ([1], "en"), ([1], [""]), ([1], ["e,n"])])
def test_given_a_malformed_profile_then_refused(queue, practices, languages):
    with pytest.raises(ValueError):
        queue.set_agent(1, "available", T0, practices=practices, languages=languages)


def test_on_duty_counts_available_ringing_busy_and_wrap_up_agents_of_the_practice(queue):
    add_agent(queue, 1, T0)  # will ring
    add_agent(queue, 2, T0 + 1)  # will be busy, then in wrap-up
    add_agent(queue, 3, T0 + 2, practices="all")  # available
    add_agent(queue, 4, T0, status="paused")
    add_agent(queue, 5, T0, status="offline")
    add_agent(queue, 6, T0, practices=(2,))  # another practice
    assert queue.on_duty(1) == 3
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0 + 5)
    queue.enqueue(1, sid(1), urgent=False, language="en", now=T0 + 6)
    queue.match(1, T0 + 7, GRACE)
    queue.match(1, T0 + 7, GRACE)
    queue.offer_answered(sid(1), 2, T0 + 8)
    queue.call_ended(sid(1), 2, T0 + 9, 60)
    assert [queue.agent(n).status for n in (1, 2, 3)] == ["ringing", "wrap-up", "available"]
    assert queue.on_duty(1) == 3
    assert queue.on_duty(2) == 2  # agent 6 and the all-practices agent 3
    queue.set_agent(1, "offline", T0 + 10)
    queue.set_agent(3, "paused", T0 + 10)
    assert queue.on_duty(1) == 1
    assert queue.on_duty(7) == 0


def change_of(change) -> tuple:
    return (change.previous_status, change.previous_reason, change.status, change.reason, change.changed)


def test_given_set_agent_then_it_reports_the_state_before_and_whether_it_changed(queue):
    """The state before is read in the same script, so the history records real changes only."""
    # A new agent was offline already: every agent starts so.
    assert change_of(queue.set_agent(1, "offline", T0, practices=[1])) == ("offline", None, "offline", None, False)
    assert queue.agent(1).practices == (1,)  # registered all the same
    assert change_of(queue.set_agent(1, "offline", T0 + 1, reason="home")) == (
        "offline", None, "offline", "home", True)
    assert change_of(queue.set_agent(1, "offline", T0 + 1)) == ("offline", "home", "offline", None, True)
    assert change_of(queue.set_agent(1, "paused", T0 + 2, reason="lunch")) == (
        "offline", None, "paused", "lunch", True)
    assert change_of(queue.set_agent(1, "paused", T0 + 3, reason="lunch")) == (
        "paused", "lunch", "paused", "lunch", False)
    assert change_of(queue.set_agent(1, "paused", T0 + 4, reason="training")) == (
        "paused", "lunch", "paused", "training", True)
    assert change_of(queue.set_agent(1, "available", T0 + 5, reason="ignored")) == (
        "paused", "training", "available", None, True)
    assert change_of(queue.set_agent(1, "available", T0 + 6)) == ("available", None, "available", None, False)


@pytest.mark.parametrize("then", ["ringing", "busy"])
def test_given_a_ringing_or_busy_agent_when_set_available_then_nothing_changed(queue, then):
    match = ringing(queue)
    if then == "busy":
        queue.offer_answered(match.call_sid, 1, T0 + 4)
    change = queue.set_agent(1, "available", T0 + 5)
    assert change_of(change) == (then, None, then, None, False)
    assert queue.agent(1).call_sid == match.call_sid


def test_given_wrap_up_when_set_available_then_a_change_only_while_it_runs(queue):
    match = ringing(queue)
    queue.offer_answered(match.call_sid, 1, T0 + 4)
    queue.call_ended(match.call_sid, 1, T0 + 10, 30)  # wrap-up until T0 + 40
    assert change_of(queue.set_agent(1, "available", T0 + 20)) == ("wrap-up", None, "available", None, True)
    second = queue.match(1, T0 + 22, GRACE).call_sid  # the other caller of `ringing`
    queue.offer_answered(second, 1, T0 + 23)
    queue.call_ended(second, 1, T0 + 30, 30)  # wrap-up until T0 + 60
    # over by then: available already, as readers show it
    assert change_of(queue.set_agent(1, "available", T0 + 61)) == ("available", None, "available", None, False)

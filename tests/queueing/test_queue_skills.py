"""Skills: a caller who asked for a skill goes to the longest-idle agent with it, to anyone after the fallback.

Skill and language together: an agent with both at once; after the language grace, the skill in any language;
after the skill fallback, the language without the skill; after both, anyone (queueing.scripts).
"""
from __future__ import annotations

import pytest

from queueing.model import AgentStatus, CallerState
from tests.queueing.conftest import FALLBACK, GRACE, T0, add_agent, sid


def match(queue, at: float, practice: int = 1):
    return queue.match(practice, at, GRACE, FALLBACK)


def test_given_a_refill_caller_then_the_agent_with_the_skill_before_one_idle_longer(queue):
    add_agent(queue, 1, T0)  # idle longest, no skill
    add_agent(queue, 2, T0 + 5, skills=("refills",))
    queue.enqueue(1, sid(0), urgent=False, language=None, now=T0 + 10, skill="refills")
    found = match(queue, T0 + 11)
    assert (found.call_sid, found.agent_id, found.skill) == (sid(0), 2, "refills")


def test_given_no_agent_with_the_skill_then_anyone_after_the_fallback_and_not_before(queue):
    add_agent(queue, 1, T0, skills=("billing",))
    queue.enqueue(1, sid(0), urgent=False, language=None, now=T0 + 10, skill="refills")
    assert match(queue, T0 + 10 + FALLBACK - 0.001) is None
    assert queue.position(sid(0)).state == CallerState.WAITING
    found = match(queue, T0 + 10 + FALLBACK)
    assert (found.agent_id, found.skill, found.wait_seconds) == (1, "refills", FALLBACK)


def test_given_the_skilled_agent_busy_then_the_caller_waits_for_it_within_the_fallback(queue):
    add_agent(queue, 1, T0)
    add_agent(queue, 2, T0 + 5, skills=("refills",))
    queue.enqueue(1, sid(0), urgent=False, language=None, now=T0 + 10, skill="refills")
    queue.enqueue(1, sid(1), urgent=False, language=None, now=T0 + 11, skill="refills")
    assert match(queue, T0 + 12).agent_id == 2
    assert match(queue, T0 + 13) is None  # agent 1 has no skill: sid(1) waits for the fallback
    assert match(queue, T0 + 11 + FALLBACK).call_sid == sid(1)


def test_given_a_caller_without_a_skill_then_any_agent_as_before(queue):
    add_agent(queue, 1, T0 + 5, skills=("refills",))
    add_agent(queue, 2, T0 + 1)
    queue.enqueue(1, sid(0), urgent=False, language=None, now=T0 + 10)
    assert match(queue, T0 + 11).agent_id == 2  # the longest idle, skills or not
    queue.enqueue(1, sid(1), urgent=False, language=None, now=T0 + 12)
    assert match(queue, T0 + 13).agent_id == 1  # an agent with skills takes callers without one too


def test_given_callers_with_and_without_skills_then_the_earlier_caller_takes_an_agent_it_may_have(queue):
    queue.enqueue(1, sid(0), urgent=False, language=None, now=T0, skill="refills")
    queue.enqueue(1, sid(1), urgent=False, language=None, now=T0 + 1)
    queue.enqueue(1, sid(2), urgent=False, language=None, now=T0 + 2, skill="billing")
    add_agent(queue, 1, T0 + 3)  # no skill: the refill caller (first) may not have it yet
    found = match(queue, T0 + 4)
    assert (found.call_sid, found.agent_id) == (sid(1), 1)
    add_agent(queue, 2, T0 + 5, skills=("billing", "refills"))
    assert match(queue, T0 + 6).call_sid == sid(0)  # first in queue order among those it may take


def test_given_urgent_callers_then_urgent_first_with_skills_too(queue):
    queue.enqueue(1, sid(0), urgent=False, language=None, now=T0, skill="refills")
    queue.enqueue(1, sid(1), urgent=True, language=None, now=T0 + 1, skill="nurse")
    queue.enqueue(1, sid(2), urgent=True, language=None, now=T0 + 2)
    add_agent(queue, 1, T0 + 3, skills=("refills", "nurse"))
    assert match(queue, T0 + 4).call_sid == sid(1)
    add_agent(queue, 2, T0 + 5, skills=("refills",))
    assert match(queue, T0 + 6).call_sid == sid(2)  # urgent, no skill: before the earlier refill caller


def test_given_an_urgent_skill_caller_within_the_fallback_then_it_does_not_hide_a_later_one_past_it(queue):
    """An urgent head waiting for its skill must not keep an agent from a caller of its group past the fallback."""
    queue.enqueue(1, sid(0), urgent=False, language=None, now=T0, skill="refills")
    queue.enqueue(1, sid(1), urgent=True, language=None, now=T0 + FALLBACK, skill="refills")
    add_agent(queue, 1, T0)
    found = match(queue, T0 + FALLBACK + 1)
    assert (found.call_sid, found.agent_id) == (sid(0), 1)


def test_given_a_spanish_refill_caller_then_skill_and_language_first_then_skill_then_language_then_anyone(queue):
    add_agent(queue, 1, T0, languages=("es",))  # Spanish, no skill: idle longest
    add_agent(queue, 2, T0 + 1, languages=("en",), skills=("refills",))  # the skill in English
    add_agent(queue, 3, T0 + 2, languages=("en", "es"), skills=("refills",))  # both
    queue.enqueue(1, sid(0), urgent=False, language="es", now=T0 + 10, skill="refills")
    assert match(queue, T0 + 11).agent_id == 3

    queue.enqueue(1, sid(1), urgent=False, language="es", now=T0 + 20, skill="refills")
    assert match(queue, T0 + 20 + GRACE - 0.001) is None  # within the grace: neither half of the rule gives
    assert match(queue, T0 + 20 + GRACE).agent_id == 2  # the skill is kept, the language gives way first

    queue.enqueue(1, sid(2), urgent=False, language="es", now=T0 + 100, skill="refills")
    assert match(queue, T0 + 100 + FALLBACK - 0.001) is None
    assert match(queue, T0 + 100 + FALLBACK).agent_id == 1  # after the fallback: the language, without the skill


def test_given_a_spanish_refill_caller_and_only_an_english_agent_then_anyone_once_both_times_are_over(queue):
    add_agent(queue, 1, T0, languages=("en",))
    queue.enqueue(1, sid(0), urgent=False, language="es", now=T0, skill="refills")
    assert match(queue, T0 + max(GRACE, FALLBACK) - 0.001) is None
    assert match(queue, T0 + max(GRACE, FALLBACK)).agent_id == 1


def test_given_the_practices_fallback_then_match_uses_it(queue):
    add_agent(queue, 1, T0)
    queue.enqueue(1, sid(0), urgent=False, language=None, now=T0, skill="refills")
    assert queue.match(1, T0 + 5, GRACE, 10) is None
    assert queue.match(1, T0 + 10, GRACE, 10).agent_id == 1


def test_given_an_agent_for_all_practices_with_the_skill_then_it_is_found_beside_the_practices_own(queue):
    add_agent(queue, 1, T0, practices=(1,))
    add_agent(queue, 9, T0 + 5, practices="all", skills=("refills",))
    queue.enqueue(1, sid(0), urgent=False, language=None, now=T0 + 10, skill="refills")
    assert match(queue, T0 + 11).agent_id == 9


def test_given_an_agents_skills_change_then_its_sets_follow(queue):
    add_agent(queue, 1, T0, skills=("refills",))
    queue.set_agent(1, "available", T0 + 1, skills=("billing",))
    assert queue.agent(1).skills == ("billing",)
    queue.enqueue(1, sid(0), urgent=False, language=None, now=T0 + 2, skill="refills")
    assert match(queue, T0 + 3) is None
    queue.set_agent(1, "available", T0 + 4, skills=("billing", "refills"))
    assert match(queue, T0 + 5).agent_id == 1
    assert queue.agent(1).status == AgentStatus.RINGING


def test_given_a_missed_offer_then_the_caller_goes_back_with_its_skill(queue):
    add_agent(queue, 1, T0, skills=("refills",))
    add_agent(queue, 2, T0 - 10)
    queue.enqueue(1, sid(0), urgent=False, language=None, now=T0 + 1, skill="refills")
    assert match(queue, T0 + 2).agent_id == 1
    assert queue.offer_missed(sid(0), 1, T0 + 3)
    assert match(queue, T0 + 4) is None  # agent 2 has no skill, and the fallback is not over
    snapshot = queue.snapshot(1, T0 + 4)
    assert [(c.call_sid, c.skill) for c in snapshot.callers] == [(sid(0), "refills")]


def test_given_a_skill_caller_who_hangs_up_then_removed_names_its_skill(queue):
    queue.enqueue(1, sid(0), urgent=False, language="en", now=T0, skill="refills")
    removed = queue.call_gone(sid(0), T0 + 5, 0)
    assert (removed.skill, removed.language) == ("refills", "en")
    assert queue.redis.smembers("{careline:q}:langs:1") == set()


@pytest.mark.parametrize("skill", ["re+fills", "a,b", "x:y", "has space", "x" * 65])
def test_given_a_skill_that_cannot_be_a_key_then_refused(queue, skill):
    with pytest.raises(ValueError):
        queue.enqueue(1, sid(0), urgent=False, language=None, now=T0, skill=skill)
    with pytest.raises(ValueError):
        queue.set_agent(1, "available", T0, skills=[skill])

"""One owner per offer (CallQueue.claim_delivery): the REST redirect and the caller's own TwiML never both
deliver it, and the claim is one atomic step even when both paths ask at the same moment."""
from __future__ import annotations

import threading

import pytest
import redis

from queueing.store import CallQueue, DELIVERY_REST, DELIVERY_WAIT_LOOP, DELIVERY_WEBHOOK, REST_ARRIVED
from tests.queueing.conftest import GRACE, T0, add_agent, sid


def offered(queue: CallQueue, n: int = 0, agent_id: int = 1):
    add_agent(queue, agent_id, T0)
    queue.enqueue(1, sid(n), urgent=False, language=None, now=T0 + 1)
    match = queue.match(1, T0 + 2, GRACE)
    assert (match.call_sid, match.agent_id) == (sid(n), agent_id)
    return match


def test_given_a_redirect_claimed_then_no_hold_turn_may_dial_until_it_fails(queue):
    offered(queue)
    assert queue.claim_delivery(sid(0), 1, DELIVERY_REST).claimed
    refused = queue.claim_delivery(sid(0), 1, DELIVERY_WAIT_LOOP)
    assert (refused.claimed, refused.owner_before) == (False, "rest")
    assert not queue.claim_delivery(sid(0), 1, DELIVERY_REST).claimed  # a second dispatch: no second redirect
    assert queue.release_delivery(sid(0), 1)  # Twilio refused the redirect
    assert queue.claim_delivery(sid(0), 1, DELIVERY_WAIT_LOOP).claimed
    assert not queue.claim_delivery(sid(0), 1, DELIVERY_REST).claimed  # nor a redirect after the turn dialled


def test_given_a_hold_turn_dialled_then_no_redirect_and_a_retried_turn_gets_it_again(queue):
    offered(queue)
    assert queue.claim_delivery(sid(0), 1, DELIVERY_WAIT_LOOP).claimed
    assert queue.claim_delivery(sid(0), 1, DELIVERY_WAIT_LOOP).claimed  # Twilio retried the same webhook
    refused = queue.claim_delivery(sid(0), 1, DELIVERY_REST)
    assert (refused.claimed, refused.owner_before) == (False, "wait-loop")
    assert not queue.release_delivery(sid(0), 1)  # only a redirect's claim is released


def test_given_the_redirect_arrives_then_it_delivers_and_the_answer_records_the_path(queue):
    offered(queue)
    assert queue.claim_delivery(sid(0), 1, DELIVERY_REST).claimed
    assert queue.claim_delivery(sid(0), 1, REST_ARRIVED).claimed
    assert queue.offer_answered(sid(0), 1, T0 + 5).delivered_by == "rest"


def test_given_a_missed_offer_then_the_next_offer_has_no_owner_yet(queue):
    offered(queue)
    assert queue.claim_delivery(sid(0), 1, DELIVERY_WEBHOOK).claimed
    assert queue.offer_missed(sid(0), 1, T0 + 20)
    add_agent(queue, 2, T0)
    assert queue.match(1, T0 + 21, GRACE).agent_id == 2
    assert queue.claim_delivery(sid(0), 2, DELIVERY_REST).claimed
    assert queue.claim_delivery(sid(0), 1, DELIVERY_WAIT_LOOP) is None  # the old offer no longer stands


def test_given_an_unknown_path_then_refused(queue):
    offered(queue)
    with pytest.raises(ValueError):
        queue.claim_delivery(sid(0), 1, "both")


def test_given_both_paths_at_the_same_moment_many_times_then_exactly_one_owns_each_offer(queue, redis_url):
    """Two threads, each with its own connection, claim every offer at once behind a barrier."""
    rounds = 300
    barrier = threading.Barrier(3)  # the two claimers and the thread that makes each offer
    winners: dict[str, list[int]] = {DELIVERY_REST: [], DELIVERY_WAIT_LOOP: []}

    def claimer(path: str) -> None:
        own = CallQueue(redis.Redis.from_url(redis_url, decode_responses=True))
        for n in range(rounds):
            barrier.wait()
            claim = own.claim_delivery(sid(n), 1, path)
            if claim is not None and claim.claimed:
                winners[path].append(n)
            barrier.wait()

    def offers() -> None:
        for n in range(rounds):
            offered(queue, n)
            barrier.wait()  # both claim now
            barrier.wait()
            queue.remove(sid(n), "test", T0 + 3)
            queue.set_agent(1, "offline", T0 + 3)

    threads = [threading.Thread(target=claimer, args=(path,)) for path in winners]
    for thread in threads:
        thread.start()
    offers()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(winners[DELIVERY_REST] + winners[DELIVERY_WAIT_LOOP]) == list(range(rounds))
    assert winners[DELIVERY_REST] and winners[DELIVERY_WAIT_LOOP]  # both orders happened

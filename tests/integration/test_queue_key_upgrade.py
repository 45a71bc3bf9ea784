"""A deploy from the untagged queue keys ("careline:q:…") to the hash-tagged ones ("{careline:q}:…").

The release step renames them (`careline queue upgrade-keys`), so agents keep their status and callers their
places in line across the deploy; run twice, it renames nothing more.
"""
from __future__ import annotations

from click.testing import CliRunner

from queueing.model import AgentStatus
from queueing.store import UNTAGGED_PREFIX, CallQueue
from queueing.waits import HANDLE_TIMES_KEY

T0 = 1_800_000_000.0


def upgrade_keys():
    from careline.cli import main

    return CliRunner().invoke(main, ["queue", "upgrade-keys"])


def test_given_a_queue_in_the_untagged_layout_when_upgraded_then_agents_and_callers_are_kept(cli_env, redis_client):
    before = CallQueue(redis_client)
    before.prefix = UNTAGGED_PREFIX  # the queue as the release before wrote it
    before.set_agent(1, "available", T0, practices=(1,), languages=("en",))
    before.set_agent(2, "paused", T0, reason="lunch", practices="all", languages=("en", "es"))
    before.enqueue(1, "CA" + "1" * 32, urgent=False, language="en", now=T0 + 1)
    before.enqueue(1, "CA" + "2" * 32, urgent=True, language="es", now=T0 + 2)
    before.enqueue(2, "CA" + "3" * 32, urgent=False, language=None, now=T0 + 3)
    handle_times = HANDLE_TIMES_KEY.format(practice=1)
    redis_client.rpush(handle_times, "42")  # queueing.waits' own key under the old prefix: not the scripts'
    old_keys = {key for key in redis_client.scan_iter(f"{UNTAGGED_PREFIX}:*") if key != handle_times}

    result = upgrade_keys()

    assert result.exit_code == 0, result.output
    assert result.output == f"{len(old_keys)} queue keys renamed\n"
    assert set(redis_client.scan_iter(f"{UNTAGGED_PREFIX}:*")) == {handle_times}
    after = CallQueue(redis_client)
    assert after.agent(1).status == AgentStatus.AVAILABLE
    assert (after.agent(2).status, after.agent(2).reason) == (AgentStatus.PAUSED, "lunch")
    assert [c.call_sid for c in after.snapshot(1, T0 + 4).callers] == ["CA" + "2" * 32, "CA" + "1" * 32]
    assert after.position("CA" + "3" * 32).position == 1
    match = after.match(1, T0 + 60, language_grace_seconds=30)  # the urgent caller, past its language's grace
    assert (match.call_sid, match.agent_id) == ("CA" + "2" * 32, 1)

    again = upgrade_keys()
    assert again.output == "0 queue keys renamed\n"
    assert after.agent(1).status == AgentStatus.RINGING

"""One callback call at a time per task: the claim a "call now" request takes before Twilio rings the agent.

Two requests for one task (a double click, two desks) would each pass the task's checks and each ask Twilio
for a call: the agent's phone would ring twice and the patient be dialled twice. On SQLite the task's row
lock (`FOR UPDATE`) is no lock at all, and on PostgreSQL it only puts the second request after the first,
which then finds the task held by the same agent and calls again. The claim is one Redis command, so it
holds whichever database Careline runs on.

A claim lasts while Twilio may still be ringing the agent for its call; it is timed by Careline's clock, as
every other rule with a time in it, and Redis's key expiry only clears the key afterwards. It is given up
when Twilio did not place the call, so the agent can try again at once.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import redis

from core.redis_scripts import script

# A hash: `until` (ms since the epoch, Careline's clock), `agent` (the agent calling), `token` (its claim).
CALL_CLAIM_KEY = "careline:callback-call:{task_id}"

# KEYS: the task's claim. ARGV: now (ms), until (ms), agent id, token, expiry (ms).
# Returns {1} when claimed, or {0, agent, until (ms)} of the claim that still holds.
_CLAIM_LUA = """
local held = tonumber(redis.call('HGET', KEYS[1], 'until') or '')
if held ~= nil and tonumber(ARGV[1]) < held then
  return {0, redis.call('HGET', KEYS[1], 'agent') or '', held}
end
redis.call('HSET', KEYS[1], 'until', ARGV[2], 'agent', ARGV[3], 'token', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1}
"""

# KEYS: the task's claim. ARGV: token. Deletes the claim only if it is still this one (it may have lapsed and
# been taken by another request meanwhile). Returns 1 when deleted.
_RELEASE_LUA = """
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class CallClaim:
    """A task's call claim: taken (with the token that gives it up) or held by another request."""

    task_id: int
    taken: bool
    token: str = ""
    agent_id: int | None = None  # who holds it, when not taken
    until: datetime | None = None


def call_claim_key(task_id: int) -> str:
    """The Redis key of a task's call claim."""
    return CALL_CLAIM_KEY.format(task_id=int(task_id))


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def claim_call(client: redis.Redis, task_id: int, agent_id: int, now: datetime, hold_seconds: float) -> CallClaim:
    """Claim the task's call for `agent_id` until `now + hold_seconds`, unless another claim holds at `now`."""
    token = uuid.uuid4().hex
    hold_ms = max(1, round(hold_seconds * 1000))
    now_ms = _ms(now)
    reply = script(client, _CLAIM_LUA)(keys=[call_claim_key(task_id)],
                                       args=[now_ms, now_ms + hold_ms, int(agent_id), token, hold_ms])
    if int(reply[0]) == 1:
        return CallClaim(task_id, True, token)
    holder = int(reply[1]) if str(reply[1]).isdigit() else None
    return CallClaim(task_id, False, agent_id=holder,
                     until=datetime.fromtimestamp(int(reply[2]) / 1000, timezone.utc))


def release_call(client: redis.Redis, claim: CallClaim) -> None:
    """Give up a claim this request took (Twilio did not place the call)."""
    if claim.taken:
        script(client, _RELEASE_LUA)(keys=[call_claim_key(claim.task_id)], args=[claim.token])

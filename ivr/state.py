"""Each live call's IVR state, kept in Redis so any gunicorn worker can take the call's next webhook."""
from __future__ import annotations

from dataclasses import dataclass, fields

from calllog.events import (APPEND_EVENTS_LUA, DRAIN_PENDING_KEY, DRAIN_PENDING_TTL_MS, STREAM_KEY, Event,
                            write_events)
from core.redis_scripts import script
from ivr.flow import State

CALL_KEY = "careline:call:{call_sid}"
CALL_TTL_SECONDS = 6 * 3600  # seconds; longer than any call, so retried webhooks still find the state


@dataclass
class CallState:
    """Where one call is in the flow; `step` counts the webhooks answered, `reply` caches the last answer."""

    call_sid: str
    practice_id: int | None = None
    state: State = State.NEW
    language: str = "en"
    misses: int = 0
    urgent: bool = False
    after_hours: bool = False
    step: int = 0
    message_tries: int = 0
    recording_sid: str = ""
    queued_at: float = 0.0  # seconds since the epoch the caller joined the live-agent queue; 0: never
    queue_skill: str = ""  # the skill the caller asked for when it joined the queue (a menu's queue entry); "": none
    announced_at: float = 0.0  # when position and wait were last announced
    # The practice's own menu ([[practices.menu]]): the keys that led to the current level ("3" is the submenu of
    # key 3), and what the chosen entry asks of a message (its mailbox, kind, urgent rule "true"/"false"/"ask",
    # callback due minutes; 0: the practice's). A queue entry's skill is `queue_skill` (ivr.queue_flow.join).
    menu_path: str = ""
    mailbox: str = ""
    message_kind: str = ""
    urgent_rule: str = ""
    due_minutes: int = 0
    reply_step: int = -1
    reply: str = ""

    def to_redis(self) -> dict[str, str]:
        """The state as a Redis hash."""
        out = {}
        for name in _FIELD_NAMES:
            value = getattr(self, name)
            if isinstance(value, bool):
                value = "1" if value else "0"
            out[name] = "" if value is None else str(value)
        return out

    @classmethod
    def from_redis(cls, call_sid: str, raw: dict[str, str]) -> "CallState":
        """Rebuild a state from its Redis hash."""
        state = cls(call_sid=call_sid)
        for f in fields(cls):
            if f.name not in raw or f.name == "call_sid":
                continue
            text = raw[f.name]
            if f.name == "state":
                value = State(text)
            elif f.type in ("bool",):
                value = text == "1"
            elif f.type in ("int",):
                value = int(text)
            elif f.type in ("float",):
                value = float(text or 0)
            elif f.type == "int | None":
                value = int(text) if text else None
            else:
                value = text
            setattr(state, f.name, value)
        return state


_FIELD_NAMES = tuple(f.name for f in fields(CallState))


def call_key(call_sid: str) -> str:
    """The Redis key of a call's state."""
    return CALL_KEY.format(call_sid=call_sid)


# KEYS: the stream, the drain flag, the call's state hash, the config version.
# ARGV: flag TTL (ms), state TTL (s), the number N of state fields, N field/value pairs, then the events.
# A call whose state exists already (Twilio retried its Voice URL) is left as it is.
# Returns {written (0/1), config version, drain (0/1), existing reply_step, existing reply}.
_BEGIN_CALL_LUA = """
local version = redis.call('GET', KEYS[4])
local existing = redis.call('HMGET', KEYS[3], 'reply_step', 'reply')
if existing[1] then
  return {0, version, 0, existing[1], existing[2]}
end
local first_event = 4 + 2 * tonumber(ARGV[3])
redis.call('HSET', KEYS[3], unpack(ARGV, 4, first_event - 1))
redis.call('EXPIRE', KEYS[3], ARGV[2])
""" + APPEND_EVENTS_LUA + "return {1, version, drain}"


@dataclass(frozen=True)
class CallStart:
    """What `begin_call` found and did."""

    written: bool  # False: the call's state existed (a retried Voice URL); nothing was written
    drain_needed: bool
    config_version: str | None  # the practices' config version, read in the same command
    existing_reply_step: int | None = None
    existing_reply: str | None = None


def begin_call(client, state: CallState, events: list[Event], config_version_key: str) -> CallStart:
    """Store a new call's state and events in one command, unless the call is known; read the config version."""
    fields = [item for pair in state.to_redis().items() for item in pair]
    args = [DRAIN_PENDING_TTL_MS, CALL_TTL_SECONDS, len(fields) // 2, *fields, *(e.to_json() for e in events)]
    reply = script(client, _BEGIN_CALL_LUA)(
        keys=[STREAM_KEY, DRAIN_PENDING_KEY, call_key(state.call_sid), config_version_key], args=args)
    if reply[0] == 1:
        return CallStart(True, reply[2] == 1, reply[1])
    return CallStart(False, False, reply[1], int(reply[3]) if reply[3] not in (None, "") else None, reply[4])


def save_call_state(client, state: CallState, events: list[Event]) -> bool:
    """Store `state` and append `events` to the call log, atomically; True when a drain should be scheduled."""
    return write_events(client, events, call_key(state.call_sid), state.to_redis(), CALL_TTL_SECONDS)

"""Call events: what the webhooks append, first to a Redis stream, then (by the writer) to the database.

The webhook's own work stays small: its events go in with the call's state in one Redis command (a
script, so state and events are written together or not at all). The writer job moves events into the
database and rebuilds the call records; until it has, an event stays in the stream (pending entries are
re-read if a worker dies), so a record is not lost between the two.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import redis

from core.redis_scripts import script

STREAM_KEY = "careline:calllog:events"
DRAIN_PENDING_KEY = "careline:calllog:drain-pending"
DRAIN_PENDING_TTL_MS = 60_000  # milliseconds; if the drain job were lost, the next event schedules another


@dataclass(frozen=True)
class Event:
    """One step of one call. `dedupe_key` makes a retried webhook land on the same row."""

    call_sid: str
    kind: str
    dedupe_key: str
    occurred_at: datetime
    data: dict

    def to_json(self) -> str:
        """The event as the `event` field of one stream entry."""
        return json.dumps({"call_sid": self.call_sid, "kind": self.kind, "dedupe_key": self.dedupe_key,
                           "occurred_at": self.occurred_at.isoformat(), "data": self.data})

    @classmethod
    def from_stream(cls, fields: dict) -> "Event":
        """Parse a stream entry written by `write_events`."""
        raw = json.loads(fields["event"])
        return cls(raw["call_sid"], raw["kind"], raw["dedupe_key"],
                   datetime.fromisoformat(raw["occurred_at"]), raw["data"])


# Lua for scripts that append events: ARGV[first_event..] go to the stream KEYS[1], and the drain flag
# KEYS[2] is set with a TTL of ARGV[1] ms; `drain` is then 1 when this set the flag. The including script
# defines `first_event`.
APPEND_EVENTS_LUA = """
for i = first_event, #ARGV do
  redis.call('XADD', KEYS[1], '*', 'event', ARGV[i])
end
local drain = 0
if #ARGV >= first_event and redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then
  drain = 1
end
"""

# KEYS: the stream, the drain flag, the call state's hash (or any key when there is no state).
# ARGV: flag TTL (ms), state TTL (s), the number N of state fields, N field/value pairs, then the events.
# Returns 1 when it set the drain flag (the caller then schedules the drain), else 0.
_WRITE_EVENTS_LUA = """
local pairs_count = tonumber(ARGV[3])
local first_event = 4 + 2 * pairs_count
if pairs_count > 0 then
  redis.call('HSET', KEYS[3], unpack(ARGV, 4, first_event - 1))
  redis.call('EXPIRE', KEYS[3], ARGV[2])
end
""" + APPEND_EVENTS_LUA + "return drain"


def write_events(client: redis.Redis, events: list[Event], state_key: str = "",
                 state_fields: dict[str, str] | None = None, state_ttl_seconds: int = 0) -> bool:
    """Append `events` to the stream, with a call's state when given, in one atomic command.

    Returns True when the drain flag was newly set: the caller schedules the drain job.
    """
    fields = [item for pair in (state_fields or {}).items() for item in pair]
    args = [DRAIN_PENDING_TTL_MS, state_ttl_seconds, len(fields) // 2, *fields, *(e.to_json() for e in events)]
    return bool(script(client, _WRITE_EVENTS_LUA)(keys=[STREAM_KEY, DRAIN_PENDING_KEY, state_key or STREAM_KEY],
                                                  args=args))


"""Call events: what the webhooks append, first to a Redis stream, then (by the writer) to the database.

The webhook's own work stays small: one XADD in the same Redis round trip as the call's state. The
writer job moves events into the database and rebuilds the call records; until it has, an event stays in
the stream (pending entries are re-read if a worker dies), so a record is not lost between the two.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

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

    def to_stream(self) -> dict[str, str]:
        """The event as one stream entry."""
        return {"event": json.dumps({
            "call_sid": self.call_sid, "kind": self.kind, "dedupe_key": self.dedupe_key,
            "occurred_at": self.occurred_at.isoformat(), "data": self.data})}

    @classmethod
    def from_stream(cls, fields: dict) -> "Event":
        """Parse a stream entry written by `to_stream`."""
        raw = json.loads(fields["event"])
        return cls(raw["call_sid"], raw["kind"], raw["dedupe_key"],
                   datetime.fromisoformat(raw["occurred_at"]), raw["data"])


def add_events(pipeline, events: list[Event]) -> None:
    """Queue XADDs for `events` and the flag that asks for a drain job on `pipeline`."""
    for event in events:
        pipeline.xadd(STREAM_KEY, event.to_stream())
    pipeline.set(DRAIN_PENDING_KEY, "1", nx=True, px=DRAIN_PENDING_TTL_MS)

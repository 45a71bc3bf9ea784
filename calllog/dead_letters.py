"""The call log's dead letters: stream entries the writer gave up on, kept in Redis for a person to list and
replay (`careline calllog dead-letters list|replay`), and the count of tries that sends an entry there.

An entry goes there when it cannot be read at all, or when writing it failed `MAX_TRIES` drains in a row
while the database answered (`calllog.writer`): a bug, or data the database refuses (a `From` longer than
its column). Each dead letter keeps the entry's fields as they were, so a replay puts back the very event;
what is listed is ids only (the stream entry, the CallSid, the event's kind, the exception's class), never
the event's data, which holds phone numbers.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import redis

from calllog.events import STREAM_KEY
from core.clock import Clock

DEAD_LETTER_KEY = "careline:calllog:dead"  # a stream: one entry per dead letter, oldest first
DEAD_LETTER_TOTAL_KEY = "careline:calllog:dead:total"  # how many entries ever went there (a counter)
TRIES_KEY = "careline:calllog:tries"  # a hash: call-log stream entry id -> drains that failed to write it
MAX_TRIES = 3  # drains that fail on one entry, the database answering, before it is a dead letter
LIST_PAGE = 500  # dead letters read per Redis round trip


@dataclass(frozen=True)
class DeadLetter:
    """One dead letter, as listed: ids and why, never the event's data."""

    id: str  # its id in the dead-letter stream: what `replay` takes
    entry_id: str  # the id it had in the call-log stream
    failed_at: datetime | None  # by Careline's clock; None for one written before the clock was kept
    reason: str  # the exception's class ("unreadable: KeyError" for an entry that could not be parsed)
    call_sid: str  # "-" when unknown
    kind: str  # the event's kind, "-" when unknown
    tries: int


@dataclass(frozen=True)
class Replayed:
    """What a replay did: the dead letters put back on the stream, and the ids no dead letter has."""

    replayed: list[str]
    unknown: list[str]


class DeadLetters:
    """The dead-letter stream on `redis_client` (decoded responses), with the time read from `clock`."""

    def __init__(self, redis_client: redis.Redis, clock: Clock):
        self._redis = redis_client
        self._clock = clock

    # --- the writer's side ------------------------------------------------------------------------------

    def note_failure(self, entry_id: str) -> int:
        """Count one more failed drain of the stream entry `entry_id`; returns its tries so far."""
        return int(self._redis.hincrby(TRIES_KEY, entry_id, 1))

    def forget(self, entry_ids: Iterable[str], pipeline: redis.client.Pipeline | None = None) -> None:
        """Drop the tries of entries that left the stream (written or dead-lettered)."""
        entry_ids = list(entry_ids)
        if entry_ids:
            (pipeline or self._redis).hdel(TRIES_KEY, *entry_ids)

    def add(self, entry_id: str, fields: dict, reason: str, tries: int, call_sid: str = "-", kind: str = "-",
            pipeline: redis.client.Pipeline | None = None) -> None:
        """Keep the stream entry `entry_id` (its `fields` as they were) as a dead letter, and count it."""
        target = pipeline or self._redis
        target.xadd(DEAD_LETTER_KEY, {
            "entry": entry_id, "failed_at": self._clock().isoformat(), "reason": reason, "tries": str(tries),
            "call_sid": call_sid or "-", "kind": kind or "-", "fields": json.dumps(fields)})
        target.incr(DEAD_LETTER_TOTAL_KEY)

    # --- a person's side --------------------------------------------------------------------------------

    def count(self) -> int:
        """How many dead letters wait now."""
        return int(self._redis.xlen(DEAD_LETTER_KEY))

    def total(self) -> int:
        """How many entries ever became dead letters (replayed ones included)."""
        return int(self._redis.get(DEAD_LETTER_TOTAL_KEY) or 0)

    def list_all(self) -> list[DeadLetter]:
        """Every dead letter, oldest first."""
        return [_dead_letter(letter_id, fields) for letter_id, fields in self._all()]

    def replay(self, ids: Sequence[str] | None = None) -> Replayed:
        """Put the dead letters `ids` (all of them when None) back on the call-log stream, each in one step
        with its removal from the dead letters; the next drain writes them (with their tries counted afresh)."""
        if ids is None:
            found = self._all()
            unknown: list[str] = []
        else:
            found, unknown = [], []
            for letter_id in dict.fromkeys(ids):
                try:
                    rows = self._redis.xrange(DEAD_LETTER_KEY, letter_id, letter_id)
                except redis.ResponseError:  # not a stream id at all
                    rows = []
                if rows:
                    found.extend(rows)
                else:
                    unknown.append(letter_id)
        replayed = []
        for letter_id, fields in found:
            pipe = self._redis.pipeline(transaction=True)
            pipe.xadd(STREAM_KEY, _original_fields(fields))
            pipe.xdel(DEAD_LETTER_KEY, letter_id)
            _, deleted = pipe.execute()
            if deleted:  # else another replay took it first (and put it back itself)
                replayed.append(letter_id)
        return Replayed(replayed, unknown)

    def _all(self) -> list[tuple[str, dict]]:
        rows, start = [], "-"
        while True:
            page = self._redis.xrange(DEAD_LETTER_KEY, start, "+", count=LIST_PAGE)
            rows.extend(page)
            if len(page) < LIST_PAGE:
                return rows
            start = "(" + page[-1][0]


def _original_fields(fields: dict) -> dict:
    """The call-log entry's fields as they were; a dead letter from before its fields were kept apart is them."""
    return json.loads(fields["fields"]) if "fields" in fields else fields


def _dead_letter(letter_id: str, fields: dict) -> DeadLetter:
    if "fields" not in fields:  # written by an older writer: the unreadable entry's fields alone
        millis = int(letter_id.split("-")[0])
        return DeadLetter(letter_id, "-", datetime.fromtimestamp(millis / 1000, timezone.utc), "unreadable", "-",
                          "-", 1)
    return DeadLetter(letter_id, fields.get("entry", "-"), datetime.fromisoformat(fields["failed_at"]),
                      fields.get("reason", "-"), fields.get("call_sid", "-"), fields.get("kind", "-"),
                      int(fields.get("tries", 1)))

"""Which columns hold encrypted values, and re-encrypting them all with the data key's first key (`careline keys
rotate`).

The encrypted columns are the models' `EncryptedText` and `EncryptedJSON` columns, found in the metadata (a new
one is rotated without a change here), and the transcription text inside call events (`call_events.data`, key
`text_sealed`: the call log keeps the token, never the words).
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import JSON, Engine, Text, column, select, table, tuple_, update

from core.crypto import DataCipher, EncryptedJSON, EncryptedText
from models.base import Base

log = logging.getLogger(__name__)

ROTATE_BATCH_ROWS = 500  # rows read and rewritten per transaction
SEALED_EVENT_KEYS = ("text_sealed",)  # keys of call_events.data holding a token of the data key (ivr.service)
LEGACY_TEXT_KEY = "text"  # a transcription event's plaintext, as the release before encryption wrote it


@dataclass(frozen=True)
class EncryptedColumn:
    """One encrypted column of one table."""

    table: str
    column: str
    primary_key: tuple[str, ...]


def encrypted_columns() -> list[EncryptedColumn]:
    """Every model column stored encrypted, table by table."""
    found = []
    for model_table in Base.metadata.sorted_tables:
        for col in model_table.columns:
            if isinstance(col.type, (EncryptedText, EncryptedJSON)):
                found.append(EncryptedColumn(model_table.name, col.name,
                                             tuple(c.name for c in model_table.primary_key.columns)))
    return found


@dataclass
class RotationCount:
    """Values re-encrypted, per table and column (`call_events.data` for the events' sealed texts)."""

    by_column: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_column.values())


def rotate_encrypted_values(engine: Engine, cipher: DataCipher, batch_rows: int = ROTATE_BATCH_ROWS) -> RotationCount:
    """Re-encrypt every encrypted value with `cipher`'s first key, `batch_rows` rows per transaction.

    The raw tokens are read and written (not the models' plaintext), so nothing is decrypted into Python objects
    beyond MultiFernet's own rotate. Safe to run again, or after an interruption: a value already under the first
    key is rotated again to the same plaintext. A value none of the keys opens stops it (DataKeyError)."""
    counts: dict[str, int] = {}
    for encrypted in encrypted_columns():
        counts[f"{encrypted.table}.{encrypted.column}"] = _rotate_column(engine, cipher, encrypted, batch_rows)
    counts["call_events.data"] = _rotate_events(engine, cipher, batch_rows)
    return RotationCount(counts)


def _rotate_column(engine: Engine, cipher: DataCipher, encrypted: EncryptedColumn, batch_rows: int) -> int:
    raw = table(encrypted.table, column(encrypted.column, Text), *(column(name) for name in encrypted.primary_key))
    value = raw.c[encrypted.column]
    keys = [raw.c[name] for name in encrypted.primary_key]
    rotated = 0
    for rows in _batches(engine, select(*keys, value).where(value.is_not(None)).order_by(*keys), keys, batch_rows):
        with engine.begin() as conn:
            for row in rows:
                *ids, token = row
                conn.execute(update(raw).where(*(k == i for k, i in zip(keys, ids)))
                             .values({encrypted.column: cipher.rotate(token)}))
        rotated += len(rows)
    return rotated


def _rotate_events(engine: Engine, cipher: DataCipher, batch_rows: int) -> int:
    events = table("call_events", column("id"), column("kind"), column("data", JSON))
    query = select(events.c.id, events.c.data).where(events.c.kind == "transcription").order_by(events.c.id)
    rotated = 0
    for rows in _batches(engine, query, [events.c.id], batch_rows):
        with engine.begin() as conn:
            for event_id, data in rows:
                data = dict(data or {})
                sealed = {key: cipher.rotate(data[key]) for key in SEALED_EVENT_KEYS if data.get(key)}
                if data.get(LEGACY_TEXT_KEY):
                    # Written by a process of the release before encryption (during its rollout): sealed now.
                    sealed["text_sealed"] = cipher.encrypt(data.pop(LEGACY_TEXT_KEY))
                if sealed:
                    conn.execute(update(events).where(events.c.id == event_id).values(data={**data, **sealed}))
                    rotated += 1
    return rotated


def _batches(engine: Engine, query, keys: list, batch_rows: int) -> Iterator[list]:
    """`query`'s rows, `batch_rows` at a time, by keyset on `keys` (the rows' order), each batch read afresh."""
    after = None
    while True:
        page = query
        if after is not None:
            page = page.where(tuple_(*keys) > tuple_(*after)) if len(keys) > 1 else page.where(keys[0] > after[0])
        with engine.connect() as conn:
            rows = [tuple(row) for row in conn.execute(page.limit(batch_rows))]
        if not rows:
            return
        yield rows
        after = rows[-1][:len(keys)]
        if len(rows) < batch_rows:
            return


__all__ = ["ROTATE_BATCH_ROWS", "SEALED_EVENT_KEYS", "EncryptedColumn", "RotationCount", "encrypted_columns",
           "rotate_encrypted_values"]

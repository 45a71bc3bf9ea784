"""patient data encrypted at rest

Revision ID: c15c3e0c4a03
Revises: c15b2a0d1f02
Create Date: 2026-12-03 16:15:00

Patient free text becomes Fernet tokens of the data key (core/crypto.py): transcriptions, the taken messages'
fields and their drafts, handled notes, a manager's closing note and the callback actions' details; the JSON
columns among them become text (a token is not JSON). The text of the call events' transcriptions moves from
`text` to `text_sealed`, encrypted, as the webhook now writes it.

The columns change type first, then their rows are encrypted: a JSON column's text is encrypted as it is. The key
is read like the app reads it (CARELINE_DATA_KEY from the environment; development and tests fall back to their
fixed key), and only when there is a row to encrypt: an empty database migrates without one. A value that already
is a token is left as it is, so a migration stopped half-way can run again. The downgrade decrypts, then turns the
columns back to JSON.
"""
from alembic import op
import sqlalchemy as sa

from core.config import Config


revision = 'c15c3e0c4a03'
down_revision = 'c15b2a0d1f02'
branch_labels = None
depends_on = None

TOKEN_PREFIX = "gAAAAA"  # a Fernet token's version byte, base64url
BATCH_ROWS = 500
# table: (its primary key, its encrypted text columns, its encrypted JSON columns)
ENCRYPTED = {
    'messages': (('id',), ('transcription_text',), ('fields',)),
    'message_drafts': (('agent_id', 'call_sid'), (), ('fields',)),
    'message_handlings': (('message_id',), ('note',), ()),
    'callback_tasks': (('id',), ('close_note',), ()),
    'callback_task_actions': (('id',), (), ('details',)),
}


def _cipher():
    """The app's cipher, built on first need (core.config: CARELINE_DATA_KEY, or development's fixed key)."""
    from cryptography.fernet import Fernet, MultiFernet
    return MultiFernet([Fernet(key) for key in Config.from_env().data_keys])


class _LazyCipher:
    def __init__(self):
        self._cipher = None

    def __call__(self):
        if self._cipher is None:
            self._cipher = _cipher()
        return self._cipher


def _rewrite_columns(change) -> None:
    """Rewrite every non-NULL value of the encrypted columns with `change(value)`; None leaves it."""
    bind = op.get_bind()
    for name, (keys, texts, documents) in ENCRYPTED.items():
        for col in texts + documents:
            raw = sa.table(name, sa.column(col, sa.Text()), *(sa.column(k) for k in keys))
            key_columns = [raw.c[k] for k in keys]
            rows = bind.execute(sa.select(*key_columns, raw.c[col]).where(raw.c[col].is_not(None))).fetchall()
            updates = []
            for row in rows:
                *ids, value = row
                new = change(value)
                if new is not None:
                    updates.append((ids, new))
            for start in range(0, len(updates), BATCH_ROWS):
                for ids, new in updates[start:start + BATCH_ROWS]:
                    bind.execute(sa.update(raw).where(*(k == i for k, i in zip(key_columns, ids)))
                                 .values({col: new}))


def _rewrite_events(change) -> None:
    """Rewrite the transcription events' data with `change(data)`; None leaves it."""
    bind = op.get_bind()
    events = sa.table('call_events', sa.column('id'), sa.column('kind'), sa.column('data', sa.JSON()))
    rows = bind.execute(sa.select(events.c.id, events.c.data).where(events.c.kind == 'transcription')).fetchall()
    for event_id, data in rows:
        new = change(data or {})
        if new is not None:
            bind.execute(sa.update(events).where(events.c.id == event_id).values(data=new))


def _alter_documents(to_text: bool) -> None:
    for name, (_keys, _texts, documents) in ENCRYPTED.items():
        if not documents:
            continue
        with op.batch_alter_table(name, schema=None) as batch_op:
            for col in documents:
                if to_text:
                    batch_op.alter_column(col, existing_type=sa.JSON(), type_=sa.Text(),
                                          postgresql_using=f'{col}::text')
                else:
                    batch_op.alter_column(col, existing_type=sa.Text(), type_=sa.JSON(),
                                          postgresql_using=f'{col}::json')


def upgrade() -> None:
    _alter_documents(to_text=True)
    cipher = _LazyCipher()

    def encrypt(value):
        if value.startswith(TOKEN_PREFIX):
            return None
        return cipher().encrypt(value.encode('utf-8')).decode('ascii')

    def seal(data):
        if not data.get('text'):
            return None
        rest = {k: v for k, v in data.items() if k != 'text'}
        return {**rest, 'text_sealed': cipher().encrypt(data['text'].encode('utf-8')).decode('ascii')}

    _rewrite_columns(encrypt)
    _rewrite_events(seal)


def downgrade() -> None:
    cipher = _LazyCipher()

    def decrypt(value):
        if not value.startswith(TOKEN_PREFIX):
            return None
        return cipher().decrypt(value.encode('ascii')).decode('utf-8')

    def unseal(data):
        if not data.get('text_sealed'):
            return None
        rest = {k: v for k, v in data.items() if k != 'text_sealed'}
        return {**rest, 'text': cipher().decrypt(data['text_sealed'].encode('ascii')).decode('utf-8')}

    _rewrite_columns(decrypt)
    _rewrite_events(unseal)
    _alter_documents(to_text=False)

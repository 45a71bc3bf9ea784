"""an audit that holds: append-only, hash-chained audit rows

Revision ID: c15b2a0d1f02
Revises: c15a2f0a7b06
Create Date: 2026-12-03 16:15:00

`audit_events` replaces `message_access`, whose rows went with their message (ON DELETE CASCADE). Its rows are
copied into the new chain first, in the order they were written (action list -> messages.list, read ->
message.read, play -> recording.play; via "migrated": the old log kept no way in), then it is dropped. The
triggers come last, so the copy is the only write that did not go through `audit.chain.append`'s lock: nothing
else writes while a migration runs.

The downgrade copies back the rows that name one message that still exists, of those three actions; the other
rows (administrative acts, lists written as one row) have no place in `message_access` and are lost with the
table.
"""
from alembic import op
import sqlalchemy as sa

from audit.chain import row_hash
from models.base import UTCDateTime


revision = 'c15b2a0d1f02'
down_revision = 'c15a2f0a7b06'
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64
OLD_TO_NEW = {"list": "messages.list", "read": "message.read", "play": "recording.play"}
REFUSAL = "audit_events is append-only"

events = sa.table(
    'audit_events', sa.column('id', sa.BigInteger()), sa.column('at', UTCDateTime()),
    sa.column('agent_id', sa.Integer()), sa.column('via', sa.String()), sa.column('via_ref', sa.String()),
    sa.column('action', sa.String()), sa.column('subject_kind', sa.String()), sa.column('subject_id', sa.String()),
    sa.column('practice_id', sa.Integer()), sa.column('details', sa.JSON()), sa.column('address', sa.String()),
    sa.column('user_agent', sa.String()), sa.column('prev_hash', sa.String()), sa.column('row_hash', sa.String()))
head = sa.table('audit_chain_head', sa.column('id', sa.SmallInteger()), sa.column('last_id', sa.BigInteger()),
                sa.column('last_hash', sa.String()))
access = sa.table('message_access', sa.column('id', sa.BigInteger()), sa.column('agent_id', sa.Integer()),
                  sa.column('message_id', sa.Integer()), sa.column('action', sa.String()),
                  sa.column('at', UTCDateTime()))
messages = sa.table('messages', sa.column('id', sa.Integer()), sa.column('practice_id', sa.Integer()))
agents = sa.table('agents', sa.column('id', sa.Integer()))


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('via', sa.String(length=8), nullable=False),
    sa.Column('via_ref', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('subject_kind', sa.String(length=16), nullable=True),
    sa.Column('subject_id', sa.String(length=64), nullable=True),
    sa.Column('practice_id', sa.Integer(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=200), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('row_hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint("via IN ('session', 'token', 'cli', 'system', 'migrated')",
                       name=op.f('ck_audit_events_via_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_at', ['at'], unique=False)
        batch_op.create_index('ix_audit_events_agent_id_at', ['agent_id', 'at'], unique=False)
        batch_op.create_index('ix_audit_events_action_at', ['action', 'at'], unique=False)
        batch_op.create_index('ix_audit_events_practice_id_at', ['practice_id', 'at'], unique=False)
        batch_op.create_index('ix_audit_events_subject_kind_subject_id', ['subject_kind', 'subject_id'],
                              unique=False)
    op.create_table('audit_chain_head',
    sa.Column('id', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('last_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_audit_chain_head_one_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_head'))
    )

    bind = op.get_bind()
    old = bind.execute(sa.select(access.c.agent_id, access.c.message_id, access.c.action, access.c.at,
                                 messages.c.practice_id)
                       .select_from(access.outerjoin(messages, messages.c.id == access.c.message_id))
                       .order_by(access.c.at, access.c.id)).all()
    prev_hash, rows = GENESIS_HASH, []
    for number, (agent_id, message_id, action, at, practice_id) in enumerate(old, start=1):
        fields = {"id": number, "at": at, "agent_id": agent_id, "via": "migrated", "via_ref": None,
                  "action": OLD_TO_NEW[action], "subject_kind": "message", "subject_id": str(message_id),
                  "practice_id": practice_id, "details": None, "address": None, "user_agent": None,
                  "prev_hash": prev_hash}
        fields["row_hash"] = prev_hash = row_hash(fields)
        rows.append(fields)
    if rows:
        op.bulk_insert(events, rows)
    op.bulk_insert(head, [{"id": 1, "last_id": len(rows), "last_hash": prev_hash}])

    with op.batch_alter_table('message_access', schema=None) as batch_op:
        batch_op.drop_index('ix_message_access_message_id_at')
        batch_op.drop_index(batch_op.f('ix_message_access_agent_id'))
    op.drop_table('message_access')

    # Append-only: the database itself refuses to change or remove a row, whoever asks (only a superuser who
    # drops or disables the trigger could, and `careline audit verify` names what they changed).
    if bind.dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{REFUSAL}: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
            END
            $$""")
        op.execute("CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
                   "FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change()")
        op.execute("CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change()")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                       f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}: {verb} refused'); END")


def downgrade() -> None:
    op.create_table('message_access',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("action IN ('list', 'read', 'play')", name=op.f('ck_message_access_action_known')),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_message_access_agent_id_agents'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_message_access_message_id_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_access'))
    )
    with op.batch_alter_table('message_access', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_access_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index('ix_message_access_message_id_at', ['message_id', 'at'], unique=False)

    bind = op.get_bind()
    new_to_old = {new: old for old, new in OLD_TO_NEW.items()}
    known_messages = set(bind.execute(sa.select(messages.c.id)).scalars())
    known_agents = set(bind.execute(sa.select(agents.c.id)).scalars())
    kept = bind.execute(sa.select(events.c.agent_id, events.c.subject_id, events.c.action, events.c.at)
                        .where(events.c.subject_kind == 'message', events.c.action.in_(list(new_to_old)))
                        .order_by(events.c.id)).all()
    rows = [{"agent_id": agent_id if agent_id in known_agents else None, "message_id": int(subject_id),
             "action": new_to_old[action], "at": at}
            for agent_id, subject_id, action, at in kept
            if subject_id is not None and subject_id.isdigit() and int(subject_id) in known_messages]
    if rows:
        op.bulk_insert(access, rows)

    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_refuse_change()")
    else:
        op.execute("DROP TRIGGER audit_events_no_delete")
        op.execute("DROP TRIGGER audit_events_no_update")
    op.drop_table('audit_chain_head')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_subject_kind_subject_id')
        batch_op.drop_index('ix_audit_events_practice_id_at')
        batch_op.drop_index('ix_audit_events_action_at')
        batch_op.drop_index('ix_audit_events_agent_id_at')
        batch_op.drop_index('ix_audit_events_at')
    op.drop_table('audit_events')

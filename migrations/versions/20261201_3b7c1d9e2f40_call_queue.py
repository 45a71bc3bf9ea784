"""call queue: queue events, agents' call-driven status rows, Twilio Client identities, callback outcome

Revision ID: 3b7c1d9e2f40
Revises: 7416febc0eff
Create Date: 2026-12-01 18:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '3b7c1d9e2f40'
down_revision = '7416febc0eff'
branch_labels = None
depends_on = None

OLD_OUTCOMES = "outcome IN ('in-progress', 'answered', 'message', 'hung-up', 'unknown-number')"
NEW_OUTCOMES = "outcome IN ('in-progress', 'answered', 'message', 'callback', 'hung-up', 'unknown-number')"


def upgrade() -> None:
    op.create_table('queue_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('call_sid', sa.String(length=34), nullable=False),
    sa.Column('event_key', sa.String(length=64), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('position', sa.Integer(), nullable=True),
    sa.Column('wait_seconds', sa.Float(), nullable=True),
    sa.Column('talk_seconds', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=16), nullable=True),
    sa.CheckConstraint("kind IN ('entered', 'offered', 'connected', 'no-answer', 'abandoned', 'left-by-key', "
                       "'max-wait', 'no-agents', 'talk-ended')", name=op.f('ck_queue_events_kind_known')),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_queue_events_agent_id_agents'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_queue_events_practice_id_practices'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_events')),
    sa.UniqueConstraint('call_sid', 'event_key', name=op.f('uq_queue_events_call_sid_event_key'))
    )
    with op.batch_alter_table('queue_events', schema=None) as batch_op:
        batch_op.create_index('ix_queue_events_practice_id_at', ['practice_id', 'at'], unique=False)
        batch_op.create_index('ix_queue_events_agent_id_at', ['agent_id', 'at'], unique=False)

    with op.batch_alter_table('agent_status_changes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('call_sid', sa.String(length=34), nullable=True))
        batch_op.add_column(sa.Column('event_key', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_agent_status_changes_call_sid_event_key'),
                                          ['call_sid', 'event_key'])

    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_identity', sa.String(length=100), nullable=True))

    # SQLite cannot alter a CHECK constraint: batch mode copies the table with the new one.
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_calls_outcome_known'), type_='check')
        batch_op.create_check_constraint('outcome_known', NEW_OUTCOMES)


def downgrade() -> None:
    # A call that asked for a callback did not reach a person: the old schema's nearest outcome is hung-up.
    op.execute("UPDATE calls SET outcome = 'hung-up' WHERE outcome = 'callback'")
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_calls_outcome_known'), type_='check')
        batch_op.create_check_constraint('outcome_known', OLD_OUTCOMES)

    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_column('client_identity')

    with op.batch_alter_table('agent_status_changes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_agent_status_changes_call_sid_event_key'), type_='unique')
        batch_op.drop_column('event_key')
        batch_op.drop_column('call_sid')
        batch_op.drop_column('until')

    with op.batch_alter_table('queue_events', schema=None) as batch_op:
        batch_op.drop_index('ix_queue_events_agent_id_at')
        batch_op.drop_index('ix_queue_events_practice_id_at')

    op.drop_table('queue_events')

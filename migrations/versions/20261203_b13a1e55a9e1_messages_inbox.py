"""messages inbox: read receipts, handled with a note

Revision ID: b13a1e55a9e1
Revises: 9d4f1a6c2b83
Create Date: 2026-12-03 13:45:00

The inbox's read receipts (the first time each person opened a message) and a message handled with a note
(once per message, by anyone): two new tables beside `messages`, which is left as it is.
"""
from alembic import op
import sqlalchemy as sa


revision = 'b13a1e55a9e1'
down_revision = '9d4f1a6c2b83'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('message_reads',
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('first_read_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_message_reads_agent_id_agents'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_message_reads_message_id_messages'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('message_id', 'agent_id', name=op.f('pk_message_reads'))
    )
    with op.batch_alter_table('message_reads', schema=None) as batch_op:
        batch_op.create_index('ix_message_reads_agent_id_message_id', ['agent_id', 'message_id'], unique=False)

    op.create_table('message_handlings',
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_message_handlings_agent_id_agents'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_message_handlings_message_id_messages'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('message_id', name=op.f('pk_message_handlings'))
    )
    with op.batch_alter_table('message_handlings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_handlings_agent_id'), ['agent_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('message_handlings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_handlings_agent_id'))
    op.drop_table('message_handlings')
    with op.batch_alter_table('message_reads', schema=None) as batch_op:
        batch_op.drop_index('ix_message_reads_agent_id_message_id')
    op.drop_table('message_reads')

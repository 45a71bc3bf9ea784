"""agent status changes

Revision ID: 7416febc0eff
Revises: a2640abe2e5a
Create Date: 2026-11-24 07:38:04.197745
"""
from alembic import op
import sqlalchemy as sa


revision = '7416febc0eff'
down_revision = 'a2640abe2e5a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Append-only history of agents' live states (models.agent_status). The (agent_id, at) index serves
    # both reading an agent's history in order and finding the state it was in at an instant.
    op.create_table('agent_status_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('offline', 'available', 'paused', 'ringing', 'busy', 'wrap-up')",
                       name=op.f('ck_agent_status_changes_status_known')),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_agent_status_changes_agent_id_agents'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_status_changes'))
    )
    with op.batch_alter_table('agent_status_changes', schema=None) as batch_op:
        batch_op.create_index('ix_agent_status_changes_agent_id_at', ['agent_id', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('agent_status_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_agent_status_changes_agent_id_at')

    op.drop_table('agent_status_changes')

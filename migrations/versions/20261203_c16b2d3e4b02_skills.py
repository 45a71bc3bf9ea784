"""agents' skills and the queue's skill fallback

Revision ID: c16b2d3e4b02
Revises: c16a1e2f3a01
Create Date: 2026-12-03 17:05:00

[practices.skills] fallback_seconds on practices; the skill a caller asked for on its queue events and its call's
facts; and the queue's figures per practice, local day and skill (skill_stats_daily), for the metrics per skill.
The agents' own `skills` column comes with the menus (c16a1e2f3a01). Existing rows asked for no skill (NULL): no
call before this revision asked for one, so there is nothing to backfill and the new roll-up starts empty.
"""
from alembic import op
import sqlalchemy as sa


revision = 'c16b2d3e4b02'
down_revision = 'c16a1e2f3a01'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('skill_fallback_seconds', sa.Integer(), server_default='60', nullable=False))
    with op.batch_alter_table('queue_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('skill', sa.String(length=64), nullable=True))
    with op.batch_alter_table('call_facts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('skill', sa.String(length=64), nullable=True))
    op.create_table(
        'skill_stats_daily',
        sa.Column('practice_id', sa.Integer(), nullable=False),
        sa.Column('local_date', sa.Date(), nullable=False),
        sa.Column('skill', sa.String(length=64), nullable=False),
        sa.Column('entered_queue', sa.Integer(), nullable=False),
        sa.Column('connected_from_queue', sa.Integer(), nullable=False),
        sa.Column('connected_in_service_level', sa.Integer(), nullable=False),
        sa.Column('wait_seconds_sum', sa.Float(), nullable=False),
        sa.Column('abandoned', sa.Integer(), nullable=False),
        sa.Column('short_abandons', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['practice_id'], ['practices.id'],
                                name=op.f('fk_skill_stats_daily_practice_id_practices'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('practice_id', 'local_date', 'skill', name=op.f('pk_skill_stats_daily')),
    )


def downgrade() -> None:
    op.drop_table('skill_stats_daily')
    with op.batch_alter_table('call_facts', schema=None) as batch_op:
        batch_op.drop_column('skill')
    with op.batch_alter_table('queue_events', schema=None) as batch_op:
        batch_op.drop_column('skill')
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.drop_column('skill_fallback_seconds')

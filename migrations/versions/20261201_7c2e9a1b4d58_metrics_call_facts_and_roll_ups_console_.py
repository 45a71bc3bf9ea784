"""metrics: call facts and roll-ups; console passwords

Revision ID: 7c2e9a1b4d58
Revises: 5e8a2c4d7b13
Create Date: 2026-12-01 20:37:32.123152
"""
from alembic import op
import sqlalchemy as sa


revision = '7c2e9a1b4d58'
down_revision = '5e8a2c4d7b13'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agent_stats_daily',
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('calls_handled', sa.Integer(), nullable=False),
    sa.Column('talk_seconds_sum', sa.Float(), nullable=False),
    sa.Column('talks_timed', sa.Integer(), nullable=False),
    sa.Column('offers_missed', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_agent_stats_daily_agent_id_agents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_agent_stats_daily_practice_id_practices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('agent_id', 'practice_id', 'local_date', name=op.f('pk_agent_stats_daily'))
    )
    op.create_table('agent_time_hourly',
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('hour_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('available_seconds', sa.Float(), nullable=False),
    sa.Column('paused_seconds', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_agent_time_hourly_agent_id_agents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('agent_id', 'hour_start', name=op.f('pk_agent_time_hourly'))
    )
    op.create_table('call_facts',
    sa.Column('call_sid', sa.String(length=34), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('local_hour', sa.Integer(), nullable=False),
    sa.Column('ended', sa.Boolean(), nullable=False),
    sa.Column('answered_in_budget', sa.Boolean(), nullable=False),
    sa.Column('handled_by_person', sa.Boolean(), nullable=False),
    sa.Column('entered_queue', sa.Boolean(), nullable=False),
    sa.Column('connected_from_queue', sa.Boolean(), nullable=False),
    sa.Column('wait_seconds', sa.Float(), nullable=True),
    sa.Column('connected_in_service_level', sa.Boolean(), nullable=False),
    sa.Column('abandoned', sa.Boolean(), nullable=False),
    sa.Column('short_abandon', sa.Boolean(), nullable=False),
    sa.Column('message', sa.Boolean(), nullable=False),
    sa.Column('urgent_message', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_call_facts_practice_id_practices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('call_sid', name=op.f('pk_call_facts'))
    )
    with op.batch_alter_table('call_facts', schema=None) as batch_op:
        batch_op.create_index('ix_call_facts_practice_id_local_date_local_hour', ['practice_id', 'local_date', 'local_hour'], unique=False)

    op.create_table('call_agent_facts',
    sa.Column('call_sid', sa.String(length=34), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('calls_handled', sa.Integer(), nullable=False),
    sa.Column('talk_seconds_sum', sa.Float(), nullable=False),
    sa.Column('talks_timed', sa.Integer(), nullable=False),
    sa.Column('offers_missed', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_call_agent_facts_agent_id_agents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_call_agent_facts_practice_id_practices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('call_sid', 'agent_id', name=op.f('pk_call_agent_facts'))
    )
    with op.batch_alter_table('call_agent_facts', schema=None) as batch_op:
        batch_op.create_index('ix_call_agent_facts_practice_id_local_date_agent_id', ['practice_id', 'local_date', 'agent_id'], unique=False)

    op.create_table('call_stats_hourly',
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('local_hour', sa.Integer(), nullable=False),
    sa.Column('calls_offered', sa.Integer(), nullable=False),
    sa.Column('answered_in_budget', sa.Integer(), nullable=False),
    sa.Column('handled_by_person', sa.Integer(), nullable=False),
    sa.Column('entered_queue', sa.Integer(), nullable=False),
    sa.Column('connected_from_queue', sa.Integer(), nullable=False),
    sa.Column('connected_in_service_level', sa.Integer(), nullable=False),
    sa.Column('wait_seconds_sum', sa.Float(), nullable=False),
    sa.Column('longest_wait_seconds', sa.Float(), nullable=True),
    sa.Column('abandoned', sa.Integer(), nullable=False),
    sa.Column('short_abandons', sa.Integer(), nullable=False),
    sa.Column('messages', sa.Integer(), nullable=False),
    sa.Column('urgent_messages', sa.Integer(), nullable=False),
    sa.Column('wait_histogram', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_call_stats_hourly_practice_id_practices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('practice_id', 'local_date', 'local_hour', name=op.f('pk_call_stats_hourly'))
    )
    op.create_table('cumulative_histograms',
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=16), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.CheckConstraint("name IN ('wait_seconds', 'reach_minutes')", name=op.f('ck_cumulative_histograms_name_known')),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_cumulative_histograms_practice_id_practices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('practice_id', 'name', 'local_date', name=op.f('pk_cumulative_histograms'))
    )
    op.create_table('callback_stats_daily',
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('opened', sa.Integer(), nullable=False),
    sa.Column('closed', sa.Integer(), nullable=False),
    sa.Column('reached', sa.Integer(), nullable=False),
    sa.Column('reached_within_due', sa.Integer(), nullable=False),
    sa.Column('max_attempts_reached', sa.Integer(), nullable=False),
    sa.Column('reach_minutes_histogram', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_callback_stats_daily_practice_id_practices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('practice_id', 'local_date', name=op.f('pk_callback_stats_daily'))
    )
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password_hash', sa.String(length=256), nullable=True))

    # The callback roll-ups recount a practice's local day, and the summary counts the tasks overdue now.
    with op.batch_alter_table('callback_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_callback_tasks_practice_id_status_due_at', ['practice_id', 'status', 'due_at'], unique=False)
        batch_op.create_index('ix_callback_tasks_practice_id_opened_at', ['practice_id', 'opened_at'], unique=False)
        batch_op.create_index('ix_callback_tasks_practice_id_closed_at', ['practice_id', 'closed_at'], unique=False)
    with op.batch_alter_table('callback_task_actions', schema=None) as batch_op:
        batch_op.create_index('ix_callback_task_actions_action_at', ['action', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('callback_task_actions', schema=None) as batch_op:
        batch_op.drop_index('ix_callback_task_actions_action_at')
    with op.batch_alter_table('callback_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_callback_tasks_practice_id_closed_at')
        batch_op.drop_index('ix_callback_tasks_practice_id_opened_at')
        batch_op.drop_index('ix_callback_tasks_practice_id_status_due_at')
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_column('password_hash')

    op.drop_table('callback_stats_daily')
    op.drop_table('cumulative_histograms')
    op.drop_table('call_stats_hourly')
    with op.batch_alter_table('call_agent_facts', schema=None) as batch_op:
        batch_op.drop_index('ix_call_agent_facts_practice_id_local_date_agent_id')

    op.drop_table('call_agent_facts')
    with op.batch_alter_table('call_facts', schema=None) as batch_op:
        batch_op.drop_index('ix_call_facts_practice_id_local_date_local_hour')

    op.drop_table('call_facts')
    op.drop_table('agent_time_hourly')
    op.drop_table('agent_stats_daily')

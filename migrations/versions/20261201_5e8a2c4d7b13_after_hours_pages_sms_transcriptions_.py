"""after hours: pages, SMS, transcriptions, callback task work, message audit

Revision ID: 5e8a2c4d7b13
Revises: 3b7c1d9e2f40
Create Date: 2026-12-01 20:11:49.802039
"""
from alembic import op
import sqlalchemy as sa


revision = '5e8a2c4d7b13'
down_revision = '3b7c1d9e2f40'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inbound_sms',
    sa.Column('message_sid', sa.String(length=34), nullable=False),
    sa.Column('from_number', sa.String(length=64), nullable=False),
    sa.Column('to_number', sa.String(length=64), nullable=False),
    sa.Column('handled_as', sa.String(length=16), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("handled_as IN ('opt-out', 'opt-in', 'acknowledgement', 'ignored')", name=op.f('ck_inbound_sms_handled_known')),
    sa.PrimaryKeyConstraint('message_sid', name=op.f('pk_inbound_sms'))
    )
    op.create_table('sms_opt_outs',
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('opted_out_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('phone', name=op.f('pk_sms_opt_outs'))
    )
    op.create_table('on_call_pages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_step_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=64), nullable=True),
    sa.CheckConstraint("status IN ('open', 'acknowledged', 'exhausted')", name=op.f('ck_on_call_pages_status_known')),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_on_call_pages_message_id_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_on_call_pages_practice_id_practices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_on_call_pages')),
    sa.UniqueConstraint('message_id', name=op.f('uq_on_call_pages_message_id'))
    )
    with op.batch_alter_table('on_call_pages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_on_call_pages_practice_id'), ['practice_id'], unique=False)
        batch_op.create_index('ix_on_call_pages_status_next_step_at', ['status', 'next_step_at'], unique=False)

    op.create_table('outbound_sms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=True),
    sa.Column('to_number', sa.String(length=20), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('page_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('message_sid', sa.String(length=34), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("purpose IN ('receipt', 'page', 'manager-alert')", name=op.f('ck_outbound_sms_purpose_known')),
    sa.CheckConstraint("status IN ('pending', 'sent', 'opted-out', 'failed')", name=op.f('ck_outbound_sms_status_known')),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_outbound_sms_practice_id_practices'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_outbound_sms_message_id_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['page_id'], ['on_call_pages.id'], name=op.f('fk_outbound_sms_page_id_on_call_pages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbound_sms')),
    sa.UniqueConstraint('key', name=op.f('uq_outbound_sms_key'))
    )
    op.create_table('callback_task_actions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('call_sid', sa.String(length=34), nullable=True),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.CheckConstraint("action IN ('opened', 'call-added', 'claimed', 'call-started', 'attempt', 'flagged', 'closed')", name=op.f('ck_callback_task_actions_action_known')),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_callback_task_actions_agent_id_agents'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['task_id'], ['callback_tasks.id'], name=op.f('fk_callback_task_actions_task_id_callback_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callback_task_actions'))
    )
    with op.batch_alter_table('callback_task_actions', schema=None) as batch_op:
        batch_op.create_index('ix_callback_task_actions_task_id_at', ['task_id', 'at'], unique=False)

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

    op.create_table('page_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('page_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sms_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('sent', 'send-failed', 'acknowledged', 'no-one')", name=op.f('ck_page_events_kind_known')),
    sa.ForeignKeyConstraint(['page_id'], ['on_call_pages.id'], name=op.f('fk_page_events_page_id_on_call_pages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sms_id'], ['outbound_sms.id'], name=op.f('fk_page_events_sms_id_outbound_sms'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_page_events')),
    sa.UniqueConstraint('page_id', 'step', 'target', name=op.f('uq_page_events_page_id_step_target'))
    )
    with op.batch_alter_table('page_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_page_events_page_id'), ['page_id'], unique=False)

    with op.batch_alter_table('callback_task_calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('callback_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('target_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('claimed_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('needs_manager', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('closed_reason', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('closed_by', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_callback_tasks_closed_by_agents'), 'agents', ['closed_by'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_callback_tasks_claimed_by_agents'), 'agents', ['claimed_by'], ['id'], ondelete='SET NULL')
    # Tasks opened before due times existed are due at once: nobody can say they were promised later.
    op.execute("UPDATE callback_tasks SET due_at = opened_at, target_at = opened_at WHERE due_at IS NULL")

    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('direction', sa.String(length=8), server_default='inbound', nullable=False))
        batch_op.create_check_constraint('direction_known', "direction IN ('inbound', 'outbound')")

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transcription_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('transcription_sid', sa.String(length=34), nullable=True))
        batch_op.add_column(sa.Column('transcription_text', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('after_hours', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index('ix_messages_practice_id_created_at', ['practice_id', 'created_at'], unique=False)
        batch_op.create_check_constraint('transcription_known',
                                         "transcription_status IN ('pending', 'completed', 'failed')")

    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalation_minutes', sa.Integer(), server_default='10', nullable=False))
        batch_op.add_column(sa.Column('urgent_callback_minutes', sa.Integer(), server_default='15', nullable=False))
        batch_op.add_column(sa.Column('routine_callback_minutes', sa.Integer(), server_default='120', nullable=False))
        batch_op.add_column(sa.Column('next_day_callback_by', sa.String(length=5), server_default='10:00', nullable=False))
        batch_op.add_column(sa.Column('callback_retry_minutes', sa.JSON(), server_default='[15, 60]', nullable=False))
        batch_op.add_column(sa.Column('callback_max_attempts', sa.Integer(), server_default='3', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.drop_column('callback_max_attempts')
        batch_op.drop_column('callback_retry_minutes')
        batch_op.drop_column('next_day_callback_by')
        batch_op.drop_column('routine_callback_minutes')
        batch_op.drop_column('urgent_callback_minutes')
        batch_op.drop_column('escalation_minutes')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_messages_transcription_known'), type_='check')
        batch_op.drop_index('ix_messages_practice_id_created_at')
        batch_op.drop_column('after_hours')
        batch_op.drop_column('transcription_text')
        batch_op.drop_column('transcription_sid')
        batch_op.drop_column('transcription_status')

    # The old schema has no outbound calls: an agent's callbacks leave the call log with it.
    op.execute("DELETE FROM calls WHERE direction = 'outbound'")
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_calls_direction_known'), type_='check')
        batch_op.drop_column('direction')

    with op.batch_alter_table('callback_tasks', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_callback_tasks_claimed_by_agents'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_callback_tasks_closed_by_agents'), type_='foreignkey')
        batch_op.drop_column('closed_by')
        batch_op.drop_column('closed_reason')
        batch_op.drop_column('needs_manager')
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('attempts')
        batch_op.drop_column('target_at')
        batch_op.drop_column('due_at')

    with op.batch_alter_table('callback_task_calls', schema=None) as batch_op:
        batch_op.drop_column('closed_at')

    with op.batch_alter_table('page_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_page_events_page_id'))

    op.drop_table('page_events')
    op.drop_table('outbound_sms')
    with op.batch_alter_table('on_call_pages', schema=None) as batch_op:
        batch_op.drop_index('ix_on_call_pages_status_next_step_at')
        batch_op.drop_index(batch_op.f('ix_on_call_pages_practice_id'))

    op.drop_table('on_call_pages')
    with op.batch_alter_table('message_access', schema=None) as batch_op:
        batch_op.drop_index('ix_message_access_message_id_at')
        batch_op.drop_index(batch_op.f('ix_message_access_agent_id'))

    op.drop_table('message_access')
    with op.batch_alter_table('callback_task_actions', schema=None) as batch_op:
        batch_op.drop_index('ix_callback_task_actions_task_id_at')

    op.drop_table('callback_task_actions')
    op.drop_table('sms_opt_outs')
    op.drop_table('inbound_sms')

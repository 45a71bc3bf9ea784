"""retention per practice

Revision ID: c15e5f7e2d05
Revises: c15d4b9a6e04
Create Date: 2026-12-03 16:15:00

Each practice keeps recordings, messages and calls for its own number of days ([practices.retention]); a message
whose recording retention deleted at Twilio keeps its row (until messages_days) without the recording's URL, so
the check that a recorded message has its recording accepts one that had it (`recording_deleted_at`).
"""
from alembic import op
import sqlalchemy as sa


revision = 'c15e5f7e2d05'
down_revision = 'c15d4b9a6e04'
branch_labels = None
depends_on = None

RECORDED_OR_TAKEN = ('author_agent_id IS NOT NULL OR (recording_sid IS NOT NULL AND duration_seconds IS NOT NULL '
                     'AND (recording_url IS NOT NULL OR recording_deleted_at IS NOT NULL))')
RECORDED_OR_TAKEN_BEFORE = ('author_agent_id IS NOT NULL OR (recording_sid IS NOT NULL AND recording_url IS NOT NULL '
                            'AND duration_seconds IS NOT NULL)')
RETENTION_ORDER = 'recordings_days >= 1 AND recordings_days <= messages_days AND messages_days <= calls_days'


def upgrade() -> None:
    # The defaults (90 days of recordings, 7 years of messages and calls) apply to every practice until its
    # configuration says otherwise: the server defaults fill the rows there are.
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recordings_days', sa.Integer(), server_default='90', nullable=False))
        batch_op.add_column(sa.Column('messages_days', sa.Integer(), server_default='2555', nullable=False))
        batch_op.add_column(sa.Column('calls_days', sa.Integer(), server_default='2555', nullable=False))
        batch_op.create_check_constraint(batch_op.f('ck_practices_retention_order'), RETENTION_ORDER)

    # What retention deletes by, indexed: a message's or a page's SMS, a practice's SMS by age, and whether a caller
    # is still referred to (each batch asks; without these, each would read the whole table).
    op.create_index(op.f('ix_outbound_sms_message_id'), 'outbound_sms', ['message_id'])
    op.create_index(op.f('ix_outbound_sms_page_id'), 'outbound_sms', ['page_id'])
    op.create_index('ix_outbound_sms_practice_id_created_at', 'outbound_sms', ['practice_id', 'created_at'])
    op.create_index(op.f('ix_messages_caller_id'), 'messages', ['caller_id'])
    op.create_index(op.f('ix_callback_tasks_caller_id'), 'callback_tasks', ['caller_id'])

    # The column first, then the check that reads it.
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recording_deleted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(batch_op.f('ck_messages_recorded_or_taken'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_messages_recorded_or_taken'), RECORDED_OR_TAKEN)


def downgrade() -> None:
    # A recorded message whose recording is gone cannot satisfy the older check: it goes, with what refers to it
    # (by hand, as SQLite may run without its foreign keys enforced). Its recording is already gone at Twilio.
    gone = 'SELECT id FROM messages WHERE author_agent_id IS NULL AND recording_url IS NULL'
    pages = f'SELECT id FROM on_call_pages WHERE message_id IN ({gone})'
    op.execute(f'DELETE FROM outbound_sms WHERE message_id IN ({gone})')
    op.execute(f'DELETE FROM page_events WHERE page_id IN ({pages})')
    op.execute(f'DELETE FROM outbound_sms WHERE page_id IN ({pages})')
    op.execute(f'DELETE FROM on_call_pages WHERE message_id IN ({gone})')
    present = set(sa.inspect(op.get_bind()).get_table_names())  # the audit's work may have moved message_access
    for table in ('message_access', 'message_reads', 'message_handlings'):
        if table in present:
            op.execute(f'DELETE FROM {table} WHERE message_id IN ({gone})')
    op.execute('DELETE FROM messages WHERE author_agent_id IS NULL AND recording_url IS NULL')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_messages_recorded_or_taken'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_messages_recorded_or_taken'), RECORDED_OR_TAKEN_BEFORE)
        batch_op.drop_column('recording_deleted_at')

    op.drop_index(op.f('ix_callback_tasks_caller_id'), table_name='callback_tasks')
    op.drop_index(op.f('ix_messages_caller_id'), table_name='messages')
    op.drop_index('ix_outbound_sms_practice_id_created_at', table_name='outbound_sms')
    op.drop_index(op.f('ix_outbound_sms_page_id'), table_name='outbound_sms')
    op.drop_index(op.f('ix_outbound_sms_message_id'), table_name='outbound_sms')

    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_practices_retention_order'), type_='check')
        batch_op.drop_column('calls_days')
        batch_op.drop_column('messages_days')
        batch_op.drop_column('recordings_days')

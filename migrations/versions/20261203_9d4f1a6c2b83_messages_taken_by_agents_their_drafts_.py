"""messages taken by agents during a call, their drafts; a practice's message form

Revision ID: 9d4f1a6c2b83
Revises: 7c2e9a1b4d58
Create Date: 2026-12-03 11:21:12.396639

A message an agent takes has an author and its form's fields, and no recording, so the recording's columns
become nullable (a CHECK keeps every message recorded or authored). A call may now hold its recorded message
and the ones agents took on it: the unique CallSid becomes a partial unique index on recorded messages (the
call log's ON CONFLICT target) plus one taken message per agent and call.
"""
from alembic import op
import sqlalchemy as sa


revision = '9d4f1a6c2b83'
down_revision = '7c2e9a1b4d58'
branch_labels = None
depends_on = None

RECORDED = sa.text('author_agent_id IS NULL')
TAKEN = 'SELECT id FROM messages WHERE author_agent_id IS NOT NULL'


def upgrade() -> None:
    op.create_table('message_drafts',
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('call_sid', sa.String(length=34), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_message_drafts_agent_id_agents'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_message_drafts_practice_id_practices'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('agent_id', 'call_sid', name=op.f('pk_message_drafts'))
    )
    with op.batch_alter_table('message_drafts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_drafts_practice_id'), ['practice_id'], unique=False)

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('author_agent_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('fields', sa.JSON(), nullable=True))
        batch_op.alter_column('duration_seconds', existing_type=sa.INTEGER(), nullable=True)
        batch_op.alter_column('recording_sid', existing_type=sa.VARCHAR(length=34), nullable=True)
        batch_op.alter_column('recording_url', existing_type=sa.VARCHAR(length=300), nullable=True)
        batch_op.drop_constraint(batch_op.f('uq_messages_call_sid'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_messages_call_sid_author_agent_id'),
                                          ['call_sid', 'author_agent_id'])
        batch_op.create_index('uq_messages_call_sid_recorded', ['call_sid'], unique=True, sqlite_where=RECORDED,
                              postgresql_where=RECORDED)
        batch_op.create_foreign_key(batch_op.f('fk_messages_author_agent_id_agents'), 'agents',
                                    ['author_agent_id'], ['id'])
        batch_op.create_check_constraint(
            batch_op.f('ck_messages_recorded_or_taken'),
            'author_agent_id IS NOT NULL OR (recording_sid IS NOT NULL AND recording_url IS NOT NULL '
            'AND duration_seconds IS NOT NULL)')

    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_fields', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.drop_column('message_fields')

    # The messages agents took have no recording: they cannot stay in the older table. What refers to them goes
    # first, by hand, since SQLite may run without its foreign keys enforced.
    pages = f'SELECT id FROM on_call_pages WHERE message_id IN ({TAKEN})'
    op.execute(f'DELETE FROM outbound_sms WHERE message_id IN ({TAKEN})')
    op.execute(f'DELETE FROM page_events WHERE page_id IN ({pages})')
    op.execute(f'DELETE FROM outbound_sms WHERE page_id IN ({pages})')
    op.execute(f'DELETE FROM on_call_pages WHERE message_id IN ({TAKEN})')
    op.execute(f'DELETE FROM message_access WHERE message_id IN ({TAKEN})')
    op.execute('DELETE FROM messages WHERE author_agent_id IS NOT NULL')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_messages_recorded_or_taken'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_messages_author_agent_id_agents'), type_='foreignkey')
        batch_op.drop_index('uq_messages_call_sid_recorded', sqlite_where=RECORDED, postgresql_where=RECORDED)
        batch_op.drop_constraint(batch_op.f('uq_messages_call_sid_author_agent_id'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_messages_call_sid'), ['call_sid'])
        batch_op.alter_column('recording_url', existing_type=sa.VARCHAR(length=300), nullable=False)
        batch_op.alter_column('recording_sid', existing_type=sa.VARCHAR(length=34), nullable=False)
        batch_op.alter_column('duration_seconds', existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column('fields')
        batch_op.drop_column('author_agent_id')

    with op.batch_alter_table('message_drafts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_drafts_practice_id'))

    op.drop_table('message_drafts')

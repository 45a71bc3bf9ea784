"""complaints tracked to the patient being told

Revision ID: c16c3f4a5c03
Revises: c16b2d3e4b02
Create Date: 2026-12-03 17:05:00

A message says what it is (`kind`: message or complaint); a complaint's message has a `complaints` row that is
moved from received to closed, each change kept in `complaint_changes` with who and when. Each practice gives the
days within which a complaint's patient is told what was done ([practices.complaints] respond_within_days).
"""
from alembic import op
import sqlalchemy as sa


revision = 'c16c3f4a5c03'
down_revision = 'c16b2d3e4b02'
branch_labels = None
depends_on = None


STATES = "'received', 'being-looked-at', 'patient-informed', 'closed'"


def upgrade() -> None:
    # Every message there is was a message: the server default says so for the rows there are.
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), server_default='message', nullable=False))
        batch_op.create_check_constraint(batch_op.f('ck_messages_kind_known'), "kind IN ('message', 'complaint')")
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('complaint_respond_days', sa.Integer(), server_default='5', nullable=False))

    op.create_table(
        'complaints',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('practice_id', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('state', sa.String(length=24), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=True),
        sa.Column('action_taken', sa.Text(), nullable=True),  # encrypted (core.crypto.EncryptedText)
        sa.Column('patient_told', sa.Text(), nullable=True),  # encrypted (core.crypto.EncryptedText)
        sa.Column('informed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"state IN ({STATES})", name=op.f('ck_complaints_state_known')),
        sa.CheckConstraint("source IN ('desk', 'recorded')", name=op.f('ck_complaints_source_known')),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_complaints_message_id_messages'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['owner_id'], ['agents.id'], name=op.f('fk_complaints_owner_id_agents'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_complaints_practice_id_practices'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_complaints')),
        sa.UniqueConstraint('message_id', name=op.f('uq_complaints_message_id')),
    )
    op.create_index('ix_complaints_practice_id_state_received_at', 'complaints',
                    ['practice_id', 'state', 'received_at'])

    op.create_table(
        'complaint_changes',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('complaint_id', sa.Integer(), nullable=False),
        sa.Column('from_state', sa.String(length=24), nullable=True),
        sa.Column('to_state', sa.String(length=24), nullable=False),
        sa.Column('agent_id', sa.Integer(), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),  # encrypted (core.crypto.EncryptedText)
        sa.CheckConstraint(f"to_state IN ({STATES})", name=op.f('ck_complaint_changes_to_state_known')),
        sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_complaint_changes_agent_id_agents'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['complaint_id'], ['complaints.id'],
                                name=op.f('fk_complaint_changes_complaint_id_complaints'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint_changes')),
    )
    op.create_index('ix_complaint_changes_complaint_id_at', 'complaint_changes', ['complaint_id', 'at'])


def downgrade() -> None:
    # The history before the complaints it refers to; the messages stay, as the messages they also are.
    op.drop_index('ix_complaint_changes_complaint_id_at', table_name='complaint_changes')
    op.drop_table('complaint_changes')
    op.drop_index('ix_complaints_practice_id_state_received_at', table_name='complaints')
    op.drop_table('complaints')
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.drop_column('complaint_respond_days')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_messages_kind_known'), type_='check')
        batch_op.drop_column('kind')

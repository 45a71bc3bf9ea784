"""the practice's morning report and its sends

Revision ID: b13d4f8a2b94
Revises: b13c3d7e1a83
Create Date: 2026-12-03 13:45:00

Each practice's [practices.report] (its local time and addresses) goes on `practices`; `report_sends` keeps one
row per practice and report day (unique), which is what makes the minutely sweep send each day's report once.
"""
from alembic import op
import sqlalchemy as sa


revision = 'b13d4f8a2b94'
down_revision = 'b13c3d7e1a83'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('report_at', sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column('report_to', sa.JSON(), nullable=True))

    op.create_table('report_sends',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('report_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=100), nullable=True),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('recipients', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('queued', 'sending', 'sent', 'failed')", name=op.f('ck_report_sends_status_known')),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_report_sends_practice_id_practices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_sends')),
    sa.UniqueConstraint('practice_id', 'report_date', name=op.f('uq_report_sends_practice_id_report_date'))
    )
    with op.batch_alter_table('report_sends', schema=None) as batch_op:
        batch_op.create_index('ix_report_sends_queued_at', ['queued_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('report_sends', schema=None) as batch_op:
        batch_op.drop_index('ix_report_sends_queued_at')

    op.drop_table('report_sends')
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.drop_column('report_to')
        batch_op.drop_column('report_at')

"""the one-question survey after a call with an agent

Revision ID: c16d4a5b6d04
Revises: c16c3f4a5c03
Create Date: 2026-12-03 17:05:00

A practice turns the survey on in its configuration ([practices.survey] enabled); the answers are one row per
call (the CallSid unique: a retried webhook writes once), with the practice's local date for the metrics.
"""
from alembic import op
import sqlalchemy as sa


revision = 'c16d4a5b6d04'
down_revision = 'c16c3f4a5c03'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Off for every practice until its configuration turns it on.
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('survey_enabled', sa.Boolean(), server_default=sa.false(), nullable=False))

    op.create_table(
        'survey_answers',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('call_sid', sa.String(length=34), nullable=False),
        sa.Column('practice_id', sa.Integer(), nullable=False),
        sa.Column('agent_id', sa.Integer(), nullable=True),
        sa.Column('score', sa.Integer(), nullable=False),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('local_date', sa.Date(), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=True),
        sa.CheckConstraint('score BETWEEN 1 AND 5', name=op.f('ck_survey_answers_score_range')),
        sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_survey_answers_agent_id_agents'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['practice_id'], ['practices.id'],
                                name=op.f('fk_survey_answers_practice_id_practices'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_answers')),
        sa.UniqueConstraint('call_sid', name='uq_survey_answers_call_sid'),
    )
    op.create_index('ix_survey_answers_practice_id_local_date', 'survey_answers', ['practice_id', 'local_date'])
    op.create_index('ix_survey_answers_agent_id_local_date', 'survey_answers', ['agent_id', 'local_date'])


def downgrade() -> None:
    op.drop_index('ix_survey_answers_agent_id_local_date', table_name='survey_answers')
    op.drop_index('ix_survey_answers_practice_id_local_date', table_name='survey_answers')
    op.drop_table('survey_answers')
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.drop_column('survey_enabled')

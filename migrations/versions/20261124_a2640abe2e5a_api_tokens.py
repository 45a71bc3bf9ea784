"""api tokens

Revision ID: a2640abe2e5a
Revises: 808900515c14
Create Date: 2026-11-24 06:49:45.407158
"""
from alembic import op
import sqlalchemy as sa


revision = 'a2640abe2e5a'
down_revision = '808900515c14'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The unique constraint on token_hash is also the index every authenticated request looks up.
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('prefix', sa.String(length=8), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('length(token_hash) = 64', name=op.f('ck_api_tokens_token_hash_is_sha256_hex')),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_api_tokens_agent_id_agents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('prefix', name=op.f('uq_api_tokens_prefix')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_agent_id'), ['agent_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_agent_id'))

    op.drop_table('api_tokens')

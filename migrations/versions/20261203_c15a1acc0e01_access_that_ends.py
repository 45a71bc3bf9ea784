"""access that ends: deactivated people, expiring tokens, second factors

Revision ID: c15a1acc0e01
Revises: b13d4f8a2b94
Create Date: 2026-12-03 16:15:00

(placeholder: filled by the work of issue 15)
"""
from datetime import timedelta

from alembic import op
import sqlalchemy as sa


revision = 'c15a1acc0e01'
down_revision = 'b13d4f8a2b94'
branch_labels = None
depends_on = None


# The default lifetime of a token (agents.tokens.DEFAULT_TOKEN_DAYS), given to the tokens made before tokens
# expired: counted from their creation, as a new token's is.
TOKEN_DAYS = 90


def upgrade() -> None:
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deactivated_at', sa.DateTime(timezone=True), nullable=True))

    # The column is added nullable, filled, then made NOT NULL: existing tokens need a value first. Filled row by
    # row in Python because SQLite and PostgreSQL add days to a timestamp differently (a handful of rows).
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
    tokens = sa.table('api_tokens', sa.column('id', sa.Integer()),
                      sa.column('created_at', sa.DateTime(timezone=True)),
                      sa.column('expires_at', sa.DateTime(timezone=True)))
    connection = op.get_bind()
    for token_id, created_at in connection.execute(sa.select(tokens.c.id, tokens.c.created_at)).all():
        connection.execute(tokens.update().where(tokens.c.id == token_id)
                           .values(expires_at=created_at + timedelta(days=TOKEN_DAYS)))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.alter_column('expires_at', existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_column('deactivated_at')

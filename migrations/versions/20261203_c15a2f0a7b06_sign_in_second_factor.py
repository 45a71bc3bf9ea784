"""sign-in: second factors (TOTP) and what the throttle needs

Revision ID: c15a2f0a7b06
Revises: c15a1acc0e01
Create Date: 2026-12-03 16:15:00

The throttle itself keeps its counts in Redis (console/throttle.py): nothing of it is in the database. Each
agent may have a TOTP secret (`careline user totp EMAIL`) and the last time step whose code it accepted, so a
code is not accepted twice. Both columns are nullable: nobody has a second factor until an admin gives one.
"""
from alembic import op
import sqlalchemy as sa


revision = 'c15a2f0a7b06'
down_revision = 'c15a1acc0e01'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('totp_secret')

"""the service-level target each practice's staffing advice aims at

Revision ID: c18a1b2c3d01
Revises: c16d4a5b6d04
Create Date: 2026-12-03 20:30:00

[practices.queue] service_level_target (issue 18): the share of queue callers to connect within the practice's
service_level_seconds. Every practice starts at 0.8, the contact centres' usual "80/20", until its
configuration says otherwise.
"""
from alembic import op
import sqlalchemy as sa


revision = 'c18a1b2c3d01'
down_revision = 'c16d4a5b6d04'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('service_level_target', sa.Float(), server_default='0.8', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('practices', schema=None) as batch_op:
        batch_op.drop_column('service_level_target')

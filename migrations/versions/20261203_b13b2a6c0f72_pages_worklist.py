"""pages worklist: failed sends escalate at once

Revision ID: b13b2a6c0f72
Revises: b13a1e55a9e1
Create Date: 2026-12-03 13:45:00

An SMS's delivery, as Twilio's status callback reports it (MessageStatus), is kept on its outbound_sms row:
a page whose SMS was undelivered goes to its next step at once. The callback finds the row by its
MessageSid, hence the index.
"""
from alembic import op
import sqlalchemy as sa


revision = 'b13b2a6c0f72'
down_revision = 'b13a1e55a9e1'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbound_sms', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('delivery_status_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint(
            batch_op.f('ck_outbound_sms_delivery_known'),
            "delivery_status IN ('sent', 'delivered', 'undelivered', 'failed')")
        batch_op.create_index(batch_op.f('ix_outbound_sms_message_sid'), ['message_sid'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbound_sms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbound_sms_message_sid'))
        batch_op.drop_constraint(batch_op.f('ck_outbound_sms_delivery_known'), type_='check')
        batch_op.drop_column('delivery_status_at')
        batch_op.drop_column('delivery_status')

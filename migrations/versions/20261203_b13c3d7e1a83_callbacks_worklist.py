"""callbacks worklist: reassign and close by a manager

Revision ID: b13c3d7e1a83
Revises: b13b2a6c0f72
Create Date: 2026-12-03 13:45:00

(Placeholder in the chain of issue 13's migrations: filled by its part's work; empty, it changes nothing.)
"""
from alembic import op
import sqlalchemy as sa


revision = 'b13c3d7e1a83'
down_revision = 'b13b2a6c0f72'
branch_labels = None
depends_on = None


OLD_ACTIONS = ("action IN ('opened', 'call-added', 'claimed', 'call-started', 'attempt', 'flagged', "
               "'closed')")
NEW_ACTIONS = ("action IN ('opened', 'call-added', 'claimed', 'call-started', 'attempt', 'flagged', "
               "'reassigned', 'closed')")


def upgrade() -> None:
    with op.batch_alter_table('callback_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assigned_to', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('close_note', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_callback_tasks_assigned_to_agents'), 'agents', ['assigned_to'],
                                    ['id'], ondelete='SET NULL')
    with op.batch_alter_table('callback_task_actions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_callback_task_actions_action_known'), type_='check')
        batch_op.create_check_constraint('action_known', NEW_ACTIONS)


def downgrade() -> None:
    # The old schema knows no reassignment: its entries leave the history with it.
    op.execute("DELETE FROM callback_task_actions WHERE action = 'reassigned'")
    with op.batch_alter_table('callback_task_actions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_callback_task_actions_action_known'), type_='check')
        batch_op.create_check_constraint('action_known', OLD_ACTIONS)
    with op.batch_alter_table('callback_tasks', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_callback_tasks_assigned_to_agents'), type_='foreignkey')
        batch_op.drop_column('close_note')
        batch_op.drop_column('assigned_to')

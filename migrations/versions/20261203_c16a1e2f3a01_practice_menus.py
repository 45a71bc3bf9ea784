"""each practice its own menu and voice

Revision ID: c16a1e2f3a01
Revises: c15e5f7e2d05
Create Date: 2026-12-03 17:05:00

[[practices.menu]] and [practices.voice] on practices, the recorded greetings they name (practice_audio), the
agents' skills, the mailbox a menu's message went to, and each call's menu choice (the dashboard counts them).
"""
from alembic import op
import sqlalchemy as sa



revision = 'c16a1e2f3a01'
down_revision = 'c15e5f7e2d05'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("practices") as batch:
        batch.add_column(sa.Column("menu", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("voice", sa.JSON(), nullable=True))
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("skills", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("mailbox", sa.String(length=64), nullable=True))
    op.create_table(
        "practice_audio",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_practice_audio")),
    )
    op.create_table(
        "call_menu_choices",
        sa.Column("call_sid", sa.String(length=34), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("digits", sa.String(length=8), nullable=False),
        sa.Column("choice", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["practice_id"], ["practices.id"],
                                name=op.f("fk_call_menu_choices_practice_id_practices"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("call_sid", name=op.f("pk_call_menu_choices")),
    )
    op.create_index("ix_call_menu_choices_practice_id_local_date", "call_menu_choices", ["practice_id", "local_date"])


def downgrade() -> None:
    op.drop_index("ix_call_menu_choices_practice_id_local_date", table_name="call_menu_choices")
    op.drop_table("call_menu_choices")
    op.drop_table("practice_audio")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("mailbox")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("skills")
    with op.batch_alter_table("practices") as batch:
        batch.drop_column("voice")
        batch.drop_column("menu")

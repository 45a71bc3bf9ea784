"""page links: the provider's PIN and the message behind a short link

Revision ID: c15d4b9a6e04
Revises: c15c3e0c4a03
Create Date: 2026-12-03 16:15:00

A page's SMS carries a link instead of the caller's number: `page_links` keeps each link's SHA-256 (never the
token), until when it opens, and its wrong PINs; `on_call_pins` the providers' PINs as salted hashes, by practice
and phone (the providers' own rows are replaced whenever the on-call list changes, their phones stay).
"""
from alembic import op
import sqlalchemy as sa


revision = 'c15d4b9a6e04'
down_revision = 'c15c3e0c4a03'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('page_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('page_id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('target', sa.String(length=64), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('sms_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('failed_pins', sa.Integer(), server_default='0', nullable=False),
    sa.Column('locked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('length(token_hash) = 64', name=op.f('ck_page_links_token_hash_is_sha256_hex')),
    sa.CheckConstraint('failed_pins >= 0', name=op.f('ck_page_links_failed_pins_not_negative')),
    sa.ForeignKeyConstraint(['page_id'], ['on_call_pages.id'], name=op.f('fk_page_links_page_id_on_call_pages'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_page_links_practice_id_practices'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sms_id'], ['outbound_sms.id'], name=op.f('fk_page_links_sms_id_outbound_sms'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_page_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_page_links_token_hash'))
    )
    with op.batch_alter_table('page_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_page_links_page_id'), ['page_id'], unique=False)

    op.create_table('on_call_pins',
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('pin_hash', sa.String(length=256), nullable=False),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_on_call_pins_practice_id_practices'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('practice_id', 'phone', name=op.f('pk_on_call_pins'))
    )


def downgrade() -> None:
    op.drop_table('on_call_pins')
    with op.batch_alter_table('page_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_page_links_page_id'))
    op.drop_table('page_links')

"""feed tokens

Revision ID: 0015
Revises: 0011
Create Date: 2026-11-30

A lender posts its guideline feed to the web app (``POST /feeds/{lender}``) with a bearer token of its own.
Only the token's sha256 is stored; revoking a token keeps its row (who had it, when it was last used).
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

import storage.types


revision = '0015'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('feed_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lender', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('token_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('last_used_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_sha256')
    )
    with op.batch_alter_table('feed_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feed_token_lender'), ['lender'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('feed_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feed_token_lender'))
    op.drop_table('feed_token')

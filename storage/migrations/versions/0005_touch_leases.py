"""touch leases

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

A claimed touch carries a lease: who claimed it (``claimed_by``, already there), until when
(``lease_until``), and when its provider request began (``send_started_at``). A lease that runs out
before the send began returns the touch to ``planned``; one that runs out after it began makes the touch
``unknown`` until the provider's records settle it.
"""
from alembic import op
import sqlalchemy as sa

import storage.types


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('touch') as batch:
        batch.add_column(sa.Column('lease_until', storage.types.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('send_started_at', storage.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('touch') as batch:
        batch.drop_column('send_started_at')
        batch.drop_column('lease_until')

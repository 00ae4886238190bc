"""automated due index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

A partial index on (next_due_at, lead_id) over the positions still in automation, so claiming a batch of
due leads reads them in order and stops, instead of sorting every due lead for every batch.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_WHERE = sa.text("status IN ('active', 'nurturing')")


def upgrade() -> None:
    op.create_index(
        'ix_cadence_position_automated_due', 'cadence_position', ['next_due_at', 'lead_id'], unique=False,
        postgresql_where=_WHERE, sqlite_where=_WHERE,
    )


def downgrade() -> None:
    op.drop_index('ix_cadence_position_automated_due', table_name='cadence_position')

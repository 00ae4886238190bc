"""held call tasks

Revision ID: 0011
Revises: 0009
Create Date: 2026-11-30

A call task the compliance gate held for a missing or stale DNC scrub used to be stored ``blocked`` for good,
with the hold's reason in its note. It is ``held`` now, so a scrub import (``dripline dnc import``) can
release it. The status column is a VARCHAR (no schema change): this moves the tasks already held that way,
and back on downgrade.
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0009'
branch_labels = None
depends_on = None

_HELD_NOTE = "%held: dnc_scrub: %"


def upgrade() -> None:
    op.execute(
        sa.text("UPDATE call_task SET status = 'held' WHERE status = 'blocked' AND note LIKE :held").bindparams(
            held=_HELD_NOTE
        )
    )


def downgrade() -> None:
    op.execute(sa.text("UPDATE call_task SET status = 'blocked' WHERE status = 'held'"))

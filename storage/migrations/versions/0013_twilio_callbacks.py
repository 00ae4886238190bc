"""twilio callbacks and phone facts

Revision ID: 0013
Revises: 0011
Create Date: 2026-11-30

Twilio's status callbacks are stored once per (sid, status), so a retried callback changes nothing the second
time. ``phone_fact`` keeps what the carriers said about a number: one that cannot take texts (error 30006, or
30003/30005 repeated) is not texted again; calls are not affected.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

import storage.types


revision = '0013'
down_revision = '0011'
branch_labels = None
depends_on = None


def _text(length: int) -> sa.types.TypeEngine:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "twilio_callback",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sid", _text(64), nullable=False),
        sa.Column("status", _text(32), nullable=False),
        sa.Column("touch_key", _text(200), nullable=True),
        sa.Column("address", _text(20), nullable=True, index=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", _text(500), nullable=False),
        sa.UniqueConstraint("sid", "status", name="uq_twilio_callback_sid_status"),
    )
    op.create_table(
        "phone_fact",
        sa.Column("number", _text(20), primary_key=True),
        sa.Column("textable", sa.Boolean(), nullable=False),
        sa.Column("reason", _text(300), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("phone_fact")
    op.drop_index("ix_twilio_callback_address", table_name="twilio_callback")
    op.drop_table("twilio_callback")

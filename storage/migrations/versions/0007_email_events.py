"""email events

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

Every unsubscribe, bounce and spam report the email provider reports is stored once per provider event id
(SendGrid ``sg_event_id``): a webhook delivered twice inserts nothing the second time. Inbound texts already
have the same unique provider id (``inbound_message.provider_id``).
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

import storage.types


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('email_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('event', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
    sa.Column('received_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lead_ids', sa.Text(), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('provider_id')
    )
    with op.batch_alter_table('email_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_event_address'), ['address'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('email_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_email_event_address'))
    op.drop_table('email_event')

"""compliance gate

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Consent records, the suppression log, inbound texts, DNC scrub facts and a second phone per lead,
and the compliance decisions recorded on every touch and call task.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import storage.types


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inbound_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('from_address', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('to_address', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('received_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.Enum('opt_out', 'opt_in', 'help', 'reply', 'ambiguous', name='inboundkind', native_enum=False, length=32), nullable=False),
    sa.Column('lead_ids', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('reply_body', sa.Text(), nullable=True),
    sa.Column('reply_status', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('provider_id')
    )
    with op.batch_alter_table('inbound_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_message_from_address'), ['from_address'], unique=False)

    op.create_table('consent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('phone', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('seller', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('disclosure', sa.Text(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('consented_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['lead.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('lead_id', 'phone', 'seller', 'consented_at', name='uq_consent_record')
    )
    with op.batch_alter_table('consent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_lead_id'), ['lead_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_phone'), ['phone'], unique=False)

    op.create_table('suppression',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
    sa.Column('channel', sa.Enum('call', 'sms', 'email', 'voicemail', name='channel', native_enum=False, length=32), nullable=False),
    sa.Column('action', sa.Enum('opt_out', 'opt_in', name='suppressionaction', native_enum=False, length=32), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['lead.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('suppression', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suppression_address'), ['address'], unique=False)
        batch_op.create_index(batch_op.f('ix_suppression_lead_id'), ['lead_id'], unique=False)

    with op.batch_alter_table('call_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decisions', sa.Text(), nullable=False, server_default=''))

    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.add_column(sa.Column('alt_phone', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        batch_op.add_column(sa.Column('dnc_listed', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('dnc_scrubbed_on', sa.Date(), nullable=True))
        batch_op.create_index('ix_lead_alt_phone', ['alt_phone'], unique=False)

    with op.batch_alter_table('touch', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decisions', sa.Text(), nullable=False, server_default=''))



def downgrade() -> None:
    with op.batch_alter_table('touch', schema=None) as batch_op:
        batch_op.drop_column('decisions')

    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_index('ix_lead_alt_phone')
        batch_op.drop_column('dnc_scrubbed_on')
        batch_op.drop_column('dnc_listed')
        batch_op.drop_column('alt_phone')

    with op.batch_alter_table('call_task', schema=None) as batch_op:
        batch_op.drop_column('decisions')

    with op.batch_alter_table('suppression', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_suppression_lead_id'))
        batch_op.drop_index(batch_op.f('ix_suppression_address'))

    op.drop_table('suppression')
    with op.batch_alter_table('consent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_phone'))
        batch_op.drop_index(batch_op.f('ix_consent_lead_id'))

    op.drop_table('consent')
    with op.batch_alter_table('inbound_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_message_from_address'))

    op.drop_table('inbound_message')

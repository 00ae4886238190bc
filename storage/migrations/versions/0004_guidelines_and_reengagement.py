"""guidelines and reengagement

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Lender guideline snapshots (every load kept), re-engagements (once per lead and change), and the reason
stored with a cadence enrollment.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import storage.types


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('guideline_snapshot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lender', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('programs', sa.Text(), nullable=False),
    sa.Column('changes', sa.Text(), nullable=False),
    sa.Column('previous_id', sa.Integer(), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('loaded_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('loaded_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['previous_id'], ['guideline_snapshot.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('guideline_snapshot', schema=None) as batch_op:
        batch_op.create_index('ix_guideline_snapshot_lender', ['lender', 'id'], unique=False)

    op.create_table('reengagement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('change_key', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('snapshot_id', sa.Integer(), nullable=True),
    sa.Column('lender', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('program', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('scheduled_for', storage.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', storage.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['lead.id'], ),
    sa.ForeignKeyConstraint(['snapshot_id'], ['guideline_snapshot.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('lead_id', 'change_key', name='uq_reengagement_change')
    )
    with op.batch_alter_table('reengagement', schema=None) as batch_op:
        batch_op.create_index('ix_reengagement_due', ['status', 'scheduled_for'], unique=False)
        batch_op.create_index(batch_op.f('ix_reengagement_lead_id'), ['lead_id'], unique=False)

    # a plain ADD COLUMN: a batch copy of this table on SQLite would lose the partial index of 0003
    op.add_column('cadence_position', sa.Column('reason', sa.Text(), nullable=False, server_default=''))



def downgrade() -> None:
    op.drop_column('cadence_position', 'reason')

    with op.batch_alter_table('reengagement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reengagement_lead_id'))
        batch_op.drop_index('ix_reengagement_due')

    op.drop_table('reengagement')
    with op.batch_alter_table('guideline_snapshot', schema=None) as batch_op:
        batch_op.drop_index('ix_guideline_snapshot_lender')

    op.drop_table('guideline_snapshot')

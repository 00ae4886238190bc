"""lead income inputs

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

The borrower's own numbers for qualifying income and DTI (nurture/income.py), every one optional: the property's
value, other monthly debts, average monthly bank-statement deposits with the kind of statements and how many months
they cover, a CPA's expense ratio (basis points), gross 1099 income and its months, and a 12-month P&L net. Amounts
are whole dollars in BIGINT columns, like the lead's other amounts. Existing leads get NULL for all of them.
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

COLUMNS = (
    ('property_value', sa.BigInteger()),
    ('monthly_debts', sa.BigInteger()),
    ('monthly_deposits', sa.BigInteger()),
    ('statement_type', sa.Enum('business', 'personal', name='statementtype', native_enum=False,
                               create_constraint=False, length=32)),
    ('statement_months', sa.Integer()),
    ('expense_ratio_bp', sa.Integer()),
    ('gross_1099', sa.BigInteger()),
    ('gross_1099_months', sa.Integer()),
    ('pl_net', sa.BigInteger()),
)


def upgrade() -> None:
    # SQLite adds each column in place (ALTER TABLE ADD COLUMN): no copy of the lead table
    with op.batch_alter_table('lead', schema=None) as batch_op:
        for name, type_ in COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('lead', schema=None) as batch_op:
        for name, _ in reversed(COLUMNS):
            batch_op.drop_column(name)

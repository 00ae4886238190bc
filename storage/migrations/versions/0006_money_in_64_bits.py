"""money in 64-bit integers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24

A lead's amounts (liquid assets, loan amount, monthly rent, cost) become BIGINT: a foreign national's liquid assets
or a portfolio loan can pass the $2,147,483,647 an INTEGER holds. SQLite stores every integer in up to 64 bits
already, so there only the declared type changes (a batch copy of the table); PostgreSQL rewrites the table once,
for all four columns in one statement. Downgrading refuses while a stored amount would not fit back.

"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

MONEY = ('liquid_assets', 'loan_amount', 'monthly_rent', 'cost_cents')
INT_MAX = 2**31 - 1


def _retype(old: sa.types.TypeEngine, new: sa.types.TypeEngine, sql_type: str) -> None:
    if op.get_context().dialect.name == 'postgresql':
        op.execute('ALTER TABLE lead ' + ', '.join(f'ALTER COLUMN {c} TYPE {sql_type}' for c in MONEY))
        return
    with op.batch_alter_table('lead', schema=None) as batch_op:
        for column in MONEY:
            batch_op.alter_column(column, existing_type=old, type_=new, existing_nullable=True)


def upgrade() -> None:
    _retype(sa.Integer(), sa.BigInteger(), 'BIGINT')


def downgrade() -> None:
    too_big = ' OR '.join(f'{c} > {INT_MAX}' for c in MONEY)
    count = op.get_bind().execute(sa.text(f'SELECT count(*) FROM lead WHERE {too_big}')).scalar()
    if count:
        raise RuntimeError(
            f"{count} {'lead holds' if count == 1 else 'leads hold'} an amount above {INT_MAX:,}, which a 32-bit "
            'column cannot; clear or correct those amounts before downgrading below 0006'
        )
    _retype(sa.BigInteger(), sa.Integer(), 'INTEGER')

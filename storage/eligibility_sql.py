"""Lender program eligibility as SQL: the same tests as ``nurture.eligibility.assess``, over the whole lead table.

Re-scoring a million leads one by one in Python takes minutes; the database does it
in one pass. Every rule is a comparison of a lead column with a constant, or an
inequality between columns: the DSCR test in floating point, evaluated in the order
Python evaluates it; the income (DTI) and LTV tests in whole cents and basis points,
with every division rounded half up as ``nurture.income.round_div`` does, so SQLite
and PostgreSQL agree with Python exactly. A property test compares this clause with
``assess`` on random leads and programs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import pendulum
import sqlalchemy as sa

from nurture.eligibility import (
    DEFAULT_1099_MONTHS,
    DEFAULT_MAX_DTI_BP,
    PITIA_PER_DOLLAR,
    STANDARD_EXPENSE_BP,
)
from nurture.guidelines import ProgramRules
from nurture.income import BASIS_POINTS, PITIA_FACTOR_UNITS, PL_MONTHS, StatementType, percent_bp
from storage.models import Lead, table

_lead = table(Lead)


def eligible_clause(programs: Iterable[ProgramRules], on: date) -> sa.ColumnElement[bool]:
    """True for a lead that qualifies for at least one of ``programs`` on ``on``."""
    clauses = [program_clause(p, on) for p in programs]
    return sa.or_(*clauses) if clauses else sa.false()


def program_clause(rules: ProgramRules, on: date) -> sa.ColumnElement[bool]:
    """True for a lead that qualifies for ``rules`` on ``on``: every test of ``assess`` as one condition."""
    if on < rules.effective_date:
        return sa.false()
    lead = _lead.c
    conditions: list[sa.ColumnElement[bool]] = [lead.product == rules.program.value]
    if rules.min_fico is not None:
        conditions.append(sa.and_(lead.fico.is_not(None), lead.fico >= rules.min_fico))
    seasoned = [
        sa.and_(lead.credit_event_type == event.value, lead.credit_event_date <= _months_before(on, months))
        for event, months in rules.seasoning_months.items()
    ]
    conditions.append(sa.or_(lead.credit_event_type.is_(None), *seasoned))
    if rules.min_dscr is not None:
        conditions.append(
            sa.and_(
                lead.monthly_rent.is_not(None),
                lead.loan_amount.is_not(None),
                lead.monthly_rent >= lead.loan_amount * (rules.min_dscr * PITIA_PER_DOLLAR),
            )
        )
    if rules.statement_months is not None:
        conditions.append(sa.or_(lead.statement_months.is_(None), lead.statement_months >= rules.statement_months))
    if rules.asset_divisor is not None or rules.max_dti is not None:
        conditions.append(_income_clause(rules))
    if rules.max_ltv is not None:
        ltv = sa.or_(lead.loan_amount.is_(None), lead.property_value.is_(None))
        conditions.append(sa.or_(ltv, lead.loan_amount * 10_000 <= lead.property_value * percent_bp(rules.max_ltv)))
    if rules.min_loan_amount is not None:
        conditions.append(sa.or_(lead.loan_amount.is_(None), lead.loan_amount >= rules.min_loan_amount))
    if rules.states is not None:
        conditions.append(sa.or_(lead.address_state.is_(None), lead.address_state.in_(sorted(rules.states))))
    return sa.and_(*conditions)


def _round_div(numerator: sa.ColumnElement[int], denominator: int | sa.ColumnElement[int]) -> sa.ColumnElement[int]:
    """``nurture.income.round_div`` in SQL: ``(2n + d) / (2d)`` on integers divides as Python's ``//`` does for
    the numerators here, which are never negative."""
    return (numerator * 2 + denominator) // (denominator * 2)


def _income_clause(rules: ProgramRules) -> sa.ColumnElement[bool]:
    """``nurture.eligibility._income``: (payment + debts) x 10,000 <= maximum DTI (basis points) x income, in cents."""
    lead = _lead.c
    limit = DEFAULT_MAX_DTI_BP if rules.max_dti is None else percent_bp(rules.max_dti)
    payment = (lead.loan_amount * (2 * PITIA_FACTOR_UNITS) + 10**6) // (2 * 10**6)
    owed = (payment + sa.func.coalesce(lead.monthly_debts, 0) * 100) * BASIS_POINTS
    if rules.asset_divisor is not None:
        income = _round_div(lead.liquid_assets * 100, rules.asset_divisor)
        known = [lead.liquid_assets.is_not(None)]
    else:
        income = _documented_income(rules)
        known = [income.is_not(None)]
    return sa.and_(lead.loan_amount.is_not(None), *known, owed <= income * limit)


def _documented_income(rules: ProgramRules) -> sa.ColumnElement[int]:
    """``nurture.eligibility.documented_income_cents``: statements, else 1099s, else a P&L; NULL when none."""
    lead = _lead.c
    program_bp = STANDARD_EXPENSE_BP if rules.expense_ratio is None else percent_bp(rules.expense_ratio)
    ratio = sa.func.coalesce(lead.expense_ratio_bp, program_bp)
    months = sa.func.coalesce(lead.gross_1099_months, DEFAULT_1099_MONTHS)
    deposits = lead.monthly_deposits.is_not(None)
    return sa.case(
        (sa.and_(deposits, lead.statement_type == StatementType.BUSINESS.value),
         _round_div(lead.monthly_deposits * (BASIS_POINTS - ratio), 100)),
        (sa.and_(deposits, lead.statement_type == StatementType.PERSONAL.value), lead.monthly_deposits * 100),
        (lead.gross_1099.is_not(None), _round_div(lead.gross_1099 * 100, months)),
        (lead.pl_net.is_not(None),
         _round_div(sa.case((lead.pl_net > 0, lead.pl_net), else_=0) * 100, PL_MONTHS)),
        else_=sa.null(),
    )  # fmt: skip


def _months_before(on: date, months: int) -> date:
    """The latest event date that has seasoned ``months`` calendar months by ``on``.

    Seasoning adds months forward with the day clamped to the month's end (Jan 31 + 1 month = Feb 28), so
    ``on - months`` can be a few days early: step forward while the next day still seasons in time.
    """
    d = pendulum.Date(on.year, on.month, on.day).subtract(months=months)
    while d.add(days=1).add(months=months) <= on:
        d = d.add(days=1)
    return date(d.year, d.month, d.day)

"""Lender program eligibility as SQL: the same tests as ``nurture.eligibility.assess``, over the whole lead table.

Re-scoring a million leads one by one in Python takes minutes; the database does it
in one pass. Every rule is a comparison of a lead column with a constant, or a linear
inequality between two columns (the DSCR and asset-depletion tests use the payment
estimate ``PITIA_PER_DOLLAR``), so SQLite and PostgreSQL agree with Python to the cent.
A property test compares this clause with ``assess`` on random leads and programs.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import pendulum
import sqlalchemy as sa

from nurture.eligibility import MAX_DTI, PITIA_PER_DOLLAR
from nurture.guidelines import ProgramRules
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
    if rules.asset_divisor is not None:
        conditions.append(
            sa.and_(
                lead.liquid_assets.is_not(None),
                lead.loan_amount.is_not(None),
                lead.liquid_assets >= lead.loan_amount * (rules.asset_divisor * PITIA_PER_DOLLAR) / MAX_DTI,
            )
        )
    if rules.min_loan_amount is not None:
        conditions.append(sa.or_(lead.loan_amount.is_(None), lead.loan_amount >= rules.min_loan_amount))
    if rules.states is not None:
        conditions.append(sa.or_(lead.address_state.is_(None), lead.address_state.in_(sorted(rules.states))))
    return sa.and_(*conditions)


def _months_before(on: date, months: int) -> date:
    """The latest event date that has seasoned ``months`` calendar months by ``on``.

    Seasoning adds months forward with the day clamped to the month's end (Jan 31 + 1 month = Feb 28), so
    ``on - months`` can be a few days early: step forward while the next day still seasons in time.
    """
    d = pendulum.Date(on.year, on.month, on.day).subtract(months=months)
    while d.add(days=1).add(months=months) <= on:
        d = d.add(days=1)
    return date(d.year, d.month, d.day)

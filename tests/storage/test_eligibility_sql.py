"""The SQL eligibility clause and the Python rules agree, lead by lead, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from nurture.eligibility import LeadFacts, eligible_anywhere
from nurture.guidelines import PROGRAMS, ProgramRules
from nurture.income import StatementType
from nurture.products import CreditEventType, Product
from storage.eligibility_sql import eligible_clause
from storage.models import Lead, table
from tests.factories import clear_database, insert_lead

ON = date(2026, 6, 15)
_lead = table(Lead)

programs = st.builds(
    ProgramRules,
    lender=st.sampled_from(["Harbor Capital", "Summit Non-QM"]),
    program=st.sampled_from(PROGRAMS),
    effective_date=st.sampled_from([date(2026, 1, 1), ON, ON + timedelta(days=1)]),
    min_fico=st.none() | st.integers(560, 720),
    seasoning_months=st.dictionaries(st.sampled_from(list(CreditEventType)), st.integers(0, 60), max_size=3),
    min_dscr=st.none() | st.sampled_from([0.75, 1.0, 1.1, 1.25]),
    asset_divisor=st.none() | st.sampled_from([48, 60, 84, 360]),
    min_loan_amount=st.none() | st.sampled_from([75_000, 150_000, 400_000]),
    states=st.none() | st.frozensets(st.sampled_from(["FL", "TX", "CA", "NY"]), min_size=1),
    max_ltv=st.none() | st.sampled_from([70.0, 80.0, 82.5]),
    expense_ratio=st.none() | st.sampled_from([30.0, 40.0, 50.0, 37.5]),
    statement_months=st.none() | st.sampled_from([12, 24]),
    max_dti=st.none() | st.sampled_from([36.0, 43.0, 45.0, 50.0, 55.55]),
)
leads = st.fixed_dictionaries(
    {
        "product": st.sampled_from(list(Product)),
        "fico": st.none() | st.integers(540, 760),
        "event": st.none() | st.sampled_from(list(CreditEventType)),
        "event_days_ago": st.integers(0, 365 * 6),
        "loan_amount": st.none() | st.integers(50_000, 1_500_000),
        "monthly_rent": st.none() | st.integers(500, 12_000),
        "liquid_assets": st.none() | st.integers(10_000, 8_000_000),
        "state": st.none() | st.sampled_from(["FL", "TX", "CA", "NY", "GA"]),
        "income": st.fixed_dictionaries(
            {
                "monthly_deposits": st.none() | st.integers(0, 80_000),
                "statement_type": st.none() | st.sampled_from(StatementType),
                "statement_months": st.none() | st.sampled_from([12, 24]),
                "expense_ratio_bp": st.none() | st.integers(0, 10_000),
                "gross_1099": st.none() | st.integers(0, 900_000),
                "gross_1099_months": st.none() | st.sampled_from([12, 24]),
                "pl_net": st.none() | st.integers(0, 900_000),
                "property_value": st.none() | st.integers(50_000, 3_000_000),
                "monthly_debts": st.none() | st.integers(0, 8_000),
            }
        ),
    }
)


def _stored(income: dict) -> dict:
    kind = income["statement_type"]
    return income | {"statement_type": kind.value if kind else None}


@settings(
    max_examples=25, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(rules=st.lists(programs, min_size=1, max_size=4), specs=st.lists(leads, min_size=1, max_size=12))
def test_sql_and_python_agree_on_who_is_eligible(engine: Engine, rules: list[ProgramRules], specs: list[dict]):
    clear_database(engine)
    facts: dict[int, LeadFacts] = {}
    for n, spec in enumerate(specs):
        event_date = ON - timedelta(days=spec["event_days_ago"]) if spec["event"] else None
        lead_id = insert_lead(
            engine, consent=False, phone=f"+1305555{n:04d}", email=f"l{n}@example.com", product=spec["product"].value,
            fico=spec["fico"], credit_event_type=spec["event"].value if spec["event"] else None,
            credit_event_date=event_date, loan_amount=spec["loan_amount"], monthly_rent=spec["monthly_rent"],
            liquid_assets=spec["liquid_assets"], address_state=spec["state"], **_stored(spec["income"]),
        )  # fmt: skip
        facts[lead_id] = LeadFacts(
            lead_id, spec["product"], spec["fico"], spec["event"], event_date, spec["loan_amount"],
            spec["monthly_rent"], spec["liquid_assets"], spec["state"], date(2026, 2, 1), **spec["income"],
        )  # fmt: skip
    with engine.connect() as conn:
        by_sql = set(conn.execute(sa.select(_lead.c.id).where(eligible_clause(rules, ON))).scalars())
    by_python = {lead_id for lead_id, lead in facts.items() if eligible_anywhere(lead, rules, ON)}
    assert by_sql == by_python


def test_the_boundaries_agree_exactly(engine: Engine):
    """At the exact FICO, DSCR, asset, DTI and LTV limits and on the exact seasoning day, both say eligible; a
    point, a dollar or a day short, both say not."""
    from nurture.eligibility import PITIA_PER_DOLLAR
    from nurture.income import asset_income_cents, payment_cents

    loan = 300_000
    rent = int(-(-1.0 * PITIA_PER_DOLLAR * loan // 1))  # the smallest whole rent that covers DSCR 1.0
    payment = payment_cents(loan)  # $2,472.65
    assets = next(a for a in range(290_000, 300_000) if asset_income_cents(a, 60) >= 2 * payment)
    # A 45% DTI: $2,472.65 + debts within 45% of $10,000 (business deposits of $20,000 at 50%) leaves $2,027.35.
    income = dict(monthly_deposits=20_000, statement_type="business", statement_months=12, loan_amount=loan)
    rules = [
        ProgramRules("L", Product.BANK_STATEMENT, date(2026, 1, 1), min_fico=620,
                     seasoning_months={CreditEventType.CHAPTER_7: 24}),
        ProgramRules("L", Product.DSCR, date(2026, 1, 1), min_dscr=1.0),
        ProgramRules("L", Product.ASSET_DEPLETION, date(2026, 1, 1), asset_divisor=60),
        ProgramRules("L", Product.FOREIGN_NATIONAL, date(2026, 1, 1), max_dti=45, statement_months=12, max_ltv=80),
    ]  # fmt: skip
    cases = [
        dict(product="bank_statement", fico=620, credit_event_type="chapter_7", credit_event_date=date(2024, 6, 15)),
        dict(product="bank_statement", fico=619),
        dict(product="bank_statement", fico=640, credit_event_type="chapter_7", credit_event_date=date(2024, 6, 16)),
        dict(product="dscr", loan_amount=loan, monthly_rent=rent),
        dict(product="dscr", loan_amount=loan, monthly_rent=rent - 1),
        dict(product="asset_depletion", loan_amount=loan, liquid_assets=assets),
        dict(product="asset_depletion", loan_amount=loan, liquid_assets=assets - 1),
        dict(product="foreign_national", monthly_debts=2_027, **income),
        dict(product="foreign_national", monthly_debts=2_028, **income),
        dict(product="foreign_national", monthly_debts=2_027, expense_ratio_bp=5_001, **income),
        dict(product="foreign_national", **income | {"statement_months": 24, "statement_type": "personal"}),
        dict(product="foreign_national", **income | {"statement_type": None}),
        dict(product="foreign_national", property_value=375_000, **income),
        dict(product="foreign_national", property_value=374_999, **income),
        dict(product="foreign_national", gross_1099=65_938, gross_1099_months=12, loan_amount=loan),
        dict(product="foreign_national", gross_1099=65_937, gross_1099_months=12, loan_amount=loan),
    ]
    expected = [True, False, False, True, False, True, False, True, False, False, True, False, True, False, True, False]
    ids = [insert_lead(engine, consent=False, phone=f"+1305555{n:04d}", email=f"b{n}@example.com", **case)
           for n, case in enumerate(cases)]  # fmt: skip
    with engine.connect() as conn:
        by_sql = set(conn.execute(sa.select(_lead.c.id).where(eligible_clause(rules, ON))).scalars())
    assert [lead_id in by_sql for lead_id in ids] == expected

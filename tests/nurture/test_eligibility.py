"""Eligibility: each blocker fires where it must and only there; seasoning dates; the priority score."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nurture.eligibility import (
    MAX_DTI,
    PITIA_PER_DOLLAR,
    Assessment,
    BlockerKind,
    LeadFacts,
    add_months,
    age_factor,
    assess,
    assessments,
    eligible_anywhere,
    monthly_pitia,
    priority_score,
    seasoning_date,
)
from nurture.guidelines import PROGRAMS, GuidelineSet, ProgramRules
from nurture.income import StatementType
from nurture.products import CreditEventType, Product

ON = date(2026, 3, 2)
DAY = timedelta(days=1)
CH7 = CreditEventType.CHAPTER_7
K = BlockerKind

RULES = ProgramRules(
    lender="Acme",
    program=Product.DSCR,
    effective_date=date(2026, 1, 1),
    min_fico=640,
    seasoning_months={CH7: 24, CreditEventType.FORECLOSURE: 36},
    min_dscr=1.0,
    asset_divisor=60,
    min_loan_amount=100_000,
    states=frozenset({"CA", "TX"}),
)
# Passes every limit of RULES: rent needs $3,297 and assets $395,623 for a $400,000 loan.
LEAD = LeadFacts(
    lead_id=1,
    product=Product.DSCR,
    fico=700,
    credit_event_type=None,
    credit_event_date=None,
    loan_amount=400_000,
    monthly_rent=4_000,
    liquid_assets=500_000,
    address_state="CA",
    inquiry_date=date(2025, 12, 1),
)


def kinds(a: Assessment) -> tuple[BlockerKind, ...]:
    return tuple(b.kind for b in a.blockers)


def check(lead: dict[str, Any], rules: dict[str, Any], on: date = ON) -> tuple[BlockerKind, ...]:
    return kinds(assess(replace(LEAD, **lead), replace(RULES, **rules), on))


@pytest.mark.parametrize(
    ("lead", "rules", "expected"),
    [
        ({}, {}, ()),
        ({"product": Product.BANK_STATEMENT, "fico": 500}, {}, (K.PROGRAM,)),
        ({"product": Product.GENERAL}, {}, (K.PROGRAM,)),
        ({}, {"effective_date": ON + DAY}, (K.NOT_EFFECTIVE,)),
        ({}, {"effective_date": ON}, ()),
        ({"fico": 639}, {}, (K.FICO,)),
        ({"fico": 640}, {}, ()),
        ({"fico": None}, {}, (K.FICO_UNKNOWN,)),
        ({"fico": None}, {"min_fico": None}, ()),
        (
            {"credit_event_type": CreditEventType.SHORT_SALE, "credit_event_date": date(2015, 1, 1)},
            {},
            (K.EVENT_NOT_ACCEPTED,),
        ),
        ({"credit_event_type": CH7, "credit_event_date": date(2024, 3, 2)}, {}, ()),
        ({"credit_event_type": CH7, "credit_event_date": date(2024, 3, 3)}, {}, (K.SEASONING,)),
        ({"credit_event_type": CH7, "credit_event_date": None}, {}, (K.SEASONING,)),
        ({"credit_event_type": None, "credit_event_date": date(2026, 1, 1)}, {}, ()),
        ({"monthly_rent": 3_000}, {}, (K.DSCR,)),
        ({"monthly_rent": None}, {}, (K.DSCR_UNKNOWN,)),
        ({"monthly_rent": None}, {"min_dscr": None}, ()),
        ({"loan_amount": None}, {}, (K.DSCR_UNKNOWN, K.ASSETS_UNKNOWN)),
        ({"loan_amount": None}, {"min_dscr": None, "asset_divisor": None}, ()),
        ({"liquid_assets": 300_000}, {}, (K.ASSETS,)),
        ({"liquid_assets": None}, {}, (K.ASSETS_UNKNOWN,)),
        ({"liquid_assets": None}, {"asset_divisor": None}, ()),
        ({"loan_amount": 99_999}, {}, (K.LOAN_AMOUNT,)),
        ({"loan_amount": 100_000}, {}, ()),
        ({"address_state": "NV"}, {}, (K.STATE,)),
        ({"address_state": None}, {}, ()),
        ({"address_state": "NV"}, {"states": None}, ()),
        ({}, {"max_ltv": 1.0}, ()),
        ({"fico": 600, "address_state": "NV", "monthly_rent": 1}, {}, (K.FICO, K.DSCR, K.STATE)),
    ],
)
def test_each_blocker_fires_where_it_must_and_not_elsewhere(lead, rules, expected):
    assert check(lead, rules) == expected


def only_blocker(lead: LeadFacts, rules: ProgramRules, lead_changes: dict[str, Any], rule_changes: dict | None) -> str:
    """The text of the one blocker of ``lead`` and ``rules`` with the changes given."""
    (blocker,) = assess(replace(lead, **lead_changes), replace(rules, **(rule_changes or {})), ON).blockers
    return blocker.text


def test_blockers_say_why_in_plain_words():
    def text(lead: dict[str, Any], rules: dict[str, Any] | None = None) -> str:
        return only_blocker(LEAD, RULES, lead, rules)

    assert text({"fico": 610}) == "FICO 610 is 30 points short of 640"
    assert text({"monthly_rent": 3_035}) == "DSCR 0.92 is below 1.00"
    assert text({"monthly_rent": 3_296}) == "DSCR 0.99 is below 1.00"
    assert text({"address_state": "NV"}) == "this lender does not lend in NV"
    assert text({"liquid_assets": 400_000, "loan_amount": 500_000, "monthly_rent": 9_000}) == (
        "liquid assets of $400,000 support $6,666 a month at a 60-month divisor; the payment needs $8,243"
    )
    assert text({"liquid_assets": 400_000, "loan_amount": 500_000, "monthly_rent": 9_000, "monthly_debts": 500}) == (
        "liquid assets of $400,000 support $6,666 a month at a 60-month divisor; the payment and $500 of debts need"
        " $9,243"
    )
    assert text({"fico": None}) == "FICO unknown; the program needs 640"
    assert text({"product": Product.GENERAL}) == "a General non-QM lead does not fit a DSCR program"
    assert text({"credit_event_type": CH7}) == "chapter 7 date unknown; the program needs 24 months since it"
    assert text({"monthly_rent": None}) == "DSCR unknown without the rent; the program needs 1.00"
    assert text({}, {"effective_date": date(2026, 4, 1)}) == "these rules take effect on 2026-04-01"
    event: dict[str, Any] = {"credit_event_type": CH7, "credit_event_date": date(2025, 1, 15)}
    assert text(event) == "chapter 7 seasons on 2027-01-15 (24 months after 2025-01-15)"
    (blocker,) = assess(replace(LEAD, **event), RULES, ON).blockers
    assert blocker.seasons_on == date(2027, 1, 15)


def test_the_payment_estimate_is_a_30_year_loan_at_7_5_percent_plus_taxes_and_insurance():
    assert monthly_pitia(1_000_000) == pytest.approx(6_992.15 + 1_250.00, abs=0.01)
    assert monthly_pitia(400_000) == PITIA_PER_DOLLAR * 400_000


def test_dscr_exactly_at_the_minimum_is_eligible():
    rent, loan = 3_300, 400_000
    min_dscr = rent / (PITIA_PER_DOLLAR * loan)
    assert min_dscr * PITIA_PER_DOLLAR * loan == rent  # an exact float boundary
    rules = {"min_dscr": min_dscr, "asset_divisor": None}
    assert check({"monthly_rent": rent, "loan_amount": loan}, rules) == ()
    assert check({"monthly_rent": rent - 1, "loan_amount": loan}, rules) == (K.DSCR,)


def test_assets_boundary_is_exact_to_the_cent():
    """$400,000 is a $3,296.86 payment; at 50% the assets must yield $6,593.72 a month over 60 months. $395,623
    does ($6,593.7167 rounds to $6,593.72), $395,622 does not ($6,593.70)."""
    assert RULES.asset_divisor == 60 and MAX_DTI == 0.5
    assert 395_622 < 60 * PITIA_PER_DOLLAR * 400_000 / MAX_DTI < 395_624
    assert check({"liquid_assets": 395_623}, {}) == ()
    assert check({"liquid_assets": 395_622}, {}) == (K.ASSETS,)
    assert check({"liquid_assets": 395_623, "monthly_debts": 1}, {}) == (K.ASSETS,), "debts count too"
    assert check({"liquid_assets": 395_623}, {"max_dti": 49.99}) == (K.ASSETS,)
    assert check({"liquid_assets": 300_000}, {"max_dti": 66}) == ()


# A self-employed borrower with $20,000 a month of business deposits over 24 months: $10,000 of income at the
# standard 50%. A $400,000 loan is a $3,296.86 payment; with $1,500 of other debts the DTI is 47.97%.
BS = ProgramRules(
    lender="Acme", program=Product.BANK_STATEMENT, effective_date=date(2026, 1, 1), max_dti=45, max_ltv=80
)
BS_LEAD = replace(
    LEAD,
    product=Product.BANK_STATEMENT,
    monthly_deposits=20_000,
    statement_type=StatementType.BUSINESS,
    statement_months=24,
    monthly_debts=1_500,
    property_value=500_000,
)


def bs_check(lead: dict[str, Any], rules: dict[str, Any]) -> tuple[BlockerKind, ...]:
    return kinds(assess(replace(BS_LEAD, **lead), replace(BS, **rules), ON))


@pytest.mark.parametrize(
    ("lead", "rules", "expected"),
    [
        ({}, {}, (K.DTI,)),  # 47.97% > 45%
        ({}, {"max_dti": 47.97}, ()),  # exactly at the maximum: (3,296.86 + 1,500) / 10,000
        ({}, {"max_dti": 47.96}, (K.DTI,)),
        ({}, {"max_dti": None}, ()),  # no maximum: income is not tested
        ({}, {"expense_ratio": 40}, ()),  # $12,000 of income: 39.97%
        ({"expense_ratio_bp": 4_000}, {}, ()),  # a CPA's 40% instead of the standard 50%
        ({"expense_ratio_bp": 6_000}, {"expense_ratio": 40}, (K.DTI,)),  # the CPA's figure wins
        ({"statement_type": StatementType.PERSONAL, "monthly_deposits": 10_000}, {}, (K.DTI,)),
        ({"statement_type": StatementType.PERSONAL, "monthly_deposits": 11_000}, {}, ()),  # no expense ratio
        ({"monthly_debts": None}, {}, ()),  # no debts given: counted as none
        ({"monthly_debts": 1_203}, {}, ()),  # (3,296.86 + 1,203) / 10,000 = 44.9986%
        ({"monthly_debts": 1_204}, {}, (K.DTI,)),
        ({"monthly_deposits": None}, {}, (K.INCOME_UNKNOWN,)),
        ({"statement_type": None}, {}, (K.INCOME_UNKNOWN,)),
        ({"loan_amount": None}, {}, (K.INCOME_UNKNOWN,)),
        ({"monthly_deposits": None, "gross_1099": 120_000}, {"max_dti": 48}, ()),  # 1099s when no statements
        ({"monthly_deposits": None, "gross_1099": 120_000, "gross_1099_months": 24}, {"max_dti": 48}, (K.DTI,)),
        ({"monthly_deposits": None, "pl_net": 120_000}, {"max_dti": 48}, ()),  # then a 12-month P&L
        ({"statement_months": 12}, {"max_dti": None, "statement_months": 24}, (K.STATEMENT_MONTHS,)),
        ({"statement_months": 12}, {"max_dti": None, "statement_months": 12}, ()),
        ({"statement_months": None}, {"max_dti": None, "statement_months": 24}, ()),  # unknown: not held back
        ({"property_value": 499_999}, {"max_dti": None}, (K.LTV,)),  # $400,000 is 80.0002%
        ({"property_value": None}, {"max_dti": None}, ()),
        ({}, {"max_dti": None, "max_ltv": None}, ()),
    ],
)
def test_income_statement_months_and_ltv_block_where_they_must(lead, rules, expected):
    assert bs_check(lead, rules) == expected


def test_income_blockers_say_why_with_the_numbers():
    def text(lead: dict[str, Any], rules: dict[str, Any] | None = None) -> str:
        return only_blocker(BS_LEAD, BS, lead, rules)

    assert text({}) == (
        "estimated 47.97% DTI is above the 45% DTI maximum: a $3,296.86 payment and $1,500 of debts on $10,000 a month"
        " from business bank statements at a 50% expense ratio"
    )
    assert text({"monthly_debts": None, "statement_type": StatementType.PERSONAL, "monthly_deposits": 7_000}) == (
        "estimated 47.10% DTI is above the 45% DTI maximum: a $3,296.86 payment on $7,000 a month from personal bank"
        " statements"
    )
    assert text({"monthly_deposits": None, "pl_net": 60_000}) == (
        "estimated 95.94% DTI is above the 45% DTI maximum: a $3,296.86 payment and $1,500 of debts on $5,000 a month"
        " from a 12-month P&L"
    )
    assert text({"monthly_deposits": None}) == "DTI unknown without the income; the program allows up to 45% DTI"
    assert text({"statement_months": 12}, {"max_dti": None, "statement_months": 24}) == (
        "12 months of bank statements; the program averages 24"
    )
    assert text({"property_value": 450_000}, {"max_dti": None}) == "88.89% loan-to-value is above the 80% LTV maximum"


def test_domain_lowering_the_expense_ratio_from_50_to_40_opens_exactly_the_leads_whose_dti_now_fits():
    """At 45%, $3,296.86 of payment and $1,500 of debts need $10,659.69 of income: deposits of $21,320 at 50%
    ($10,660) and $17,767 at 40% ($10,660.20); $17,766 at 40% is $10,659.60, short."""
    old, new = replace(BS, max_ltv=None), replace(BS, max_ltv=None, expense_ratio=40)
    opened = {
        d
        for d in range(17_000, 22_000)
        if assess(replace(BS_LEAD, monthly_deposits=d), new, ON).eligible
        and not assess(replace(BS_LEAD, monthly_deposits=d), old, ON).eligible
    }
    assert opened == set(range(17_767, 21_320))


def test_domain_24_to_12_months_opens_the_leads_with_a_year_of_statements_whose_dti_fits():
    old, new = replace(BS, max_ltv=None, statement_months=24), replace(BS, max_ltv=None, statement_months=12)
    year = replace(BS_LEAD, statement_months=12, monthly_debts=0)
    assert not assess(year, old, ON).eligible and assess(year, new, ON).eligible
    assert not assess(replace(year, monthly_debts=1_500), new, ON).eligible, "its DTI does not fit"
    assert assess(replace(year, statement_months=24), old, ON).eligible, "24 months were eligible already"


@pytest.mark.parametrize(
    ("start", "months", "seasons"),
    [
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2025, 8, 31), 6, date(2026, 2, 28)),
        (date(2024, 3, 15), 24, date(2026, 3, 15)),
    ],
)
def test_seasoning_counts_calendar_months_clamped_to_the_month_end(start, months, seasons):
    assert add_months(start, months) == seasons
    lead = {"credit_event_type": CH7, "credit_event_date": start}
    rules = {"seasoning_months": {CH7: months}, "effective_date": start}
    assert check(lead, rules, seasons) == ()
    assert check(lead, rules, seasons - DAY) == (K.SEASONING,)
    (blocker,) = assess(replace(LEAD, **lead), replace(RULES, **rules), seasons - DAY).blockers
    assert blocker.seasons_on == seasons


def test_domain_lowering_min_fico_from_640_to_600_opens_600_to_639():
    old = ProgramRules(lender="Acme", program=Product.BANK_STATEMENT, effective_date=date(2026, 1, 1), min_fico=640)
    new = replace(old, min_fico=600)
    lead = replace(LEAD, product=Product.BANK_STATEMENT)
    opened = {
        f
        for f in range(550, 700)
        if assess(replace(lead, fico=f), new, ON).eligible and not assess(replace(lead, fico=f), old, ON).eligible
    }
    assert opened == set(range(600, 640))


def test_domain_chapter_7_discharged_23_months_ago_seasons_at_24_months():
    discharged = date(2024, 4, 2)
    rules = ProgramRules(
        lender="Acme", program=Product.CREDIT_EVENT, effective_date=date(2025, 1, 1), seasoning_months={CH7: 24}
    )
    lead = replace(LEAD, product=Product.CREDIT_EVENT, credit_event_type=CH7, credit_event_date=discharged)
    assert not eligible_anywhere(lead, [rules], ON)
    assert seasoning_date(lead, [rules], ON) == add_months(discharged, 24) == date(2026, 4, 2)


CE_LEAD = replace(LEAD, product=Product.CREDIT_EVENT, credit_event_type=CH7, credit_event_date=date(2025, 3, 2))
CE = ProgramRules(lender="A", program=Product.CREDIT_EVENT, effective_date=date(2025, 1, 1), seasoning_months={CH7: 24})


@pytest.mark.parametrize(
    ("programs", "expected"),
    [
        ([CE], date(2027, 3, 2)),
        ([CE, replace(CE, lender="B", seasoning_months={CH7: 18})], date(2026, 9, 2)),
        ([CE, replace(CE, lender="B", seasoning_months={CH7: 18}, min_fico=720)], date(2027, 3, 2)),
        ([replace(CE, min_fico=720)], None),
        ([replace(CE, effective_date=ON + DAY)], None),
        ([replace(CE, seasoning_months={})], None),
        ([replace(CE, seasoning_months={CH7: 12})], None),
        ([CE, replace(CE, lender="B", seasoning_months={CH7: 6})], None),
        ([replace(CE, program=Product.DSCR)], None),
    ],
)
def test_seasoning_date_only_where_seasoning_alone_holds_the_lead_back(programs, expected):
    assert seasoning_date(CE_LEAD, programs, ON) == expected


def test_seasoning_date_is_none_for_an_undated_event():
    assert seasoning_date(replace(CE_LEAD, credit_event_date=None), [CE], ON) is None


def test_assessments_cover_the_leads_product_only_best_first():
    eligible = replace(CE, lender="C", seasoning_months={CH7: 6})
    one = replace(CE, lender="A")
    two = replace(CE, lender="B", min_fico=720)
    other = replace(CE, lender="D", program=Product.DSCR, seasoning_months={CH7: 0})
    for given_ in ([two, one, other, eligible], GuidelineSet((two, one, other, eligible))):
        found = assessments(CE_LEAD, given_, ON)
        assert [a.rules.lender for a in found] == ["C", "A", "B"]
        assert [len(a.blockers) for a in found] == [0, 1, 2]
        assert eligible_anywhere(CE_LEAD, given_, ON)
    assert not eligible_anywhere(CE_LEAD, iter([two, one, other]), ON)
    assert not eligible_anywhere(replace(CE_LEAD, product=Product.GENERAL), [eligible], ON)


@pytest.mark.parametrize(("days", "factor"), [(-5, 1.0), (0, 1.0), (90, 1.0), (405, 0.7), (720, 0.4), (5_000, 0.4)])
def test_age_factor(days, factor):
    assert age_factor(ON - timedelta(days=days), ON) == pytest.approx(factor)


@pytest.mark.parametrize(
    ("product", "loan", "days", "engaged", "revenue", "score"),
    [
        (Product.BANK_STATEMENT, 450_000, 30, False, None, 180.00),  # 2% x $9,000
        (Product.BANK_STATEMENT, 450_000, 720, True, None, 108.00),  # x 0.4 x 1.5
        (Product.DSCR, 400_000, 405, False, None, 122.50),  # 2.5% x $7,000 x 0.7
        (Product.CREDIT_EVENT, None, 90, True, None, 126.00),  # 1.4% x $6,000 table average x 1.5
        (Product.ASSET_DEPLETION, 900_000, 91, False, 10_000.0, 174.83),  # 1.75% x $10,000 x (1 - 0.6/630)
        (Product.GENERAL, 300_000, 0, False, None, 100.41),  # 1.9125% (average) x $5,250 at 175 bps
    ],
)
def test_priority_score_hand_computed(product, loan, days, engaged, revenue, score):
    lead = replace(LEAD, product=product, loan_amount=loan, inquiry_date=ON - timedelta(days=days))
    assert priority_score(lead, on=ON, engaged=engaged, revenue_per_close=revenue) == score


STATES = ["CA", "TX", "NV", "FL"]
leads = st.builds(
    LeadFacts,
    lead_id=st.just(1),
    product=st.sampled_from(PROGRAMS),
    fico=st.none() | st.integers(500, 850),
    credit_event_type=st.none() | st.sampled_from(CreditEventType),
    credit_event_date=st.none() | st.dates(date(2020, 1, 1), ON),
    loan_amount=st.none() | st.integers(50_000, 1_500_000),
    monthly_rent=st.none() | st.integers(0, 15_000),
    liquid_assets=st.none() | st.integers(0, 5_000_000),
    address_state=st.none() | st.sampled_from(STATES),
    inquiry_date=st.just(date(2025, 1, 1)),
    monthly_deposits=st.none() | st.integers(0, 60_000),
    statement_type=st.none() | st.sampled_from(StatementType),
    statement_months=st.none() | st.sampled_from([12, 24]),
    expense_ratio_bp=st.none() | st.integers(1_000, 7_000),
    gross_1099=st.none() | st.integers(0, 500_000),
    gross_1099_months=st.none() | st.sampled_from([12, 24]),
    pl_net=st.none() | st.integers(0, 500_000),
    property_value=st.none() | st.integers(60_000, 2_000_000),
    monthly_debts=st.none() | st.integers(0, 5_000),
)
programs = st.builds(
    ProgramRules,
    lender=st.sampled_from(["A", "B", "C"]),
    program=st.sampled_from(PROGRAMS),
    effective_date=st.dates(date(2024, 1, 1), ON),
    min_fico=st.none() | st.integers(560, 760),
    seasoning_months=st.dictionaries(st.sampled_from(CreditEventType), st.integers(0, 60)),
    min_dscr=st.none() | st.sampled_from([0.75, 1.0, 1.25]),
    asset_divisor=st.none() | st.sampled_from([48, 60, 84, 360]),
    min_loan_amount=st.none() | st.integers(50_000, 500_000),
    states=st.none() | st.frozensets(st.sampled_from(STATES)),
    max_ltv=st.none() | st.sampled_from([65.0, 80.0, 82.5, 90.0]),
    expense_ratio=st.none() | st.sampled_from([30.0, 40.0, 50.0, 62.5]),
    statement_months=st.none() | st.sampled_from([12, 24]),
    max_dti=st.none() | st.sampled_from([36.0, 43.0, 45.0, 50.0, 55.5]),
)


def _same_program(lead: LeadFacts, rules: ProgramRules) -> ProgramRules:
    return replace(rules, program=lead.product)


@settings(deadline=None)
@given(leads, programs)
def test_eligibility_is_monotone_in_fico(lead, rules):
    rules = _same_program(lead, rules)
    found = [assess(replace(lead, fico=f), rules, ON) for f in range(500, 851)]
    for lower, higher in itertools.pairwise(found):
        assert set(kinds(higher)) <= set(kinds(lower))
        assert higher.eligible or not lower.eligible


@settings(deadline=None)
@given(leads, programs, st.dates(date(2024, 1, 1), ON), st.integers(0, 3_000))
def test_once_eligible_a_lead_stays_eligible_as_time_passes(lead, rules, on, days):
    rules = _same_program(lead, rules)
    now, later = assess(lead, rules, on), assess(lead, rules, on + timedelta(days=days))
    assert set(kinds(later)) <= set(kinds(now))
    assert later.eligible or not now.eligible


_RULE_OF = {
    K.EVENT_NOT_ACCEPTED: K.SEASONING,
    K.FICO_UNKNOWN: K.FICO,
    K.DSCR_UNKNOWN: K.DSCR,
    K.ASSETS_UNKNOWN: K.ASSETS,
    K.INCOME_UNKNOWN: K.DTI,
}


@settings(deadline=None)
@given(leads, programs, st.none() | st.integers(0, 200), st.integers(0, 60), st.booleans())
def test_loosening_a_limit_never_removes_an_eligible_lead(lead, rules, fico_cut, months_cut, more):
    rules = _same_program(lead, rules)
    looser = replace(
        rules,
        min_fico=None if fico_cut is None or rules.min_fico is None else rules.min_fico - fico_cut,
        seasoning_months=({CreditEventType.SHORT_SALE: 60} if more else {})
        | {e: max(m - months_cut, 0) for e, m in rules.seasoning_months.items()},
        min_dscr=None if rules.min_dscr is None or more else rules.min_dscr - 0.25,
        asset_divisor=None if rules.asset_divisor is None else max(rules.asset_divisor // 2, 1),
        states=None if more or rules.states is None else rules.states | {"NV"},
        max_ltv=None if rules.max_ltv is None or more else rules.max_ltv + 5,
        expense_ratio=None if rules.expense_ratio is None else rules.expense_ratio - 10,
        statement_months=None if rules.statement_months is None or more else 12,
        max_dti=None if rules.max_dti is None else rules.max_dti + 5,
    )
    before, after = assess(lead, rules, ON), assess(lead, looser, ON)
    assert {_RULE_OF.get(k, k) for k in kinds(after)} <= {_RULE_OF.get(k, k) for k in kinds(before)}
    assert after.eligible or not before.eligible


@settings(deadline=None)
@given(leads, programs)
def test_lowering_min_fico_never_removes_an_eligible_lead(lead, rules):
    rules = _same_program(lead, replace(rules, min_fico=rules.min_fico or 700))
    assert rules.min_fico is not None
    limits = [*range(rules.min_fico, 449, -1), None]
    found = [assess(lead, replace(rules, min_fico=m), ON) for m in limits]
    for stricter, looser in itertools.pairwise(found):
        assert set(kinds(looser)) <= set(kinds(stricter))
        assert looser.eligible or not stricter.eligible


credit_event_leads = st.builds(
    replace,
    st.just(replace(LEAD, product=Product.CREDIT_EVENT)),
    fico=st.integers(600, 760),
    credit_event_type=st.sampled_from([CH7, CreditEventType.FORECLOSURE]),
    credit_event_date=st.dates(date(2023, 1, 1), ON + 60 * DAY),
)
credit_event_programs = st.lists(
    st.builds(
        ProgramRules,
        lender=st.sampled_from(["A", "B", "C"]),
        program=st.just(Product.CREDIT_EVENT),
        effective_date=st.dates(date(2024, 1, 1), ON),
        min_fico=st.none() | st.integers(580, 720),
        seasoning_months=st.fixed_dictionaries(
            {CH7: st.integers(0, 48), CreditEventType.FORECLOSURE: st.integers(0, 48)}
        ),
    ),
    min_size=1,
    max_size=3,
)


@settings(deadline=None, max_examples=200)
@given(
    st.tuples(leads, st.lists(programs, max_size=3)) | st.tuples(credit_event_leads, credit_event_programs),
    st.floats(0, 1),
)
def test_seasoning_date_is_the_first_eligible_day(case, fraction):
    lead, rules = case
    seasons = seasoning_date(lead, rules, ON)
    if seasons is None:
        if not eligible_anywhere(lead, rules, ON):  # every program is in effect: only seasoning can clear
            assert not eligible_anywhere(lead, rules, date(2040, 1, 1))
        return
    assert seasons > ON
    assert eligible_anywhere(lead, rules, seasons)
    assert not eligible_anywhere(lead, rules, seasons - DAY)
    assert not eligible_anywhere(lead, rules, ON + (seasons - DAY - ON) * fraction)

"""The loan officer's worksheet: the playbook's numbers with their basis, seasoning dates, programs that fit,
the premium in dollars, and a question instead of a number wherever an input is missing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nurture.eligibility import LeadFacts, assessments
from nurture.guidelines import GuidelineSet, ProgramRules
from nurture.income import StatementType, dscr, dti, largest_loan, payment_cents, rate_premium_cost
from nurture.products import CreditEventType, Product
from nurture.worksheet import CONVENTIONAL_RATE, Figure, Worksheet, worksheet
from tests.nurture.test_eligibility import LEAD as ELIGIBLE_RENTAL

D = Decimal
ON = date(2026, 6, 1)
CH7 = CreditEventType.CHAPTER_7

HARBOR = ProgramRules(
    lender="Harbor Capital",
    program=Product.BANK_STATEMENT,
    effective_date=date(2026, 2, 1),
    min_fico=640,
    seasoning_months={CH7: 24},
    max_dti=50.0,
)
BAYLINE = replace(HARBOR, lender="Bayline Mortgage", min_fico=620, seasoning_months={CH7: 36}, max_dti=None)
# Self-employed in Florida: $20,000 a month of business deposits over 12 months, a $400,000 loan, no credit event.
LEAD = replace(
    ELIGIBLE_RENTAL,
    lead_id=7,
    product=Product.BANK_STATEMENT,
    monthly_rent=None,
    liquid_assets=None,
    address_state="FL",
    monthly_deposits=20_000,
    statement_type=StatementType.BUSINESS,
    statement_months=12,
    monthly_debts=500,
)
UNKNOWN = ("fico", "loan_amount", "monthly_deposits", "statement_type", "statement_months", "monthly_debts")
BARE = replace(LEAD, **dict.fromkeys(UNKNOWN, None))


def sheet(lead: LeadFacts = LEAD, programs: tuple[ProgramRules, ...] = (HARBOR, BAYLINE), on: date = ON) -> Worksheet:
    return worksheet(lead, programs, on)


def need(f: Figure | None) -> Figure:
    assert f is not None, "the worksheet has no such figure"
    return f


# The playbook's worked numbers (DOMAIN.md, "Income math facts"), each with its basis.


def test_20000_of_business_deposits_at_the_standard_50_percent_is_10000_a_month_with_that_basis():
    income = need(sheet().income)
    assert income.amount == D("10000.00") and income.value == "$10,000 a month"
    assert income.basis == "12 months of business deposits averaging $20,000 a month at the standard 50% expense ratio"
    assert income.for_borrower and not income.ask


def test_a_cpa_ratio_replaces_the_standard_one_and_a_lenders_own_ratio_is_shown_beside_it():
    cpa = need(sheet(replace(LEAD, expense_ratio_bp=3_500)).income)
    assert (cpa.amount, cpa.basis.endswith("at the CPA's 35% expense ratio")) == (D("13000.00"), True)
    forty = replace(HARBOR, expense_ratio=40.0)
    w = sheet(programs=(forty, BAYLINE))
    assert [(f.label, f.value) for f in w.other_ratios] == [
        ("Qualifying income at Harbor Capital's ratio", "$12,000 a month")
    ]
    assert not w.other_ratios[0].for_borrower  # names a lender: for the loan officer only
    assert sheet(replace(LEAD, expense_ratio_bp=3_500), (forty,)).other_ratios == ()  # the CPA's ratio overrides


def test_personal_statements_count_every_deposit_and_unknown_months_are_asked_for():
    income = need(sheet(replace(LEAD, statement_type=StatementType.PERSONAL, statement_months=None)).income)
    assert income.amount == D("20000.00")
    assert income.basis == "personal deposits averaging $20,000 a month, all counted"
    assert income.ask == "Ask whether the statements cover 12 or 24 months."


@pytest.mark.parametrize(
    ("facts", "amount", "basis"),
    [
        (
            {"gross_1099": 240_000, "gross_1099_months": 24},
            D("10000.00"),
            "$240,000 of 1099 income over 24 months, with no expense ratio taken off",
        ),
        (
            {"pl_net": 120_000},
            D("10000.00"),
            "a 12-month CPA-prepared profit and loss statement showing $120,000 of net profit",
        ),
        (
            {"pl_net": -5_000},
            D("0.00"),
            "a 12-month CPA-prepared profit and loss statement showing a net loss, which counts as no income",
        ),
    ],
)
def test_1099_and_pnl_income_when_there_are_no_statements(facts: dict, amount: Decimal, basis: str):
    lead = replace(LEAD, monthly_deposits=None, statement_type=None, statement_months=None, **facts)
    income = need(sheet(lead).income)
    assert (income.amount, income.basis) == (amount, basis)


def test_a_product_without_a_row_uses_the_default_order_and_the_1099_product_prefers_1099s():
    both = replace(LEAD, product=Product.GENERAL, gross_1099=60_000)
    assert need(sheet(both, ()).income).amount == D("10000.00")  # statements first by default
    order = {"1099": "$60,000 of 1099", "pnl": "a 12-month"}
    for value, start in order.items():
        product = next((p for p in Product if p.value == value), None)
        if product is not None:  # the 1099-only and P&L-only products, once they exist
            lead = replace(both, product=product, pl_net=24_000)
            assert need(sheet(lead, ()).income).basis.startswith(start)


def test_asset_depletion_1_5_million_over_360_months_is_4167_and_a_lenders_shorter_divisor_counts_more():
    lead = replace(LEAD, product=Product.ASSET_DEPLETION, liquid_assets=1_500_000)
    agency = need(sheet(lead, ()).income)
    assert (agency.amount, agency.value) == (D("4166.67"), "$4,167 a month")
    assert agency.basis == "$1,500,000 of liquid assets spread over 360 months" and "agency" in agency.note
    programs = (
        ProgramRules("Harbor Capital", Product.ASSET_DEPLETION, date(2026, 2, 1), asset_divisor=60),
        ProgramRules("Summit", Product.ASSET_DEPLETION, date(2026, 2, 1), asset_divisor=84),
    )
    shorter = need(sheet(lead, programs).income)
    assert (shorter.amount, shorter.basis) == (D("25000.00"), "$1,500,000 of liquid assets spread over 60 months")
    assert "Harbor Capital" in shorter.note and "Summit" not in shorter.note


def test_dscr_is_rent_over_the_estimated_pitia_the_eligibility_rules_use():
    rental = ProgramRules("Harbor Capital", Product.DSCR, date(2026, 2, 1), min_dscr=1.0)
    lead = replace(LEAD, product=Product.DSCR, monthly_rent=4_000)
    w = sheet(lead, (rental,))
    ratio = need(w.dscr)
    pitia = D(payment_cents(400_000)).scaleb(-2)  # $3,296.86
    assert ratio.amount == dscr(4_000, pitia) == D("1.21") and ratio.value == "1.21"
    assert ratio.basis == (
        "rent of $4,000 a month over an estimated $3,297 a month of principal, interest, taxes and insurance"
        " on a $400,000 loan"
    )
    assert ratio.note == "programs in force want at least 1.00" and ratio.for_borrower
    assert w.income is None and w.dti is None  # a rental qualifies on its rent
    assert w.lenders == ("Harbor Capital",)


def test_dscr_without_rent_asks_for_it_and_shows_no_number():
    ratio = need(sheet(replace(LEAD, product=Product.DSCR), ()).dscr)
    assert not ratio.known and ratio.amount is None
    assert ratio.basis == "needs the monthly rent" and "rents for" in ratio.ask


def test_dti_is_the_payment_and_debts_over_the_income():
    w = sheet()
    assert w.dti is not None
    assert w.dti.amount == dti(D("3296.86"), 500, D("10000.00")) == D("37.97")
    assert w.dti.value == "37.97% of income"
    assert w.dti.basis == "$3,297 estimated payment and $500 of other debts on $10,000 a month"
    assert w.dti.note == "programs in force allow up to 50% of income"
    assert "debts" in sheet(replace(LEAD, monthly_debts=None)).dti.ask  # type: ignore[union-attr]


def test_a_dti_above_the_maximum_gives_the_loan_this_income_carries_and_the_larger_down_payment():
    tight = replace(HARBOR, max_dti=35.0)
    fits = largest_loan(D("10000.00"), max_dti=D("0.35"), monthly_debts=500)
    assert 360_000 < fits < 400_000  # $3,000 of room for the payment: about $364,000 of loan
    note = need(sheet(programs=(tight,)).dti).note
    assert note == (
        f"programs in force allow up to 35% of income; within that this income carries a loan of up to"
        f" ${fits:,}, so a down payment ${400_000 - fits:,} larger"
    )
    assert "carries" not in need(sheet().dti).note  # 37.97% is within 50%


def test_the_earliest_eligible_date_is_the_shortest_seasoning_in_force_and_eligible_now_once_past():
    lead = replace(LEAD, credit_event_type=CH7, credit_event_date=date(2024, 3, 15))
    ahead = need(sheet(lead, on=date(2025, 6, 1)).seasoning)
    assert (ahead.value, ahead.when) == ("March 15, 2026", date(2026, 3, 15))
    assert ahead.basis == "24 months after the chapter 7 of March 15, 2024" and ahead.for_borrower
    assert ahead.note == "the shortest wait in force: Harbor Capital"
    past = need(sheet(lead).seasoning)
    assert past.value == "eligible now" and past.basis.startswith("seasoned since March 15, 2026")
    assert not past.for_borrower


@pytest.mark.parametrize(
    ("facts", "programs", "basis", "ask"),
    [
        ({"credit_event_date": None}, (HARBOR,), "the chapter 7 date is not on file", "Ask when the chapter 7 was"),
        ({}, (replace(HARBOR, seasoning_months={}),), "no program in force takes a chapter 7", ""),
        ({}, (), "no bank statement program is loaded", ""),
        ({}, (replace(HARBOR, states=frozenset({"CA"})),), "no program in force lends in FL", ""),
    ],
)
def test_a_seasoning_date_that_cannot_be_worked_out_says_why(facts: dict, programs: tuple, basis: str, ask: str):
    lead = replace(LEAD, **{"credit_event_type": CH7, "credit_event_date": date(2024, 3, 15)} | facts)
    seasoning = need(sheet(lead, programs).seasoning)
    assert not seasoning.known and seasoning.basis == basis and seasoning.ask.startswith(ask)


def test_programs_that_fit_today_are_named_and_match_the_eligibility_rules():
    w = sheet()
    eligible = tuple(a.rules.lender for a in assessments(LEAD, (HARBOR, BAYLINE), ON) if a.eligible)
    assert w.lenders == eligible == ("Harbor Capital", "Bayline Mortgage")
    assert need(w.fit).value == "Harbor Capital and Bayline Mortgage"


def test_when_none_fits_today_the_earliest_date_one_will_is_given():
    lead = replace(LEAD, credit_event_type=CH7, credit_event_date=date(2024, 9, 30))
    fit = need(sheet(lead).fit)
    assert fit.value == "none today; Harbor Capital from September 30, 2026"
    assert fit.when == date(2026, 9, 30) and "chapter 7 seasons on 2026-09-30" in fit.basis


def test_when_none_fits_and_time_alone_will_not_help_the_closest_program_and_what_to_ask_are_given():
    fit = need(sheet(replace(LEAD, fico=None), (HARBOR,)).fit)
    assert fit.value == "none today"
    assert fit.basis == "closest is Harbor Capital: FICO unknown; the program needs 640"
    assert fit.ask == "Ask for what is missing: FICO unknown; the program needs 640."
    assert need(sheet(replace(LEAD, fico=600), (HARBOR,)).fit).ask == ""


def test_no_programs_loaded_and_an_unknown_product_say_so():
    assert need(sheet(programs=()).fit).basis == "no bank statement program is loaded"
    general = need(sheet(replace(LEAD, product=Product.GENERAL)).fit)
    assert general.ask == "Find the product in discovery." and not general.known


def test_the_premium_is_dollars_a_month_over_a_conventional_loan_about_250_a_point_on_400000():
    premium = need(sheet().premium)
    point = rate_premium_cost(400_000, base_rate=CONVENTIONAL_RATE, premium=D("0.01"))
    assert premium.amount == point and D("238") <= point <= D("279")  # DOMAIN: "roughly $250 a month"
    low = rate_premium_cost(400_000, base_rate=CONVENTIONAL_RATE, premium=D("0.0075"))
    high = rate_premium_cost(400_000, base_rate=CONVENTIONAL_RATE, premium=D("0.0125"))
    assert premium.value == f"about ${round(low):,}-${round(high):,} a month"
    assert premium.basis.startswith("Bank statement loans usually price 0.75-1.25 points above conventional")
    # From 5%, income.py's worked example: one point on $400,000 is $250.91 a month.
    from_five = worksheet(LEAD, (), ON, conventional_rate=D("0.05"))
    assert from_five.premium.amount == D("250.91") and "($3,011 a year)" in from_five.premium.basis


def test_other_products_use_the_wider_non_qm_premium_and_a_missing_loan_amount_is_asked_for():
    dscr_premium = need(sheet(replace(LEAD, product=Product.DSCR), ()).premium)
    assert "0.5-2.0 points" in dscr_premium.basis
    bare = need(sheet(BARE).premium)
    assert not bare.known and bare.ask == "Ask the loan amount they have in mind."


def test_a_lead_with_nothing_on_file_gets_questions_not_numbers():
    w = sheet(BARE)
    assert w.estimates == () and w.dti is None
    assert need(w.income).ask.startswith("Ask roughly what is deposited each month")
    assert len(w.asks) == len(set(w.asks)) >= 3


def test_a_guideline_set_and_a_tuple_of_programs_give_the_same_worksheet():
    assert worksheet(LEAD, GuidelineSet((HARBOR, BAYLINE)), ON) == sheet()


# Properties over random leads, products and programs.

money = st.none() | st.integers(min_value=0, max_value=5_000_000)
leads = st.builds(
    LeadFacts,
    lead_id=st.just(1),
    product=st.sampled_from(list(Product)),
    fico=st.none() | st.integers(min_value=300, max_value=850),
    credit_event_type=st.none() | st.sampled_from(list(CreditEventType)),
    credit_event_date=st.none() | st.dates(min_value=date(2015, 1, 1), max_value=ON),
    loan_amount=st.none() | st.integers(min_value=50_000, max_value=3_000_000),
    monthly_rent=money,
    liquid_assets=money,
    address_state=st.sampled_from(["FL", "CA", None]),
    inquiry_date=st.just(date(2026, 1, 1)),
    monthly_deposits=money,
    statement_type=st.none() | st.sampled_from(list(StatementType)),
    statement_months=st.sampled_from([None, 12, 24]),
    expense_ratio_bp=st.none() | st.integers(min_value=0, max_value=10_000),
    gross_1099=money,
    gross_1099_months=st.sampled_from([None, 12, 24]),
    pl_net=st.none() | st.integers(min_value=-1_000_000, max_value=5_000_000),
    monthly_debts=money,
)
programs = st.lists(
    st.builds(
        ProgramRules,
        lender=st.sampled_from(["Harbor Capital", "Bayline Mortgage", "Summit"]),
        program=st.sampled_from([p for p in Product if p is not Product.GENERAL]),
        effective_date=st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 12, 31)),
        min_fico=st.none() | st.integers(min_value=500, max_value=760),
        seasoning_months=st.dictionaries(st.sampled_from(list(CreditEventType)), st.integers(1, 84)),
        min_dscr=st.none() | st.sampled_from([0.75, 1.0, 1.25]),
        asset_divisor=st.none() | st.integers(min_value=48, max_value=360),
        expense_ratio=st.none() | st.sampled_from([30.0, 40.0, 50.0]),
        max_dti=st.none() | st.sampled_from([43.0, 50.0, 55.0]),
    ),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(lead=leads, rules=programs)
def test_every_figure_has_a_value_with_its_basis_or_says_what_to_ask_or_why_not(lead: LeadFacts, rules: list):
    w = worksheet(lead, rules, ON)
    for f in w.figures:
        assert f.label
        if f.known:
            assert f.basis, f
        else:
            assert f.amount is None and (f.basis or f.ask), f
    assert all(f.known and f.for_borrower for f in w.estimates)
    assert set(w.lenders) == {a.rules.lender for a in assessments(lead, rules, ON) if a.eligible}
    if w.income is not None and w.income.amount is not None:
        assert w.income.amount >= 0


@settings(max_examples=200, deadline=None)
@given(
    deposits=st.integers(min_value=0, max_value=1_000_000),
    more=st.integers(min_value=0, max_value=1_000_000),
    ratio=st.integers(min_value=0, max_value=10_000),
    lower=st.integers(min_value=0, max_value=10_000),
)
def test_more_deposits_or_a_lower_expense_ratio_never_show_less_income(deposits, more, ratio, lower):
    def income(d: int, bp: int) -> Decimal:
        amount = worksheet(replace(LEAD, monthly_deposits=d, expense_ratio_bp=bp), (), ON).income
        assert amount is not None and amount.amount is not None
        return amount.amount

    assert income(deposits + more, ratio) >= income(deposits, ratio)
    assert income(deposits, max(ratio - lower, 0)) >= income(deposits, ratio)

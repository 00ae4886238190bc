"""Product matching follows the DOMAIN table: the situation decides the program."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nurture.products import (
    ASSET_DEPLETION_MIN_ASSETS,
    CreditEventType,
    Product,
    Situation,
    match_product,
    months_between,
)

AS_OF = date(2026, 3, 2)


@pytest.mark.parametrize(
    ("situation", "product"),
    [
        (Situation(self_employed=True), Product.BANK_STATEMENT),
        (Situation(investment_property=True), Product.DSCR),
        (Situation(liquid_assets=1_500_000), Product.ASSET_DEPLETION),
        (Situation(liquid_assets=ASSET_DEPLETION_MIN_ASSETS), Product.ASSET_DEPLETION),
        (Situation(liquid_assets=ASSET_DEPLETION_MIN_ASSETS - 1), Product.GENERAL),
        (
            Situation(credit_event_type=CreditEventType.CHAPTER_7, credit_event_date=date(2024, 9, 1)),
            Product.CREDIT_EVENT,
        ),
        (
            Situation(credit_event_type=CreditEventType.FORECLOSURE, credit_event_date=None),
            Product.CREDIT_EVENT,
        ),
        (Situation(foreign_national=True), Product.FOREIGN_NATIONAL),
        (Situation(high_dti=True), Product.BANK_STATEMENT),
        (Situation(), Product.GENERAL),
    ],
)
def test_each_situation_in_the_domain_table_gets_its_product(situation, product):
    assert match_product(situation, as_of=AS_OF) is product


def test_a_credit_event_older_than_seven_years_no_longer_decides():
    old = Situation(credit_event_type=CreditEventType.SHORT_SALE, credit_event_date=date(2019, 3, 1))
    recent = Situation(credit_event_type=CreditEventType.SHORT_SALE, credit_event_date=date(2019, 3, 3))

    assert match_product(old, as_of=AS_OF) is Product.GENERAL  # 84 months to the day
    assert match_product(recent, as_of=AS_OF) is Product.CREDIT_EVENT  # 83 months
    old_and_self_employed = Situation(**{**_fields(old), "self_employed": True})
    assert match_product(old_and_self_employed, as_of=AS_OF) is Product.BANK_STATEMENT


def test_a_recent_credit_event_outranks_the_income_story():
    situation = Situation(
        self_employed=True,
        liquid_assets=2_000_000,
        credit_event_type=CreditEventType.CHAPTER_13,
        credit_event_date=date(2025, 1, 10),
    )
    assert match_product(situation, as_of=AS_OF) is Product.CREDIT_EVENT


def test_self_employment_outranks_assets():
    assert match_product(Situation(self_employed=True, liquid_assets=3_000_000), as_of=AS_OF) is Product.BANK_STATEMENT


@pytest.mark.parametrize(
    ("situation", "product"),
    [
        (Situation(gross_1099=96_000), Product.TEN99),
        (Situation(self_employed=True, gross_1099=96_000), Product.TEN99),
        (Situation(self_employed=True, gross_1099=96_000, liquid_assets=2_000_000), Product.TEN99),
        (Situation(pl_net=150_000), Product.PNL),
        (Situation(self_employed=True, pl_net=150_000), Product.PNL),
        (Situation(gross_1099=96_000, pl_net=150_000), Product.TEN99),
        (Situation(self_employed=True, monthly_deposits=20_000, gross_1099=96_000), Product.BANK_STATEMENT),
        (Situation(self_employed=True, monthly_deposits=20_000, pl_net=150_000), Product.BANK_STATEMENT),
        (Situation(investment_property=True, gross_1099=96_000), Product.DSCR),
        (Situation(foreign_national=True, pl_net=150_000), Product.FOREIGN_NATIONAL),
        (
            Situation(
                gross_1099=96_000, credit_event_type=CreditEventType.CHAPTER_7, credit_event_date=date(2025, 1, 5)
            ),
            Product.CREDIT_EVENT,
        ),
    ],
)
def test_1099s_alone_make_a_1099_loan_and_a_pnl_alone_a_pnl_loan(situation, product):
    """Bank deposits keep the bank statement loan; property use, citizenship and a recent credit event still decide
    first; documented 1099 or P&L income outranks the asset story."""
    assert match_product(situation, as_of=AS_OF) is product


def test_the_new_products_have_labels_and_csv_values():
    assert (Product("1099"), Product("pnl")) == (Product.TEN99, Product.PNL)
    assert (Product.TEN99.label, Product.PNL.label) == ("1099-only", "P&L-only")


situations = st.builds(
    Situation,
    self_employed=st.booleans(),
    investment_property=st.booleans(),
    foreign_national=st.booleans(),
    liquid_assets=st.none() | st.integers(min_value=0, max_value=10_000_000),
    credit_event_type=st.none() | st.sampled_from(CreditEventType),
    credit_event_date=st.none() | st.dates(min_value=date(2000, 1, 1), max_value=AS_OF),
    high_dti=st.booleans(),
    monthly_deposits=st.none() | st.integers(min_value=0, max_value=1_000_000),
    gross_1099=st.none() | st.integers(min_value=0, max_value=5_000_000),
    pl_net=st.none() | st.integers(min_value=0, max_value=5_000_000),
)


@given(situations)
def test_a_foreign_national_always_gets_the_foreign_national_program(situation):
    situation = Situation(**{**_fields(situation), "foreign_national": True})
    assert match_product(situation, as_of=AS_OF) is Product.FOREIGN_NATIONAL


@given(situations)
def test_a_rental_purchase_is_dscr_unless_the_borrower_is_a_foreign_national(situation):
    situation = Situation(**{**_fields(situation), "investment_property": True})
    expected = Product.FOREIGN_NATIONAL if situation.foreign_national else Product.DSCR
    assert match_product(situation, as_of=AS_OF) is expected


@given(situations)
def test_general_only_when_nothing_points_elsewhere(situation):
    product = match_product(situation, as_of=AS_OF)
    flags = (
        situation.foreign_national,
        situation.investment_property,
        situation.self_employed,
        situation.high_dti,
    )
    documented = situation.monthly_deposits is None and (situation.gross_1099, situation.pl_net) != (None, None)
    if any(flags) or documented or (situation.liquid_assets or 0) >= ASSET_DEPLETION_MIN_ASSETS:
        assert product is not Product.GENERAL
    if product in (Product.TEN99, Product.PNL):
        assert documented
    if product is Product.CREDIT_EVENT:
        assert situation.credit_event_type is not None


@given(st.dates(), st.dates())
def test_months_between_is_whole_months_and_never_negative(a, b):
    months = months_between(a, b)
    assert months >= 0
    if b >= a:
        assert (b.year - a.year) * 12 + b.month - a.month - 1 <= months <= (b.year - a.year) * 12 + b.month - a.month


def _fields(situation: Situation) -> dict:
    return {name: getattr(situation, name) for name in Situation.__slots__}

"""Income math: the playbook's worked numbers to the cent, and the properties that keep it honest."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nurture.income import (
    PITIA_FACTOR,
    StatementType,
    asset_depletion_income,
    asset_income_cents,
    basis_points,
    business_statement_income,
    down_payment_needed,
    dscr,
    dti,
    dti_fits,
    estimated_pitia,
    income_1099,
    income_1099_cents,
    largest_loan,
    monthly_payment,
    payment_cents,
    percent_bp,
    personal_statement_income,
    pitia_factor,
    pl_income,
    pl_income_cents,
    rate_premium_cost,
    round_div,
    statement_income_cents,
    whole_dollars,
)

D = Decimal


# The playbook's numbers (DOMAIN.md, "Income math facts"), each reproduced exactly.


def test_business_statements_at_the_standard_50_percent_turn_20000_of_deposits_into_10000():
    assert business_statement_income([20_000] * 12) == D("10000.00")
    assert business_statement_income([20_000] * 24) == D("10000.00")
    assert statement_income_cents(20_000, StatementType.BUSINESS, 5_000) == 1_000_000


def test_a_cpa_expense_ratio_replaces_the_standard_one():
    assert business_statement_income([20_000] * 12, expense_ratio=D("0.35")) == D("13000.00")
    assert business_statement_income([20_000] * 12, expense_ratio=D("0.40")) == D("12000.00")


def test_a_seasonal_business_averages_its_months_and_24_months_smooth_a_high_season():
    high_season = [30_000] * 6 + [10_000] * 6  # a 12-month window: average $20,000
    two_years = high_season + [10_000] * 12  # a slow year before it pulls the average to $15,000
    assert business_statement_income(high_season) == D("10000.00")
    assert business_statement_income(two_years) == D("7500.00")


def test_personal_statements_count_all_net_deposits_after_transfers():
    deposits, transfers = [9_000] * 12, [1_500] * 12
    assert personal_statement_income(deposits) == D("9000.00")
    assert personal_statement_income(deposits, excluded=transfers) == D("7500.00")
    assert statement_income_cents(7_500, StatementType.PERSONAL, 5_000) == 750_000  # no expense ratio on personal


def test_1099_income_is_the_gross_over_12_or_24_months_less_an_optional_expense_ratio():
    assert income_1099(120_000) == D("10000.00")
    assert income_1099(240_000, months=24) == D("10000.00")
    assert income_1099(120_000, expense_ratio=D("0.10")) == D("9000.00")
    assert income_1099_cents(240_000, 24) == 1_000_000


def test_a_12_month_pl_gives_its_net_profit_a_month_and_a_loss_gives_nothing():
    assert pl_income(96_000) == D("8000.00")
    assert pl_income(100_000) == D("8333.33")
    assert pl_income(-5_000) == D("0.00")
    assert pl_income_cents(100_000) == 833_333


def test_asset_depletion_at_360_months_turns_1_5_million_into_4167_a_month():
    income = asset_depletion_income(1_500_000, divisor=360)
    assert income == D("4166.67") and whole_dollars(income) == 4_167
    assert asset_depletion_income(1_500_000, divisor=60) == D("25000.00")  # non-QM divisors: 48-84
    assert asset_depletion_income(1_500_000, divisor=48) == D("31250.00")
    assert asset_depletion_income(1_500_000, divisor=84) == D("17857.14")
    assert asset_income_cents(1_500_000, 360) == 416_667


def test_the_payment_estimate_is_30_years_at_7_5_percent_plus_1_5_percent_taxes_and_insurance():
    assert monthly_payment(1_000_000, annual_rate=D("0.075")) == D("6992.15")
    assert estimated_pitia(1_000_000) == D("8242.15")  # 6,992.15 + 1,250.00
    assert pitia_factor() == PITIA_FACTOR == D("0.00824215")
    assert payment_cents(1_000_000) == 824_215
    assert estimated_pitia(300_000, annual_rate=D("0.07"), taxes_insurance_rate=D("0.012")) == D("2295.91")


def test_dscr_is_rent_over_pitia_rounded_down():
    assert dscr(2_500, 2_000) == D("1.25")
    assert dscr(2_000, 2_000) == D("1.00")  # the usual minimum
    payment = estimated_pitia(300_000)
    assert payment == D("2472.64")
    assert dscr(2_472, payment) == D("0.99") and dscr(2_473, payment) == D("1.00")


def test_a_1_point_premium_on_400000_is_about_250_a_month_from_amortized_payments():
    at_5, at_6 = monthly_payment(400_000, annual_rate=D("0.05")), monthly_payment(400_000, annual_rate=D("0.06"))
    assert (at_5, at_6) == (D("2147.29"), D("2398.20"))
    cost = rate_premium_cost(400_000, base_rate=D("0.05"), premium=D("0.01"))
    assert cost == at_6 - at_5 == D("250.91")
    assert round(cost, -1) == 250  # "roughly $250 a month"
    assert round(cost * 12, -3) == 3_000  # "about $3,000 a year more interest"
    # Over the usual conventional rates the same point costs $238-$279 a month: "roughly $250".
    costs = [rate_premium_cost(400_000, base_rate=D(r), premium=D("0.01")) for r in ("0.04", "0.055", "0.075")]
    assert costs == [D("237.63"), D("257.11"), D("278.79")]


def test_a_larger_down_payment_means_a_smaller_loan_that_qualifies():
    # $10,000 a month of income, $1,500 of other debts, a 45% maximum DTI, a $500,000 home.
    income, debts, limit = 10_000, 1_500, D("0.45")
    assert dti(estimated_pitia(450_000), debts, income) == D("52.09")  # $50,000 down: does not qualify
    assert dti(estimated_pitia(350_000), debts, income) == D("43.85")  # $150,000 down: qualifies
    assert largest_loan(income, max_dti=limit, monthly_debts=debts) == 363_983
    assert down_payment_needed(500_000, monthly_income=income, max_dti=limit, monthly_debts=debts) == 136_017
    assert down_payment_needed(300_000, monthly_income=income, max_dti=limit, monthly_debts=debts) == 0
    assert largest_loan(1_000, max_dti=limit, monthly_debts=debts) == 0


def test_inputs_that_are_not_exact_or_not_possible_are_refused():
    with pytest.raises(TypeError, match="float"):
        business_statement_income([20_000.0] * 12)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="12 or 24"):
        business_statement_income([20_000] * 18)
    with pytest.raises(ValueError, match="fraction from 0 to 1"):
        business_statement_income([20_000] * 12, expense_ratio=50)
    with pytest.raises(ValueError, match="month 3"):
        personal_statement_income([1_000] * 12, excluded=[0, 0, 2_000] + [0] * 9)
    with pytest.raises(ValueError, match="divisor"):
        asset_depletion_income(1_000_000, divisor=0)
    with pytest.raises(ValueError, match="negative"):
        income_1099(-1)


def test_percents_and_basis_points():
    assert percent_bp(40) == 4_000 and percent_bp(37.5) == 3_750 and percent_bp(D("43.25")) == 4_325
    assert basis_points(D("0.5")) == 5_000 and basis_points(0.45) == 4_500
    assert [round_div(n, 4) for n in (0, 1, 2, 3, 5, 6)] == [0, 0, 1, 1, 1, 2]  # 0.25 down, 0.5 and 0.75 up


# Properties: more money in never means less income; the integer form equals the Decimal form.

money = st.integers(0, 10_000_000)
ratios = st.integers(0, 10_000).map(lambda bp: Decimal(bp) / 10_000)
months = st.sampled_from([12, 24])


@settings(deadline=None)
@given(st.lists(money, min_size=12, max_size=12) | st.lists(money, min_size=24, max_size=24), ratios, st.data())
def test_more_deposits_never_mean_less_income(deposits, ratio, data):
    month = data.draw(st.integers(0, len(deposits) - 1))
    more = [*deposits]
    more[month] += data.draw(st.integers(1, 1_000_000))
    assert business_statement_income(more, expense_ratio=ratio) >= business_statement_income(
        deposits, expense_ratio=ratio
    )
    assert personal_statement_income(more) >= personal_statement_income(deposits)


@settings(deadline=None)
@given(st.lists(money, min_size=12, max_size=12), ratios, ratios)
def test_a_lower_expense_ratio_never_means_less_income(deposits, a, b):
    lower, higher = min(a, b), max(a, b)
    assert business_statement_income(deposits, expense_ratio=lower) >= business_statement_income(
        deposits, expense_ratio=higher
    )


@settings(deadline=None)
@given(money, st.integers(0, 10_000), months)
def test_the_integer_form_is_the_decimal_form_in_cents(average, bp, n):
    ratio = Decimal(bp) / 10_000
    assert statement_income_cents(average, StatementType.BUSINESS, bp) == business_statement_income(
        [average] * n, expense_ratio=ratio
    ).scaleb(2)
    assert statement_income_cents(average, StatementType.PERSONAL, bp) == personal_statement_income(
        [average] * n
    ).scaleb(2)
    assert income_1099_cents(average, n) == income_1099(average, months=n).scaleb(2)
    assert pl_income_cents(average) == pl_income(average).scaleb(2)
    assert asset_income_cents(average, n * 5) == asset_depletion_income(average, divisor=n * 5).scaleb(2)


@settings(deadline=None)
@given(st.integers(0, 5_000_000_000))
def test_the_linear_payment_estimate_is_within_a_cent_plus_half_a_cent_per_million_of_the_amortized_one(loan):
    gap = abs(Decimal(payment_cents(loan)).scaleb(-2) - estimated_pitia(loan))
    assert gap <= Decimal("0.01") + Decimal(loan) * Decimal("0.000000005")


@settings(deadline=None)
@given(money, money, money, st.integers(1, 10_000), st.integers(1, 1_000_000))
def test_more_income_or_a_lower_expense_ratio_never_breaks_a_dti_that_fits(deposits, loan, debts, limit, more):
    for kind in StatementType:
        for bp in (5_000, 4_000):
            fits = dti_fits(payment_cents(loan), debts, statement_income_cents(deposits, kind, bp), limit)
            richer = dti_fits(payment_cents(loan), debts, statement_income_cents(deposits + more, kind, bp), limit)
            leaner = dti_fits(payment_cents(loan), debts, statement_income_cents(deposits, kind, bp - 1_000), limit)
            assert richer or not fits
            assert leaner or not fits


@settings(deadline=None)
@given(st.integers(1_000, 100_000), st.integers(0, 5_000), st.integers(1, 100))
def test_the_largest_loan_is_the_last_that_fits(income, debts, percent):
    limit = Decimal(percent) / 100
    loan = largest_loan(income, max_dti=limit, monthly_debts=debts)
    if loan:
        assert dti_fits(payment_cents(loan), debts * 100, income * 100, percent * 100)
    assert not dti_fits(payment_cents(loan + 1), debts * 100, income * 100, percent * 100)
    assert largest_loan(income + 1, max_dti=limit, monthly_debts=debts) >= loan


@settings(deadline=None)
@given(st.integers(10_000, 2_000_000), st.integers(0, 1_200), st.integers(1, 300))
def test_a_higher_rate_never_means_a_lower_payment(principal, base_bp, premium_bp):
    base, premium = Decimal(base_bp) / 10_000, Decimal(premium_bp) / 10_000
    assert rate_premium_cost(principal, base_rate=base, premium=premium) >= 0

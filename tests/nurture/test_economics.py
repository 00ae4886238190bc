"""The purchase estimate and its defaults: the playbook's worked example, exactly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nurture.economics import (
    BENCHMARKS,
    PurchaseEstimate,
    PurchaseInputError,
    age_band,
    purchase_defaults,
    quantile,
)
from nurture.products import Product


def test_the_playbooks_worked_example():
    e = PurchaseEstimate(leads=1_000, price=5, close_rate=0.02, revenue_per_close=8_000)
    assert (e.cost, e.closes, e.revenue) == (5_000, 20, 160_000)
    assert e.roi == 31  # $155,000 back on $5,000
    assert e.leads_one_close_pays_for == 1_600
    assert e.break_even_close_rate == 5 / 8_000


def test_one_close_pays_for_whole_leads_only():
    assert PurchaseEstimate(1, 4.75, 0.01, 8_000).leads_one_close_pays_for == 1_684  # 1,684.2
    assert PurchaseEstimate(1, 3, 0.01, 9_000).leads_one_close_pays_for == 3_000  # exact, not 2,999


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"leads": 0}, "leads"),
        ({"leads": -5}, "leads"),
        ({"leads": True}, "leads"),
        ({"price": 0}, "price"),
        ({"price": float("nan")}, "price"),
        ({"revenue_per_close": -1}, "revenue"),
        ({"revenue_per_close": float("inf")}, "revenue"),
        ({"close_rate": 0}, "close_rate"),
        ({"close_rate": 1.5}, "close_rate"),
        ({"close_rate": 2}, "close_rate"),
    ],
)
def test_nonsense_is_refused_naming_the_input(kwargs, field):
    good = {"leads": 1_000, "price": 5.0, "close_rate": 0.02, "revenue_per_close": 8_000.0}
    with pytest.raises(PurchaseInputError) as caught:
        PurchaseEstimate(**(good | kwargs))
    assert caught.value.field == field


def test_defaults_without_a_product_are_the_worked_example():
    d = purchase_defaults(None)
    assert (d.close_rate, d.revenue_per_close, d.close_range) == (0.02, 8_000, None)


def test_defaults_for_a_product_come_from_its_benchmark_and_revenue_row():
    dscr = purchase_defaults(Product.DSCR)
    assert dscr.close_rate == pytest.approx(0.025) and dscr.close_range == (0.015, 0.035)
    assert dscr.revenue_per_close == 6_125  # $350,000 single-family rental at 175 bps
    assert purchase_defaults(Product.ASSET_DEPLETION).revenue_per_close == 15_000
    assert purchase_defaults(Product.BANK_STATEMENT).revenue_per_close == 9_000  # a purchase, not a refi
    general = purchase_defaults(Product.GENERAL)
    assert "average" in general.close_rate_basis and "average" in general.revenue_basis
    assert general.close_rate == pytest.approx(sum(b.midpoint("overall") for b in BENCHMARKS.values()) / 4)


@given(
    leads=st.integers(1, 10**6),
    price=st.floats(0.01, 500),
    rate=st.floats(0.0001, 1),
    revenue=st.floats(100, 50_000),
)
def test_break_even_is_where_revenue_meets_cost(leads, price, rate, revenue):
    e = PurchaseEstimate(leads, price, rate, revenue)
    if e.break_even_close_rate <= 1:
        assert PurchaseEstimate(leads, price, e.break_even_close_rate, revenue).revenue == pytest.approx(e.cost)
    if abs(rate / e.break_even_close_rate - 1) > 1e-9:
        assert (e.roi > 0) == (rate > e.break_even_close_rate)


@pytest.mark.parametrize(("days", "band"), [(-3, "under_30"), (0, "under_30"), (29, "under_30"), (30, "30_90"),
                                             (90, "30_90"), (91, "over_90"), (400, "over_90")])  # fmt: skip
def test_age_bands_meet_without_gaps(days, band):
    assert age_band(days).key == band


def test_quantiles_interpolate_between_ranks():
    assert quantile([], 0.5) is None
    assert quantile([7.0], 0.75) == 7.0
    assert quantile([40, 80, 50, 61.5], 0.5) == pytest.approx(55.75)
    assert quantile([40, 80, 50, 61.5], 0.75) == pytest.approx(66.125)


def test_the_rate_interval_is_wilsons_and_says_what_a_small_sample_cannot():
    from nurture.economics import rate_interval

    low, high = rate_interval(0, 9)
    assert low == 0.0 and round(high, 3) == 0.299  # 0 of 9 is still consistent with a 20% contact rate
    low, high = rate_interval(20, 100)
    assert (round(low, 3), round(high, 3)) == (0.133, 0.289)
    assert rate_interval(0, 0) is None


@given(st.integers(0, 500), st.integers(1, 500))
def test_the_rate_interval_holds_the_observed_rate(hits: int, extra: int):
    from nurture.economics import rate_interval

    n = hits + extra
    low, high = rate_interval(hits, n)
    assert 0.0 <= low <= hits / n <= high <= 1.0

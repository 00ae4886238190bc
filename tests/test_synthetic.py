"""The seeded synthetic lead generator: deterministic, realistic, and importable as it is."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date, timedelta

import sqlalchemy as sa

from dripline.synthetic import STATES, generate_leads, iter_leads, write_csv
from nurture.geo import normalize_phone, phone_state
from nurture.products import Product
from storage.importer import COLUMNS, import_leads
from storage.models import Lead
from tests.factories import NOW

AS_OF = date(2026, 3, 2)


def test_the_same_seed_gives_the_same_rows_and_another_seed_others():
    assert generate_leads(200, seed=7, as_of=AS_OF) == generate_leads(200, seed=7, as_of=AS_OF)
    assert generate_leads(200, seed=7, as_of=AS_OF) != generate_leads(200, seed=8, as_of=AS_OF)
    assert list(iter_leads(50, seed=7, as_of=AS_OF)) == generate_leads(50, seed=7, as_of=AS_OF)


def test_rows_look_like_aged_non_qm_leads():
    rows = generate_leads(2_000, seed=3, as_of=AS_OF)

    assert all(list(row) == list(COLUMNS) for row in rows)
    assert len({r["external_id"] for r in rows}) == len(rows)
    for row in rows:
        inquiry = date.fromisoformat(row["inquiry_date"]) if "-" in row["inquiry_date"] else _us(row["inquiry_date"])
        assert 30 <= (AS_OF - inquiry).days <= 90
        assert 3 <= float(row["cost"].removeprefix("$")) <= 8
        assert row["phone"] or row["email"]
        if row["phone"]:
            assert phone_state(normalize_phone(row["phone"])) == row["address_state"]
        if row["email"]:
            assert row["email"].rsplit("@", 1)[1].endswith(("example.com", "example.net", "example.org"))
        if row["credit_event_date"]:
            assert 365 <= (AS_OF - date.fromisoformat(row["credit_event_date"])).days <= 6 * 365
        if row["fico"]:
            assert 300 <= int(row["fico"]) <= 850
    states = Counter(r["address_state"] for r in rows)
    assert set(states) <= set(STATES) and states.most_common(1)[0][0] == "CA"
    assert Counter(r["credit_event_type"] for r in rows if r["credit_event_type"]).keys() == {
        "chapter_7",
        "chapter_13",
        "foreclosure",
        "short_sale",
        "deed_in_lieu",
    }


def test_credit_event_borrowers_score_lower_than_asset_rich_ones():
    rows = generate_leads(3_000, seed=5, as_of=AS_OF)

    def mean_fico(pick) -> float:
        scores = [int(r["fico"]) for r in rows if r["fico"] and pick(r)]
        return sum(scores) / len(scores)

    assert mean_fico(lambda r: r["credit_event_type"]) + 80 < mean_fico(lambda r: r["liquid_assets"])


def test_synthetic_leads_import_with_zero_rejects_and_every_product(engine, tmp_path):
    path = tmp_path / "leads.csv"
    assert write_csv(iter_leads(1_500, seed=11, as_of=NOW.date()), path) == 1_500

    summary = import_leads(engine=engine, path=path, now=NOW)

    assert (summary.created, summary.rejected, summary.errors) == (1_500, 0, [])
    with engine.connect() as conn:
        products = Counter(dict(conn.execute(sa.select(Lead.product, sa.func.count()).group_by(Lead.product)).all()))
        zones = {z for (z,) in conn.execute(sa.select(Lead.timezone).distinct())}
    assert set(products) == set(Product)
    assert products[Product.BANK_STATEMENT] > products[Product.FOREIGN_NATIONAL] > 0
    assert {
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Phoenix",
        "America/Los_Angeles",
    } <= zones
    with path.open(newline="") as handle:
        assert next(csv.reader(handle)) == list(COLUMNS)


def _us(text: str) -> date:
    month, day, year = (int(p) for p in text.split("/"))
    return date(year, month, day)


def test_us_dates_are_the_same_day_as_iso_ones():
    rows = generate_leads(300, seed=1, as_of=AS_OF)
    us = [r["inquiry_date"] for r in rows if "/" in r["inquiry_date"]]
    assert us and all(AS_OF - timedelta(days=90) <= _us(d) <= AS_OF - timedelta(days=30) for d in us)

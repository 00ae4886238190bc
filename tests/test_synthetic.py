"""The seeded synthetic lead generator: deterministic, realistic, and importable as it is."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from nurture.geo import lead_timezone, normalize_phone, phone_area, phone_state
from nurture.products import Product
from service.settings import Settings
from service.synthetic import MIXED_AGES, SOURCES, STATES, generate_leads, iter_leads, write_csv
from storage.import_csv import INCOME_COLUMNS
from storage.import_parse import CONSENT_COLUMNS
from storage.importer import COLUMNS, import_leads
from storage.models import Consent, Lead
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
            assert phone_state(normalize_phone(row["phone"])) in STATES
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
    with engine.connect() as conn:
        consents = conn.execute(sa.select(sa.func.count()).select_from(Consent)).scalar_one()
        listed = conn.execute(sa.select(sa.func.count()).where(Lead.dnc_listed)).scalar_one()
        second = conn.execute(sa.select(sa.func.count()).where(Lead.alt_phone.is_not(None))).scalar_one()
    rows = list(iter_leads(1_500, seed=11, as_of=NOW.date()))
    assert summary.consents == consents == sum(1 for r in rows if r["consent_at"]) > 1_000
    assert listed == sum(1 for r in rows if r["dnc"] == "yes") > 50
    assert second == sum(1 for r in rows if r["alt_phone"]) > 100


def _us(text: str) -> date:
    month, day, year = (int(p) for p in text.split("/"))
    return date(year, month, day)


def test_us_dates_are_the_same_day_as_iso_ones():
    rows = generate_leads(300, seed=1, as_of=AS_OF)
    us = [r["inquiry_date"] for r in rows if "/" in r["inquiry_date"]]
    assert us and all(AS_OF - timedelta(days=90) <= _us(d) <= AS_OF - timedelta(days=30) for d in us)


def _share(rows: list[dict[str, str]], pick) -> float:
    return sum(1 for r in rows if pick(r)) / len(rows)


@cache
def _rows() -> list[dict[str, str]]:
    return generate_leads(5_000, seed=9, as_of=AS_OF)


def _with_phone() -> list[dict[str, str]]:
    return [r for r in _rows() if r["phone"]]


def _day(text: str) -> date:
    return date.fromisoformat(text) if "-" in text else _us(text)


def test_the_compliance_columns_leave_the_other_columns_of_a_seed_as_they_were():
    """The hash is of the generator's rows before the compliance (and income) columns existed (phone left out: 5%
    moved)."""
    added = (*CONSENT_COLUMNS, "alt_phone", "dnc", "dnc_scrubbed_on", "phone", *INCOME_COLUMNS)
    kept = [c for c in COLUMNS if c not in added]
    rows = generate_leads(2_000, seed=9, as_of=AS_OF)
    text = json.dumps([[r[c] for c in kept] for r in rows])
    assert hashlib.sha256(text.encode()).hexdigest() == (
        "002f8072e5973a3c795e2bafc3df08faae6565374d80c5ee667a1d69cb2348e9"
    )


def test_about_80_percent_consented_on_a_vendor_form_to_the_demo_company():
    rows = _rows()
    consented = [r for r in rows if r["consent_at"]]
    assert 0.76 < len(consented) / len(rows) < 0.84
    seller = Settings.model_fields["company_name"].default
    forms = {f"https://apply.{re.sub(r'[^a-z]', '', v.lower())}.example/form" for v in SOURCES}
    for row in consented:
        assert row["phone"], "consent covers a phone number"
        assert row["consent_seller"] == seller
        assert row["consent_source"] in forms | set(SOURCES)
        text = row["consent_text"]
        assert seller in text and "not a condition" in text and "prerecorded" in text and "automat" in text
        assert row["consent_phone"] in ("", row["alt_phone"])
    assert 0.7 < _share(consented, lambda r: r["consent_source"] in forms) < 0.9
    assert len({r["consent_text"] for r in consented}) > 1
    assert 0 < _share(consented, lambda r: r["consent_phone"]) < 0.05


def test_consent_was_given_at_or_shortly_before_the_inquiry():
    styles: Counter[str] = Counter()
    for row in (r for r in _rows() if r["consent_at"]):
        zone = ZoneInfo(lead_timezone(state=row["address_state"], zip=row["zip"], phone=row["phone"]))
        text = row["consent_at"]
        at = datetime.fromisoformat(text)
        at = at.astimezone(zone) if at.tzinfo else at.replace(tzinfo=zone)
        styles["utc" if text.endswith("Z") else "local" if " " in text else "date"] += 1
        assert 0 <= (_day(row["inquiry_date"]) - at.date()).days <= 2, row
    assert min(styles.values()) > 300 and set(styles) == {"utc", "local", "date"}


def test_about_8_percent_are_on_the_do_not_call_list_and_few_scrubs_are_stale_or_missing():
    with_phone = _with_phone()

    def age(row: dict[str, str]) -> int:
        return (AS_OF - _day(row["dnc_scrubbed_on"])).days

    scrubbed = [r for r in with_phone if r["dnc_scrubbed_on"]]
    assert 0.065 < _share(with_phone, lambda r: r["dnc"] == "yes") < 0.095
    assert 0.015 < 1 - len(scrubbed) / len(with_phone) < 0.045
    assert 0.035 < _share(with_phone, lambda r: r["dnc_scrubbed_on"] and age(r) > 31) < 0.065
    assert all(0 <= age(r) <= 120 for r in scrubbed) and all(r["dnc"] in ("yes", "no") for r in scrubbed)
    assert all(r["dnc"] == "" for r in _rows() if not r["dnc_scrubbed_on"]), "a listed number has its scrub date"
    assert all(not (r["dnc"] or r["alt_phone"] or r["consent_at"]) for r in _rows() if not r["phone"])


def test_about_15_percent_have_a_second_phone_of_their_state():
    with_phone = _with_phone()
    second = [r for r in with_phone if r["alt_phone"]]
    assert 0.13 < len(second) / len(with_phone) < 0.17
    assert all(phone_state(normalize_phone(r["alt_phone"])) == r["address_state"] for r in second)
    assert all(normalize_phone(r["alt_phone"]) != normalize_phone(r["phone"]) for r in second)


def test_about_5_percent_kept_a_phone_number_from_another_state():
    with_phone = _with_phone()
    moved = [r for r in with_phone if phone_state(normalize_phone(r["phone"])) != r["address_state"]]
    assert 0.035 < len(moved) / len(with_phone) < 0.065
    strict = {"FL", "OK", "MD"}

    def into_strict(row: dict[str, str]) -> bool:
        return phone_state(normalize_phone(row["phone"])) in strict and row["address_state"] not in strict

    assert 0.3 < _share(moved, into_strict) < 0.7, "about half the moved numbers carry a strict-state area code"

    def other_zone(row: dict[str, str]) -> bool:
        area = phone_area(normalize_phone(row["phone"]))
        assert area is not None
        return lead_timezone(state=row["address_state"], zip=row["zip"], phone=row["phone"]) not in area.timezones

    assert _share(moved, other_zone) > 0.25, "the area code often points at another time zone"


def test_mixed_ages_move_the_inquiry_dates_and_nothing_else():
    """The demo buys three tiers (under 30, 30-90 and over 90 days old) so its report has every age band.
    The consent is given on the inquiry's day (or a day or two before), so it moves with it."""
    plain = generate_leads(3_000, seed=4, as_of=AS_OF)
    mixed = generate_leads(3_000, seed=4, as_of=AS_OF, ages=MIXED_AGES)
    moved = {"inquiry_date": "", "consent_at": ""}
    assert [r | moved for r in mixed] == [r | moved for r in plain]
    ages = [(AS_OF - _day(r["inquiry_date"])).days for r in mixed]
    assert min(ages) == 7 and max(ages) == 180
    shares = [_share(mixed, lambda r, lo=lo, hi=hi: lo <= (AS_OF - _day(r["inquiry_date"])).days <= hi)
              for _, lo, hi in MIXED_AGES]  # fmt: skip
    assert shares == pytest.approx([0.2, 0.6, 0.2], abs=0.03)

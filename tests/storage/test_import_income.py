"""The lead CSV's optional income columns, on SQLite and PostgreSQL (the ``engine`` fixture): stored as the
eligibility rules read them, refused with the reason where they cannot be used, and invisible to leads that leave
them blank."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.import_csv import COLUMNS, INCOME_COLUMNS
from storage.import_income import INCOME_FIELDS
from storage.import_parse import RowParser
from storage.importer import import_leads
from storage.models import Lead, table
from tests.factories import NOW, lead_row, write_rows

_lead = table(Lead)
BUSINESS = {"monthly_deposits": "$20,000", "statement_type": "Business", "statement_months": "24"}


def stored(engine: Engine, *columns: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(*(_lead.c[c] for c in columns)).order_by(_lead.c.id))]


def test_income_columns_are_stored_as_the_rules_read_them(engine: Engine, tmp_path):
    rows = [
        lead_row(external_id="A", **BUSINESS, expense_ratio="35%", monthly_debts="1,500", property_value="$500,000"),
        lead_row(
            external_id="B",
            monthly_deposits="9000",
            statement_type="personal",
            statement_months="12",
            gross_1099="120000",
            gross_1099_months="24",
            pl_net="96,000.40",
        ),
        lead_row(external_id="C", gross_1099="65000", expense_ratio="37.5"),
        lead_row(external_id="D"),
    ]
    summary = import_leads(engine=engine, path=write_rows(tmp_path / "leads.csv", rows), now=NOW)
    assert (summary.created, summary.rejected) == (4, 0), summary.errors
    assert stored(engine, *INCOME_FIELDS) == [
        (20_000, "business", 24, 3_500, None, None, None, 500_000, 1_500),
        (9_000, "personal", 12, None, 120_000, 24, 96_000, None, None),
        (None, None, None, 3_750, 65_000, None, None, None, None),
        (None,) * 9,
    ]


def test_income_values_that_cannot_be_used_reject_their_row_with_the_reason(engine: Engine, tmp_path):
    rows = [
        lead_row(external_id="B1", **BUSINESS | {"statement_months": "18"}),  # line 2
        lead_row(external_id="B2", **BUSINESS, expense_ratio="0.35"),
        lead_row(external_id="B3", **BUSINESS, expense_ratio="101"),
        lead_row(external_id="B4", **BUSINESS, expense_ratio="37.555"),
        lead_row(external_id="B5", **BUSINESS | {"statement_type": "corporate"}),
        lead_row(external_id="B6", monthly_deposits="20000"),
        lead_row(external_id="B7", monthly_deposits="20000", statement_type="business"),
        lead_row(external_id="B8", gross_1099_months="12"),
        lead_row(external_id="B9", **BUSINESS | {"statement_type": "personal"}, expense_ratio="30"),
        lead_row(external_id="B10", monthly_debts="1000000001", pl_net="-5000"),
        lead_row(external_id="G1", **BUSINESS),
    ]
    summary = import_leads(engine=engine, path=write_rows(tmp_path / "leads.csv", rows), now=NOW)
    assert (summary.created, summary.rejected) == (1, 10)
    assert summary.errors == [
        "line 2: statement_months: '18' is not 12 or 24 months",
        "line 3: expense_ratio: '0.35' looks like a fraction; give the percent (35 for 35%)",
        "line 4: expense_ratio: '101' is not a percent from 0 to 100",
        "line 5: expense_ratio: '37.555' has more than two decimals",
        "line 6: statement_type: 'corporate' is not business or personal",
        "line 7: monthly_deposits: is given without statement_type and statement_months; deposits count only with"
        " their kind and months",
        "line 8: monthly_deposits: is given without statement_months; deposits count only with their kind and months",
        "line 9: gross_1099_months: is given without gross_1099",
        "line 10: expense_ratio: applies to business statements; personal deposits count in full",
        "line 11: pl_net: '-5000' is not an amount of money; monthly_debts: '1000000001' is more than $1,000,000,000",
    ]


def test_rows_that_leave_the_income_columns_blank_hash_as_before_they_existed():
    """Leads imported before these columns existed stay unchanged when the same file is imported again: the digest
    of a row without them (or with them blank) is the one the importer stored before (computed then)."""
    row = {
        "external_id": "V-1", "first_name": "Maria", "last_name": "Lopez", "phone": "(305) 456-7890",
        "email": "maria@example.com", "address_state": "FL", "zip": "33101", "self_employed": "yes", "fico": "700",
        "cost": "$4.50", "inquiry_date": "2026-01-05", "source": "Harbor Lead Co", "loan_amount": "400000",
    }  # fmt: skip
    parser = RowParser(now=datetime(2026, 3, 2, 13, tzinfo=UTC), default_product=None, officers={})
    before = "08eeb3b226f8161c71f1fc61e9916336e2a0bdcc91eddc87182c5904e91bed80"
    given = [c for c in COLUMNS if c in row]
    assert parser.parse(2, [row[c] for c in given], list(given)).values["row_digest"] == before
    assert parser.parse(2, [row.get(c, "") for c in COLUMNS], list(COLUMNS)).values["row_digest"] == before
    income = row | {"monthly_debts": "1500"}
    assert parser.parse(2, [income.get(c, "") for c in COLUMNS], list(COLUMNS)).values["row_digest"] != before


def test_adding_income_to_a_lead_updates_it_and_importing_that_again_changes_nothing(engine: Engine, tmp_path):
    plain = write_rows(tmp_path / "plain.csv", [lead_row(external_id="M1")], columns=COLUMNS[: -len(INCOME_COLUMNS)])
    assert import_leads(engine=engine, path=plain, now=NOW).created == 1
    assert import_leads(engine=engine, path=plain, now=NOW).unchanged == 1
    richer = write_rows(tmp_path / "richer.csv", [lead_row(external_id="M1", **BUSINESS, monthly_debts="900")])
    assert import_leads(engine=engine, path=richer, now=NOW).updated == 1
    assert import_leads(engine=engine, path=richer, now=NOW).unchanged == 1
    assert stored(engine, "monthly_deposits", "statement_type", "monthly_debts") == [(20_000, "business", 900)]


def test_1099s_or_a_pnl_alone_match_their_own_product_and_the_csv_names_them_too(engine: Engine, tmp_path):
    rows = [
        lead_row(external_id="T1", gross_1099="96000"),  # self-employed, 1099s, no deposits
        lead_row(external_id="T2", pl_net="150,000"),
        lead_row(external_id="T3", **BUSINESS, gross_1099="96000"),  # deposits keep the bank statement loan
        lead_row(external_id="T4", self_employed="no", product="1099"),
        lead_row(external_id="T5", self_employed="no", product="PNL"),
        lead_row(external_id="T6", self_employed="no", product="p&l"),
    ]
    summary = import_leads(engine=engine, path=write_rows(tmp_path / "leads.csv", rows), now=NOW)
    assert (summary.created, summary.rejected) == (5, 1)
    assert summary.errors == [
        "line 7: product: 'p&l' is not one of bank_statement, dscr, credit_event, asset_depletion, foreign_national, "
        "general, 1099, pnl"
    ]
    assert stored(engine, "external_id", "product", "product_matched") == [
        ("T1", "1099", True),
        ("T2", "pnl", True),
        ("T3", "bank_statement", True),
        ("T4", "1099", False),
        ("T5", "pnl", False),
    ]

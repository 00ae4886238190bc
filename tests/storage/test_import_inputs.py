"""Lead CSV input that could corrupt storage is refused row by row, naming line and field; on SQLite and PostgreSQL
(the ``engine`` fixture)."""

from __future__ import annotations

import csv
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.importer import import_leads
from storage.limits import too_long
from storage.models import Consent, Lead, table
from storage.report import funnel
from tests.factories import NOW, lead_row, write_rows

_lead, _consent = table(Lead), table(Consent)
CONSENT = {
    "consent_at": "2026-01-05T10:00:00-05:00",
    "consent_source": "https://form.example/q",
    "consent_seller": "Dripline Demo Mortgage",
}
DISCLOSURE = "I agree to texts.\r\n\tReply STOP to end."  # free text: tabs and line breaks are kept


def stored(engine: Engine, *columns: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(*(_lead.c[c] for c in columns)).order_by(_lead.c.id))]


def rejects(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_control_characters_reject_their_row_naming_line_and_field_and_the_rest_is_stored(engine, tmp_path):
    rows = [
        lead_row(external_id="G1", first_name="Maria"),
        lead_row(external_id="B1", first_name="Ma\x00ria"),  # line 3
        lead_row(external_id="B2", last_name="Lopez\x1b[2J"),  # line 4
        lead_row(external_id="B3", source="Harbor\nLead Co"),  # line 5
        lead_row(external_id="B4", phone="305\x00456\x007777"),  # line 7: the quoted line break above takes two
        lead_row(external_id="B\t5"),  # line 8
        lead_row(external_id="B6", **CONSENT, consent_text="I agree\x00"),  # line 9
        lead_row(external_id="G2", **CONSENT, consent_text=DISCLOSURE),
        lead_row(external_id="B7", zip="331\x8501", email="a\x00b@example.com"),  # line 12
    ]
    path = write_rows(tmp_path / "leads.csv", rows)

    summary = import_leads(engine=engine, path=path, now=NOW)

    assert (summary.created, summary.rejected) == (2, 7)
    assert summary.errors == [
        "line 3: first_name: has a control character (NUL) at character 3: remove it",
        "line 4: last_name: has a control character (escape) at character 6: remove it",
        "line 5: source: has a line break at character 7: this field takes one line",
        "line 7: phone: has a control character (NUL) at character 4: remove it",
        "line 8: external_id: has a tab at character 2: use a space",
        "line 9: consent_text: has a control character (NUL) at character 8: remove it",
        "line 12: email: has a control character (NUL) at character 2: remove it; "
        "zip: has a control character (U+0085) at character 4: remove it",
    ]
    assert stored(engine, "external_id", "first_name") == [("G1", "Maria"), ("G2", "Maria")]
    with engine.connect() as conn:
        assert conn.execute(sa.select(_consent.c.disclosure)).scalar_one() == DISCLOSURE
    assert [r["external_id"] for r in rejects(summary.rejects_path)] == ["B1", "B2", "B3", "B4", "B\t5", "B6", "B7"]


def test_text_is_checked_against_the_length_of_the_column_it_goes_to(engine, tmp_path):
    limit = _lead.c.first_name.type.length
    rows = [
        lead_row(external_id="G1", first_name="x" * limit),
        lead_row(external_id="B1", first_name="x" * (limit + 1)),
        lead_row(external_id="B2", **(CONSENT | {"consent_text": "I agree", "consent_seller": "s" * 201})),
    ]
    summary = import_leads(engine=engine, path=write_rows(tmp_path / "leads.csv", rows), now=NOW)

    assert summary.errors == [
        f"line 3: first_name: is longer than {limit} characters",
        "line 4: consent_seller: is longer than 200 characters",
    ]
    assert stored(engine, "external_id") == [("G1",)]
    # normalized values too, each against its own column
    assert too_long(_lead, {"first_name": "x" * limit, "timezone": "x" * 65, "fico": 10**9, "nope": "x" * 999}) == [
        ("timezone", 64)
    ]


def test_the_rejects_file_shows_formulas_as_text_and_a_corrected_copy_imports_the_original_values(engine, tmp_path):
    hostile = {"last_name": "=HYPERLINK(\"http://evil.example\",\"x\")", "phone": "+1 305 456 7000",
               "source": "@SUM(A1:A9)", "zip": "-33101"}  # fmt: skip
    path = write_rows(tmp_path / "leads.csv", [lead_row(external_id="B1", fico="912", **hostile)])

    summary = import_leads(engine=engine, path=path, now=NOW)

    (row,) = rejects(summary.rejects_path)
    assert {k: row[k] for k in hostile} == {k: "'" + v for k, v in hostile.items()}
    assert row["reason"] == "zip: '-33101' is not a ZIP or ZIP+4; fico: 912 is outside 300-850"
    corrected = {k: v for k, v in row.items() if k not in ("line", "reason")} | {"fico": "700", "zip": "33101"}
    again = import_leads(engine=engine, path=write_rows(tmp_path / "fixed.csv", [corrected]), now=NOW)
    assert (again.created, again.rejected) == (1, 0)
    assert stored(engine, "last_name", "phone", "source", "zip") == [
        (hostile["last_name"], "+13054567000", "@SUM(A1:A9)", "33101")
    ]


def test_amounts_beyond_32_bits_are_stored_exactly_and_the_caps_reject_their_row(engine, tmp_path):
    rows = [
        lead_row(external_id="G1", loan_amount="$3,000,000,000", liquid_assets="1,000,000,000,000",
                 monthly_rent="2147483648", cost="$1,000,000"),
        lead_row(external_id="B1", loan_amount="1000000000001"),
        lead_row(external_id="B2", cost="1000000.01"),
    ]  # fmt: skip

    summary = import_leads(engine=engine, path=write_rows(tmp_path / "leads.csv", rows), now=NOW)

    assert summary.errors == [
        "line 3: loan_amount: '1000000000001' is more than $1,000,000,000,000",
        "line 4: cost: '1000000.01' is more than $1,000,000",
    ]
    assert stored(engine, "loan_amount", "liquid_assets", "monthly_rent", "cost_cents") == [
        (3_000_000_000, 10**12, 2**31, 10**8)
    ]
    assert funnel(engine=engine)[0].lead_cost == 1_000_000

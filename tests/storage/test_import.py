"""The lead CSV import, on SQLite and PostgreSQL (the ``engine`` fixture)."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.products import Product
from nurture.states import CadenceStatus, Stage
from storage.importer import COLUMNS, ImportFileError, import_leads
from storage.models import CadencePosition, Lead
from storage.officers import add_officer, list_officers, set_officer_active
from tests.factories import NOW, lead_row, make_lead, make_officer, write_rows

_lead = Lead.__table__
LATER = NOW + timedelta(days=3)


def leads(engine: Engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(_lead).order_by(_lead.c.id)))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_good_rows_import_and_each_bad_row_is_reported_with_its_line_and_field(engine, tmp_path):
    rows = [
        lead_row(external_id="G1", phone="(305) 456-7890", email="Maria.Lopez@Example.COM", cost="$4.50"),
        lead_row(external_id="B1", fico="912"),  # line 3
        lead_row(external_id="B2", phone="555-0100"),  # line 4
        lead_row(external_id="B3", first_name=""),  # line 5
        lead_row(
            external_id="G2",
            first_name="Wei",
            phone="602-456-1234",
            email="",
            address_state="AZ",
            zip="85001",
            self_employed="no",
            investment_property="Y",
            monthly_rent="$2,450",
            cost="5",
        ),
        lead_row(external_id="B4", phone="", email=""),  # line 7
        lead_row(external_id="B5", inquiry_date="13/45/2025"),  # line 8
        lead_row(external_id="B6", self_employed="maybe", credit_event_type="bankrupt"),  # line 9
        lead_row(external_id="B7", loan_officer_email="nobody@example.com"),  # line 10
        lead_row(external_id="B8", inquiry_date=(NOW.date() + timedelta(days=1)).isoformat()),  # line 11
        lead_row(
            external_id="G3",
            first_name="Ana",
            phone="",
            address_state="",
            zip="",
            credit_event_type="Short Sale",
            credit_event_date="6/1/2024",
            self_employed="",
            liquid_assets="",
            fico="",
        ),
    ]
    path = write_rows(tmp_path / "leads.csv", rows)

    summary = import_leads(engine=engine, path=path, now=NOW)

    counts = {k: getattr(summary, k) for k in ("total", "created", "updated", "unchanged", "rejected")}
    assert counts == {"total": 11, "created": 3, "updated": 0, "unchanged": 0, "rejected": 8}
    assert summary.errors == [
        "line 3: fico: 912 is outside 300-850",
        "line 4: phone: '555-0100' is not a valid US phone number",
        "line 5: first_name: is required",
        "line 7: phone/email: at least one is required",
        "line 8: inquiry_date: '13/45/2025' is not a date (YYYY-MM-DD or M/D/YYYY)",
        "line 9: self_employed: 'maybe' is not yes/no, true/false, y/n or 1/0; credit_event_type: 'bankrupt' "
        "is not one of chapter_7, chapter_13, foreclosure, short_sale, deed_in_lieu",
        "line 10: loan_officer_email: no loan officer has nobody@example.com",
        f"line 11: inquiry_date: {NOW.date() + timedelta(days=1)} is in the future",
    ]
    assert summary.rejects_path == tmp_path / "leads.rejects.csv"
    rejects = read_csv(summary.rejects_path)
    assert list(rejects[0]) == [*COLUMNS, "line", "reason"]
    assert [(r["external_id"], r["line"]) for r in rejects] == [
        ("B1", "3"),
        ("B2", "4"),
        ("B3", "5"),
        ("B4", "7"),
        ("B5", "8"),
        ("B6", "9"),
        ("B7", "10"),
        ("B8", "11"),
    ]
    assert rejects[0]["fico"] == "912" and rejects[0]["reason"] == "fico: 912 is outside 300-850"

    maria, wei, ana = leads(engine)
    assert (maria.external_id, maria.phone, maria.email, maria.cost_cents) == (
        "G1",
        "+13054567890",
        "maria.lopez@example.com",
        450,
    )
    assert (maria.product, maria.product_matched, maria.timezone) == (
        Product.BANK_STATEMENT,
        True,
        "America/New_York",
    )
    assert maria.stage == Stage.NEW_LEAD and maria.created_at == NOW == maria.updated_at
    assert (wei.product, wei.timezone, wei.monthly_rent, wei.email, wei.cost_cents) == (
        Product.DSCR,
        "America/Phoenix",
        2450,
        None,
        500,
    )
    assert (ana.product, ana.credit_event_date, ana.phone, ana.fico) == (
        Product.CREDIT_EVENT,
        date(2024, 6, 1),
        None,
        None,
    )


def test_reimporting_the_same_file_changes_nothing(engine, tmp_path):
    path = write_rows(tmp_path / "leads.csv", [lead_row() for _ in range(5)] + [lead_row(fico="100")])
    first = import_leads(engine=engine, path=path, now=NOW)
    before = leads(engine)

    again = import_leads(engine=engine, path=path, now=LATER)

    assert (first.created, first.rejected) == (5, 1)
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 5, 1)
    assert leads(engine) == before
    assert {r.updated_at for r in before} == {NOW}


def test_the_same_values_written_differently_are_unchanged(engine, tmp_path):
    row = lead_row(
        external_id="X1",
        phone="(305) 456-7890",
        cost="$4.50",
        liquid_assets="$1,000,000",
        inquiry_date="2026-01-05",
        self_employed="yes",
    )
    import_leads(engine=engine, path=write_rows(tmp_path / "a.csv", [row]), now=NOW)
    respelled = dict(
        row,
        phone="+13054567890",
        cost="4.5",
        liquid_assets="1000000",
        inquiry_date="1/5/2026",
        self_employed="TRUE",
    )

    summary = import_leads(engine=engine, path=write_rows(tmp_path / "b.csv", [respelled]), now=LATER)

    assert (summary.unchanged, summary.updated) == (1, 0)


@pytest.mark.parametrize(
    ("key", "blank"),
    [("external_id", ()), ("phone", ("external_id",)), ("email", ("external_id", "phone"))],
)
def test_a_changed_row_updates_its_lead_matched_by_external_id_else_phone_else_email(engine, tmp_path, key, blank):
    original = lead_row(**dict.fromkeys(blank, ""))
    import_leads(engine=engine, path=write_rows(tmp_path / "a.csv", [original, lead_row()]), now=NOW)
    before, other = leads(engine)
    fresh = {"external_id": "", "phone": "(212) 456-9999", "email": "new.address@example.com"}
    changed = dict(original, fico="745", last_name="Lopez-Reyes") | {k: v for k, v in fresh.items() if k != key}

    summary = import_leads(engine=engine, path=write_rows(tmp_path / "b.csv", [changed]), now=LATER)

    assert (summary.created, summary.updated, summary.rejected) == (0, 1, 0)
    after, other_after = leads(engine)
    assert (after.id, after.fico, after.last_name) == (before.id, 745, "Lopez-Reyes")
    assert (after.created_at, after.updated_at) == (NOW, LATER)
    assert getattr(after, key) == getattr(before, key)
    assert after.external_id == before.external_id  # a blank key keeps its stored value
    assert other_after == other


def test_a_row_with_another_external_id_never_takes_over_a_lead_by_phone(engine, tmp_path):
    first = write_rows(tmp_path / "a.csv", [lead_row(external_id="A", phone="305-456-1111")])
    shared = write_rows(tmp_path / "b.csv", [lead_row(external_id="B", phone="305-456-1111")])  # a shared line
    import_leads(engine=engine, path=first, now=NOW)

    summary = import_leads(engine=engine, path=shared, now=NOW)

    assert summary.created == 1
    assert [r.external_id for r in leads(engine)] == ["A", "B"]


def test_an_update_never_touches_stage_officer_or_cadence(engine, tmp_path, session):
    officer = make_officer()
    session.add(officer)
    session.commit()
    lead = make_lead(external_id="K1", stage=Stage.EDUCATED, loan_officer_id=officer.id, phone_ok=False)
    session.add(lead)
    session.commit()
    position = CadencePosition(
        lead_id=lead.id,
        cadence_name="default",
        cadence_version=1,
        anchor_date=date(2026, 3, 2),
        step_index=4,
        status=CadenceStatus.HANDED_OFF,
        enrolled_at=NOW,
        updated_at=NOW,
    )
    session.add(position)
    session.commit()
    add_officer(engine=engine, name="Someone Else", email="else@example.com", now=NOW)

    row = lead_row(external_id="K1", phone="212-456-7890", fico="640", loan_officer_email="else@example.com")
    summary = import_leads(engine=engine, path=write_rows(tmp_path / "a.csv", [row]), now=LATER)

    assert summary.updated == 1
    (after,) = leads(engine)
    assert (after.stage, after.loan_officer_id, after.fico, after.phone) == (
        Stage.EDUCATED,
        officer.id,
        640,
        "+12124567890",
    )
    assert after.phone_ok is True  # a new number gets a fresh try
    with engine.connect() as conn:
        pos = conn.execute(sa.select(CadencePosition.__table__)).one()
    assert (pos.step_index, pos.status, pos.updated_at) == (4, CadenceStatus.HANDED_OFF, NOW)


@pytest.mark.parametrize("batch_size", [100, 2])
def test_a_key_repeated_in_the_file_keeps_the_first_row_and_rejects_the_later(engine, tmp_path, batch_size):
    rows = [
        lead_row(external_id="D1", fico="700"),
        lead_row(external_id="D2"),
        lead_row(external_id="D3"),
        lead_row(external_id="D1", fico="720"),  # line 5
        lead_row(external_id="", phone="(212) 456-0001"),
        lead_row(external_id="", phone="212.456.0001", email=""),  # line 7
    ]
    path = write_rows(tmp_path / "leads.csv", rows)

    summary = import_leads(engine=engine, path=path, now=NOW, batch_size=batch_size)

    assert (summary.created, summary.rejected) == (4, 2)
    assert summary.errors == [
        "line 5: external_id: D1 is also on line 2",
        "line 7: phone: +12124560001 is also on line 6",
    ]
    assert next(r.fico for r in leads(engine) if r.external_id == "D1") == 700
    again = import_leads(engine=engine, path=path, now=LATER, batch_size=batch_size)
    assert (again.unchanged, again.updated, again.rejected) == (4, 0, 2)


def test_new_leads_go_round_robin_to_active_officers_fewest_leads_first(engine, tmp_path, session):
    busy, idle, _gone, named = (
        add_officer(engine=engine, name=n, email=f"{n}@example.com", now=NOW) for n in ("busy", "idle", "gone", "named")
    )
    set_officer_active(engine=engine, email="gone@example.com", active=False)
    session.add_all([make_lead(loan_officer_id=busy.id) for _ in range(3)])
    session.commit()
    rows = [lead_row() for _ in range(6)] + [lead_row(loan_officer_email="NAMED@example.com")]
    rows += [lead_row(loan_officer_email="gone@example.com")]

    summary = import_leads(engine=engine, path=write_rows(tmp_path / "a.csv", rows), now=NOW, batch_size=4)

    assert (summary.created, summary.unassigned, summary.rejected) == (7, 0, 1)
    assert summary.errors == ["line 9: loan_officer_email: an inactive loan officer has gone@example.com"]
    new = [r.loan_officer_id for r in leads(engine)[3:]]
    assert new == [idle.id, named.id, idle.id, named.id, idle.id, named.id, named.id]
    counts = {o["email"]: o["leads"] for o in list_officers(engine=engine)}
    assert counts == {
        "busy@example.com": 3,
        "idle@example.com": 3,
        "gone@example.com": 0,
        "named@example.com": 4,
    }


def test_without_an_active_officer_new_leads_stay_unassigned(engine, tmp_path):
    summary = import_leads(engine=engine, path=write_rows(tmp_path / "a.csv", [lead_row(), lead_row()]), now=NOW)

    assert summary.unassigned == 2
    assert [r.loan_officer_id for r in leads(engine)] == [None, None]


def test_headers_match_ignoring_case_and_spaces(engine, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(
        "\ufeff First Name ,PHONE,inquiry-date,Loan Officer Email,\nMaria,305-456-7890,1/5/2026,,\n\n,,,,\n",
        encoding="utf-8",
    )

    summary = import_leads(engine=engine, path=path, now=NOW)

    assert (summary.total, summary.created) == (1, 1)
    assert leads(engine)[0].first_name == "Maria"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("first_name,phone,inquiry_date,fcio,utm_source", "unknown columns: fcio, utm_source"),
        ("first_name,phone,Phone,inquiry_date", "columns given twice: phone"),
        ("first_name,fico", "missing required columns: inquiry_date, phone or email"),
        ("", "the file is empty"),
    ],
)
def test_a_bad_header_refuses_the_whole_file(engine, tmp_path, header, message):
    path = tmp_path / "leads.csv"
    path.write_text(header + ("\nMaria,305-456-7890,2026-01-05,720,x\n" if header else ""))

    with pytest.raises(ImportFileError, match=message):
        import_leads(engine=engine, path=path, now=NOW)

    assert leads(engine) == []
    assert not (tmp_path / "leads.rejects.csv").exists()


def test_line_numbers_count_physical_lines_and_a_stale_rejects_file_goes(engine, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(
        'first_name,last_name,phone,inquiry_date\nMaria,"Lopez\nReyes",305-456-7890,2026-01-05\n'
        "Wei,Chen,305-456-7891,2026-01-05,extra\nAna,Ruiz,nope,2026-01-05\n"
    )

    summary = import_leads(engine=engine, path=path, now=NOW)

    assert summary.errors == [
        "line 4: row: has 5 fields; the header has 4",
        "line 5: phone: 'nope' is not a valid US phone number",
    ]
    assert leads(engine)[0].last_name == "Lopez\nReyes"
    path.write_text("first_name,phone,inquiry_date\nMaria,305-456-7890,2026-01-05\n")
    assert import_leads(engine=engine, path=path, now=NOW).rejects_path is None
    assert not (tmp_path / "leads.rejects.csv").exists()


def test_default_product_fills_a_blank_product_and_the_column_wins(engine, tmp_path):
    rows = [lead_row(product=""), lead_row(product="Asset Depletion")]

    import_leads(engine=engine, path=write_rows(tmp_path / "a.csv", rows), now=NOW, default_product=Product.DSCR)

    assert [(r.product, r.product_matched) for r in leads(engine)] == [
        (Product.DSCR, False),
        (Product.ASSET_DEPLETION, False),
    ]


def test_progress_reports_each_batch_and_ends_at_the_total(engine, tmp_path):
    calls: list[tuple[int, int]] = []
    path = write_rows(tmp_path / "a.csv", [lead_row() for _ in range(5)])

    import_leads(engine=engine, path=path, now=NOW, batch_size=2, progress=lambda d, t: calls.append((d, t)))

    assert calls == [(2, 5), (4, 5), (5, 5)]


def test_naive_now_is_refused(engine, tmp_path):
    with pytest.raises(ValueError, match="timezone-aware"):
        import_leads(engine=engine, path=write_rows(tmp_path / "a.csv", []), now=NOW.replace(tzinfo=None))


def test_officer_roster_add_reactivates_and_lists_lead_counts(engine):
    first = add_officer(engine=engine, name="Dana", email="Dana@Example.com", phone="(305) 456-7000", now=NOW)
    set_officer_active(engine=engine, email="dana@example.com", active=False)
    again = add_officer(engine=engine, name="Dana W.", email="dana@example.com", nmls_id="1456789", now=LATER)

    assert (again.id, again.name, again.active, again.created_at) == (first.id, "Dana W.", True, NOW)
    assert first.phone == "+13054567000" and first.email == "dana@example.com"
    assert list_officers(engine=engine) == [
        {
            "id": first.id,
            "name": "Dana W.",
            "email": "dana@example.com",
            "phone": "+13054567000",
            "nmls_id": "1456789",
            "active": True,
            "leads": 0,
        }
    ]

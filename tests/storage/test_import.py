"""The lead CSV import, on SQLite and PostgreSQL (the ``engine`` fixture)."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.geo import normalize_phone
from nurture.products import Product
from nurture.states import CadenceStatus, Stage
from storage.importer import COLUMNS, ImportFileError, import_leads
from storage.models import CadencePosition, Consent, Lead
from storage.officers import OfficerSettings, add_officer, list_officers, set_officer_active
from tests.factories import NOW, lead_row, make_lead, make_officer, write_rows

_lead = Lead.__table__
_consent = Consent.__table__
LATER = NOW + timedelta(days=3)


FLORIDA = OfficerSettings(licensed_states="FL")


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
    add_officer(engine=engine, name="Someone Else", email="else@example.com", now=NOW, settings=FLORIDA)

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
        add_officer(engine=engine, name=n, email=f"{n}@example.com", now=NOW, settings=FLORIDA)
        for n in ("busy", "idle", "gone", "named")
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

    assert summary.unassigned == 2 and summary.unassigned_by_state == {"FL": 2}
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
        "line 2: last_name: has a line break at character 6: this field takes one line",
        "line 4: row: has 5 fields; the header has 4",
        "line 5: phone: 'nope' is not a valid US phone number",
    ]
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
            "role": "officer",
            "states": "none",
            "timezone": "America/New_York",
            "hours": "09:00-18:00",
            "days": "1-5",
            "quiet": "21:00-08:00",
            "max_open": 150,
            "alerts": "sms,email",
            "leads": 0,
            "open_tasks": 0,
        }
    ]


# Compliance facts: a second phone, the Do Not Call scrub, prior express written consent.

SELLER = "Dripline Demo Mortgage"
DISCLOSURE = (
    "I agree that Dripline Demo Mortgage may text me with automated technology and leave prerecorded messages "
    "at this number. Consent is not a condition of purchase."
)
FORM = "https://apply.harborleadco.example/form"


def consent(**overrides: str) -> dict[str, str]:
    """The consent columns of a row, filled."""
    fields = {"consent_at": "2026-01-05T14:30:00-05:00", "consent_source": FORM, "consent_text": DISCLOSURE,
              "consent_seller": SELLER}  # fmt: skip
    return fields | overrides


def consents(engine: Engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(_consent).order_by(_consent.c.id)))


def test_compliance_columns_are_stored_normalized(engine, tmp_path):
    rows = [
        lead_row(external_id="C1", phone="305-456-0001", alt_phone="(786) 456-0002", dnc="Y",
                 dnc_scrubbed_on="2/20/2026", **consent()),
        lead_row(external_id="C2", phone="214-456-0003", alt_phone="+12144560003", address_state="TX", zip="75201",
                 dnc_scrubbed_on="2026-02-21", **consent(consent_at="2026-01-04", consent_phone="214.456.0003")),
        lead_row(external_id="C3", phone="213-456-0004", alt_phone="212-456-0005", address_state="CA", zip="90012",
                 dnc="no", dnc_scrubbed_on="2026-02-22",
                 **consent(consent_at="2026-01-03 09:15", consent_phone="2124560005")),
        lead_row(external_id="C4", phone="305-456-0006"),
    ]  # fmt: skip

    summary = import_leads(engine=engine, path=write_rows(tmp_path / "a.csv", rows), now=NOW)

    assert (summary.created, summary.rejected, summary.consents) == (4, 0, 3)
    facts = [(r.phone, r.alt_phone, r.dnc_listed, r.dnc_scrubbed_on) for r in leads(engine)]
    assert facts == [
        ("+13054560001", "+17864560002", True, date(2026, 2, 20)),
        ("+12144560003", None, False, date(2026, 2, 21)),  # the same number twice is one number
        ("+12134560004", "+12124560005", False, date(2026, 2, 22)),
        ("+13054560006", None, False, None),
    ]
    ids = [r.id for r in leads(engine)]
    assert [(c.lead_id, c.phone, c.consented_at) for c in consents(engine)] == [
        (ids[0], "+13054560001", datetime(2026, 1, 5, 19, 30, tzinfo=UTC)),
        (ids[1], "+12144560003", datetime(2026, 1, 4, 6, 0, tzinfo=UTC)),  # a bare date: midnight in Dallas
        (ids[2], "+12124560005", datetime(2026, 1, 3, 17, 15, tzinfo=UTC)),  # no offset: the lead's clock (LA)
    ]
    first = consents(engine)[0]
    assert (first.seller, first.disclosure, first.source) == (SELLER, DISCLOSURE, FORM)
    assert (first.recorded_at, first.recorded_by) == (NOW, "import")


def test_each_bad_compliance_value_rejects_its_row_naming_line_and_field(engine, tmp_path):
    tomorrow = (NOW.date() + timedelta(days=1)).isoformat()
    rows = [
        lead_row(external_id="G1", **consent()),
        lead_row(external_id="B1", alt_phone="555-0100"),  # line 3
        lead_row(external_id="B2", dnc="yes"),  # line 4
        lead_row(external_id="B3", dnc="maybe", dnc_scrubbed_on="2026-02-20"),  # line 5
        lead_row(external_id="B4", dnc="no", dnc_scrubbed_on=tomorrow),  # line 6
        lead_row(external_id="B5", dnc_scrubbed_on="2/30/2026"),  # line 7
        lead_row(external_id="B6", consent_at="2026-01-05"),  # line 8
        lead_row(external_id="B7", consent_phone="305-456-7777"),  # line 9
        lead_row(external_id="B8", **consent(consent_at="2026-03-02T13:00:01Z")),  # line 10
        lead_row(external_id="B9", **consent(consent_at="1999-12-31")),  # line 11
        lead_row(external_id="B10", **consent(consent_at="last week")),  # line 12
        lead_row(external_id="B11", **consent(consent_phone="555-0100", consent_seller="x" * 201)),  # line 13
        lead_row(external_id="G2", dnc="1", dnc_scrubbed_on="2026-03-02", **consent(consent_at="2026-03-02")),
    ]
    path = write_rows(tmp_path / "leads.csv", rows)

    summary = import_leads(engine=engine, path=path, now=NOW)

    assert (summary.created, summary.rejected, summary.consents) == (2, 11, 2)
    needs = "is required when any consent column is filled"
    assert summary.errors == [
        "line 3: alt_phone: '555-0100' is not a valid US phone number",
        "line 4: dnc: is given without dnc_scrubbed_on; a Do Not Call flag needs the date of its scrub",
        "line 5: dnc: 'maybe' is not yes/no, true/false, y/n or 1/0",
        f"line 6: dnc_scrubbed_on: {tomorrow} is in the future",
        "line 7: dnc_scrubbed_on: '2/30/2026' is not a date (YYYY-MM-DD or M/D/YYYY)",
        f"line 8: consent_source: {needs}; consent_text: {needs}; consent_seller: {needs}",
        f"line 9: consent_at: {needs}; consent_source: {needs}; consent_text: {needs}; consent_seller: {needs}",
        "line 10: consent_at: 2026-03-02T13:00:01+00:00 is in the future",
        "line 11: consent_at: 1999-12-31T05:00:00+00:00 is before 2000",
        "line 12: consent_at: 'last week' is not an ISO 8601 date-time (2026-01-05T14:30:00-05:00) or a date",
        "line 13: consent_seller: is longer than 200 characters; consent_phone: '555-0100' is not a valid US "
        "phone number",
    ]
    rejects = read_csv(summary.rejects_path)
    assert [(r["external_id"], r["line"]) for r in rejects] == [(f"B{n}", str(n + 2)) for n in range(1, 12)]
    assert rejects[5]["consent_at"] == "2026-01-05" and rejects[5]["reason"].startswith("consent_source:")
    assert [r.external_id for r in leads(engine)] == ["G1", "G2"]
    assert [c.lead_id for c in consents(engine)] == [r.id for r in leads(engine)]


def test_a_consent_for_a_number_the_lead_does_not_have_rejects_the_whole_row(engine, tmp_path, session):
    lead = make_lead(external_id="K1", phone="+13054560010", alt_phone="+13054560011")
    other = make_lead(external_id="K2", phone="+13054560012", alt_phone="+13054560013", fico=690)
    session.add_all([lead, other])
    session.commit()
    rows = [
        lead_row(external_id="N1", phone="305-456-0020", **consent(consent_phone="305-456-0021")),
        lead_row(external_id="K1", phone="", fico="640", **consent(consent_phone="305-456-0011")),
        lead_row(external_id="N2", phone="", email="only@example.com", **consent()),
        lead_row(external_id="K2", phone="", fico="650", **consent(consent_phone="212-456-0099")),
    ]

    summary = import_leads(engine=engine, path=write_rows(tmp_path / "a.csv", rows), now=NOW)

    assert summary.errors == [
        "line 2: consent_phone: +13054560021 is not one of the lead's phones (+13054560020)",
        "line 4: consent_phone: the lead has no phone number for the consent to cover",
        "line 5: consent_phone: +12124560099 is not one of the lead's phones (+13054560012 or +13054560013)",
    ]
    assert (summary.created, summary.updated, summary.rejected, summary.consents) == (0, 1, 3, 1)
    after, other_after = leads(engine)
    assert (after.fico, after.phone, after.alt_phone) == (640, "+13054560010", "+13054560011")
    assert (other_after.fico, other_after.updated_at) == (690, NOW)
    assert [(c.lead_id, c.phone) for c in consents(engine)] == [(lead.id, "+13054560011")]
    assert [r["line"] for r in read_csv(summary.rejects_path)] == ["2", "4", "5"]


def test_reimporting_a_file_with_consents_changes_nothing(engine, tmp_path):
    rows = [lead_row(alt_phone=f"786-456-{n:04d}", dnc="no", dnc_scrubbed_on="2026-02-20", **consent())
            for n in range(4)]  # fmt: skip
    rows.append(lead_row(**consent(consent_at="2026-01-05", consent_phone="+1 786 456 9999")))  # not the lead's
    path = write_rows(tmp_path / "leads.csv", rows)
    first = import_leads(engine=engine, path=path, now=NOW)
    before, records = leads(engine), consents(engine)

    again = import_leads(engine=engine, path=path, now=LATER)

    assert (first.created, first.consents, first.rejected) == (4, 4, 1)
    assert (again.unchanged, again.updated, again.created, again.consents, again.rejected) == (4, 0, 0, 0, 1)
    assert leads(engine) == before and {r.updated_at for r in before} == {NOW}
    assert consents(engine) == records and len(records) == 4


def test_the_same_compliance_facts_written_differently_are_unchanged(engine, tmp_path):
    row = lead_row(phone="(305) 456-0500", alt_phone="786-456-0500", dnc="yes", dnc_scrubbed_on="2026-02-20",
                   **consent(consent_at="2026-01-05T14:30:00-05:00"))  # fmt: skip
    import_leads(engine=engine, path=write_rows(tmp_path / "a.csv", [row]), now=NOW)
    respelled = dict(row, alt_phone="+17864560500", dnc="Y", dnc_scrubbed_on="2/20/2026",
                     consent_at="2026-01-05T19:30:00Z", consent_phone="305.456.0500")  # fmt: skip

    summary = import_leads(engine=engine, path=write_rows(tmp_path / "b.csv", [respelled]), now=LATER)

    assert (summary.unchanged, summary.updated, summary.consents, len(consents(engine))) == (1, 0, 0, 1)


def test_a_new_consent_time_adds_a_record_and_keeps_the_first(engine, tmp_path):
    row = lead_row(external_id="P1", alt_phone="786-456-1000", **consent())
    import_leads(engine=engine, path=write_rows(tmp_path / "a.csv", [row]), now=NOW)
    (first,) = consents(engine)

    renewed = dict(row, consent_at="2026-02-10T10:00:00-05:00")
    summary = import_leads(engine=engine, path=write_rows(tmp_path / "b.csv", [renewed]), now=LATER)

    assert (summary.updated, summary.consents) == (1, 1)
    kept, added = consents(engine)
    assert kept == first
    assert (added.lead_id, added.phone, added.source, added.consented_at, added.recorded_at) == (
        first.lead_id,
        normalize_phone(row["phone"]),
        FORM,
        datetime(2026, 2, 10, 15, 0, tzinfo=UTC),
        LATER,
    )
    on_alt = dict(renewed, consent_phone="786-456-1000", consent_source="Harbor Lead Co")
    summary = import_leads(engine=engine, path=write_rows(tmp_path / "c.csv", [on_alt]), now=LATER)
    assert (summary.consents, consents(engine)[-1].phone, consents(engine)[-1].source) == (
        1,
        "+17864561000",
        "Harbor Lead Co",
    )
    again = import_leads(engine=engine, path=write_rows(tmp_path / "a.csv", [row]), now=LATER)
    assert (again.updated, again.consents, len(consents(engine))) == (1, 0, 3)  # the old file brings nothing new


@pytest.mark.parametrize(
    ("stored", "row", "kept"),
    [
        # (stored phone, stored alt), (row phone, row alt), (phone, alt) after the update
        (("+13054560100", "+17864560101"), ("786-456-0101", ""), ("+17864560101", "+13054560100")),
        (("+13054560100", "+17864560101"), ("", "305-456-0100"), ("+13054560100", "+17864560101")),
        (("+13054560100", None), ("212-456-0102", "305-456-0100"), ("+12124560102", "+13054560100")),
    ],
)
def test_a_row_matched_by_either_phone_updates_the_lead_instead_of_duplicating_it(
    engine, tmp_path, session, stored, row, kept
):
    lead = make_lead(external_id=None, phone=stored[0], alt_phone=stored[1], email="first@example.com")
    session.add(lead)
    session.commit()
    changed = lead_row(external_id="", phone=row[0], alt_phone=row[1], email="other@example.com", fico="760")

    summary = import_leads(engine=engine, path=write_rows(tmp_path / "a.csv", [changed]), now=NOW)

    assert (summary.created, summary.updated) == (0, 1)
    (after,) = leads(engine)
    assert (after.id, after.fico, after.email) == (lead.id, 760, "other@example.com")
    assert (after.phone, after.alt_phone) == kept


@pytest.mark.parametrize(
    ("phone", "alt_phone", "expected"),
    [
        ("786-456-0201", "786-456-0200", 2),  # phone, against the stored second number, before anything else
        ("212-456-0299", "786-456-0200", 1),  # then the second number
        ("212-456-0299", "", 0),  # then email
    ],
)
def test_matching_tries_phone_then_alt_phone_then_email(engine, tmp_path, session, phone, alt_phone, expected):
    stored = [
        make_lead(external_id=None, phone="+13054560201", email="row@example.com"),
        make_lead(external_id=None, phone="+13054560202", alt_phone="+17864560200"),
        make_lead(external_id=None, phone="+13054560203", alt_phone="+17864560201"),
    ]
    session.add_all(stored)
    session.commit()
    row = lead_row(external_id="", phone=phone, alt_phone=alt_phone, email="row@example.com", fico="780")

    summary = import_leads(engine=engine, path=write_rows(tmp_path / "a.csv", [row]), now=LATER)

    assert (summary.created, summary.updated) == (0, 1)
    assert [r.id for r in leads(engine) if r.fico == 780] == [stored[expected].id]


def test_a_number_repeated_as_another_rows_alt_phone_is_a_duplicate(engine, tmp_path):
    rows = [
        lead_row(external_id="V-A", phone="305-456-0300", alt_phone="786-456-0300"),
        lead_row(external_id="", phone="786-456-0300", email="someone.else@example.com"),  # line 3
        lead_row(external_id="V-B", phone="786-456-0300"),  # another vendor record never merges by phone
    ]

    summary = import_leads(engine=engine, path=write_rows(tmp_path / "a.csv", rows), now=NOW)

    assert summary.errors == ["line 3: phone: +17864560300 is also on line 2"]
    assert [(r.external_id, r.phone, r.alt_phone) for r in leads(engine)] == [
        ("V-A", "+13054560300", "+17864560300"),
        ("V-B", "+17864560300", None),
    ]


@pytest.mark.parametrize(
    ("row", "after"),
    [
        ({}, (True, date(2026, 2, 1))),  # no scrub in the row: the stored one stands
        ({"dnc": "no", "dnc_scrubbed_on": "2026-01-20"}, (True, date(2026, 2, 1))),  # an older scrub loses
        ({"dnc": "no", "dnc_scrubbed_on": "2026-02-25"}, (False, date(2026, 2, 25))),  # a newer one wins
        ({"phone": "212-456-0400"}, (False, None)),  # a new number was never scrubbed
        ({"phone": "212-456-0400", "dnc": "yes", "dnc_scrubbed_on": "2026-01-20"}, (True, date(2026, 1, 20))),
    ],
)
def test_a_scrub_result_is_replaced_only_by_a_newer_one_for_the_same_number(engine, tmp_path, session, row, after):
    lead = make_lead(external_id="S1", phone="+13054560400", dnc_listed=True, dnc_scrubbed_on=date(2026, 2, 1))
    session.add(lead)
    session.commit()

    changed = lead_row(external_id="S1", phone="305-456-0400", fico="720") | row
    summary = import_leads(engine=engine, path=write_rows(tmp_path / "a.csv", [changed]), now=NOW)

    assert summary.updated == 1
    (stored,) = leads(engine)
    assert (stored.fico, stored.dnc_listed, stored.dnc_scrubbed_on) == (720, *after)


def test_a_row_without_the_compliance_columns_keeps_the_digest_earlier_versions_stored(engine, tmp_path):
    """Else the first re-import after an upgrade would rewrite every lead. The digest below is the one the
    importer stored before alt_phone, dnc and consent columns existed."""
    row = lead_row(external_id="PIN-1", phone="(305) 456-7890", email="maria@example.com", last_name="Lopez")
    columns = [c for c in COLUMNS if row.get(c)]

    import_leads(engine=engine, path=write_rows(tmp_path / "a.csv", [row], columns=columns), now=NOW)

    assert leads(engine)[0].row_digest == "7172bbaa5c391387aeb8435f9dd457f93c5550f2c50b3710f66896a1a3ad2a8f"

"""Small builders for test data: models with sensible defaults, CSV rows in the import format.

Each call gives unique emails, phones and external ids, so several objects can
share a database. Override any field by keyword.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from bench.world import LIVE
from nurture.products import Product
from nurture.states import Stage
from storage.importer import COLUMNS
from storage.models import Lead, LoanOfficer

NOW = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # a Monday morning on the east coast
LIVE_SETTINGS: dict[str, Any] = dict(LIVE)  # settings the live channel accepts: no shipped placeholder left
_seq = count(1)


def make_officer(**overrides: Any) -> LoanOfficer:
    """An active loan officer, not yet saved."""
    n = next(_seq)
    fields: dict[str, Any] = {
        "name": f"Officer {n}",
        "email": f"officer{n}@example.com",
        "phone": None,
        "nmls_id": f"{1_400_000 + n}",
        "active": True,
        "created_at": NOW,
        "licensed_states": "all",
    }
    return LoanOfficer(**(fields | overrides))


def make_lead(**overrides: Any) -> Lead:
    """A new Miami bank-statement lead, not yet saved."""
    n = next(_seq)
    fields: dict[str, Any] = {
        "external_id": f"T-{n:05d}",
        "first_name": "Maria",
        "last_name": "Lopez",
        "phone": f"+1305456{n % 10_000:04d}",
        "email": f"maria{n}@example.com",
        "address_state": "FL",
        "zip": "33101",
        "timezone": "America/New_York",
        "self_employed": True,
        "product": Product.BANK_STATEMENT,
        "fico": 700,
        "inquiry_date": date(2026, 1, 5),
        "stage": Stage.NEW_LEAD,
        "created_at": NOW,
        "updated_at": NOW,
    }
    return Lead(**(fields | overrides))


def lead_row(**overrides: str) -> dict[str, str]:
    """One row of the lead CSV (every documented column, as text)."""
    n = next(_seq)
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        external_id=f"V-{n:05d}",
        first_name="Maria",
        last_name="Lopez",
        phone=f"(305) 456-{n % 10_000:04d}",
        email=f"maria{n}@example.com",
        address_state="FL",
        zip="33101",
        self_employed="yes",
        fico="700",
        cost="$4.50",
        inquiry_date="2026-01-05",
        source="Harbor Lead Co",
    )
    row.update(overrides)
    return row


def write_rows(path: Path, rows: list[dict[str, str]], *, columns: tuple[str, ...] | list[str] = COLUMNS) -> Path:
    """Write ``rows`` under the header ``columns`` (values for other keys are dropped)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows([row.get(c, "") for c in columns] for row in rows)
    return path


def clear_database(engine: Engine) -> None:
    """Delete every row and restart the id sequences, so the next test (or run) starts from the same ids."""
    tables = list(reversed(SQLModel.metadata.sorted_tables))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("TRUNCATE " + ", ".join(t.name for t in tables) + " RESTART IDENTITY CASCADE"))
            return
        for t in tables:
            conn.execute(t.delete())
        if conn.execute(sa.text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")).first():
            conn.execute(sa.text("DELETE FROM sqlite_sequence"))


def insert_lead(engine: Engine, *, consent: bool = True, at: datetime = NOW, **overrides: Any) -> int:
    """Store a Miami bank-statement lead (and a loan officer, the first time) and return its id.

    By default the lead may be texted: written consent naming us for its phone, and a DNC scrub on ``at``.
    """
    from service.settings import Settings
    from storage.compliance import add_consent
    from storage.models import table

    officers = table(LoanOfficer)
    with engine.begin() as conn:
        officer = conn.execute(sa.select(officers.c.id).order_by(officers.c.id)).scalar()
        if officer is None:
            officer = conn.execute(
                sa.insert(officers).values(
                    name="Dana Whitfield",
                    email="dana@example.com",
                    nmls_id="1456789",
                    active=True,
                    created_at=at,
                    licensed_states="all",
                )
            ).inserted_primary_key[0]
        values: dict[str, Any] = {
            "first_name": "Maria",
            "last_name": "Lopez",
            "phone": "+13055550147",
            "email": "maria@example.com",
            "address_state": "FL",
            "zip": "33101",
            "timezone": "America/New_York",
            "product": Product.BANK_STATEMENT.value,
            "self_employed": True,
            "inquiry_date": date(2026, 2, 1),
            "stage": Stage.NEW_LEAD.value,
            "loan_officer_id": officer,
            "phone_ok": True,
            "dnc_scrubbed_on": at.date(),
            "created_at": at,
            "updated_at": at,
            "row_digest": "x",
        } | overrides
        lead_id = conn.execute(sa.insert(table(Lead)).values(**values)).inserted_primary_key[0]
        if consent and values["phone"]:
            seller = Settings().company_name
            add_consent(
                conn,
                lead_id=lead_id,
                phone=values["phone"],
                seller=seller,
                disclosure=f"I agree that {seller} may text me and leave prerecorded messages.",
                source="https://apply.example.com/form",
                consented_at=at - timedelta(days=40),
                now=at,
                recorded_by="test",
            )
        return int(lead_id)


def insert_nurture_lead(engine: Engine, *, now: datetime, n: int, **overrides: Any) -> int:
    """A lead resting in the default cadence's email nurture (the only kind re-engagement wakes), enrolled
    120 days before ``now``, freshly DNC-scrubbed; its phone and email carry ``n``."""
    from storage.models import CadencePosition, table

    enrolled = now - timedelta(days=120)
    values: dict[str, Any] = {
        "phone": f"+1305555{n:04d}",
        "email": f"lead{n}@example.com",
        "inquiry_date": date(2026, 1, 10),
        "stage": Stage.NURTURE.value,
        "dnc_scrubbed_on": now.date() - timedelta(days=5),
    } | overrides
    lead_id = insert_lead(engine, at=enrolled, **values)
    with engine.begin() as conn:
        conn.execute(
            table(CadencePosition)
            .insert()
            .values(
                lead_id=lead_id,
                cadence_name="aged-nonqm",
                cadence_version=1,
                anchor_date=enrolled.date(),
                step_index=9,
                repeat=0,
                status="nurturing",
                next_due_at=now + timedelta(days=20),
                reason="",
                enrolled_at=enrolled,
                updated_at=enrolled,
            )
        )
    return lead_id

"""What the officer-page tests share: a lender program a 640 FICO fits and a 590 does not, two officers and a
manager, a lead of each officer with an open call task, and signing in by a magic link."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from nurture.guideline_feed import parse_feed
from storage.guidelines import load_snapshot
from storage.models import CallTask, LoanOfficer, table
from storage.signin import create_sign_in_link
from tests.factories import insert_lead

NOW = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Miami: calls allowed
LENDER = "Harbor Capital"
PROGRAM = f"{LENDER}: Bank statement"


def bank_statement_program(min_fico: int) -> dict[str, Any]:
    """A Florida bank-statement program as a lender's feed lists it."""
    return {"program": "bank_statement", "effective_date": "2026-02-01", "min_fico": min_fico, "max_ltv": 85,
            "min_loan_amount": 125000, "states": ["FL"], "seasoning_months": {"chapter_7": 24}, "min_dscr": None,
            "asset_divisor": None}  # fmt: skip


# A Miami bank-statement borrower one FICO edit short of the program: 590 now, 620 wanted.
SHORT_OF_IT = {"fico": 590, "loan_amount": 300_000, "property_value": 400_000}
_officer, _task = table(LoanOfficer), table(CallTask)


@dataclass(frozen=True)
class Team:
    dana: int  # an officer
    omar: int  # another officer
    mia: int  # their manager
    danas_lead: int
    omars_lead: int
    danas_task: int
    omars_task: int


def load_program(engine: Engine, *, lender: str = LENDER, min_fico: int = 620, at: datetime = NOW) -> int:
    """Load the lender's bank-statement program (as of a day before ``at``); returns the snapshot's id."""
    feed = {"lenders": [{"lender": lender, "programs": [bank_statement_program(min_fico)]}]}
    programs = parse_feed(json.dumps(feed), format="json")
    loaded = load_snapshot(
        engine=engine, programs=programs, source="test", loaded_by="test", now=at - timedelta(days=1)
    )
    snapshot_id = loaded.stored[0].snapshot_id
    assert snapshot_id is not None
    return snapshot_id


def add_officer(engine: Engine, name: str, *, role: str = "officer", phone: str | None = None) -> int:
    email = name.split()[0].lower() + "@example.com"
    with engine.begin() as conn:
        return int(
            conn.execute(
                sa.insert(_officer).values(name=name, email=email, phone=phone, nmls_id="1400100", role=role,
                                           active=True, created_at=NOW)
            ).inserted_primary_key[0]
        )  # fmt: skip


def add_task(engine: Engine, lead_id: int, officer_id: int, *, priority: int = 0, due: datetime = NOW,
             kind: str = "cadence", template: str = "intro") -> int:  # fmt: skip
    with engine.begin() as conn:
        return int(
            conn.execute(
                sa.insert(_task).values(
                    key=f"{lead_id}:test:{priority}:{due.isoformat()}", lead_id=lead_id, loan_officer_id=officer_id,
                    kind=kind, template=template, due_at=due, priority=priority, status="open", created_at=NOW,
                )
            ).inserted_primary_key[0]
        )  # fmt: skip


def team(engine: Engine) -> Team:
    """Dana and Omar (officers) each with a lead and an open call task; Mia, their manager; the program loaded."""
    load_program(engine)
    dana, omar = add_officer(engine, "Dana Whitfield"), add_officer(engine, "Omar Haddad")
    mia = add_officer(engine, "Mia Chen", role="manager")
    danas = insert_lead(engine, at=NOW, loan_officer_id=dana, **SHORT_OF_IT)
    omars = insert_lead(engine, at=NOW, loan_officer_id=omar, first_name="Ravi", last_name="Patel",
                        phone="+13055550199", email="ravi@example.com")  # fmt: skip
    return Team(dana, omar, mia, danas, omars, add_task(engine, danas, dana), add_task(engine, omars, omar))


def sign_in(client: TestClient, engine: Engine, officer_id: int, *, at: datetime = NOW) -> str:
    """Sign ``client`` in as the officer by a fresh link; returns the session's CSRF token."""
    with engine.begin() as conn:
        token = create_sign_in_link(conn, officer_id=officer_id, now=at)
    signed = client.post(f"/signin/{token}", follow_redirects=False)
    assert signed.status_code == 303, signed.text
    return csrf_of(client.get("/calls").text)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def one(engine: Engine, query: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(query).one()

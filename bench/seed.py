"""Seed a benchmark database: N leads, about half of them due at NOW with exactly one step each."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.cadence import Cadence, load_cadence
from nurture.planner import LeadSnapshot, due_at
from nurture.states import CadenceStatus
from service.settings import shipped
from storage.cadences import register_cadence
from storage.models import CadencePosition, Lead, LoanOfficer

NOW = datetime(2026, 6, 17, 19, 0, tzinfo=UTC)  # 15:00 in New York, 12:00 in Los Angeles
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles")
# Steps whose next step falls at least a day later, so a due lead has exactly one step to plan.
DUE_STEPS = ("d1-email", "d4-email", "n14-email", "n28-email", "n42-email", "n56-email")
CHUNK = 10_000


def cadence() -> Cadence:
    return load_cadence((shipped("cadences") / "default.yaml").read_text())


def _leads(n: int) -> Iterator[dict[str, Any]]:
    for i in range(1, n + 1):
        yield {
            "id": i,
            "first_name": f"Lead{i}",
            "last_name": "Bench",
            "phone": f"+1212555{i % 10000:04d}",
            "email": f"lead{i}@example.com",
            "address_state": "NY",
            "zip": "10001",
            "timezone": ZONES[i % len(ZONES)],
            "self_employed": True,
            "investment_property": False,
            "foreign_national": False,
            "high_dti": False,
            "product": "bank_statement",
            "product_matched": True,
            "inquiry_date": date(2026, 4, 1),
            "stage": "new_lead",
            "loan_officer_id": 1 + i % 4,
            "phone_ok": True,
            "row_digest": "",
            "created_at": NOW,
            "updated_at": NOW,
        }


def _positions(n: int, c: Cadence) -> Iterator[dict[str, Any]]:
    for i in range(1, n + 1):
        tz = ZONES[i % len(ZONES)]
        local_today = NOW.astimezone(ZoneInfo(tz)).date()
        if i % 2 == 0:
            index = c.index_of(DUE_STEPS[(i // 2) % len(DUE_STEPS)])
            step = c.steps[index]
            assert step.day is not None
            anchor = local_today - timedelta(days=step.day)
            enrolled = datetime(anchor.year, anchor.month, anchor.day, 12, tzinfo=UTC)
            status = CadenceStatus.ACTIVE if index <= c.contact_phase_end else CadenceStatus.NURTURING
            snap = LeadSnapshot(i, tz, anchor, enrolled, index, 0, status, True, True)
            due = due_at(step, 0, snap, c)
        else:
            index, anchor, status, due = 0, local_today, CadenceStatus.ACTIVE, NOW + timedelta(days=1)
            enrolled = NOW
        yield {
            "lead_id": i,
            "cadence_name": c.name,
            "cadence_version": c.version,
            "anchor_date": anchor,
            "step_index": index,
            "repeat": 0,
            "status": status.value,
            "next_due_at": due,
            "enrolled_at": enrolled,
            "updated_at": NOW,
        }


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def seed(
    engine: Engine,
    n: int,
    progress: Any = None,
    *,
    leads: Callable[[int], Iterator[dict[str, Any]]] = _leads,
    positions: Callable[[int, Cadence], Iterator[dict[str, Any]]] = _positions,
) -> int:
    """Insert ``n`` leads and their positions; return how many are due at NOW."""
    c = cadence()
    register_cadence(engine=engine, cadence=c, now=NOW)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(LoanOfficer.__table__),
            [
                {
                    "id": k,
                    "name": f"Officer {k}",
                    "email": f"lo{k}@example.com",
                    "nmls_id": f"20000{k}",
                    "active": True,
                    "created_at": NOW,
                }
                for k in range(1, 5)
            ],
        )
    done = 0
    for lead_rows, position_rows in zip(_chunks(leads(n)), _chunks(positions(n, c)), strict=True):
        with engine.begin() as conn:
            conn.execute(sa.insert(Lead.__table__), lead_rows)
            conn.execute(sa.insert(CadencePosition.__table__), position_rows)
        done += len(lead_rows)
        if progress:
            progress(done)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT setval('lead_id_seq', (SELECT max(id) FROM lead))"))
            conn.execute(sa.text("SELECT setval('loan_officer_id_seq', 4)"))
            conn.execute(sa.text("ANALYZE"))
    return n // 2


# The re-score benchmark: every lead rests in email nurture. A book of aged non-QM leads: products in the
# shares below, FICO around 700 (spread 50), five states, loans big enough; a lender then lowers its
# bank-statement minimum, which makes the bank-statement leads of 600-639 in its states newly eligible.
RESCORE_STATES = ("FL", "GA", "TX", "NY", "CA")
RESCORE_ZONES = {"FL": "America/New_York", "GA": "America/New_York", "TX": "America/Chicago",
                 "NY": "America/New_York", "CA": "America/Los_Angeles"}  # fmt: skip
RESCORE_PRODUCTS = (
    ("bank_statement",) * 30
    + ("dscr",) * 25
    + ("credit_event",) * 18
    + ("asset_depletion",) * 12
    + ("foreign_national",) * 5
    + ("general",) * 10
)


def _resting_leads(n: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(17)
    events = random.Random(29)  # its own draws: the leads' other facts stay those of the books measured before
    for row in _leads(n):
        state = rng.choice(RESCORE_STATES)
        product = rng.choice(RESCORE_PRODUCTS)
        event = events.choice(CREDIT_EVENTS)
        months_ago = events.randint(6, 60)
        yield row | {
            "address_state": state,
            "timezone": RESCORE_ZONES[state],
            "product": product,
            "fico": min(850, max(450, round(rng.gauss(700, 50)))),
            "loan_amount": 300_000,
            "inquiry_date": date(2026, 1, 15),
            "stage": "nurture",
            # a credit-event lead's event, 6-60 months back: the seasoning pass dates those still too recent
            "credit_event_type": event if product == "credit_event" else None,
            "credit_event_date": NOW.date() - timedelta(days=30 * months_ago) if product == "credit_event" else None,
        }


CREDIT_EVENTS = ("chapter_7", "chapter_13", "foreclosure", "short_sale")


def _resting_positions(n: int, c: Cadence) -> Iterator[dict[str, Any]]:
    index = c.index_of("n56-email")
    for i in range(1, n + 1):
        yield {
            "lead_id": i,
            "cadence_name": c.name,
            "cadence_version": c.version,
            "anchor_date": date(2026, 2, 1),
            "step_index": index,
            "repeat": 0,
            "status": CadenceStatus.NURTURING.value,
            "next_due_at": NOW + timedelta(days=20),
            "enrolled_at": datetime(2026, 2, 1, 15, tzinfo=UTC),
            "updated_at": NOW,
        }


def seed_resting(engine: Engine, n: int, progress: Any = None) -> int:
    """Insert ``n`` leads resting in nurture (for the re-score benchmark); return ``n``."""
    return seed(engine, n, progress, leads=_resting_leads, positions=_resting_positions)

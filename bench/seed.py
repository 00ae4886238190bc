"""Seed a benchmark database: N leads, about half of them due at NOW with exactly one step each."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.cadence import Cadence, load_cadence
from nurture.planner import LeadSnapshot, due_at
from nurture.states import CadenceStatus
from storage.cadences import register_cadence
from storage.models import CadencePosition, Lead, LoanOfficer

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 6, 17, 19, 0, tzinfo=UTC)  # 15:00 in New York, 12:00 in Los Angeles
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles")
# Steps whose next step falls at least a day later, so a due lead has exactly one step to plan.
DUE_STEPS = ("d1-email", "d4-email", "n14-email", "n28-email", "n42-email", "n56-email")
CHUNK = 10_000


def cadence() -> Cadence:
    return load_cadence((ROOT / "cadences" / "default.yaml").read_text())


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


def seed(engine: Engine, n: int, progress: Any = None) -> int:
    """Insert ``n`` leads and their positions; return how many are due at NOW."""
    c = cadence()
    register_cadence(engine=engine, cadence=c, now=NOW)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(LoanOfficer.__table__),
            [
                {"id": k, "name": f"Officer {k}", "email": f"lo{k}@example.com", "active": True, "created_at": NOW}
                for k in range(1, 5)
            ],
        )
    done = 0
    for leads, positions in zip(_chunks(_leads(n)), _chunks(_positions(n, c)), strict=True):
        with engine.begin() as conn:
            conn.execute(sa.insert(Lead.__table__), leads)
            conn.execute(sa.insert(CadencePosition.__table__), positions)
        done += len(leads)
        if progress:
            progress(done)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT setval('lead_id_seq', (SELECT max(id) FROM lead))"))
            conn.execute(sa.text("SELECT setval('loan_officer_id_seq', 4)"))
            conn.execute(sa.text("ANALYZE"))
    return n // 2

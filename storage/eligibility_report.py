"""Read-side eligibility: which leads qualify today (``dripline leads eligible``) and one lead's programs,
blockers and seasoning date (in ``dripline explain``)."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nurture.eligibility import assessments, priority_score, seasoning_date
from storage.eligibility_sql import eligible_clause
from storage.guidelines import current_set
from storage.models import CadencePosition, Lead, LeadHistory, Reengagement, table
from storage.rescore import ENGAGED_EVENTS, LEAD_COLUMNS, lead_facts
from storage.sql import among

_lead = table(Lead)
_pos = table(CadencePosition)
_hist = table(LeadHistory)
_re = table(Reengagement)


def eligible_leads(*, engine: Engine, on: date, program: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Leads eligible for some program on ``on``, highest priority score first (at most ``limit``)."""
    with engine.connect() as conn:
        rules = current_set(conn, on=on)
        programs = [p for p in rules.programs if program is None or p.program.value == program]
        rows = conn.execute(
            sa.select(*LEAD_COLUMNS, _lead.c.first_name, _lead.c.last_name)
            .outerjoin(_pos, _pos.c.lead_id == _lead.c.id)
            .where(eligible_clause(programs, on))
        ).all()
        engaged = _engaged(conn, [r.id for r in rows])
    out = []
    for r in rows:
        lead = lead_facts(r)
        best = assessments(lead, programs, on)[0]
        out.append(
            {
                "lead_id": r.id,
                "name": f"{r.first_name} {r.last_name}".strip(),
                "product": r.product,
                "fico": r.fico,
                "lender": best.rules.lender,
                "program": best.rules.program.value,
                "score": priority_score(lead, on=on, engaged=r.id in engaged),
                "stage": r.stage,
                "cadence": r.status,
            }
        )
    out.sort(key=lambda row: (-row["score"], row["lead_id"]))
    return out[:limit]


def lead_eligibility(conn: Connection, lead_id: int, on: date) -> dict[str, Any] | None:
    """Each program of the lead's product: eligible or what blocks it; its seasoning date; its re-engagements."""
    row = conn.execute(
        sa.select(*LEAD_COLUMNS).outerjoin(_pos, _pos.c.lead_id == _lead.c.id).where(_lead.c.id == lead_id)
    ).first()
    if row is None:
        return None
    rules = current_set(conn, on=on)
    lead = lead_facts(row)
    found = assessments(lead, rules, on)
    seasons = seasoning_date(lead, rules, on)
    history = conn.execute(sa.select(_re).where(_re.c.lead_id == lead_id).order_by(_re.c.id)).all()
    return {
        "programs": [
            {
                "lender": a.rules.lender,
                "program": a.rules.program.value,
                "eligible": a.eligible,
                "blockers": [b.text for b in a.blockers],
            }
            for a in found
        ],
        "seasons_on": seasons.isoformat() if seasons else None,
        "score": priority_score(lead, on=on, engaged=bool(_engaged(conn, [lead_id]))),
        "reengagements": [
            {
                "change": r.change_key,
                "status": r.status,
                "reason": r.reason,
                "lender": r.lender,
                "scheduled_for": r.scheduled_for.isoformat() if r.scheduled_for else None,
                "at": r.created_at.isoformat(),
            }
            for r in history
        ],
    }


def _engaged(conn: Connection, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    query = sa.select(_hist.c.lead_id).where(among(conn, _hist.c.lead_id, ids), _hist.c.event.in_(ENGAGED_EVENTS))
    return set(conn.execute(query).scalars())

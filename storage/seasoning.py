"""Credit-event seasoning: the date a resting lead's credit event seasons under the guidelines in force,
and its re-engagement on that date.

:func:`schedule_seasoning` dates every resting lead held back by seasoning alone (after a guideline
load: all of them; in the daily sweep: those that changed lately); :func:`enroll_seasoned`, called by
every tick, re-engages the leads whose date has come and who still qualify, and supersedes the rest.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nurture.eligibility import LeadFacts, eligible_anywhere, seasoning_date
from nurture.guidelines import GuidelineSet
from nurture.planner import local_instant
from storage.cadences import CadenceRegistry
from storage.eligibility_sql import eligible_clause
from storage.guidelines import current_set
from storage.locks import lock_leads, write_transaction
from storage.models import CadencePosition, Lead, Reengagement, table
from storage.rescore import (
    LEAD_COLUMNS,
    OPEN_STAGES,
    RESTING,
    RescoreStats,
    lead_facts,
    reengage_rows,
    resting_clause,
)
from storage.sql import among, insert_ignore

_lead = table(Lead)
_pos = table(CadencePosition)
_re = table(Reengagement)

SEASONING_SWEEP_LOOKBACK = timedelta(days=3)  # the daily sweep dates leads changed this recently


def schedule_seasoning(
    *, engine: Engine, now: datetime, batch_size: int = 5000, since: datetime | None = None
) -> RescoreStats:
    """Date every resting lead held back by credit-event seasoning alone under the guidelines in force.

    A lead's earlier date that no longer holds is superseded; one that still does is kept as it is.
    With ``since``, only leads whose cadence position or record changed since then (those that came to rest,
    or were re-imported) are looked at: the daily sweep's share; a guideline load looks at every lead.
    """
    stats = RescoreStats()
    on = now.date()
    with engine.connect() as conn:
        rules = current_set(conn, on=on)
        query = (
            sa.select(*LEAD_COLUMNS)
            .join(_pos, _pos.c.lead_id == _lead.c.id)
            .where(resting_clause(), _lead.c.credit_event_date.is_not(None))
            .order_by(_lead.c.id)
        )
        if since is None:  # every lead: the eligible ones are left out in SQL
            query = query.where(sa.not_(eligible_clause(rules.programs, on)))
        else:  # the few that changed: checked in Python, which is cheaper than building the clause
            query = query.where(sa.or_(_pos.c.updated_at >= since, _lead.c.updated_at >= since))
        rows = conn.execution_options(yield_per=batch_size).execute(query)
        for batch in rows.partitions(batch_size):
            facts = [(r, lead_facts(r)) for r in batch]
            if since is not None:
                facts = [(r, lead) for r, lead in facts if not eligible_anywhere(lead, rules, on)]
            dated = {r.id: (r, seasoning_date(lead, rules, on)) for r, lead in facts}
            _replace_schedule(engine, dated, now, stats)
    return stats


def redate_seasoning(*, engine: Engine, lead_ids: list[int], now: datetime) -> RescoreStats:
    """Date again the seasoning of these leads (after a person changed their facts): a resting lead still held back
    by its credit event alone gets the date it seasons under the guidelines in force; a date that no longer holds
    (now eligible, no credit event, or a new date) is superseded."""
    stats = RescoreStats()
    on = now.date()
    with engine.connect() as conn:
        rules = current_set(conn, on=on)
        rows = conn.execute(
            sa.select(*LEAD_COLUMNS)
            .join(_pos, _pos.c.lead_id == _lead.c.id)
            .where(resting_clause(), among(conn, _lead.c.id, lead_ids))
        ).all()
    dated = {r.id: (r, seasoning_date(lead_facts(r), rules, on)) for r in rows}
    if dated:
        _replace_schedule(engine, dated, now, stats)
    return stats


def _replace_schedule(
    engine: Engine, dated: dict[int, tuple[Any, date | None]], now: datetime, stats: RescoreStats
) -> None:
    ids = list(dated)
    with write_transaction(engine) as conn:
        lock_leads(conn, ids)
        existing = {
            (lead_id, key)
            for lead_id, key in conn.execute(
                sa.select(_re.c.lead_id, _re.c.change_key).where(
                    among(conn, _re.c.lead_id, ids), _re.c.status == "scheduled"
                )
            )
        }
        keep = {(lead_id, f"seasoning:{d.isoformat()}") for lead_id, (_, d) in dated.items() if d is not None}
        stats.superseded += _supersede(conn, existing - keep)
        fresh = [
            {
                "lead_id": lead_id,
                "change_key": f"seasoning:{d.isoformat()}",
                "snapshot_id": None,
                "lender": "",
                "program": row.product,
                "reason": seasoned_reason(lead_facts(row), d),
                "status": "scheduled",
                "score": 0.0,
                "scheduled_for": local_instant(row.timezone, d, time(9, 0)),
                "created_at": now,
            }
            for lead_id, (row, d) in dated.items()
            if d is not None and (lead_id, f"seasoning:{d.isoformat()}") not in existing
        ]
        stats.scheduled += insert_ignore(conn, _re, fresh, ("lead_id", "change_key"))


def _still_ready(row: Any, rules: GuidelineSet, on: date) -> bool:
    return row.stage in OPEN_STAGES and row.status in RESTING and eligible_anywhere(lead_facts(row), rules, on)


def _supersede(conn: Connection, pairs: set[tuple[int, str]]) -> int:
    """Mark scheduled re-engagements (lead, change key) as no longer due; returns how many were still scheduled."""
    if not pairs:
        return 0
    result = conn.execute(
        _re.update()
        .where(
            _re.c.lead_id == sa.bindparam("b_id"),
            _re.c.change_key == sa.bindparam("b_key"),
            _re.c.status == "scheduled",
        )
        .values(status="superseded"),
        [{"b_id": lead_id, "b_key": key} for lead_id, key in sorted(pairs)],
    )
    return result.rowcount if result.rowcount >= 0 else len(pairs)


def seasoned_reason(lead: LeadFacts, seasons_on: date) -> str:
    """The change in the lead's favour when its credit event seasons, in the message's words."""
    event = lead.credit_event_type.value.replace("_", " ") if lead.credit_event_type else "credit event"
    label = lead.product.label.lower()
    return (
        f"began counting your {event} as far enough in the past on {seasons_on:%B} {seasons_on.day} for {label} loans"
    )


def enroll_seasoned(
    *, engine: Engine, registry: CadenceRegistry, now: datetime, batch_size: int = 2000
) -> RescoreStats:
    """Re-engage every scheduled lead whose seasoning date has come and who qualifies now; supersede the rest."""
    stats = RescoreStats()
    on = now.date()
    with engine.connect() as conn:
        any_due = conn.execute(
            sa.select(_re.c.id).where(_re.c.status == "scheduled", _re.c.scheduled_for <= now).limit(1)
        ).first()
        if any_due is None:
            return stats
        rules = current_set(conn, on=on)
        due = conn.execute(
            sa.select(*LEAD_COLUMNS, _re.c.change_key, _re.c.program.label("re_program"), _re.c.reason.label("why"))
            .join(_pos, _pos.c.lead_id == _lead.c.id)
            .join(_re, _re.c.lead_id == _lead.c.id)
            .where(_re.c.status == "scheduled", _re.c.scheduled_for <= now)
            .order_by(_lead.c.id)
        ).all()
    for start in range(0, len(due), batch_size):
        batch = due[start : start + batch_size]
        ready = [r for r in batch if _still_ready(r, rules, on)]
        ready_ids = {r.id for r in ready}
        stale = {(r.id, r.change_key) for r in batch if r.id not in ready_ids}
        with write_transaction(engine) as conn:
            lock_leads(conn, {lead_id for lead_id, _ in stale})
            stats.superseded += _supersede(conn, stale)
        stats.candidates += len(ready)
        reasons = {r.id: ("", r.re_program, r.why) for r in ready}
        reengage_rows(engine, registry, ready, reasons, None, None, now, stats)
    return stats

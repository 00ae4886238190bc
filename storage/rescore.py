"""Re-engagement of aged leads when guidelines change in their favour, and when their credit event seasons.

:func:`rescore_snapshot` finds, in one SQL pass over the lead table, exactly the
leads a guideline load made newly eligible: eligible under some program of their
product after the load and under none before it, resting in nurture (not in an
active cadence, not with a loan officer, not converted or stopped), not already
re-engaged for this load. Each is checked again in Python (same rules), given the
change in plain words and a priority score, and moved onto the re-engagement
cadence; the compliance gate then decides what may go out and when. Leads opted
out of every channel are recorded as skipped.

:mod:`storage.seasoning` dates the leads held back by seasoning alone and
re-engages them on that date.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nurture.actions import Channel
from nurture.eligibility import INCOME_FACTS, LeadFacts, assess, priority_score
from nurture.guidelines import GuidelineSet, ProgramRules
from nurture.income import StatementType
from nurture.planner import LeadSnapshot, anchor_date, due_at
from nurture.products import CreditEventType, Product
from nurture.states import CadenceStatus, Event, Stage
from storage.bulk import insert_new, insert_rows
from storage.cadences import CadenceRegistry
from storage.compliance import load_facts
from storage.eligibility_sql import eligible_clause
from storage.guidelines import current_snapshots, programs_of, sets_around, snapshot_changes
from storage.locks import lock_leads, write_transaction
from storage.models import CadencePosition, GuidelineSnapshot, Lead, LeadHistory, Reengagement, table
from storage.sql import among, pg_array

_lead = table(Lead)
_pos = table(CadencePosition)
_hist = table(LeadHistory)
_re = table(Reengagement)
_snap = table(GuidelineSnapshot)

REENGAGE_CADENCE = "reengage"
RESTING = [CadenceStatus.NURTURING.value, CadenceStatus.COMPLETED.value]
OPEN_STAGES = [Stage.NEW_LEAD.value, Stage.NURTURE.value]
_REACHABLE = frozenset({Channel.SMS, Channel.EMAIL, Channel.CALL})
ENGAGED_EVENTS = [Event.LIVE_CONTACT.value, Event.INBOUND_REPLY.value]
EFFECTIVE_LOOKBACK_DAYS = 7
RANGE_SIZE = 100_000  # leads per id range: one Prefect task each in the re-score flows
# Where a re-engaged lead goes back to when the sequence ends: where it stood, unless it stands in a re-engagement
# already (then its home stays). SET reads the row as it was before the update, on both databases.
_HOMED = ("cadence_name", "cadence_version", "anchor_date", "enrolled_at", "step_index", "repeat")
_HOME_FROM_HERE = {f"home_{name}": sa.func.coalesce(_pos.c[f"home_{name}"], _pos.c[name]) for name in _HOMED}


@dataclass(slots=True)
class RescoreStats:
    candidates: int = 0  # newly eligible by the SQL pass
    reengaged: int = 0
    suppressed: int = 0  # opted out of every channel: recorded, not contacted
    mismatched: int = 0  # SQL and Python disagreed (must stay 0; counted, never acted on)
    scheduled: int = 0
    superseded: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__ if k != "reasons"} | {"reasons": dict(self.reasons)}

    def add(self, other: RescoreStats) -> None:
        for name in ("candidates", "reengaged", "suppressed", "mismatched", "scheduled", "superseded"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.reasons.update(other.reasons)


LEAD_COLUMNS = (
    _lead.c.id,
    _lead.c.product,
    _lead.c.fico,
    _lead.c.credit_event_type,
    _lead.c.credit_event_date,
    _lead.c.loan_amount,
    _lead.c.monthly_rent,
    _lead.c.liquid_assets,
    _lead.c.address_state,
    _lead.c.inquiry_date,
    *(_lead.c[name] for name in INCOME_FACTS),
    _lead.c.timezone,
    _lead.c.stage,
    _pos.c.status,
)


def resting_clause() -> sa.ColumnElement[bool]:
    return sa.and_(_lead.c.stage.in_(OPEN_STAGES), _pos.c.status.in_(RESTING))


def lead_facts(row: Any) -> LeadFacts:
    return LeadFacts(
        lead_id=row.id,
        product=Product(row.product),
        fico=row.fico,
        credit_event_type=CreditEventType(row.credit_event_type) if row.credit_event_type else None,
        credit_event_date=row.credit_event_date,
        loan_amount=row.loan_amount,
        monthly_rent=row.monthly_rent,
        liquid_assets=row.liquid_assets,
        address_state=row.address_state,
        inquiry_date=row.inquiry_date,
        **{name: getattr(row, name) for name in INCOME_FACTS} | {"statement_type": _statement_type(row)},
    )


def _statement_type(row: Any) -> StatementType | None:
    return StatementType(row.statement_type) if row.statement_type else None


def rescore_snapshot(
    *,
    engine: Engine,
    registry: CadenceRegistry,
    snapshot_id: int,
    now: datetime,
    batch_size: int = 2000,
    ids: tuple[int, int] | None = None,
    progress: Callable[[int], None] | None = None,
) -> RescoreStats:
    """Re-engage exactly the leads that guideline snapshot ``snapshot_id`` made newly eligible.

    ``ids`` limits the pass to leads with ``lo <= id < hi`` (a flow splits the table into such ranges).
    """
    stats = RescoreStats()
    with engine.connect() as conn:
        before, after, snap = sets_around(conn, snapshot_id, now.date())
    loosened = [c for c in snapshot_changes(snap) if c["direction"] == "loosening"]
    keys = {(c["lender"], c["program"]) for c in loosened}
    if not keys:
        return stats
    products = sorted({program for _, program in keys})
    on = now.date()
    change_key = f"snapshot:{snapshot_id}"
    already = sa.exists().where(_re.c.lead_id == _lead.c.id, _re.c.change_key == change_key)
    query = (
        sa.select(*LEAD_COLUMNS)
        .join(_pos, _pos.c.lead_id == _lead.c.id)
        .where(
            resting_clause(),
            _lead.c.product.in_(products),
            eligible_clause(_of(after, products), on),
            sa.not_(eligible_clause(_of(before, products), on)),
            ~already,
            *_in_range(ids),
        )
        .order_by(_lead.c.id)
    )
    changed = [p for p in after.programs if (p.lender, p.program.value) in keys]
    why_by_key = {
        key: " and ".join(c["describe"] for c in loosened if (c["lender"], c["program"]) == key) for key in keys
    }
    with engine.connect() as conn:
        rows = conn.execution_options(yield_per=batch_size).execute(query)
        for batch in rows.partitions(batch_size):
            stats.candidates += len(batch)
            reasons: dict[int, tuple[str, str, str]] = {}
            known: dict[int, LeadFacts] = {}
            for row in batch:
                lead = known[row.id] = lead_facts(row)
                fits = next((p for p in changed if assess(lead, p, on).eligible), None)
                if fits is None:
                    stats.mismatched += 1
                    continue
                why = why_by_key[(fits.lender, fits.program.value)]
                reasons[row.id] = (fits.lender, fits.program.value, why)
            reengage_rows(engine, registry, [r for r in batch if r.id in reasons], reasons, change_key, snapshot_id,
                          now, stats, known=known)  # fmt: skip
            if progress is not None:
                progress(stats.candidates)
    return stats


def _in_range(ids: tuple[int, int] | None) -> tuple[sa.ColumnElement[bool], ...]:
    """``lo <= id < hi`` on the lead and on its position (the same ids): given only the lead's, PostgreSQL reads
    every position of the table for each range."""
    if ids is None:
        return ()
    lo, hi = ids
    return (_lead.c.id >= lo, _lead.c.id < hi, _pos.c.lead_id >= lo, _pos.c.lead_id < hi)


def newly_effective(conn: Connection, on: date, *, lookback_days: int = EFFECTIVE_LOOKBACK_DAYS) -> list[int]:
    """Snapshots in force with a loosened program that took effect after the load, on or up to a few days before ``on``.

    Re-scoring at load time finds nobody for a change that is not yet effective (a lender announcing
    June's guidelines in May); these snapshots are re-scored once their date comes. Re-scoring is
    idempotent per lead and change, so the look-back only makes up for days the sweep did not run.
    """
    due = []
    for row in current_snapshots(conn):
        loaded_on = row.loaded_at.date()
        effective = {p.program.value: p.effective_date for p in programs_of(row.programs)}
        for change in snapshot_changes(row):
            when = effective.get(change["program"])
            if change["direction"] != "loosening" or when is None:
                continue
            if loaded_on < when <= on and (on - when).days <= lookback_days:
                due.append(row.id)
                break
    return due


def lead_id_ranges(engine: Engine, size: int) -> list[tuple[int, int]]:
    """The lead table split into id ranges of ``size`` (for one Prefect task each)."""
    with engine.connect() as conn:
        top = conn.execute(sa.select(sa.func.max(_lead.c.id))).scalar() or 0
    return [(lo, lo + size) for lo in range(1, top + 1, size)]


def _of(rules: GuidelineSet, products: Sequence[str]) -> list[ProgramRules]:
    return [p for p in rules.programs if p.program.value in products]


def reengage_rows(
    engine: Engine,
    registry: CadenceRegistry,
    rows: Sequence[Any],
    reasons: dict[int, tuple[str, str, str]],
    change_key: str | None,
    snapshot_id: int | None,
    now: datetime,
    stats: RescoreStats,
    *,
    known: dict[int, LeadFacts] | None = None,
) -> None:
    """Record each lead's re-engagement and move it onto the re-engagement cadence, in one transaction. The
    position keeps where the lead stood (``home_*``, unless it is in a re-engagement already): it goes back
    there when the sequence ends.

    ``reasons`` maps a lead to (lender, program, the change in plain words). With ``change_key`` None the
    rows already exist as scheduled (seasoning) under each row's own ``change_key`` and are marked instead.

    The leads are locked first and each row is checked again under the lock: a lead whose position moved
    since ``rows`` were read, or whose re-engagement another run (a second tick, a second load) recorded
    meanwhile, is left alone, so running twice at once re-engages nobody twice. ``known``: the leads' facts
    as the caller read them from the same ``rows``, to score them without reading them again.
    """
    if not rows:
        return
    cadence = registry.latest[REENGAGE_CADENCE]
    with write_transaction(engine) as conn:
        lock_leads(conn, [r.id for r in rows])
        rows = _unchanged(conn, rows, change_key)
        ids = [r.id for r in rows]
        facts = load_facts(conn, ids, since=now)
        engaged = set(
            conn.execute(
                sa.select(_hist.c.lead_id).where(among(conn, _hist.c.lead_id, ids), _hist.c.event.in_(ENGAGED_EVENTS))
            ).scalars()
        )
        records, marks, moves, history = [], [], [], []
        for r in rows:
            lender, program, why = reasons[r.id]
            suppressed = set(facts[r.id].opted_out) >= _REACHABLE
            status = "skipped" if suppressed else "enrolled"
            read = (known or {}).get(r.id)
            score = priority_score(read or lead_facts(r), on=now.date(), engaged=r.id in engaged)
            if change_key is None:
                marks.append({"b_id": r.id, "b_key": r.change_key, "b_status": status, "b_score": score})
            else:
                records.append(
                    {
                        "lead_id": r.id,
                        "change_key": change_key,
                        "snapshot_id": snapshot_id,
                        "lender": lender,
                        "program": program,
                        "reason": why,
                        "status": status,
                        "score": score,
                        "scheduled_for": None,
                        "created_at": now,
                    }
                )
            if suppressed:
                stats.suppressed += 1
                continue
            anchor = anchor_date(enrolled_at=now, timezone=r.timezone, cadence=cadence)
            snap = LeadSnapshot(r.id, r.timezone, anchor, now, 0, 0, CadenceStatus.ACTIVE, True, True)
            moves.append(
                {
                    "b_id": r.id,
                    "b_name": cadence.name,
                    "b_version": cadence.version,
                    "b_anchor": anchor,
                    "b_due": due_at(cadence.steps[0], 0, snap, cadence),
                    "b_reason": why,
                    "b_now": now,
                    "b_from": r.status,
                }
            )
            history.append(
                {
                    "lead_id": r.id,
                    "at": now,
                    "event": Event.REENGAGE.value,
                    "stage_from": r.stage,
                    "stage_to": r.stage,
                    "cadence_from": r.status,
                    "cadence_to": CadenceStatus.ACTIVE.value,
                    "reason": f"one of our lenders {why}"[:500],
                    "actor": "guidelines",
                }
            )
            stats.reasons[why] += 1
        insert_new(conn, _re, records, ("lead_id", "change_key"))
        if marks:
            conn.execute(
                _re.update()
                .where(_re.c.lead_id == sa.bindparam("b_id"), _re.c.change_key == sa.bindparam("b_key"))
                .values(status=sa.bindparam("b_status"), score=sa.bindparam("b_score")),
                marks,
            )
        if moves:
            if conn.dialect.name == "postgresql":
                _move_all(conn, moves)
            else:
                conn.execute(
                    _pos.update()
                    .where(_pos.c.lead_id == sa.bindparam("b_id"), _pos.c.status == sa.bindparam("b_from"))
                    .values(
                        cadence_name=sa.bindparam("b_name"),
                        cadence_version=sa.bindparam("b_version"),
                        anchor_date=sa.bindparam("b_anchor"),
                        step_index=0,
                        repeat=0,
                        status=CadenceStatus.ACTIVE.value,
                        next_due_at=sa.bindparam("b_due"),
                        reason=sa.bindparam("b_reason"),
                        enrolled_at=sa.bindparam("b_now"),
                        updated_at=sa.bindparam("b_now"),
                        **_HOME_FROM_HERE,
                    ),
                    moves,
                )
            insert_rows(conn, _hist, history)
            stats.reengaged += len(moves)


_MOVE_COLUMNS = ("b_id", "b_name", "b_version", "b_anchor", "b_due", "b_reason", "b_now", "b_from")
_MOVE_TYPES = ("bigint", "text", "int", "date", "timestamptz", "text", "timestamptz", "text")
_HOME_SQL = ", ".join(f"home_{n} = coalesce(p.home_{n}, p.{n})" for n in _HOMED)
_MOVE_PG = (
    "UPDATE cadence_position AS p SET cadence_name = u.b_name, cadence_version = u.b_version, "
    "anchor_date = u.b_anchor, step_index = 0, repeat = 0, status = %(active)s, next_due_at = u.b_due, "
    f"reason = u.b_reason, enrolled_at = u.b_now, updated_at = u.b_now, {_HOME_SQL} "
    f"FROM unnest({', '.join(f'%({c})s::{t}[]' for c, t in zip(_MOVE_COLUMNS, _MOVE_TYPES, strict=True))}) "
    f"AS u({', '.join(_MOVE_COLUMNS)}) WHERE p.lead_id = u.b_id AND p.status = u.b_from"
)


def _move_all(conn: Connection, moves: list[dict[str, Any]]) -> None:
    """The SQLite path's position update (same columns, same guard on the status read), as one statement over
    an array per column: psycopg's batched statements cost more than the update."""
    arrays: dict[str, Any] = {c: pg_array(m[c] for m in moves) for c in _MOVE_COLUMNS}
    arrays["active"] = CadenceStatus.ACTIVE.value
    conn.exec_driver_sql(_MOVE_PG, arrays)


def _unchanged(conn: Connection, rows: Sequence[Any], change_key: str | None) -> list[Any]:
    """The rows whose lead still rests where it was read and whose re-engagement is still to be recorded."""
    ids = [r.id for r in rows]
    status = dict(conn.execute(sa.select(_pos.c.lead_id, _pos.c.status).where(among(conn, _pos.c.lead_id, ids))).all())
    query = sa.select(_re.c.lead_id, _re.c.change_key, _re.c.status).where(among(conn, _re.c.lead_id, ids))
    records = {(lead_id, key, state) for lead_id, key, state in conn.execute(query)}
    if change_key is None:
        return [r for r in rows if status.get(r.id) == r.status and (r.id, r.change_key, "scheduled") in records]
    done = {(lead_id, key) for lead_id, key, _ in records}
    return [r for r in rows if status.get(r.id) == r.status and (r.id, change_key) not in done]


def reengagements_of(engine: Engine, snapshot_id: int, *, limit: int = 1000) -> list[dict[str, Any]]:
    """Who snapshot ``snapshot_id`` re-engaged (or dated for seasoning) and why, highest priority first."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(_re.c.lead_id, _lead.c.first_name, _re.c.program, _re.c.status, _re.c.score, _re.c.reason)
            .join(_lead, _lead.c.id == _re.c.lead_id)
            .where(_re.c.snapshot_id == snapshot_id)
            .order_by(_re.c.score.desc(), _re.c.lead_id)
            .limit(limit)
        ).all()
    return [dict(r._mapping) | {"score": round(r.score, 2)} for r in rows]


def snapshot_lender(engine: Engine, snapshot_id: int) -> str | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(_snap.c.lender).where(_snap.c.id == snapshot_id)).scalar()

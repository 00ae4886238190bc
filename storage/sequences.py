"""Moving leads onto a sequence an event starts (the referral asks at funding, the documents after the education
call): which leads wait for it, and the move itself. Day 0 is the day of the event, not the day a tick noticed it,
so the messages keep their dates however the ticks run.

The callers say who waits (the ``where`` conditions, over ``lead`` joined to ``cadence_position``) and when each
one's event happened (``started_at``, a scalar subquery per lead).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nurture.cadence import Cadence
from nurture.planner import LeadSnapshot, anchor_date, due_at
from nurture.states import CadenceStatus, Event, Stage
from storage.cadences import CadenceRegistry
from storage.lead_events import history_rows
from storage.locks import write_transaction
from storage.models import CadencePosition, Lead, LeadHistory, table
from storage.sql import aggregate_time

_lead = table(Lead)
_pos = table(CadencePosition)
_hist = table(LeadHistory)

Conditions = Sequence[sa.ColumnElement[bool]]


def enroll_waiting(
    *,
    engine: Engine,
    registry: CadenceRegistry,
    name: str,
    event: Event,
    started_at: sa.ScalarSelect[Any],
    where: Conditions,
    home: Mapping[str, Any],
    now: datetime,
    limit: int,
    then: Callable[[Connection, list[Any]], None] | None = None,
) -> int:
    """Move up to ``limit`` waiting leads onto the cadence ``name`` (its version in force) through ``event``, and run
    ``then`` with the leads moved in the same transaction. Returns how many were moved.

    A registry without that cadence (a test's or the benchmark's) moves nobody. Safe to run in several processes at
    once: the leads and positions are locked as they are read, and a lead moved meanwhile no longer waits.
    """
    cadence = registry.latest.get(name)
    if cadence is None:
        return 0
    with write_transaction(engine) as conn:
        rows = claim_waiting(conn, started_at=started_at, where=where, limit=limit)
        moved = start_sequence(conn, rows, cadence=cadence, event=event, now=now, home=home)
        if then is not None and rows:
            then(conn, rows)
        return moved


def claim_waiting(conn: Connection, *, started_at: sa.ScalarSelect[Any], where: Conditions, limit: int) -> list[Any]:
    """Up to ``limit`` waiting leads (id, timezone, stage, status, started_at), locked as they are read
    (PostgreSQL: ``SKIP LOCKED``, so concurrent ticks take other leads; SQLite: the caller's write transaction)."""
    query = (
        sa.select(_lead.c.id, _lead.c.timezone, _lead.c.stage, _pos.c.status, started_at.label("started_at"))
        .join(_pos, _pos.c.lead_id == _lead.c.id)
        .where(*where)
        .order_by(_lead.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=[_lead, _pos], skip_locked=True)
    return list(conn.execute(query))


def start_sequence(
    conn: Connection,
    rows: Sequence[Any],
    *,
    cadence: Cadence,
    event: Event,
    now: datetime,
    home: Mapping[str, Any],
) -> int:
    """Move the ``rows`` of :func:`claim_waiting` onto ``cadence`` through ``event``: its first step due from each
    lead's ``started_at``, a history row each, the stage moved where the event moves it. ``home`` gives the home
    columns their values (``storage.tick.HOME_COLUMNS``). A lead whose position changed meanwhile is left alone."""
    moves, history, stages = [], [], []
    for r in rows:
        started = aggregate_time(r.started_at)
        anchor = anchor_date(enrolled_at=started, timezone=r.timezone, cadence=cadence)
        snap = LeadSnapshot(r.id, r.timezone, anchor, started, 0, 0, CadenceStatus.ACTIVE, True, True)
        first = due_at(cadence.steps[0], 0, snap, cadence)
        stage = Stage(r.stage)
        changes, stage_to, _ = history_rows(r.id, stage, CadenceStatus(r.status), [event], at=now, actor="cadence")
        history += changes
        moves.append({"b_id": r.id, "b_from": r.status, "b_anchor": anchor, "b_due": first, "b_started": started,
                      "b_now": now})  # fmt: skip
        if stage_to != stage:
            stages.append({"b_id": r.id, "b_stage": stage_to.value, "b_now": now})
    if not moves:
        return 0
    conn.execute(
        _pos.update()
        .where(_pos.c.lead_id == sa.bindparam("b_id"), _pos.c.status == sa.bindparam("b_from"))
        .values(
            cadence_name=cadence.name,
            cadence_version=cadence.version,
            anchor_date=sa.bindparam("b_anchor"),
            step_index=0,
            repeat=0,
            status=CadenceStatus.ACTIVE.value,
            next_due_at=sa.bindparam("b_due"),
            reason="",
            enrolled_at=sa.bindparam("b_started"),
            updated_at=sa.bindparam("b_now"),
            **home,
        ),
        moves,
    )
    move_stages(conn, stages)
    conn.execute(_hist.insert(), history)
    return len(moves)


def move_stages(conn: Connection, moves: list[dict[str, Any]]) -> None:
    """Set each lead's stage: ``{"b_id": lead id, "b_stage": stage, "b_now": when}`` per lead."""
    if moves:
        conn.execute(
            _lead.update()
            .where(_lead.c.id == sa.bindparam("b_id"))
            .values(stage=sa.bindparam("b_stage"), updated_at=sa.bindparam("b_now")),
            moves,
        )


def earliest_waiting(*, engine: Engine, started_at: sa.ScalarSelect[Any], where: Conditions) -> datetime | None:
    """When the earliest waiting lead's event happened, else None: a replay that skips idle steps asks this."""
    query = sa.select(sa.func.min(started_at)).select_from(_lead.join(_pos, _pos.c.lead_id == _lead.c.id)).where(*where)
    with engine.connect() as conn:
        found = conn.execute(query).scalar()
    return None if found is None else aggregate_time(found)

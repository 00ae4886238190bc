"""Referral asks: a funded borrower is moved onto the referral cadence (``cadences/referral.yaml``), whose steps the
tick then plans, gates and sends like any other: a thank-you email that asks for referrals and a loan officer's
call task at funding, and both again 30 days later.

Day 0 is the day the loan funded, not the day a tick noticed it, so the asks keep their dates however the ticks
run. A lead that asked not to be contacted stays stopped when it funds (``nurture.states``) and is never asked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.planner import LeadSnapshot, anchor_date, due_at
from nurture.states import TRANSITIONS, CadenceStatus, Event, Stage, apply
from storage.cadences import CadenceRegistry
from storage.locks import write_transaction
from storage.models import CadencePosition, CallTask, Lead, LeadHistory, Touch, table

_lead = table(Lead)
_pos = table(CadencePosition)
_hist = table(LeadHistory)
_touch = table(Touch)
_task = table(CallTask)

REFERRAL_CADENCE = "referral"
# A loan funded longer ago than this is not asked: not the loans funded before the referral asks existed, nor one
# whose funding was logged long after the fact.
LOOKBACK = timedelta(days=7)
_FROM = [s.value for s in next(t for t in TRANSITIONS if t.event is Event.REFERRAL_ASK).cadence_from]


def _funded_at() -> sa.ScalarSelect[Any]:
    return (
        sa.select(sa.func.max(_hist.c.at))
        .where(_hist.c.lead_id == _lead.c.id, _hist.c.event == Event.FUNDED.value)
        .scalar_subquery()
    )


def _awaiting(now: datetime) -> list[sa.ColumnElement[bool]]:
    """Funded leads not yet on the referral cadence whose loan funded in the last ``LOOKBACK`` before ``now``."""
    funded = _funded_at()
    return [
        _lead.c.stage == Stage.CLOSED_FUNDED.value,
        _pos.c.status.in_(_FROM),
        _pos.c.cadence_name != REFERRAL_CADENCE,
        funded > now - LOOKBACK,
        funded <= now,
    ]


def enroll_funded(*, engine: Engine, registry: CadenceRegistry, now: datetime, limit: int = 2000) -> int:
    """Move up to ``limit`` funded leads onto the referral cadence, day 0 being the day each funded. Returns how many.

    A registry without the referral cadence (a test's or the benchmark's) asks nobody. Safe to run in several
    processes at once: the leads and positions are locked as they are read (PostgreSQL: ``SKIP LOCKED``), and a
    lead moved meanwhile no longer matches, so nobody is asked twice.
    """
    cadence = registry.latest.get(REFERRAL_CADENCE)
    if cadence is None:
        return 0
    with write_transaction(engine) as conn:
        query = (
            sa.select(_lead.c.id, _lead.c.timezone, _lead.c.stage, _pos.c.status, _funded_at().label("funded_at"))
            .join(_pos, _pos.c.lead_id == _lead.c.id)
            .where(*_awaiting(now))
            .order_by(_lead.c.id)
            .limit(limit)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(of=[_lead, _pos], skip_locked=True)
        rows = conn.execute(query).all()
        if not rows:
            return 0
        moves, history = [], []
        for r in rows:
            change = apply(Event.REFERRAL_ASK, stage=Stage(r.stage), cadence=CadenceStatus(r.status))
            funded = _utc(r.funded_at)
            anchor = anchor_date(enrolled_at=funded, timezone=r.timezone, cadence=cadence)
            snap = LeadSnapshot(r.id, r.timezone, anchor, funded, 0, 0, CadenceStatus.ACTIVE, True, True)
            moves.append(
                {
                    "b_id": r.id,
                    "b_from": r.status,
                    "b_version": cadence.version,
                    "b_anchor": anchor,
                    "b_due": due_at(cadence.steps[0], 0, snap, cadence),
                    "b_funded": funded,
                    "b_now": now,
                }
            )
            history.append(
                {
                    "lead_id": r.id,
                    "at": now,
                    "event": Event.REFERRAL_ASK.value,
                    "stage_from": change.stage_from.value,
                    "stage_to": change.stage_to.value,
                    "cadence_from": change.cadence_from.value,
                    "cadence_to": change.cadence_to.value,
                    "reason": change.note,
                    "actor": "cadence",
                }
            )
        conn.execute(
            _pos.update()
            .where(_pos.c.lead_id == sa.bindparam("b_id"), _pos.c.status == sa.bindparam("b_from"))
            .values(
                cadence_name=REFERRAL_CADENCE,
                cadence_version=sa.bindparam("b_version"),
                anchor_date=sa.bindparam("b_anchor"),
                step_index=0,
                repeat=0,
                status=CadenceStatus.ACTIVE.value,
                next_due_at=sa.bindparam("b_due"),
                reason="",
                enrolled_at=sa.bindparam("b_funded"),
                updated_at=sa.bindparam("b_now"),
            ),
            moves,
        )
        conn.execute(_hist.insert(), history)
        return len(rows)


def next_enrollment_at(*, engine: Engine, now: datetime) -> datetime | None:
    """When the earliest funded lead still waiting for its referral asks funded (at or before ``now``: a tick is
    due), else None. A replay that skips idle steps asks this besides ``storage.tick.next_work_at``."""
    query = (
        sa.select(sa.func.min(_funded_at()))
        .select_from(_lead.join(_pos, _pos.c.lead_id == _lead.c.id))
        .where(*_awaiting(now))
    )
    with engine.connect() as conn:
        found = conn.execute(query).scalar()
    return None if found is None else _utc(found)


def _utc(at: datetime | str) -> datetime:
    """A time read through an aggregate: SQLite hands it back as naive UTC text or datetime."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def referral_counts(*, engine: Engine) -> dict[str, Any]:
    """Funded borrowers asked for referrals, their referral emails by status and the loan officers' referral call
    tasks by outcome (or status while not done)."""
    mine = f"%:{REFERRAL_CADENCE}:v%"  # touch and task keys name their cadence: lead:cadence:vN:step...
    outcome = sa.func.coalesce(sa.cast(_task.c.outcome, sa.String), sa.cast(_task.c.status, sa.String))
    with engine.connect() as conn:
        asked = conn.execute(
            sa.select(sa.func.count(sa.distinct(_hist.c.lead_id))).where(_hist.c.event == Event.REFERRAL_ASK.value)
        ).scalar_one()
        emails = conn.execute(
            sa.select(_touch.c.status, sa.func.count())
            .where(_touch.c.key.like(mine), _touch.c.channel == "email")
            .group_by(_touch.c.status)
        ).all()
        calls = conn.execute(sa.select(outcome, sa.func.count()).where(_task.c.key.like(mine)).group_by(outcome)).all()
    return {"asked": asked, "emails": dict(emails), "calls": dict(calls)}

"""Referral asks: a funded borrower is moved onto the referral cadence (``cadences/referral.yaml``), whose steps the
tick then plans, gates and sends like any other: a thank-you email that asks for referrals and a loan officer's
call task at funding, and both again 30 days later.

Day 0 is the day the loan funded, not the day a tick noticed it, so the asks keep their dates however the ticks
run. A lead that asked not to be contacted stays stopped when it funds (``nurture.states``) and is never asked.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.states import TRANSITIONS, Event, Stage
from storage.cadences import CadenceRegistry
from storage.models import CadencePosition, CallTask, Lead, LeadHistory, Touch, table
from storage.sequences import earliest_waiting, enroll_waiting
from storage.tick import HOME_COLUMNS

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
    """Move up to ``limit`` funded leads onto the referral cadence, day 0 being the day each funded (none without
    that cadence). Returns how many; nobody is asked twice (``storage.sequences.enroll_waiting``). The asks end with
    the lead closed_funded, never back at a home enrollment."""
    return enroll_waiting(engine=engine, registry=registry, name=REFERRAL_CADENCE, event=Event.REFERRAL_ASK,
                          started_at=_funded_at(), where=_awaiting(now), now=now, limit=limit,
                          home=dict.fromkeys(HOME_COLUMNS))  # fmt: skip


def next_enrollment_at(*, engine: Engine, now: datetime) -> datetime | None:
    """When the earliest funded lead still waiting for its referral asks funded (at or before ``now``: a tick is
    due), else None. A replay that skips idle steps asks this besides ``storage.tick.next_work_at``."""
    return earliest_waiting(engine=engine, started_at=_funded_at(), where=_awaiting(now))


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

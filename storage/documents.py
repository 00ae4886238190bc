"""The documents sequence: a lead whose loan officer explained the program (``educated``) or asked for documents
(``docs_requested``) is moved onto ``cadences/documents.yaml``, whose steps the tick then plans, gates and sends like
any other: the product's checklist at once by email and, where the borrower consented, a short text, then reminders
naming the deadlines of ``nurture.documents`` and a check-in call for the loan officer.

Day 0 is the day of the call that was logged, not the day a tick noticed it. ``docs_received`` (and anything else that
takes the lead out of automation) stops what is still to come (``nurture.states``); a lead that asked not to be
contacted is never moved here. A later ``educated`` or ``docs_requested`` starts the sequence again. The enrollment the
lead leaves is kept as its home: a borrower who is not interested after all goes back to that nurture.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nurture.actions import TaskKind, TaskStatus
from nurture.documents import CADENCE
from nurture.states import TRANSITIONS, Event
from storage.cadences import CadenceRegistry
from storage.models import CadencePosition, CallTask, Lead, LeadHistory, table
from storage.sequences import earliest_waiting, enroll_waiting
from storage.tick import HOME_COLUMNS, OWN_COLUMNS

_lead = table(Lead)
_pos = table(CadencePosition)
_hist = table(LeadHistory)
_task = table(CallTask)

DOCUMENTS_CADENCE = CADENCE
# The events that start the sequence: the loan officer's call outcomes `educated` and `docs_requested`.
STARTED_BY = (Event.EDUCATED.value, Event.DOCS_REQUESTED.value)
# A call logged longer ago than this does not start it: not the calls logged before the sequence existed, nor one
# logged long after the fact.
LOOKBACK = timedelta(days=2)
HANDOFF_REPLACED = "replaced by the documents sequence: the checklist went out, the check-in call follows"
_ROW = next(t for t in TRANSITIONS if t.event is Event.DOCS_SEQUENCE)
_FROM_STAGES = [s.value for s in _ROW.stage_from]
_FROM = [s.value for s in _ROW.cadence_from]


def _asked_at() -> sa.ScalarSelect[Any]:
    return (
        sa.select(sa.func.max(_hist.c.at))
        .where(_hist.c.lead_id == _lead.c.id, _hist.c.event.in_(STARTED_BY))
        .scalar_subquery()
    )


def _awaiting(now: datetime) -> list[sa.ColumnElement[bool]]:
    """Leads whose latest `educated` or `docs_requested` (in the last ``LOOKBACK`` before ``now``) has not started a
    documents sequence yet: still at that stage, handed to their loan officer, and not enrolled since."""
    asked = _asked_at()
    return [
        _lead.c.stage.in_(_FROM_STAGES),
        _pos.c.status.in_(_FROM),
        asked > now - LOOKBACK,
        asked <= now,
        sa.or_(_pos.c.cadence_name != DOCUMENTS_CADENCE, _pos.c.enrolled_at < asked),
    ]


def enroll_documents(*, engine: Engine, registry: CadenceRegistry, now: datetime, limit: int = 2000) -> int:
    """Move up to ``limit`` leads onto the documents sequence, day 0 being the day of the call (none without that
    cadence). Returns how many; nobody is moved twice (``storage.sequences.enroll_waiting``)."""
    return enroll_waiting(engine=engine, registry=registry, name=DOCUMENTS_CADENCE, event=Event.DOCS_SEQUENCE,
                          started_at=_asked_at(), where=_awaiting(now), home=_home_values(), now=now, limit=limit,
                          then=_close_handoffs)  # fmt: skip


def _close_handoffs(conn: Connection, rows: list[Any]) -> None:
    """The hand-off task the call outcome opened asks the officer to send the checklist and agree on a next date: the
    sequence does both, and its check-in call is the officer's next task."""
    conn.execute(
        _task.update()
        .where(
            _task.c.lead_id.in_([r.id for r in rows]),
            _task.c.kind == TaskKind.HANDOFF.value,
            _task.c.status == TaskStatus.OPEN.value,
        )
        .values(status=TaskStatus.CANCELLED.value, note=HANDOFF_REPLACED)
    )


def _home_values() -> dict[str, sa.ColumnElement[Any]]:
    """The enrollment a lead goes back to if it leaves the sequence for nurture (``storage.lead_events``): the one it
    is leaving (a re-engaged lead's own nurture rather than the re-engagement; the same one again on a restart). In
    an UPDATE the right-hand columns are the row's values before it."""
    keep = sa.or_(_pos.c.cadence_name == DOCUMENTS_CADENCE, _pos.c.home_cadence_name.is_not(None))
    return {
        home: sa.case((keep, _pos.c[home]), else_=_pos.c[own])
        for home, own in zip(HOME_COLUMNS, OWN_COLUMNS, strict=True)
    }


def next_enrollment_at(*, engine: Engine, now: datetime) -> datetime | None:
    """When the earliest call still waiting to start its documents sequence was logged (at or before ``now``: a tick
    is due), else None. A replay that skips idle steps asks this besides ``storage.tick.next_work_at``."""
    return earliest_waiting(engine=engine, started_at=_asked_at(), where=_awaiting(now))

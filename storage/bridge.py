"""Click-to-call records (``bridge_call``): claimed once per click key, moved by conditional updates, and counted
by the compliance gate as calls.

Every change names the statuses it may leave (``nurture.bridge.Move``), so a late or repeated report from Twilio
cannot undo a later one, and a final status stays final.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nurture.bridge import COUNTED, PENDING, BridgeStatus, Move
from storage.models import BridgeCall, CallTask, Lead, LoanOfficer, table
from storage.sql import among, insert_ignore

_bridge = table(BridgeCall)
_lead = table(Lead)
_officer = table(LoanOfficer)
_task = table(CallTask)


@dataclass(frozen=True, slots=True)
class CallTarget:
    """The lead a click-to-call dials and the officer it rings first."""

    lead_id: int
    first_name: str
    phone: str | None
    phone_ok: bool
    theirs: bool  # the lead is the officer's, or one of its call tasks is on their list
    officer_id: int
    officer_phone: str | None


@dataclass(frozen=True, slots=True)
class Bridge:
    id: int
    key: str
    lead_id: int
    loan_officer_id: int
    task_id: int | None
    call_sid: str | None
    status: str
    outcome: str | None
    decisions: str
    created_at: datetime
    updated_at: datetime


def _bridge_of(row: Any) -> Bridge:
    outcome = row.outcome.value if hasattr(row.outcome, "value") else row.outcome
    return Bridge(row.id, row.key, row.lead_id, row.loan_officer_id, row.task_id, row.call_sid, row.status, outcome,
                  row.decisions, row.created_at, row.updated_at)  # fmt: skip


def call_target(conn: Connection, *, lead_id: int, officer_id: int) -> CallTarget | None:
    """The lead, whether it is this officer's to call (theirs, or one of its call tasks is: the lead pages show
    the officer the same leads), and the officer's phone; None when there is no such lead."""
    lead = conn.execute(
        sa.select(_lead.c.id, _lead.c.first_name, _lead.c.phone, _lead.c.phone_ok, _lead.c.loan_officer_id).where(
            _lead.c.id == lead_id
        )
    ).first()
    if lead is None:
        return None
    phone = conn.execute(sa.select(_officer.c.phone).where(_officer.c.id == officer_id)).scalar()
    theirs = (
        lead.loan_officer_id == officer_id
        or conn.execute(
            sa.select(_task.c.id).where(_task.c.lead_id == lead_id, _task.c.loan_officer_id == officer_id).limit(1)
        ).first()
        is not None
    )
    return CallTarget(lead.id, lead.first_name, lead.phone, bool(lead.phone_ok), theirs, officer_id, phone)


def lead_label(conn: Connection, lead_id: int) -> tuple[str, str, int | None] | None:
    """The lead's first name, time zone and officer, or None when there is no such lead."""
    row = conn.execute(
        sa.select(_lead.c.first_name, _lead.c.timezone, _lead.c.loan_officer_id).where(_lead.c.id == lead_id)
    ).first()
    return None if row is None else (row.first_name, row.timezone, row.loan_officer_id)


def task_of_lead(conn: Connection, *, task_id: int, lead_id: int) -> bool:
    """Whether call task ``task_id`` belongs to ``lead_id``."""
    query = sa.select(_task.c.id).where(_task.c.id == task_id, _task.c.lead_id == lead_id)
    return conn.execute(query).first() is not None


def pending_bridge(conn: Connection, *, lead_id: int, officer_id: int, since: datetime) -> Bridge | None:
    """This officer's newest bridge call to the lead that is still under way, asked for at ``since`` or later."""
    row = conn.execute(
        sa.select(_bridge)
        .where(
            _bridge.c.lead_id == lead_id,
            _bridge.c.loan_officer_id == officer_id,
            _bridge.c.status.in_([s.value for s in PENDING]),
            _bridge.c.created_at >= since,
        )
        .order_by(_bridge.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else _bridge_of(row)


def claim_bridge(
    conn: Connection,
    *,
    key: str,
    lead_id: int,
    officer_id: int,
    task_id: int | None,
    status: BridgeStatus,
    decisions: str,
    at: datetime,
) -> tuple[Bridge, bool]:
    """Store the bridge call ``key`` (a click); the one already stored under that key when there is one.
    Returns it and whether it is new."""
    row = {"key": key, "lead_id": lead_id, "loan_officer_id": officer_id, "task_id": task_id, "status": status.value,
           "decisions": decisions, "created_at": at, "updated_at": at}  # fmt: skip
    new = insert_ignore(conn, _bridge, [row], "key") == 1
    found = bridge_by_key(conn, key)
    assert found is not None
    return found, new


def bridge_by_key(conn: Connection, key: str) -> Bridge | None:
    row = conn.execute(sa.select(_bridge).where(_bridge.c.key == key)).first()
    return None if row is None else _bridge_of(row)


def bridge_by_id(conn: Connection, bridge_id: int) -> Bridge | None:
    row = conn.execute(sa.select(_bridge).where(_bridge.c.id == bridge_id)).first()
    return None if row is None else _bridge_of(row)


def move_bridge(conn: Connection, key: str, move: Move, *, at: datetime, call_sid: str | None = None) -> bool:
    """Apply ``move`` to the bridge call ``key`` if it is in one of the statuses the move leaves. A ``call_sid``
    is stored when none is yet, moved or not. True when the status changed."""
    if call_sid:
        conn.execute(
            _bridge.update()
            .where(_bridge.c.key == key, _bridge.c.call_sid.is_(None))
            .values(call_sid=call_sid[:64], updated_at=at)
        )
    values: dict[str, Any] = {"status": move.to.value, "updated_at": at}
    if move.outcome is not None:
        values["outcome"] = move.outcome.value
    result = conn.execute(
        _bridge.update()
        .where(_bridge.c.key == key, _bridge.c.status.in_([s.value for s in move.leaves]))
        .values(**values)
    )
    return bool(result.rowcount)


def bridge_contacts(conn: Connection, lead_ids: Collection[int], *, since: datetime) -> list[tuple[int, datetime, str]]:
    """(lead, when asked for, key) of each click-to-call after ``since`` that may have rung the borrower's phone:
    the compliance gate counts them as calls."""
    ids = sorted(set(lead_ids))
    if not ids:
        return []
    query = (
        sa.select(_bridge.c.lead_id, _bridge.c.created_at, _bridge.c.key)
        .where(
            among(conn, _bridge.c.lead_id, ids),
            _bridge.c.status.in_([s.value for s in COUNTED]),
            _bridge.c.created_at > since,
        )
        .with_hint(_bridge, "INDEXED BY ix_bridge_call_lead_id", dialect_name="sqlite")  # by lead, as load_facts
    )
    return [(r.lead_id, r.created_at, r.key) for r in conn.execute(query)]

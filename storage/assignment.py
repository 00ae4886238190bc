"""Who works which lead and call task: licensing, capacity, deactivation, and tasks about to expire unworked.

A lead goes to an active officer licensed in its ``address_state`` with room (open call tasks below
``max_open_tasks``), fewest assigned leads first, ties to the lowest id (``nurture.roster.Picker``). A new lead
counts as one open task, its first call, until the tick opens it. Nobody eligible, or a lead without a state:
the unassigned queue, ``loan_officer_id`` NULL on the lead and on its tasks (both columns are indexed, so the
queue is cheap to find). Every move of a task is a ``task_log`` row; every change of a lead's officer a
``lead_edit`` row.

A task handed on because it was about to expire moves alone: the lead keeps its officer, since one missed call
window does not hand a borrower over. Only deactivation moves leads, each with its open and held tasks.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nurture.actions import TaskKind, TaskStatus
from nurture.roster import Hours, Officer, Picker, licensed_states
from nurture.states import Stage
from storage.locks import lock_leads, write_transaction
from storage.models import CallTask, Lead, LeadEdit, LoanOfficer, TaskLog, table
from storage.officers import OfficerNotFound, lead_counts, normalize_email, open_task_counts

_officer = table(LoanOfficer)
_lead = table(Lead)
_task = table(CallTask)
_log = table(TaskLog)
_edit = table(LeadEdit)

OPEN = TaskStatus.OPEN.value
_UNWORKED = (TaskStatus.OPEN.value, TaskStatus.HELD.value)  # tasks that move with their lead
REASSIGNED, UNASSIGNED, EXPIRING, EXPIRED = "reassigned", "unassigned", "expiring", "expired"


class Roster(Picker):
    """The whole roster with its counts, read once for a batch of leads or tasks."""

    def __init__(self, officers: list[Officer], *, now: datetime) -> None:
        super().__init__(officers)
        self.now = now

    @classmethod
    def load(cls, conn: Connection, *, now: datetime) -> Roster:
        leads, tasks = lead_counts(conn), open_task_counts(conn)
        officers = [
            Officer(
                id=r.id,
                states=licensed_states(r.licensed_states),
                active=r.active,
                max_open_tasks=r.max_open_tasks,
                open_tasks=tasks.get(r.id, 0),
                leads=leads.get(r.id, 0),
                hours=Hours(timezone=r.timezone, start=r.work_start, end=r.work_end, days=r.work_days),
            )
            for r in conn.execute(sa.select(_officer).order_by(_officer.c.id))
        ]
        return cls(officers, now=now)

    def for_task(self, state: str | None, *, exclude: int | None) -> int | None:
        """The officer a single task moves to (someone other than ``exclude``, at work now if anyone is)."""
        return self.pick_other(state, exclude=exclude, now=self.now, tasks=1, leads=0)


def _task_log(task_id: int, *, at: datetime, action: str, from_id: int | None, to_id: int | None, actor: str,
              reason: str) -> dict[str, Any]:  # fmt: skip
    return {"task_id": task_id, "at": at, "action": action, "from_officer_id": from_id, "to_officer_id": to_id,
            "actor": actor[:120], "reason": reason[:500]}  # fmt: skip


def _move_tasks(conn: Connection, moves: list[dict[str, Any]]) -> None:
    """Point tasks at new officers (``to_officer_id`` None: the unassigned queue) and log each move. Their alert and
    reminder marks are cleared, so the new officer is alerted (what was planned for the old one goes unsent)."""
    if not moves:
        return
    update = (
        _task.update()
        .where(_task.c.id == sa.bindparam("b_id"))
        .values(loan_officer_id=sa.bindparam("b_to"), alerted_at=None, reminded_at=None)
    )
    conn.execute(update, [{"b_id": m["task_id"], "b_to": m["to_officer_id"]} for m in moves])
    conn.execute(_log.insert(), moves)


def reassign_task(
    conn: Connection, *, task_id: int, now: datetime, reason: str, actor: str, roster: Roster | None = None
) -> int | None:
    """Hand an open (or held) call task to the next eligible officer other than its own, one at work now first,
    else to the unassigned queue; returns the new officer's id or None. The lead keeps its officer.

    Raises ``LookupError`` for no such task and ``ValueError`` for one already worked, cancelled or expired.
    ``roster`` (loaded with the same ``now``) saves reading the roster again when moving several tasks."""
    lead_id = conn.execute(sa.select(_task.c.lead_id).where(_task.c.id == task_id)).scalar()
    if lead_id is None:
        raise LookupError(f"no call task {task_id}")
    lock_leads(conn, [lead_id])  # the lead first (storage/locks.py), then read the task as it stands
    row = conn.execute(
        sa.select(_task.c.status, _task.c.loan_officer_id, _lead.c.address_state)
        .join(_lead, _lead.c.id == _task.c.lead_id)
        .where(_task.c.id == task_id)
        .with_for_update(of=_task)
    ).one()
    if row.status not in _UNWORKED:
        raise ValueError(f"call task {task_id} is {row.status}: only open or held tasks move")
    roster = roster or Roster.load(conn, now=now)
    to_id = roster.for_task(row.address_state, exclude=row.loan_officer_id)
    action = REASSIGNED if to_id is not None else UNASSIGNED
    log = _task_log(task_id, at=now, action=action, from_id=row.loan_officer_id, to_id=to_id, actor=actor,
                    reason=reason)  # fmt: skip
    _move_tasks(conn, [log])
    return to_id


@dataclass
class Moved:
    """Leads and tasks given to officers, and those left in (or sent to) the unassigned queue."""

    leads_moved: int = 0
    leads_unassigned: int = 0
    tasks_moved: int = 0
    tasks_unassigned: int = 0


def deactivate_officer(engine: Engine, *, email: str, now: datetime, actor: str) -> Moved:
    """Take an officer off the roster and hand their open leads (every stage but lost), each with its open and
    held call tasks, to others by the assignment rule; their tasks on other officers' leads move one by one.
    What nobody eligible can take goes to the unassigned queue. Running it again moves nothing more.

    Raises :class:`OfficerNotFound`."""
    email = normalize_email(email)
    with write_transaction(engine) as conn:
        officer_id = conn.execute(sa.select(_officer.c.id).where(_officer.c.email == email)).scalar()
        if officer_id is None:
            raise OfficerNotFound(f"no loan officer with email {email}")
        conn.execute(_officer.update().where(_officer.c.id == officer_id).values(active=False))
        return _rehome(conn, holder=officer_id, now=now, actor=actor, reason=f"{email} deactivated")


def assign_queue(engine: Engine, *, now: datetime, actor: str) -> Moved:
    """Give the unassigned queue's open leads (with their tasks) and lone tasks to officers by the assignment rule,
    as far as licensing and room allow (after licensing or adding officers, or raising a maximum). What still fits
    nobody stays, unlogged; ``leads_unassigned`` and ``tasks_unassigned`` count it."""
    with write_transaction(engine) as conn:
        return _rehome(conn, holder=None, now=now, actor=actor, reason="from the unassigned queue")


def _rehome(conn: Connection, *, holder: int | None, now: datetime, actor: str, reason: str) -> Moved:
    """Move the open leads and open or held tasks ``holder`` has (None: the unassigned queue) by the rule."""
    whose_lead = _lead.c.loan_officer_id.is_(None) if holder is None else _lead.c.loan_officer_id == holder
    whose_task = _task.c.loan_officer_id.is_(None) if holder is None else _task.c.loan_officer_id == holder
    owned = whose_lead & (_lead.c.stage != Stage.LOST.value)
    theirs = whose_task & _task.c.status.in_(_UNWORKED)
    lead_ids = set(conn.execute(sa.select(_lead.c.id).where(owned)).scalars())
    lead_ids.update(conn.execute(sa.select(_task.c.lead_id).where(theirs)).scalars())
    lock_leads(conn, lead_ids)
    leads = conn.execute(sa.select(_lead.c.id, _lead.c.address_state).where(owned).order_by(_lead.c.id)).all()
    tasks = conn.execute(
        sa.select(_task.c.id, _task.c.lead_id, _task.c.status, _lead.c.address_state)
        .join(_lead, _lead.c.id == _task.c.lead_id)
        .where(theirs)
        .order_by(_task.c.id)
    ).all()
    open_on: dict[int, int] = defaultdict(int)
    for t in tasks:
        open_on[t.lead_id] += t.status == OPEN
    roster = Roster.load(conn, now=now)
    new_owner = {lead.id: roster.pick(lead.address_state, tasks=open_on[lead.id]) for lead in leads}
    task_moves = []
    for t in tasks:
        to_id = new_owner[t.lead_id] if t.lead_id in new_owner else roster.for_task(t.address_state, exclude=holder)
        action = REASSIGNED if to_id is not None else UNASSIGNED
        task_moves.append(_task_log(t.id, at=now, action=action, from_id=holder, to_id=to_id, actor=actor,
                                    reason=reason))  # fmt: skip
    changed = {lead_id: to for lead_id, to in new_owner.items() if to != holder}
    if changed:
        update = _lead.update().where(_lead.c.id == sa.bindparam("b_id"))
        conn.execute(
            update.values(loan_officer_id=sa.bindparam("b_to"), updated_at=now),
            [{"b_id": lead_id, "b_to": to} for lead_id, to in changed.items()],
        )
        edits = [{"lead_id": lead_id, "field": "loan_officer_id", "old_value": None if holder is None else str(holder),
                  "new_value": None if to is None else str(to), "actor": actor[:120], "at": now}
                 for lead_id, to in changed.items()]  # fmt: skip
        conn.execute(_edit.insert(), edits)
    _move_tasks(conn, [m for m in task_moves if m["to_officer_id"] != holder])
    moved = Moved()
    moved.leads_moved = sum(to is not None for to in new_owner.values())
    moved.leads_unassigned = len(new_owner) - moved.leads_moved
    moved.tasks_moved = sum(m["to_officer_id"] is not None for m in task_moves)
    moved.tasks_unassigned = len(task_moves) - moved.tasks_moved
    return moved


@dataclass
class Expiring:
    """Tasks about to expire unworked: handed to another officer, or to the unassigned queue."""

    reassigned: int = 0
    unassigned: int = 0


def reassign_expiring_tasks(engine: Engine, *, now: datetime, margin: timedelta) -> Expiring:
    """Hand each open cadence call task whose window closes within ``margin`` of ``now`` to the next eligible
    officer (at work now first) or the unassigned queue, once per task (a task_log ``expiring`` row marks it).

    One query finds them (open tasks only, like the expiry); the roster is read only when there are some. A task
    being worked at this moment on PostgreSQL is skipped, not waited for."""
    logged = sa.select(_log.c.id).where(_log.c.task_id == _task.c.id, _log.c.action == EXPIRING)
    query = (
        sa.select(_task.c.id, _task.c.loan_officer_id, _task.c.expires_at, _lead.c.address_state)
        .join(_lead, _lead.c.id == _task.c.lead_id)
        .where(
            _task.c.status == OPEN,
            _task.c.kind == TaskKind.CADENCE.value,
            _task.c.loan_officer_id.is_not(None),
            _task.c.expires_at >= now,
            _task.c.expires_at < now + margin,
            ~sa.exists(logged),
        )
        .order_by(_task.c.expires_at, _task.c.id)
    )
    counts = Expiring()
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(of=_task, skip_locked=True)
        rows = conn.execute(query).all()
        if not rows:
            return counts
        roster = Roster.load(conn, now=now)
        moves = []
        for r in rows:
            to_id = roster.for_task(r.address_state, exclude=r.loan_officer_id)
            reason = f"window closes {r.expires_at.isoformat(timespec='minutes')} unworked"
            moves.append(_task_log(r.id, at=now, action=EXPIRING, from_id=r.loan_officer_id, to_id=to_id,
                                   actor="system", reason=reason))  # fmt: skip
            counts.reassigned += to_id is not None
        counts.unassigned = len(rows) - counts.reassigned
        _move_tasks(conn, moves)
    return counts


def unassigned_counts(conn: Connection) -> dict[str, int]:
    """The unassigned queue: open leads and open or held call tasks without an officer."""
    leads = sa.select(sa.func.count()).where(_lead.c.loan_officer_id.is_(None), _lead.c.stage != Stage.LOST.value)
    tasks = sa.select(sa.func.count()).where(_task.c.loan_officer_id.is_(None), _task.c.status.in_(_UNWORKED))
    return {"leads": conn.execute(leads).scalar_one(), "call_tasks": conn.execute(tasks).scalar_one()}

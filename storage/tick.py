"""The cadence tick: claim due leads in batches, plan them, record the plan.

Per-lead state lives in ``cadence_position``; one call of :func:`tick_batch`
handles up to ``limit`` due leads in one transaction with set-based SQL, so a
Prefect task wraps a whole batch, never a single lead.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nurture.actions import TaskKind, TaskStatus, TouchStatus
from nurture.documents import CADENCE as DOCUMENTS_CADENCE
from nurture.gate import Policy
from nurture.gate_plan import gate_planned
from nurture.planner import Home, LeadSnapshot, plan
from nurture.states import AUTOMATED, CadenceStatus, Stage
from storage.bulk import insert_new, insert_rows, update_by_key
from storage.cadences import CadenceRegistry
from storage.compliance import contacts_since, load_facts
from storage.lead_events import history_rows
from storage.locks import write_transaction
from storage.models import CadencePosition, CallTask, Lead, LeadHistory, Reengagement, TaskLog, Touch, table
from storage.sequences import move_stages
from storage.sql import among

_pos = table(CadencePosition)
_lead = table(Lead)
_touch = table(Touch)
_task = table(CallTask)
_hist = table(LeadHistory)
_re = table(Reengagement)
_log = table(TaskLog)

_AUTOMATED = [s.value for s in AUTOMATED]
HOME_COLUMNS = ("home_cadence_name", "home_cadence_version", "home_anchor_date", "home_enrolled_at",
                "home_step_index", "home_repeat")  # fmt: skip
OWN_COLUMNS = tuple(c.removeprefix("home_") for c in HOME_COLUMNS)  # the enrollment's own, column for column
UNSETTLED = [TouchStatus.PLANNED.value, TouchStatus.SENDING.value, TouchStatus.UNKNOWN.value]


@dataclass
class TickStats:
    leads: int = 0
    touches: int = 0
    skipped: int = 0
    tasks: int = 0
    blocked: int = 0  # touches and call tasks the compliance gate refused
    deferred: int = 0  # moved later (or held) by the gate
    events: Counter[str] = field(default_factory=Counter)

    def add(self, other: TickStats) -> None:
        self.leads += other.leads
        self.touches += other.touches
        self.skipped += other.skipped
        self.tasks += other.tasks
        self.blocked += other.blocked
        self.deferred += other.deferred
        self.events.update(other.events)


def _claim(conn: Connection, now: datetime, limit: int) -> list[Any]:
    """The due leads, locked until the batch commits: on PostgreSQL each lead row and its position (lead
    first in the lock order; ``SKIP LOCKED``, so a concurrent tick takes other leads and nobody waits here);
    on SQLite the caller's write transaction holds the only write lock."""
    query = (
        sa.select(
            _pos.c.lead_id,
            _pos.c.cadence_name,
            _pos.c.cadence_version,
            _pos.c.anchor_date,
            _pos.c.enrolled_at,
            _pos.c.step_index,
            _pos.c.repeat,
            _pos.c.status,
            _pos.c.home_cadence_name,
            _pos.c.home_cadence_version,
            _pos.c.home_anchor_date,
            _pos.c.home_enrolled_at,
            _pos.c.home_step_index,
            _pos.c.home_repeat,
            _lead.c.timezone,
            _lead.c.stage,
            _lead.c.loan_officer_id,
            _lead.c.phone_ok,
            (_lead.c.phone.is_not(None)).label("has_phone"),
            (_lead.c.email.is_not(None)).label("has_email"),
        )
        .join(_lead, _lead.c.id == _pos.c.lead_id)
        .where(_pos.c.status.in_(_AUTOMATED), _pos.c.next_due_at <= now)
        .order_by(_pos.c.next_due_at, _pos.c.lead_id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=[_lead, _pos], skip_locked=True)
    return list(conn.execute(query))


def _unsettled(conn: Connection, lead_ids: list[int]) -> dict[int, datetime]:
    """The latest scheduled time among each lead's touches still to settle (planned, sending or unknown)."""
    if not lead_ids:
        return {}
    query = (
        sa.select(_touch.c.lead_id, sa.func.max(_touch.c.scheduled_for))
        .where(among(conn, _touch.c.lead_id, lead_ids), _touch.c.status.in_(UNSETTLED))
        .group_by(_touch.c.lead_id)
    )
    return {lead_id: latest for lead_id, latest in conn.execute(query)}


def _home(registry: CadenceRegistry, r: Any) -> Home | None:
    """Where a re-engaged lead goes when its sequence ends. The documents sequence keeps a home too, but only for a
    lead that leaves it for nurture (``storage.lead_events``): when it ends, the lead stays with its loan officer."""
    if r.home_cadence_name is None or r.cadence_name == DOCUMENTS_CADENCE:
        return None
    cadence = registry.get(r.home_cadence_name, r.home_cadence_version)
    return Home(cadence, r.home_anchor_date, r.home_enrolled_at, r.home_step_index, r.home_repeat)


def tick_batch(*, engine: Engine, registry: CadenceRegistry, policy: Policy, now: datetime, limit: int) -> TickStats:
    """Plan up to ``limit`` leads that are due at ``now``, pass what they ask for through the compliance
    gate, and record touches, tasks and moves.

    Several ticks may run at once: each claims other leads (see ``_claim``), and touches and tasks are
    inserted or ignored on their keys, so a lead is never planned twice.

    A lead whose cadence can run out of steps is planned knowing which of its touches are still to settle: its
    cadence ends (or, for a re-engagement, goes back to the lead's own nurture) only once none is."""
    stats = TickStats()
    touches: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    moves: list[dict[str, Any]] = []
    returns: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    stage_moves: list[dict[str, Any]] = []
    with write_transaction(engine) as conn:
        rows = _claim(conn, now, limit)
        facts = load_facts(conn, [r.lead_id for r in rows], since=contacts_since(now))
        ending = [r.lead_id for r in rows if registry.get(r.cadence_name, r.cadence_version).ends]
        unsettled = _unsettled(conn, ending)
        for r in rows:
            cadence = registry.get(r.cadence_name, r.cadence_version)
            status = CadenceStatus(r.status)
            snap = LeadSnapshot(
                lead_id=r.lead_id,
                timezone=r.timezone,
                anchor_date=r.anchor_date,
                enrolled_at=r.enrolled_at,
                step_index=r.step_index,
                repeat=r.repeat,
                status=status,
                has_phone=r.has_phone,
                has_email=r.has_email,
                phone_ok=r.phone_ok,
                unsettled_until=unsettled.get(r.lead_id),
                home=_home(registry, r),
            )
            result = plan(snap, cadence, now)
            gated = gate_planned(result.touches, result.tasks, facts[r.lead_id], cadence, policy, now, email=None)
            for t in gated.touches:
                touches.append(
                    {
                        "key": t.key,
                        "lead_id": t.lead_id,
                        "step_id": t.step_id,
                        "channel": t.channel.value,
                        "template": t.template,
                        "scheduled_for": t.scheduled_for,
                        "not_after": t.not_after,
                        "status": t.status.value,
                        "reason": t.reason,
                        "attempts": 0,
                        "decisions": t.decisions,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                stats.skipped += t.status is TouchStatus.SKIPPED
                stats.blocked += t.status is TouchStatus.BLOCKED
                stats.deferred += t.status is TouchStatus.PLANNED and bool(t.reason)
            for k in gated.tasks:
                tasks.append(
                    {
                        "key": k.key,
                        "lead_id": k.lead_id,
                        "loan_officer_id": r.loan_officer_id,
                        "kind": k.kind.value,
                        "step_id": k.step_id,
                        "template": k.template,
                        "due_at": k.due_at,
                        "expires_at": k.expires_at,
                        "priority": k.priority,
                        "status": k.status.value,
                        "note": k.note,
                        "decisions": k.decisions,
                        "created_at": now,
                    }
                )
                stats.blocked += k.status is TaskStatus.BLOCKED
                stats.deferred += k.status is TaskStatus.HELD
            if result.events:
                stage = Stage(r.stage)
                changes, stage_to, _ = history_rows(r.lead_id, stage, status, result.events, at=now, actor="cadence")
                history += changes
                if stage_to != stage:
                    stage_moves.append({"b_id": r.lead_id, "b_stage": stage_to.value, "b_now": now})
                stats.events.update(e.value for e in result.events)
            move = {
                "lead_id": r.lead_id,
                "step_index": result.step_index,
                "repeat": result.repeat,
                "status": result.status.value,
                "next_due_at": result.next_due_at,
                "updated_at": now,
            }
            if result.home is None:
                moves.append(move)
            else:
                home = result.home
                returns.append(move | {"cadence_name": home.cadence.name, "cadence_version": home.cadence.version,
                                       "anchor_date": home.anchor_date, "enrolled_at": home.enrolled_at,
                                       "reason": "", **dict.fromkeys(HOME_COLUMNS)})  # fmt: skip
        stats.leads = len(rows)
        not_planned = sum(1 for t in touches if t["status"] != TouchStatus.PLANNED.value)
        stats.touches = insert_new(conn, _touch, touches, "key") - not_planned
        stats.tasks = insert_new(conn, _task, tasks, "key")
        update_by_key(conn, _pos, "lead_id", moves)
        update_by_key(conn, _pos, "lead_id", returns)
        move_stages(conn, stage_moves)
        insert_rows(conn, _hist, history)
    return stats


def expire_call_tasks(*, engine: Engine, now: datetime) -> int:
    """Close cadence call tasks whose window has passed unworked, each with a task_log ``expired`` row naming the
    officer who held it (the report counts expirations per officer)."""
    with write_transaction(engine) as conn:
        expired = conn.execute(
            _task.update()
            .where(
                _task.c.status == TaskStatus.OPEN.value,
                _task.c.kind == TaskKind.CADENCE.value,
                _task.c.expires_at < now,
            )
            .values(status=TaskStatus.EXPIRED.value)
            .returning(_task.c.id, _task.c.loan_officer_id)
        ).all()
        if expired:
            conn.execute(
                _log.insert(),
                [{"task_id": task_id, "at": now, "action": "expired", "from_officer_id": officer_id,
                  "to_officer_id": None, "actor": "system", "reason": "window passed unworked"}
                 for task_id, officer_id in expired],
            )  # fmt: skip
        return len(expired)


def next_work_at(*, engine: Engine, handover: timedelta = timedelta(0)) -> datetime | None:
    """The earliest time a tick or dispatch would find anything to do, or None if nothing is scheduled.

    Unenrolled new leads, due cadence positions, planned touches and open cadence
    call tasks (they expire, and ``handover`` before that an officer's is handed on
    once) all count. A time-range replay uses it to skip the steps where nothing can happen.
    """
    unenrolled = (
        sa.select(_lead.c.id)
        .outerjoin(_pos, _pos.c.lead_id == _lead.c.id)
        .where(_pos.c.lead_id.is_(None), _lead.c.stage == Stage.NEW_LEAD.value)
        .limit(1)
    )
    earliest = (
        sa.select(sa.func.min(_pos.c.next_due_at)).where(_pos.c.status.in_(_AUTOMATED)),
        sa.select(sa.func.min(_touch.c.scheduled_for)).where(_touch.c.status == TouchStatus.PLANNED.value),
        sa.select(sa.func.min(_task.c.expires_at)).where(
            _task.c.status == TaskStatus.OPEN.value, _task.c.kind == TaskKind.CADENCE.value
        ),
        sa.select(sa.func.min(_re.c.scheduled_for)).where(_re.c.status == "scheduled"),
    )
    handed = sa.select(_log.c.id).where(_log.c.task_id == _task.c.id, _log.c.action == "expiring")
    to_hand_over = sa.select(sa.func.min(_task.c.expires_at)).where(
        _task.c.status == TaskStatus.OPEN.value,
        _task.c.kind == TaskKind.CADENCE.value,
        _task.c.loan_officer_id.is_not(None),
        ~sa.exists(handed),
    )
    query = sa.select(sa.exists(unenrolled), *(q.scalar_subquery() for q in (*earliest, to_hand_over)))
    with engine.connect() as conn:
        any_unenrolled, *candidates, hand_over_at = conn.execute(query).one()
    if any_unenrolled:
        return datetime.min.replace(tzinfo=UTC)
    if handover and hand_over_at is not None:
        candidates.append(hand_over_at - handover)
    found = [c for c in candidates if c is not None]
    return min(found) if found else None

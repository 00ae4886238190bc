"""The cadence tick: claim due leads in batches, plan them, record the plan.

Per-lead state lives in ``cadence_position``; one call of :func:`tick_batch`
handles up to ``limit`` due leads in one transaction with set-based SQL, so a
Prefect task wraps a whole batch, never a single lead.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nurture.actions import Channel, TaskKind, TaskStatus, TouchStatus
from nurture.documents import CADENCE as DOCUMENTS_CADENCE
from nurture.gate import Policy
from nurture.gate_plan import gate_planned
from nurture.planner import Home, LeadSnapshot, Plan, plan_shared
from nurture.states import AUTOMATED, CadenceStatus, Stage
from storage.bulk import driver_of, insert_new, insert_rows, remembered, update_by_key
from storage.cadences import CadenceRegistry
from storage.compliance import contacts_since, load_facts
from storage.lead_events import history_rows
from storage.locks import write_transaction
from storage.models import CadencePosition, CallTask, Lead, LeadHistory, Reengagement, TaskLog, Touch, table
from storage.sequences import move_stages
from storage.sql import aggregate_time, among

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
# Read once: an enum member's ``.value`` and the members themselves are descriptor lookups, and the loop below
# does several per lead.
_VALUE: dict[Any, str] = {m: m.value for e in (Channel, TouchStatus, TaskStatus, TaskKind, CadenceStatus) for m in e}
_SKIPPED, _BLOCKED, _PLANNED = TouchStatus.SKIPPED, TouchStatus.BLOCKED, TouchStatus.PLANNED
_TASK_BLOCKED, _TASK_HELD = TaskStatus.BLOCKED, TaskStatus.HELD


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


_CLAIM_COLUMNS = (
    "p.lead_id, p.cadence_name, p.cadence_version, p.anchor_date, p.enrolled_at, p.step_index, p.repeat, p.status, "
    "p.home_cadence_name, p.home_cadence_version, p.home_anchor_date, p.home_enrolled_at, p.home_step_index, "
    "p.home_repeat, l.timezone, l.stage, l.loan_officer_id, l.phone_ok, l.phone IS NOT NULL, l.email IS NOT NULL"
)
_CLAIM = (
    f"SELECT {_CLAIM_COLUMNS} FROM cadence_position AS p {{hint}}JOIN lead AS l ON l.id = p.lead_id "
    # exactly as the partial index ix_cadence_position_automated_due says it: SQLite matches the text
    f"WHERE p.status IN ({', '.join(repr(s) for s in sorted(_AUTOMATED))}) AND p.next_due_at <= {{now}} "
    "ORDER BY p.next_due_at, p.lead_id LIMIT {limit}"
)


class Claimed(NamedTuple):
    """A due lead as claimed: its position (and home), and what the planner needs of the lead."""

    lead_id: int
    cadence_name: str
    cadence_version: int
    anchor_date: date
    enrolled_at: datetime
    step_index: int
    repeat: int
    status: CadenceStatus
    home_cadence_name: str | None
    home_cadence_version: int | None
    home_anchor_date: date | None
    home_enrolled_at: datetime | None
    home_step_index: int | None
    home_repeat: int | None
    timezone: str
    stage: str
    loan_officer_id: int | None
    phone_ok: bool
    has_phone: bool
    has_email: bool


_STATUSES = {s.value: s for s in CadenceStatus}


def _claim(conn: Connection, now: datetime, limit: int) -> list[Claimed]:
    """The due leads, locked until the batch commits: on PostgreSQL each lead row and its position (lead
    first in the lock order; ``SKIP LOCKED``, so a concurrent tick takes other leads and nobody waits here);
    on SQLite the caller's write transaction holds the only write lock.

    Read through the driver: the ORM's per-value type handling cost more than the query. The values are
    converted here to what the column types hand back (UTC-aware timestamps, dates, bools, the status enum),
    each distinct value once: a batch shares a handful of anchor dates and enrollment times."""
    pg = conn.dialect.name == "postgresql"
    if pg:
        sql = _CLAIM.format(hint="", now="%(now)s", limit=int(limit)) + " FOR UPDATE OF l, p SKIP LOCKED"
        at: Any = now
    else:
        # In due order straight off the partial index, stopping at the limit. Left to itself SQLite takes the
        # (status, next_due_at) index, reads every due lead and sorts them all, for every batch.
        sql = _CLAIM.format(hint="INDEXED BY ix_cadence_position_automated_due ", now="?", limit=int(limit))
        at = (now.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"),)
    cur = driver_of(conn).cursor()
    try:
        cur.execute(sql, {"now": at} if pg else at)
        raw = cur.fetchall()
    finally:
        cur.close()
    day, stamp = remembered(_as_date), remembered(_as_utc)
    status = _STATUSES.__getitem__
    claimed = []
    for row in raw:
        (lead_id, name, version, anchor, enrolled, index, repeat, st, home_name, home_version, home_anchor,
         home_enrolled, home_index, home_repeat, tz, stage, officer, phone_ok, has_phone, has_email) = row  # fmt: skip
        home_day = None if home_anchor is None else day(home_anchor)
        home_at = None if home_enrolled is None else stamp(home_enrolled)
        claimed.append(Claimed(lead_id, name, version, day(anchor), stamp(enrolled), index, repeat, status(st),
                               home_name, home_version, home_day, home_at, home_index, home_repeat, tz, stage,
                               officer, bool(phone_ok), bool(has_phone), bool(has_email)))  # fmt: skip
    return claimed


def _as_date(v: Any) -> date:
    return v if isinstance(v, date) else date.fromisoformat(v)


def _as_utc(v: Any) -> datetime:
    """A stored timestamp as ``storage.types.UTCDateTime`` hands it back: SQLite's naive-UTC text, or
    PostgreSQL's aware value, as an aware UTC datetime."""
    return aggregate_time(v).astimezone(UTC)


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
        cadence_of = {k: registry.get(*k) for k in {(r.cadence_name, r.cadence_version) for r in rows}}
        ending = [r.lead_id for r in rows if cadence_of[(r.cadence_name, r.cadence_version)].ends]
        unsettled = _unsettled(conn, ending)
        shared: dict[Any, Plan] = {}
        skipped = blocked = deferred = 0
        for r in rows:
            cadence = cadence_of[(r.cadence_name, r.cadence_version)]
            status = r.status
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
            result = plan_shared(snap, cadence, now, shared)
            gated = gate_planned(result.touches, result.tasks, facts[r.lead_id], cadence, policy, now, email=None)
            for t in gated.touches:
                touches.append(
                    {
                        "key": t.key,
                        "lead_id": t.lead_id,
                        "step_id": t.step_id,
                        "channel": _VALUE[t.channel],
                        "template": t.template,
                        "scheduled_for": t.scheduled_for,
                        "not_after": t.not_after,
                        "status": _VALUE[t.status],
                        "reason": t.reason,
                        "attempts": 0,
                        "decisions": t.decisions,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                skipped += t.status is _SKIPPED
                blocked += t.status is _BLOCKED
                deferred += t.status is _PLANNED and bool(t.reason)
            for k in gated.tasks:
                tasks.append(
                    {
                        "key": k.key,
                        "lead_id": k.lead_id,
                        "loan_officer_id": r.loan_officer_id,
                        "kind": _VALUE[k.kind],
                        "step_id": k.step_id,
                        "template": k.template,
                        "due_at": k.due_at,
                        "expires_at": k.expires_at,
                        "priority": k.priority,
                        "status": _VALUE[k.status],
                        "note": k.note,
                        "decisions": k.decisions,
                        "created_at": now,
                    }
                )
                blocked += k.status is _TASK_BLOCKED
                deferred += k.status is _TASK_HELD
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
                "status": _VALUE[result.status],
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
        stats.skipped, stats.blocked, stats.deferred = skipped, blocked, deferred
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

"""Planning the officers' alerts: which call tasks fell due, which priority task waits too long, and which work
has nobody to do it.

Every alert is one row of the officers' outbox with a unique key, inserted or ignored, so planning twice (or
in two processes at once) plans it once: ``task:{id}:due:{officer}:{channel}``, ``task:{id}:reminder:{officer}:
{channel}``, ``digest:{officer}:{UTC hour}:{channel}``, ``unassigned:{manager}:{UTC hour}:{channel}``. The hour
is the one the alert is to go in, so every task that falls due inside an officer's quiet hours joins the one
digest sent when they end. Planners take one lock between them (PostgreSQL: an advisory lock; SQLite: the write
lock), so a digest still planned can take more tasks without two planners writing it at once. A task is
stamped ``alerted_at`` (``reminded_at``) in the transaction that plans its alert, with a line in the task log.
A task handed to another officer alerts them once its ``alerted_at`` and ``reminded_at`` are cleared; what was
planned for the officer before goes unsent (the task is no longer theirs).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nurture.actions import Channel, TaskStatus, TouchStatus
from nurture.alerts import (
    ALERT_CHANNELS,
    AlertKind,
    alert_kind,
    digest_key,
    due_key,
    hour_window,
    is_priority,
    reminder_key,
    route,
    unassigned_key,
)
from storage.alerts import OFFICER_COLUMNS, quiet_hours, reach, unassigned_counts
from storage.locks import write_transaction
from storage.models import CallTask, LoanOfficer, OfficerAlert, TaskLog, table
from storage.sql import among, insert_ignore

_alert, _officer, _task, _log = table(OfficerAlert), table(LoanOfficer), table(CallTask), table(TaskLog)
REMINDER_LOOKBACK = timedelta(days=1)  # a priority task alerted longer ago than this gets no reminder any more
NOTICE_TASK_IDS = 50  # task ids a manager's notice keeps (the counts are worked out when it goes)


@dataclass
class PlanStats:
    due: int = 0  # alerts of single priority tasks (one per channel)
    digests: int = 0  # digests begun (tasks added to a digest still planned are not counted again)
    reminders: int = 0
    notices: int = 0  # managers' notices of unassigned work
    skipped: int = 0  # planned as skipped: the officer cannot be reached on that channel
    tasks: int = 0  # call tasks stamped alerted


def plan_alerts(engine: Engine, *, now: datetime, reminder_after: timedelta, limit: int = 2000) -> PlanStats:
    """Plan every alert due at ``now``: a task's own alert for each priority task that fell due, the hourly
    digest for the rest, one reminder for a priority task still open ``reminder_after`` after its alert went,
    and a notice to every active manager while tasks or leads have no loan officer."""
    stats = PlanStats()
    while _plan_due(engine, now=now, limit=limit, stats=stats) == limit:
        pass
    _plan_reminders(engine, now=now, after=reminder_after, stats=stats)
    _plan_notices(engine, now=now, stats=stats)
    return stats


def _lock_planning(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended("alerts:plan", 0))))


def _officers(conn: Connection, ids: set[int]) -> dict[int, Any]:
    if not ids:
        return {}
    rows = conn.execute(sa.select(_officer.c.id, *OFFICER_COLUMNS).where(among(conn, _officer.c.id, sorted(ids))))
    return {r.id: r for r in rows}


def _row(
    key: str,
    officer: Any,
    officer_id: int,
    kind: AlertKind,
    channel: Channel,
    task_ids: list[int],
    now: datetime,
    at: datetime,
) -> dict[str, Any]:
    address, why = route(reach(officer), channel)
    return {
        "key": key,
        "loan_officer_id": officer_id,
        "kind": kind.value,
        "channel": channel.value,
        "to_address": address,
        "task_ids": json.dumps(sorted(task_ids)),
        "scheduled_for": at,
        "status": (TouchStatus.SKIPPED if why else TouchStatus.PLANNED).value,
        "reason": why,
        "created_at": now,
    }


def _plan_due(engine: Engine, *, now: datetime, limit: int, stats: PlanStats) -> int:
    """One batch of open tasks that fell due and were never alerted. Returns how many were read."""
    with write_transaction(engine) as conn:
        _lock_planning(conn)
        tasks = conn.execute(
            sa.select(_task.c.id, _task.c.kind, _task.c.key, _task.c.due_at, _task.c.loan_officer_id)
            .where(
                _task.c.status == TaskStatus.OPEN.value,
                _task.c.alerted_at.is_(None),
                _task.c.loan_officer_id.is_not(None),
                _task.c.due_at <= now,
                sa.or_(_task.c.expires_at.is_(None), _task.c.expires_at > now),
            )
            .order_by(_task.c.due_at, _task.c.id)
            .limit(limit)
        ).all()
        officers = _officers(conn, {t.loan_officer_id for t in tasks})
        singles: list[dict[str, Any]] = []
        digests: dict[int, list[int]] = defaultdict(list)
        for t in tasks:
            officer = officers[t.loan_officer_id]
            if alert_kind(t.kind, t.key, due_at=t.due_at, now=now) is AlertKind.DUE:
                at = quiet_hours(officer).next_open(now)
                singles += [
                    _row(
                        due_key(t.id, t.loan_officer_id, c),
                        officer,
                        t.loan_officer_id,
                        AlertKind.DUE,
                        c,
                        [t.id],
                        now,
                        at,
                    )
                    for c in ALERT_CHANNELS
                ]
            else:
                digests[t.loan_officer_id].append(t.id)
        stats.due += insert_ignore(
            conn, _alert, [r for r in singles if r["status"] == TouchStatus.PLANNED.value], "key"
        )
        stats.skipped += insert_ignore(
            conn, _alert, [r for r in singles if r["status"] != TouchStatus.PLANNED.value], "key"
        )
        for officer_id, ids in digests.items():
            for channel in ALERT_CHANNELS:
                _add_to_digest(conn, officers[officer_id], officer_id, channel, ids, now, stats)
        if tasks:
            ids = [t.id for t in tasks]
            conn.execute(
                _task.update().where(among(conn, _task.c.id, ids), _task.c.alerted_at.is_(None)).values(alerted_at=now)
            )
            conn.execute(
                _log.insert(),
                [
                    {
                        "task_id": t.id,
                        "at": now,
                        "action": "alerted",
                        "from_officer_id": t.loan_officer_id,
                        "actor": "system",
                        "reason": "its own alert" if t.id not in digests[t.loan_officer_id] else "digest",
                    }
                    for t in tasks
                ],
            )
            stats.tasks += len(tasks)
    return len(tasks)


def _add_to_digest(
    conn: Connection,
    officer: Any,
    officer_id: int,
    channel: Channel,
    task_ids: list[int],
    now: datetime,
    stats: PlanStats,
) -> None:
    """Add ``task_ids`` to the officer's digest of the hour it can go in: the one still planned, else the next
    hour's (at most one digest per officer, channel and hour)."""
    quiet = quiet_hours(officer)
    at = quiet.next_open(now)
    for _ in range(24 * 8):
        key = digest_key(officer_id, hour_window(at), channel)
        found = conn.execute(sa.select(_alert.c.status, _alert.c.task_ids).where(_alert.c.key == key)).first()
        if found is None:
            row = _row(key, officer, officer_id, AlertKind.DIGEST, channel, task_ids, now, at)
            insert_ignore(conn, _alert, [row], "key")
            if row["status"] == TouchStatus.PLANNED.value:
                stats.digests += 1
            else:
                stats.skipped += 1
            return
        if found.status in (TouchStatus.PLANNED.value, TouchStatus.SKIPPED.value):
            merged = json.dumps(sorted(set(json.loads(found.task_ids or "[]")) | set(task_ids)))
            added = conn.execute(
                _alert.update().where(_alert.c.key == key, _alert.c.status == found.status).values(task_ids=merged)
            ).rowcount
            if added == 1:
                return
        at = quiet.next_open(hour_window(at) + timedelta(hours=1))
    raise AssertionError(f"no hour for officer {officer_id}'s digest after {now}")


def _plan_reminders(engine: Engine, *, now: datetime, after: timedelta, stats: PlanStats) -> None:
    """One reminder per priority task still open ``after`` its own alert first went (by any channel)."""
    with write_transaction(engine) as conn:
        _lock_planning(conn)
        candidates = conn.execute(
            sa.select(_task.c.id, _task.c.kind, _task.c.key, _task.c.loan_officer_id).where(
                _task.c.status == TaskStatus.OPEN.value,
                _task.c.loan_officer_id.is_not(None),
                _task.c.reminded_at.is_(None),
                _task.c.alerted_at.is_not(None),
                _task.c.alerted_at <= now - after,
                _task.c.alerted_at > now - REMINDER_LOOKBACK,
            )
        ).all()
        candidates = [t for t in candidates if is_priority(t.kind, t.key)]
        if not candidates:
            return
        keys = {due_key(t.id, t.loan_officer_id, c): t.id for t in candidates for c in ALERT_CHANNELS}
        first_sent: dict[int, datetime] = {}
        for key, sent_at in conn.execute(
            sa.select(_alert.c.key, _alert.c.sent_at).where(
                among(conn, _alert.c.key, sorted(keys)), _alert.c.status == TouchStatus.SENT.value
            )
        ):
            task_id = keys[key]
            first_sent[task_id] = min(sent_at, first_sent.get(task_id, sent_at))
        due = [t for t in candidates if t.id in first_sent and first_sent[t.id] + after <= now]
        officers = _officers(conn, {t.loan_officer_id for t in due})
        rows = [
            _row(
                reminder_key(t.id, t.loan_officer_id, c),
                officers[t.loan_officer_id],
                t.loan_officer_id,
                AlertKind.REMINDER,
                c,
                [t.id],
                now,
                quiet_hours(officers[t.loan_officer_id]).next_open(now),
            )
            for t in due
            for c in ALERT_CHANNELS
        ]
        stats.reminders += insert_ignore(
            conn, _alert, [r for r in rows if r["status"] == TouchStatus.PLANNED.value], "key"
        )
        stats.skipped += insert_ignore(
            conn, _alert, [r for r in rows if r["status"] != TouchStatus.PLANNED.value], "key"
        )
        if due:
            ids = [t.id for t in due]
            conn.execute(_task.update().where(among(conn, _task.c.id, ids)).values(reminded_at=now))
            conn.execute(
                _log.insert(),
                [
                    {
                        "task_id": t.id,
                        "at": now,
                        "action": "reminded",
                        "from_officer_id": t.loan_officer_id,
                        "actor": "system",
                        "reason": f"still open {int(after.total_seconds() // 60)} min after its alert",
                    }
                    for t in due
                ],
            )


def _plan_notices(engine: Engine, *, now: datetime, stats: PlanStats) -> None:
    """A notice to every active manager, once per hour it can go in, while tasks or leads have no officer."""
    with write_transaction(engine) as conn:
        _lock_planning(conn)
        tasks, leads = unassigned_counts(conn, now=now)
        if not (tasks or leads):
            return
        ids = list(
            conn.execute(
                sa.select(_task.c.id)
                .where(
                    _task.c.loan_officer_id.is_(None), _task.c.status == TaskStatus.OPEN.value, _task.c.due_at <= now
                )
                .order_by(_task.c.due_at)
                .limit(NOTICE_TASK_IDS)
            ).scalars()
        )
        managers = conn.execute(
            sa.select(_officer.c.id, *OFFICER_COLUMNS).where(_officer.c.role == "manager", _officer.c.active.is_(True))
        ).all()
        rows = []
        for m in managers:
            at = quiet_hours(m).next_open(now)
            rows += [
                _row(unassigned_key(m.id, hour_window(at), c), m, m.id, AlertKind.UNASSIGNED, c, ids, now, at)
                for c in ALERT_CHANNELS
            ]
        stats.notices += insert_ignore(
            conn, _alert, [r for r in rows if r["status"] == TouchStatus.PLANNED.value], "key"
        )
        stats.skipped += insert_ignore(
            conn, _alert, [r for r in rows if r["status"] != TouchStatus.PLANNED.value], "key"
        )

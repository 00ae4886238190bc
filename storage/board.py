"""The manager's board, counted in SQL: each officer's open, overdue and expired call tasks, the outcomes they
logged, and the calls logged over recent days (for the chart)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nurture.actions import TaskStatus
from storage.models import CallTask, LoanOfficer, TaskLog, table

_task = table(CallTask)
_officer = table(LoanOfficer)
_log = table(TaskLog)
EXPIRED_ACTION = "expired"  # the task log's word for a task whose window closed unworked


@dataclass(slots=True)
class OfficerCounts:
    officer_id: int
    name: str
    role: str
    active: bool
    open: int = 0
    overdue: int = 0  # open, and due before now
    expired: int = 0  # tasks whose window closed unworked in the period, on this officer's list at the time
    outcomes: Counter[str] = field(default_factory=Counter)  # outcome -> calls logged in the period


def officer_counts(conn: Connection, *, now: datetime, since: datetime) -> list[OfficerCounts]:
    """Every officer (active ones, and inactive ones with anything to show), by name: open and overdue tasks now,
    and the tasks expired and outcomes logged from ``since`` to ``now``."""
    rows = {
        r.id: OfficerCounts(r.id, r.name, r.role, bool(r.active))
        for r in conn.execute(sa.select(_officer.c.id, _officer.c.name, _officer.c.role, _officer.c.active))
    }
    is_open = _task.c.status == TaskStatus.OPEN.value
    overdue = sa.func.sum(sa.case((_task.c.due_at < now, 1), else_=0))
    for officer, n_open, n_overdue in conn.execute(
        sa.select(_task.c.loan_officer_id, sa.func.count(), overdue).where(is_open).group_by(_task.c.loan_officer_id)
    ):
        if officer in rows:
            rows[officer].open, rows[officer].overdue = int(n_open), int(n_overdue or 0)
    for officer, n in _expired(conn, now=now, since=since).items():
        if officer in rows:
            rows[officer].expired = n
    logged = (
        sa.select(_task.c.loan_officer_id, _task.c.outcome, sa.func.count())
        .where(_task.c.status == TaskStatus.DONE.value, _task.c.completed_at >= since, _task.c.completed_at <= now)
        .group_by(_task.c.loan_officer_id, _task.c.outcome)
    )
    for officer, outcome, n in conn.execute(logged):
        if officer in rows and outcome is not None:
            rows[officer].outcomes[getattr(outcome, "value", outcome)] += int(n)
    shown = [r for r in rows.values() if r.active or r.open or r.expired or r.outcomes]
    return sorted(shown, key=lambda r: (r.name.casefold(), r.officer_id))


def _expired(conn: Connection, *, now: datetime, since: datetime) -> dict[int, int]:
    """Distinct tasks that expired in the period, per officer: those still marked expired (their officer now), and
    those the task log says expired (the officer it was taken from: it may have been reassigned and reopened)."""
    marked = sa.select(_task.c.loan_officer_id.label("officer"), _task.c.id.label("task")).where(
        _task.c.status == TaskStatus.EXPIRED.value, _task.c.expires_at >= since, _task.c.expires_at <= now
    )
    logged = sa.select(
        sa.func.coalesce(_log.c.from_officer_id, _task.c.loan_officer_id).label("officer"), _log.c.task_id.label("task")
    ).select_from(_log.join(_task, _task.c.id == _log.c.task_id)).where(
        _log.c.action == EXPIRED_ACTION, _log.c.at >= since, _log.c.at <= now
    )  # fmt: skip
    pairs = sa.union(marked, logged).subquery()  # UNION: a task in both is one
    query = sa.select(pairs.c.officer, sa.func.count()).where(pairs.c.officer.is_not(None)).group_by(pairs.c.officer)
    return {int(officer): int(n) for officer, n in conn.execute(query)}


def calls_logged(conn: Connection, *, since: datetime, until: datetime) -> list[tuple[datetime, str | None]]:
    """(when, outcome) of every call logged on a task from ``since`` to ``until``."""
    query = sa.select(_task.c.completed_at, _task.c.outcome).where(
        _task.c.status == TaskStatus.DONE.value, _task.c.completed_at >= since, _task.c.completed_at <= until
    )
    return [(at, getattr(outcome, "value", outcome)) for at, outcome in conn.execute(query)]


def officer_timezone(conn: Connection, officer_id: int) -> str:
    """The officer's own clock (IANA name); New York when not on file."""
    zone = conn.execute(sa.select(_officer.c.timezone).where(_officer.c.id == officer_id)).scalar()
    return zone or "America/New_York"

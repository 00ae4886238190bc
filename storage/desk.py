"""What the officer's pages read and write: the open calls list, who may see a lead or a task, a lead's notes and
its edit log.

The calls list is one query (tasks joined to their leads, most urgent first: priority, then due time) cut at
``limit`` rows; it walks ``ix_call_task_officer_status`` for one officer. A lead belongs to its loan officer and to
any officer holding one of its call tasks; a manager sees every lead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nurture.actions import TaskStatus
from storage.models import (
    CadencePosition,
    CallTask,
    InboundMessage,
    Lead,
    LeadEdit,
    LeadNote,
    LoanOfficer,
    table,
)

_task = table(CallTask)
_lead = table(Lead)
_officer = table(LoanOfficer)
_pos = table(CadencePosition)
_note = table(LeadNote)
_edit = table(LeadEdit)
_inbound = table(InboundMessage)

_OPEN = TaskStatus.OPEN.value
_URGENT_FIRST = (_task.c.priority.desc(), _task.c.due_at, _task.c.id)


def open_calls(conn: Connection, *, officer_id: int | None, limit: int) -> list[Any]:
    """Open call tasks, most urgent first, with what the list shows of each lead; ``officer_id=None``: the whole
    team's. The most urgent ``limit`` tasks are picked from the task table alone, then joined to their leads."""
    top = sa.select(_task.c.id).where(_task.c.status == _OPEN)
    if officer_id is not None:
        top = top.where(_task.c.loan_officer_id == officer_id)
    picked = top.order_by(*_URGENT_FIRST).limit(limit).subquery()
    query = (
        sa.select(
            _task.c.id,
            _task.c.lead_id,
            _task.c.key,
            _task.c.kind,
            _task.c.template,
            _task.c.due_at,
            _task.c.priority,
            _task.c.note,
            _lead.c.first_name,
            _lead.c.last_name,
            _lead.c.phone,
            _lead.c.product,
            _lead.c.timezone,
            _officer.c.name.label("officer"),
        )
        .join(picked, picked.c.id == _task.c.id)
        .join(_lead, _lead.c.id == _task.c.lead_id)
        .outerjoin(_officer, _officer.c.id == _task.c.loan_officer_id)
        .order_by(*_URGENT_FIRST)
    )
    return list(conn.execute(query))


def open_call_count(conn: Connection, *, officer_id: int | None) -> int:
    query = sa.select(sa.func.count()).select_from(_task).where(_task.c.status == _OPEN)
    if officer_id is not None:
        query = query.where(_task.c.loan_officer_id == officer_id)
    return int(conn.execute(query).scalar_one())


def _holds_a_task(lead_id: Any, officer_id: int) -> sa.ColumnElement[bool]:
    return sa.exists().where(_task.c.lead_id == lead_id, _task.c.loan_officer_id == officer_id)


def lead_visible(conn: Connection, lead_id: int, *, officer_id: int | None) -> bool:
    """Whether the lead exists and ``officer_id`` may see it (None: a manager, who sees every lead)."""
    query = sa.select(_lead.c.id).where(_lead.c.id == lead_id)
    if officer_id is not None:
        query = query.where(sa.or_(_lead.c.loan_officer_id == officer_id, _holds_a_task(_lead.c.id, officer_id)))
    return conn.execute(query).first() is not None


def task_lead(conn: Connection, task_id: int, *, officer_id: int | None) -> int | None:
    """The lead of call task ``task_id`` when ``officer_id`` may see that lead (None: a manager), else None."""
    lead_id = conn.execute(sa.select(_task.c.lead_id).where(_task.c.id == task_id)).scalar()
    if lead_id is None or not lead_visible(conn, lead_id, officer_id=officer_id):
        return None
    return int(lead_id)


def lead_record(conn: Connection, lead_id: int) -> Any:
    """The lead's row with its enrollment's reason (``why``) and its loan officer's name (``officer``)."""
    return conn.execute(
        sa.select(_lead, _pos.c.reason.label("why"), _pos.c.cadence_name, _officer.c.name.label("officer"))
        .outerjoin(_pos, _pos.c.lead_id == _lead.c.id)
        .outerjoin(_officer, _officer.c.id == _lead.c.loan_officer_id)
        .where(_lead.c.id == lead_id)
    ).first()


def lead_open_tasks(conn: Connection, lead_id: int) -> list[Any]:
    return list(
        conn.execute(
            sa.select(_task.c.id, _task.c.key, _task.c.kind, _task.c.template, _task.c.due_at, _task.c.note,
                      _task.c.loan_officer_id)
            .where(_task.c.lead_id == lead_id, _task.c.status == _OPEN)
            .order_by(*_URGENT_FIRST)
        )
    )  # fmt: skip


def latest_text_from(conn: Connection, numbers: list[str]) -> str:
    """The newest text any of ``numbers`` sent us ("" when none)."""
    if not numbers:
        return ""
    body = conn.execute(
        sa.select(_inbound.c.body)
        .where(_inbound.c.from_address.in_(numbers))
        .order_by(_inbound.c.received_at.desc(), _inbound.c.id.desc())
        .limit(1)
    ).scalar()
    return body or ""


def add_note(conn: Connection, *, lead_id: int, officer_id: int, actor: str, body: str, at: datetime) -> None:
    conn.execute(
        _note.insert().values(lead_id=lead_id, loan_officer_id=officer_id, actor=actor[:120], body=body, at=at)
    )


def notes_of(conn: Connection, lead_id: int, *, limit: int = 50) -> list[Any]:
    """The lead's notes, newest first."""
    query = sa.select(_note.c.actor, _note.c.body, _note.c.at).where(_note.c.lead_id == lead_id)
    return list(conn.execute(query.order_by(_note.c.at.desc(), _note.c.id.desc()).limit(limit)))


def edits_of(conn: Connection, lead_id: int, *, limit: int = 50) -> list[Any]:
    """The lead's fact edits, newest first."""
    query = sa.select(_edit.c.field, _edit.c.old_value, _edit.c.new_value, _edit.c.actor, _edit.c.at)
    query = query.where(_edit.c.lead_id == lead_id)
    return list(conn.execute(query.order_by(_edit.c.at.desc(), _edit.c.id.desc()).limit(limit)))

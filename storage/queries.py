"""Read-side queries for the CLI and reports: outbox rows, call tasks, a lead's story."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.actions import TaskStatus
from storage.models import CallTask, Lead, LeadHistory, LoanOfficer, Touch, table

_touch = table(Touch)
_task = table(CallTask)
_lead = table(Lead)
_officer = table(LoanOfficer)
_hist = table(LeadHistory)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def parse_decisions(text: str | None) -> list[dict[str, Any]]:
    """The decision log of a touch or task: one compliance check per JSON line, oldest first."""
    return [json.loads(line) for line in (text or "").splitlines() if line.strip()]


def list_touches(
    *, engine: Engine, lead_id: int | None = None, status: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    query = sa.select(_touch).order_by(_touch.c.scheduled_for, _touch.c.id)
    if lead_id is not None:
        query = query.where(_touch.c.lead_id == lead_id)
    if status is not None:
        query = query.where(_touch.c.status == status)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [
            {
                "lead_id": r.lead_id,
                "step": r.step_id,
                "channel": r.channel,
                "template": r.template,
                "scheduled_for": _iso(r.scheduled_for),
                "sent_at": _iso(r.sent_at),
                "status": r.status,
                "reason": r.reason,
                "key": r.key,
                "to": r.to_address,
                "provider_id": r.provider_id,
                "decisions": parse_decisions(r.decisions),
            }
            for r in conn.execute(query)
        ]


def list_tasks(
    *,
    engine: Engine,
    status: str | None = TaskStatus.OPEN.value,
    officer_email: str | None = None,
    lead_id: int | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    query = (
        sa.select(
            _task,
            _lead.c.first_name,
            _lead.c.last_name,
            _lead.c.phone,
            _lead.c.product,
            _lead.c.timezone,
            _lead.c.stage,
            _officer.c.name.label("officer"),
            _officer.c.email.label("officer_email"),
        )
        .join(_lead, _lead.c.id == _task.c.lead_id)
        .outerjoin(_officer, _officer.c.id == _task.c.loan_officer_id)
        .order_by(_task.c.priority.desc(), _task.c.due_at, _task.c.id)
    )
    if status is not None:
        query = query.where(_task.c.status == status)
    if officer_email is not None:
        query = query.where(_officer.c.email == officer_email.strip().lower())
    if lead_id is not None:
        query = query.where(_task.c.lead_id == lead_id)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [
            {
                "id": r.id,
                "lead_id": r.lead_id,
                "lead": f"{r.first_name} {r.last_name}".strip(),
                "phone": r.phone,
                "product": r.product,
                "stage": r.stage,
                "timezone": r.timezone,
                "kind": r.kind,
                "step": r.step_id,
                "template": r.template,
                "due_at": _iso(r.due_at),
                "expires_at": _iso(r.expires_at),
                "priority": r.priority,
                "status": r.status,
                "outcome": r.outcome,
                "note": r.note,
                "officer": r.officer,
                "officer_email": r.officer_email,
                "completed_at": _iso(r.completed_at),
                "decisions": parse_decisions(r.decisions),
            }
            for r in conn.execute(query)
        ]


def lead_history(*, engine: Engine, lead_id: int) -> list[dict[str, Any]]:
    query = sa.select(_hist).where(_hist.c.lead_id == lead_id).order_by(_hist.c.at, _hist.c.id)
    with engine.connect() as conn:
        return [
            {
                "at": _iso(r.at),
                "event": r.event,
                "stage": f"{r.stage_from} -> {r.stage_to}",
                "cadence": f"{r.cadence_from} -> {r.cadence_to}",
                "reason": r.reason,
                "actor": r.actor,
            }
            for r in conn.execute(query)
        ]

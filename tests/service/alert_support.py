"""What the alert tests share: officers, their call tasks, the alerts stored, a pipeline with a recording sender."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.cadence import load_cadence
from service.pipeline import Pipeline
from service.settings import Settings
from storage.cadences import register_cadence
from storage.models import CallTask, LoanOfficer, OfficerAlert, TaskLog, table
from tests.factories import NOW, insert_lead
from tests.fakes import RecordingSender

_officer, _task, _alert, _log = table(LoanOfficer), table(CallTask), table(OfficerAlert), table(TaskLog)
BASE = "https://calls.dripline.test"


def add_officer(engine: Engine, n: int = 1, **overrides: Any) -> int:
    values: dict[str, Any] = {
        "name": f"Dana {n}",
        "email": f"dana{n}@lender.test",
        "phone": f"+1305555{n:04d}",
        "nmls_id": f"{1456700 + n}",
        "active": True,
        "created_at": NOW,
        "timezone": "America/New_York",
    } | overrides
    with engine.begin() as conn:
        return int(conn.execute(sa.insert(_officer).values(**values)).inserted_primary_key[0])


def add_task(
    engine: Engine,
    *,
    officer: int | None,
    kind: str = "reply",
    due_at: datetime = NOW,
    key: str | None = None,
    lead: int | None = None,
    first_name: str = "Maria",
    **more: Any,
) -> int:
    """An open call task for a new lead of ``officer`` (or ``lead``)."""
    if lead is None:
        lead = insert_lead(
            engine, loan_officer_id=officer, first_name=first_name, phone=None, email=None, consent=False
        )
    with engine.begin() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(_task)).scalar_one()
        values = {
            "key": key or f"{lead}:{kind}:t{n}",
            "lead_id": lead,
            "loan_officer_id": officer,
            "kind": kind,
            "template": kind,
            "due_at": due_at,
            "priority": 20,
            "status": "open",
            "created_at": due_at,
        } | more
        return int(conn.execute(sa.insert(_task).values(**values)).inserted_primary_key[0])


def alerts(engine: Engine, **where: Any) -> list[Any]:
    query = sa.select(_alert).where(*(_alert.c[k] == v for k, v in where.items())).order_by(_alert.c.id)
    with engine.connect() as conn:
        return list(conn.execute(query))


def task(engine: Engine, task_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.select(_task).where(_task.c.id == task_id)).one()


def task_log(engine: Engine, task_id: int) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(sa.select(_log.c.action).where(_log.c.task_id == task_id).order_by(_log.c.id)).scalars()
        )


def alert_pipeline(engine: Engine, sender: Any = None, **settings: Any) -> tuple[Pipeline, Any]:
    sender = sender if sender is not None else RecordingSender()
    values: dict[str, Any] = {"public_base_url": BASE, "company_name": "Acme Mortgage"} | settings
    chosen = Settings(**values)
    cadence = load_cadence(chosen.cadence_file.read_text())
    registry = register_cadence(engine=engine, cadence=cadence, now=NOW)
    return Pipeline(chosen, engine, registry, sender), sender

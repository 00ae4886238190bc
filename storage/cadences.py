"""Stored cadence versions and enrollment of new leads."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.cadence import Cadence, CadenceError, load_cadence
from nurture.planner import LeadSnapshot, anchor_date, due_at
from nurture.states import CadenceStatus, Stage
from storage.locks import write_transaction
from storage.models import CadenceDefinition, CadencePosition, Lead, LeadHistory, table
from storage.sql import insert_ignore

_defs = table(CadenceDefinition)
_pos = table(CadencePosition)
_lead = table(Lead)
_hist = table(LeadHistory)


class CadenceRegistry:
    """Every cadence version leads are enrolled in, by (name, version)."""

    def __init__(
        self, current: Cadence, known: dict[tuple[str, int], Cadence], extra: tuple[Cadence, ...] = ()
    ) -> None:
        self.current = current  # new leads enroll here
        self.latest = {c.name: c for c in (*extra, current)}  # the version in force of each cadence file
        self._known = {**known, **{(c.name, c.version): c for c in (*extra, current)}}

    def get(self, name: str, version: int) -> Cadence:
        try:
            return self._known[(name, version)]
        except KeyError:
            raise CadenceError(f"cadence {name} v{version} is not stored in this database") from None


def register_cadence(
    *, engine: Engine, cadence: Cadence, now: datetime, others: tuple[Cadence, ...] = ()
) -> CadenceRegistry:
    """Store ``cadence`` (where new leads enroll) and ``others`` (the re-engagement and referral cadences) if new,
    and return every stored version.

    The same name and version with different content is refused: leads
    enrolled in a version must keep exactly the steps they enrolled in.
    """
    for other in others:
        _store(engine, other, now)
    _store(engine, cadence, now)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(_defs.c.name, _defs.c.version, _defs.c.body)).all()
    known = {(r.name, r.version): load_cadence(r.body, source=f"{r.name} v{r.version}") for r in stored}
    return CadenceRegistry(cadence, known, others)


def _store(engine: Engine, cadence: Cadence, now: datetime) -> None:
    """Store ``cadence`` unless it is there; two processes starting at once both find it stored afterwards."""
    where = sa.and_(_defs.c.name == cadence.name, _defs.c.version == cadence.version)
    with engine.connect() as conn:
        digest = conn.execute(sa.select(_defs.c.digest).where(where)).scalar()
    if digest is None:
        row = {"name": cadence.name, "version": cadence.version, "digest": cadence.digest, "body": cadence.body,
               "loaded_at": now}  # fmt: skip
        with write_transaction(engine) as conn:
            insert_ignore(conn, _defs, [row], ("name", "version"))
            digest = conn.execute(sa.select(_defs.c.digest).where(where)).scalar_one()
    if digest != cadence.digest:
        raise CadenceError(
            f"cadence {cadence.name} v{cadence.version} changed since it was first used; "
            f"bump 'version' to {cadence.version + 1} so enrolled leads keep their steps"
        )


def enroll_new_leads(*, engine: Engine, cadence: Cadence, now: datetime, limit: int = 5000) -> int:
    """Put up to ``limit`` new, unenrolled leads on ``cadence`` as of ``now``. Returns how many.

    A lead that something already happened to before it was enrolled (it opted out, or wrote back) keeps
    the cadence status its last event gave it: it is enrolled stopped or handed off, never as new.

    Safe to run in several processes at once: the leads are locked as they are read (PostgreSQL: ``FOR UPDATE
    SKIP LOCKED``, so each process takes other leads; SQLite: one write transaction at a time), and a lead
    enrolled meanwhile is skipped by the insert (insert-or-ignore on the lead), never enrolled twice.
    """
    latest = sa.select(_hist.c.lead_id, sa.func.max(_hist.c.id).label("last_id")).group_by(_hist.c.lead_id).subquery()
    with write_transaction(engine) as conn:
        query = (
            sa.select(_lead.c.id, _lead.c.timezone, _hist.c.cadence_to)
            .outerjoin(_pos, _pos.c.lead_id == _lead.c.id)
            .outerjoin(latest, latest.c.lead_id == _lead.c.id)
            .outerjoin(_hist, _hist.c.id == latest.c.last_id)
            .where(_pos.c.lead_id.is_(None), _lead.c.stage == Stage.NEW_LEAD.value)
            .order_by(_lead.c.id)
            .limit(limit)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(of=_lead, skip_locked=True)
        rows = conn.execute(query).all()
        if not rows:
            return 0
        values = []
        for r in rows:
            status = CadenceStatus(r.cadence_to) if r.cadence_to else CadenceStatus.ACTIVE
            anchor = anchor_date(enrolled_at=now, timezone=r.timezone, cadence=cadence)
            snap = LeadSnapshot(r.id, r.timezone, anchor, now, 0, 0, CadenceStatus.ACTIVE, True, True)
            values.append(
                {
                    "lead_id": r.id,
                    "cadence_name": cadence.name,
                    "cadence_version": cadence.version,
                    "anchor_date": anchor,
                    "step_index": 0,
                    "repeat": 0,
                    "status": status.value,
                    "next_due_at": _first_due(status, cadence, snap, now),
                    "enrolled_at": now,
                    "updated_at": now,
                }
            )
        return insert_ignore(conn, _pos, values, "lead_id")


def _first_due(status: CadenceStatus, cadence: Cadence, snap: LeadSnapshot, now: datetime) -> datetime | None:
    if status is CadenceStatus.ACTIVE:
        return due_at(cadence.steps[0], 0, snap, cadence)
    return now if status is CadenceStatus.NURTURING else None  # the next tick moves a nurture lead on

"""Guideline snapshots: every load kept, the newest per lender in force, each with its changes.

Loading a feed groups it by lender. A lender whose programs are the same as its
current snapshot (same digest) is left alone: loading the same snapshot twice is
a no-op. Otherwise a new snapshot is stored with the changes against the previous
one. All of a feed's lenders are stored in one transaction, so a failure stores none, and one lender's
loads take turns, so the same feed posted twice at once stores one snapshot.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nurture.guidelines import (
    Change,
    Direction,
    GuidelineSet,
    ProgramRules,
    diff,
    digest,
    in_force,
    parse_feed,
    to_feed,
)
from nurture.products import Product
from storage.locks import lock_lender_guidelines, write_transaction
from storage.models import GuidelineSnapshot, table

_snap = table(GuidelineSnapshot)
SNAPSHOTS_LOOKED_BACK = 24  # a lender's older snapshots consulted for rules still in force


@dataclass(frozen=True, slots=True)
class LenderLoad:
    lender: str
    snapshot_id: int | None  # None: unchanged, nothing stored
    previous_id: int | None
    changes: tuple[Change, ...]

    @property
    def loosened(self) -> bool:
        return any(c.direction is Direction.LOOSENING for c in self.changes)


@dataclass(slots=True)
class LoadResult:
    lenders: list[LenderLoad] = field(default_factory=list)

    @property
    def stored(self) -> list[LenderLoad]:
        return [x for x in self.lenders if x.snapshot_id is not None]


def load_snapshot(
    *, engine: Engine, programs: list[ProgramRules], source: str, loaded_by: str, now: datetime
) -> LoadResult:
    """Store a new snapshot for each lender in ``programs`` whose programs changed."""
    by_lender: dict[str, list[ProgramRules]] = defaultdict(list)
    for p in programs:
        by_lender[p.lender].append(p)
    result = LoadResult()
    with write_transaction(engine) as conn:
        for lender in sorted(by_lender):  # locks taken in one order: two loads cannot deadlock
            lock_lender_guidelines(conn, lender)
            new = by_lender[lender]
            current = _latest(conn, lender)
            if current is not None and current.digest == digest(new):
                result.lenders.append(LenderLoad(lender, None, current.id, ()))
                continue
            old = programs_of(current.programs) if current is not None else []
            changes = tuple(diff(old, new))
            snapshot_id = conn.execute(
                _snap.insert()
                .values(
                    lender=lender,
                    digest=digest(new),
                    programs=programs_json(new),
                    changes=json.dumps([change_dict(c) for c in changes]),
                    previous_id=current.id if current is not None else None,
                    source=source[:300],
                    loaded_by=loaded_by[:120],
                    loaded_at=now,
                )
                .returning(_snap.c.id)
            ).scalar_one()
            result.lenders.append(LenderLoad(lender, snapshot_id, current.id if current else None, changes))
    return result


def _latest(conn: Connection, lender: str, *, up_to: int | None = None) -> Any:
    query = sa.select(_snap).where(_snap.c.lender == lender)
    if up_to is not None:
        query = query.where(_snap.c.id <= up_to)
    return conn.execute(query.order_by(_snap.c.id.desc()).limit(1)).first()


def current_set(conn: Connection, *, on: date | None = None, up_to: int | None = None) -> GuidelineSet:
    """Every lender's programs: as in its newest snapshot (among those with id <= ``up_to``, when given), or,
    with ``on``, as in force on that date (see :func:`nurture.guidelines.in_force`)."""
    lenders = conn.execute(sa.select(_snap.c.lender).distinct()).scalars().all()
    programs: list[ProgramRules] = []
    for lender in sorted(lenders):
        programs += _lender_set(conn, lender, on=on, up_to=up_to)
    return GuidelineSet(tuple(programs))


def _lender_set(conn: Connection, lender: str, *, on: date | None, up_to: int | None) -> list[ProgramRules]:
    query = sa.select(_snap.c.programs).where(_snap.c.lender == lender).order_by(_snap.c.id.desc())
    if up_to is not None:
        query = query.where(_snap.c.id <= up_to)
    if on is None:
        newest = conn.execute(query.limit(1)).scalar()
        return programs_of(newest) if newest is not None else []
    return in_force([programs_of(text) for text in conn.execute(query.limit(SNAPSHOTS_LOOKED_BACK)).scalars()], on)


def current_snapshots(conn: Connection) -> list[Any]:
    """Every lender's newest snapshot row, by lender."""
    newest = sa.select(sa.func.max(_snap.c.id)).group_by(_snap.c.lender).scalar_subquery()
    return list(conn.execute(sa.select(_snap).where(_snap.c.id.in_(newest)).order_by(_snap.c.lender)))


def sets_around(conn: Connection, snapshot_id: int, on: date) -> tuple[GuidelineSet, GuidelineSet, Any]:
    """The guidelines in force on ``on`` without and with ``snapshot_id`` (every other lender as it is now),
    and the snapshot row."""
    snap = conn.execute(sa.select(_snap).where(_snap.c.id == snapshot_id)).first()
    if snap is None:
        raise LookupError(f"no guideline snapshot {snapshot_id}")
    others = tuple(p for p in current_set(conn, on=on).programs if p.lender != snap.lender)
    after = _lender_set(conn, snap.lender, on=on, up_to=snapshot_id)
    before = _lender_set(conn, snap.lender, on=on, up_to=snapshot_id - 1) if snap.previous_id else []
    return GuidelineSet(others + tuple(before)), GuidelineSet(others + tuple(after)), snap


def snapshot_changes(row: Any) -> list[dict[str, Any]]:
    return list(json.loads(row.changes or "[]"))


def history(conn: Connection, *, lender: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(_snap).order_by(_snap.c.id)
    if lender:
        query = query.where(_snap.c.lender == lender)
    out = []
    for row in conn.execute(query):
        changes = snapshot_changes(row)
        out.append(
            {
                "id": row.id,
                "lender": row.lender,
                "loaded_at": row.loaded_at.isoformat(),
                "source": row.source,
                "loaded_by": row.loaded_by,
                "programs": len(json.loads(row.programs)["lenders"][0]["programs"]),
                "loosenings": sum(c["direction"] == Direction.LOOSENING for c in changes),
                "tightenings": sum(c["direction"] == Direction.TIGHTENING for c in changes),
                "previous_id": row.previous_id,
            }
        )
    return out


def programs_json(programs: list[ProgramRules]) -> str:
    """The programs of one lender in the feed's own canonical JSON (so a stored snapshot reads back with the parser)."""
    return json.dumps(to_feed(programs), sort_keys=True)


def programs_of(text: str) -> list[ProgramRules]:
    return parse_feed(text, format="json")


def change_dict(c: Change) -> dict[str, Any]:
    return {
        "lender": c.lender,
        "program": c.program.value,
        "field": c.field,
        "old": _plain(c.old),
        "new": _plain(c.new),
        "direction": c.direction.value,
        "describe": c.describe(),
    }


def _plain(value: object) -> object:
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, Product):
        return value.value
    if value is None or isinstance(value, int | float | str):
        return value
    return str(value)

"""The tick's claim reads through the driver: it hands back what the ORM reads (aware UTC times, dates, bools, the
status enum), in due order, and on SQLite walks the partial due index instead of sorting every due lead for every
batch. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.states import CadenceStatus
from storage.models import CadencePosition, Lead, table
from storage.tick import _CLAIM, _claim
from tests.factories import insert_lead

_pos, _lead = table(CadencePosition), table(Lead)
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def _position(engine: Engine, lead: int, *, due: datetime, status: str = "active", home: bool = False) -> None:
    values = {
        "lead_id": lead, "cadence_name": "aged-nonqm", "cadence_version": 1, "anchor_date": date(2026, 2, 27),
        "step_index": 3, "repeat": 1, "status": status, "next_due_at": due, "reason": "",
        "enrolled_at": datetime(2026, 2, 27, 14, 30, 0, 250000, tzinfo=UTC), "updated_at": NOW,
    }  # fmt: skip
    if home:
        values |= {"home_cadence_name": "aged-nonqm", "home_cadence_version": 1, "home_anchor_date": date(2025, 11, 3),
                   "home_enrolled_at": datetime(2025, 11, 3, 9, 0, tzinfo=UTC), "home_step_index": 9,
                   "home_repeat": 2}  # fmt: skip
    with engine.begin() as conn:
        conn.execute(_pos.insert().values(values))


def test_claim_reads_what_the_orm_reads_in_due_order(engine: Engine) -> None:
    first = insert_lead(engine, phone="+13055550101", email=None)
    second = insert_lead(engine, phone="+13055550102")
    resting = insert_lead(engine, phone="+13055550103")
    later = insert_lead(engine, phone="+13055550104")
    _position(engine, second, due=NOW - timedelta(minutes=5), home=True, status="nurturing")
    _position(engine, first, due=NOW - timedelta(hours=2))
    _position(engine, resting, due=NOW - timedelta(hours=3), status="completed")
    _position(engine, later, due=NOW + timedelta(minutes=1))
    with engine.begin() as conn:
        conn.execute(_lead.update().where(_lead.c.id == second).values(phone_ok=False))
        claimed = _claim(conn, NOW, 10)
        columns = [c for c in _pos.c if c.name in claimed[0]._fields]
        orm = {r.lead_id: r for r in conn.execute(sa.select(*columns))}
    assert [c.lead_id for c in claimed] == [first, second]
    for c in claimed:
        stored = orm[c.lead_id]
        for name in stored._fields:
            assert getattr(c, name) == getattr(stored, name), name
            assert type(getattr(c, name)) is type(getattr(stored, name)), name
        assert c.enrolled_at.tzinfo is UTC
    one, two = claimed
    assert one.status is CadenceStatus.ACTIVE and two.status is CadenceStatus.NURTURING
    assert (one.has_phone, one.has_email, one.phone_ok) == (True, False, True)
    assert (two.has_phone, two.has_email, two.phone_ok) == (True, True, False)
    assert one.home_enrolled_at is None and two.home_enrolled_at == datetime(2025, 11, 3, 9, 0, tzinfo=UTC)
    assert two.home_anchor_date == date(2025, 11, 3) and two.timezone == "America/New_York"


def test_claim_stops_at_the_limit(engine: Engine) -> None:
    leads = [insert_lead(engine, phone=f"+1305555{n:04d}") for n in range(5)]
    for n, lead in enumerate(leads):
        _position(engine, lead, due=NOW - timedelta(minutes=10 - n))
    with engine.begin() as conn:
        assert [c.lead_id for c in _claim(conn, NOW, 3)] == leads[:3]


def test_sqlite_claims_off_the_partial_due_index_without_sorting(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's plan: PostgreSQL picks the partial index by itself")
    sql = _CLAIM.format(hint="INDEXED BY ix_cadence_position_automated_due ", now="?", limit=5000)
    with engine.connect() as conn:
        plan = [r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", ("2026-03-02 15:00:00.000000",))]
    assert any("ix_cadence_position_automated_due" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


def test_sqlite_reads_a_batchs_contacts_by_lead_not_by_status(engine: Engine) -> None:
    """The contacts load_facts reads are found through each lead's index. Through the status index instead (what
    SQLite picks without statistics) every planned touch is read for every batch: on a 1,000,000-lead tick, the
    read grew from 1 ms to 140 ms per batch as the tick wrote its touches."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's plan: PostgreSQL reads them through the semi-join on the lead ids")
    from storage.compliance import load_facts

    lead = insert_lead(engine)
    seen: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().startswith(("SELECT touch.", "SELECT call_task.", "SELECT bridge_call.")):
            seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", keep)
    try:
        with engine.connect() as conn:
            load_facts(conn, [lead], since=NOW - timedelta(days=30))
    finally:
        sa.event.remove(engine, "before_cursor_execute", keep)
    assert len(seen) == 3
    with engine.connect() as conn:
        for statement, parameters in seen:
            plan = [r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
            assert any(step.startswith("SEARCH") and "_lead_id (lead_id=?)" in step for step in plan), plan

"""storage.bulk writes exactly what the ORM path writes, skips existing keys, and counts only new rows.
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from nurture.actions import Channel, TouchStatus
from storage import bulk
from storage.bulk import insert_new, update_by_key
from storage.models import CadencePosition, Touch, table
from storage.sql import insert_ignore
from tests.factories import clear_database, insert_lead

_touch, _pos = table(Touch), table(CadencePosition)
AT = datetime(2026, 3, 2, 13, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture(params=["staged", "plain"], autouse=True)
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test both ways on PostgreSQL: COPY through the staging table, and the plain batched statement small
    batches take (on SQLite both are the driver's executemany)."""
    monkeypatch.setattr(bulk, "COPY_FROM", 1 if request.param == "staged" else 10**9)
    return str(request.param)


def _touch_row(lead_id: int, n: int, *, when: datetime = AT, **over: Any) -> dict[str, Any]:
    return {
        "key": f"{lead_id}:step{n}:sms", "lead_id": lead_id, "step_id": f"step{n}", "channel": Channel.SMS.value,
        "template": "sms/intro", "scheduled_for": when, "not_after": when + timedelta(hours=3),
        "status": TouchStatus.PLANNED.value, "reason": "", "attempts": 0, "decisions": '{"allow": true}',
        "created_at": AT, "updated_at": AT,
    } | over  # fmt: skip


def _stored(engine: Engine) -> list[tuple[Any, ...]]:
    """Every touch but its id, by key: (key, lead_id, step_id, channel, template, scheduled_for, ...)."""
    with engine.connect() as conn:
        cols = [c for c in _touch.c if c.name != "id"]
        return [tuple(r) for r in conn.execute(sa.select(*cols).order_by(_touch.c.key))]


def test_insert_new_stores_what_the_orm_stores_and_skips_existing_keys(engine: Engine) -> None:
    lead = insert_lead(engine)
    rows = [_touch_row(lead, n, when=AT + timedelta(minutes=n)) for n in range(5)]
    with engine.begin() as conn:
        assert insert_ignore(conn, _touch, rows, "key") == 5
    orm = _stored(engine)
    with engine.begin() as conn:
        conn.execute(_touch.delete())
    with engine.begin() as conn:
        assert insert_new(conn, _touch, rows[:3], "key") == 3
        assert insert_new(conn, _touch, rows, "key") == 2  # twice in one transaction: the first three exist
    assert _stored(engine) == orm
    with engine.begin() as conn:
        assert insert_new(conn, _touch, rows, "key") == 0
        assert insert_new(conn, _touch, [], "key") == 0
    assert _stored(engine) == orm


def test_a_naive_timestamp_is_refused_and_nothing_is_written(engine: Engine) -> None:
    lead = insert_lead(engine)
    with pytest.raises((ValueError, sa.exc.StatementError), match="time zone"), engine.begin() as conn:
        insert_new(conn, _touch, [_touch_row(lead, 1, when=datetime(2026, 3, 2, 13, 0))], "key")
    assert _stored(engine) == []


def test_update_by_key_sets_each_rows_values(engine: Engine) -> None:
    leads = [insert_lead(engine, phone=f"+1512555{n:04d}", email=f"b{n}@example.com") for n in range(3)]
    with engine.begin() as conn:
        conn.execute(
            sa.insert(_pos),
            [{"lead_id": i, "cadence_name": "new_lead", "cadence_version": 1, "anchor_date": date(2026, 3, 2),
              "next_due_at": AT, "enrolled_at": AT, "updated_at": AT} for i in leads],
        )  # fmt: skip
    moves = [{"lead_id": i, "step_index": n + 1, "status": "nurturing", "next_due_at": AT + timedelta(days=n),
              "updated_at": AT + timedelta(seconds=1)} for n, i in enumerate(leads[:2])]  # fmt: skip
    with engine.begin() as conn:
        update_by_key(conn, _pos, "lead_id", moves)
        got = conn.execute(
            sa.select(_pos.c.lead_id, _pos.c.step_index, _pos.c.status, _pos.c.next_due_at).order_by(_pos.c.lead_id)
        ).all()
    assert [tuple(r) for r in got] == [
        (leads[0], 1, "nurturing", AT),
        (leads[1], 2, "nurturing", AT + timedelta(days=1)),
        (leads[2], 0, "active", AT),
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.lists(st.integers(0, 30), max_size=20),
    second=st.lists(st.integers(0, 30), max_size=20),
    minutes=st.integers(-10_000, 10_000),
)
def test_insert_new_counts_exactly_the_keys_not_there_yet(
    engine: Engine, first: list[int], second: list[int], minutes: int
) -> None:
    clear_database(engine)
    lead = insert_lead(engine)
    when = AT + timedelta(minutes=minutes)
    with engine.begin() as conn:
        new_first = insert_new(conn, _touch, [_touch_row(lead, n, when=when) for n in dict.fromkeys(first)], "key")
    with engine.begin() as conn:
        new_second = insert_new(conn, _touch, [_touch_row(lead, n, when=when) for n in dict.fromkeys(second)], "key")
    assert new_first == len(set(first)) and new_second == len(set(second) - set(first))
    assert {r[0] for r in _stored(engine)} == {f"{lead}:step{n}:sms" for n in set(first) | set(second)}
    assert {r[5] for r in _stored(engine)} <= {when}

"""storage.sql.pg_array: the text form PostgreSQL reads back as exactly the values given, whatever the text holds
(quotes, backslashes, commas, braces, spaces, empty strings, NULL), and among() built on it finds exactly the rows
named. PostgreSQL (the text form is PostgreSQL's); among() on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from storage.models import Lead, table
from storage.sql import among, pg_array
from tests.factories import insert_lead

_lead = table(Lead)
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


def _postgres(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the array text form is PostgreSQL's; SQLite binds a JSON list (among() is tested on both)")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.none() | texts, max_size=8))
def test_text_arrays_come_back_as_given(engine: Engine, values: list[str | None]) -> None:
    _postgres(engine)
    with engine.connect() as conn:
        back = conn.execute(sa.text("SELECT CAST(:a AS text[])"), {"a": pg_array(values)}).scalar_one()
    assert back == values


def test_numbers_dates_and_times_come_back_as_given(engine: Engine) -> None:
    _postgres(engine)
    at = datetime(2026, 3, 8, 6, 59, 59, 999999, tzinfo=UTC)
    times = [at, at + timedelta(hours=1), None, at.astimezone(UTC)]
    with engine.connect() as conn:
        ints, days, stamps = conn.execute(
            sa.text("SELECT CAST(:i AS bigint[]), CAST(:d AS date[]), CAST(:t AS timestamptz[])"),
            {"i": pg_array([1, -2, None, 2**40]), "d": pg_array([date(2026, 2, 28), None]), "t": pg_array(times)},
        ).one()
    assert ints == [1, -2, None, 2**40] and days == [date(2026, 2, 28), None]
    assert stamps == times


def test_among_finds_exactly_the_rows_named_by_id_and_by_address(engine: Engine) -> None:
    odd = 'o"dd\\one, {x} @example.com'
    first = insert_lead(engine, phone="+13055550101", email=odd)
    second = insert_lead(engine, phone="+13055550102", email="plain@example.com")
    insert_lead(engine, phone="+13055550103", email="other@example.com")
    with engine.connect() as conn:
        by_id = conn.execute(sa.select(_lead.c.id).where(among(conn, _lead.c.id, [second, first, 10**9]))).scalars()
        by_email = conn.execute(sa.select(_lead.c.id).where(among(conn, _lead.c.email, [odd, "none@example.com"])))
        nobody = conn.execute(sa.select(_lead.c.id).where(among(conn, _lead.c.id, []))).all()
        assert sorted(by_id) == sorted([first, second])
        assert [r.id for r in by_email] == [first]
        assert nobody == []

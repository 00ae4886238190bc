"""Batch writes by each database's fastest path, inside the caller's transaction.

A tick writes thousands of rows per batch. Through SQLAlchemy's ``executemany`` every value of every row passes
its type's bind processor and the statement's parameter bookkeeping, which costs more than the database's own
work. Here the values are converted once by a small per-column function and handed to the driver directly:

- SQLite: the driver's ``executemany`` (``INSERT OR IGNORE`` / ``UPDATE ... WHERE key = ?``), timestamps as the
  naive-UTC text ``storage.types.UTCDateTime`` stores;
- PostgreSQL: ``COPY ... FROM STDIN`` into a temporary staging table, then one ``INSERT ... SELECT ... ON
  CONFLICT DO NOTHING`` (the unique key still decides, so a row is never written twice); updates as one
  ``UPDATE ... FROM unnest(...)`` with an array per column.

What is stored is exactly what the ORM path stores (tests/storage/test_bulk.py compares them row for row).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from psycopg.errors import UniqueViolation
from sqlalchemy.engine import Connection

from storage.sql import insert_ignore
from storage.types import UTCDateTime

# Below this many rows PostgreSQL takes the plain batched statement: a staging table and COPY cost more than they
# save on a handful of rows (a tick of a few leads, a test).
COPY_FROM = 200


def _sqlite_value(column: sa.Column[Any]) -> Callable[[Any], Any]:
    kind = column.type
    if isinstance(kind, UTCDateTime):

        def stamp(v: Any) -> Any:
            if v is None:
                return None
            if v.tzinfo is None:
                raise ValueError(f"naive datetime {v!r} for {column.name}: timestamps must carry a time zone")
            return v.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")

        return stamp
    if isinstance(kind, sa.Date):
        return lambda v: v.isoformat() if isinstance(v, date) else v
    if isinstance(kind, sa.Boolean):
        return lambda v: None if v is None else int(bool(v))
    if isinstance(kind, sa.Enum):
        return lambda v: v.value if isinstance(v, enum.Enum) else v
    return _same


def _pg_value(column: sa.Column[Any]) -> Callable[[Any], Any]:
    if isinstance(column.type, sa.Enum):
        return lambda v: v.value if isinstance(v, enum.Enum) else v
    if isinstance(column.type, UTCDateTime):

        def stamp(v: Any) -> Any:
            if v is not None and (not isinstance(v, datetime) or v.tzinfo is None):
                raise ValueError(f"{v!r} for {column.name}: timestamps must carry a time zone")
            return v

        return stamp
    return _same


def _rows(conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> list[tuple]:
    """The values of ``rows`` as tuples in ``columns`` order, converted column by column (``map`` over a column
    costs a fraction of a generator per row)."""
    make = _pg_value if conn.dialect.name == "postgresql" else _sqlite_value
    converted = []
    for c in columns:
        values = map(itemgetter(c), rows)
        convert = make(table.c[c])
        if convert is not _same:
            values = map(remembered(convert) if _costly(table.c[c]) else convert, values)
        converted.append(values)
    return list(zip(*converted, strict=True))


def _same(v: Any) -> Any:
    return v


def _costly(column: sa.Column[Any]) -> bool:
    return isinstance(column.type, UTCDateTime | sa.Date)


def remembered(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``convert`` remembering its answers: a batch repeats the same few timestamps (now, the day's windows)."""
    seen: dict[Any, Any] = {}

    def once(v: Any) -> Any:
        try:
            return seen[v]
        except KeyError:
            seen[v] = out = convert(v)
            return out

    return once


def driver_of(conn: Connection) -> Any:
    """The database driver's own connection under ``conn`` (in ``conn``'s transaction)."""
    driver = conn.connection.driver_connection
    assert driver is not None
    return driver


def _prepared(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> tuple[Any, str, list[tuple]]:
    """The driver's connection, the column list and the converted values of ``rows``."""
    columns = list(rows[0])
    return driver_of(conn), ", ".join(columns), _rows(conn, table, columns, rows)


def _sqlite_many(driver: Any, sql: str, values: list[tuple]) -> int:
    """``sql`` once per row of ``values`` through the driver's ``executemany``; the rows it changed."""
    cur = driver.cursor()
    try:
        cur.executemany(sql, values)
        return int(cur.rowcount)
    finally:
        cur.close()


def _sqlite_insert(driver: Any, verb: str, table: sa.Table, names: str, values: list[tuple]) -> int:
    marks = ", ".join("?" * len(values[0]))
    return _sqlite_many(driver, f"{verb} INTO {table.name} ({names}) VALUES ({marks})", values)


def _staged(cur: Any, table: sa.Table, names: str, values: list[tuple]) -> str:
    """COPY ``values`` into this connection's staging table for ``table`` (its column types, none of its
    constraints; emptied at commit, and by the caller after use) and return the staging table's name."""
    stage = f"_stage_{table.name}"
    cur.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS SELECT * FROM {table.name} WITH NO DATA"
    )
    with cur.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
        for row in values:
            copy.write_row(row)
    return stage


def _copied(cur: Any, table: sa.Table, names: str, values: list[tuple]) -> bool:
    """Try ``COPY`` straight into ``table`` inside a savepoint; False (and nothing written) if a row's unique key
    exists already. Nearly every batch is new rows only, and this is the fastest write PostgreSQL has; a batch
    that repeats a key is rolled back to the savepoint and goes through the staging table instead."""
    cur.execute("SAVEPOINT bulk_copy")
    try:
        with cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)
    except UniqueViolation:
        cur.execute("ROLLBACK TO SAVEPOINT bulk_copy")
        cur.execute("RELEASE SAVEPOINT bulk_copy")
        return False
    cur.execute("RELEASE SAVEPOINT bulk_copy")
    return True


def insert_new(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]], key: str | tuple[str, ...]) -> int:
    """Insert ``rows`` (each with the same keys), skipping any whose unique ``key`` (a column, or the columns of
    a unique constraint) exists already; return how many were new."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql" and len(rows) < COPY_FROM:
        return insert_ignore(conn, table, rows, key)
    driver, names, values = _prepared(conn, table, rows)
    if conn.dialect.name != "postgresql":
        return _sqlite_insert(driver, "INSERT OR IGNORE", table, names, values)
    with driver.cursor() as cur:
        if _copied(cur, table, names, values):
            return len(values)
        stage = _staged(cur, table, names, values)
        cur.execute(
            f"WITH new AS (INSERT INTO {table.name} ({names}) SELECT {names} FROM {stage} "
            f"ON CONFLICT ({key if isinstance(key, str) else ', '.join(key)}) DO NOTHING RETURNING 1) "
            "SELECT count(*) FROM new"
        )
        found = cur.fetchone()
        cur.execute(f"DELETE FROM {stage}")
    return int(found[0]) if found else 0


def insert_rows(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Append ``rows`` (each with the same keys) to a table with no unique key to respect (a log)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql" and len(rows) < COPY_FROM:
        conn.execute(table.insert(), list(rows))
        return
    driver, names, values = _prepared(conn, table, rows)
    if conn.dialect.name != "postgresql":
        _sqlite_insert(driver, "INSERT", table, names, values)
        return
    with driver.cursor() as cur, cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in values:
            copy.write_row(row)


def update_by_key(conn: Connection, table: sa.Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """Set each row's other columns on the row of ``table`` whose ``key`` column equals the row's ``key``."""
    if not rows:
        return
    columns = list(rows[0])
    others = [c for c in columns if c != key]
    if conn.dialect.name != "postgresql":
        sets = ", ".join(f"{c} = ?" for c in others)
        values = _rows(conn, table, [*others, key], rows)
        _sqlite_many(driver_of(conn), f"UPDATE {table.name} SET {sets} WHERE {key} = ?", values)
        return
    if len(rows) < COPY_FROM:
        update = table.update().where(table.c[key] == sa.bindparam(f"b_{key}"))
        conn.execute(
            update.values({c: sa.bindparam(f"b_{c}") for c in others}),
            [{f"b_{c}": v for c, v in row.items()} for row in rows],
        )
        return
    driver, names, values = _prepared(conn, table, rows)
    sets = ", ".join(f"{c} = s.{c}" for c in others)
    with driver.cursor() as cur:
        stage = _staged(cur, table, names, values)
        # The ANY(...) lets the planner reach the rows by their index: joined to the staging table alone (no
        # statistics) it would hash the whole target table for every batch.
        cur.execute(
            f"UPDATE {table.name} AS t SET {sets} FROM {stage} AS s WHERE t.{key} = s.{key} "
            f"AND t.{key} = ANY(ARRAY(SELECT {key} FROM {stage}))"
        )
        cur.execute(f"DELETE FROM {stage}")

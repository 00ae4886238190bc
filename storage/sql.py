"""Small SQL helpers that differ by dialect."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def insert_ignore(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]], key: str) -> int:
    """Insert ``rows``, skipping any whose unique ``key`` already exists. Returns how many were new."""
    if not rows:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).on_conflict_do_nothing(index_elements=[key]).returning(table.c[key])
    return len(conn.execute(stmt, list(rows)).all())  # rowcount is -1 for batched inserts on PostgreSQL


def for_update(query: sa.Select[Any], conn: Connection, *, of: sa.Table) -> sa.Select[Any]:
    """Lock claimed rows on PostgreSQL so concurrent workers skip them; SQLite serializes writers anyway."""
    if conn.dialect.name == "postgresql":
        return query.with_for_update(of=of, skip_locked=True)
    return query

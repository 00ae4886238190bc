"""Write transactions that serialize the decisions that must not interleave, on both databases.

One lock order everywhere: the lead rows first (ascending id), then whatever belongs to them (touches,
suppressions, tasks). The STOP handler and the send that may race it both take the lead first, so an
opt-out and a send to the same person are strictly ordered and can never deadlock each other.

On PostgreSQL the lead rows are locked with ``SELECT ... FOR UPDATE``. SQLite has one writer at a time:
``write_transaction`` begins ``IMMEDIATE`` (the write lock is taken before the first read) and, inside one
process, threads queue on a lock instead of spinning in SQLite's busy handler.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Collection, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from storage.models import Lead, table
from storage.sql import among

_lead = table(Lead)
_sqlite_writers: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def _writer_lock(engine: Engine) -> threading.Lock:
    with _guard:
        lock = _sqlite_writers.get(engine)
        if lock is None:
            lock = _sqlite_writers[engine] = threading.Lock()
        return lock


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the database's write lock from its first statement (SQLite) or is an
    ordinary transaction that locks rows as it goes (PostgreSQL). Commits on success."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with _writer_lock(engine), engine.begin() as conn:
        # The driver begins a transaction lazily, at the first write; beginning it here, IMMEDIATE, takes the
        # write lock before the first read (a read-then-write can then neither interleave nor fail to upgrade).
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


def lock_leads(conn: Connection, lead_ids: Collection[int]) -> None:
    """Lock the rows of ``lead_ids`` (ascending id) until the transaction ends. A no-op on SQLite, where
    ``write_transaction`` already holds the only write lock."""
    if conn.dialect.name != "postgresql" or not lead_ids:
        return
    ids = sorted(set(lead_ids))
    query = sa.select(_lead.c.id).where(among(conn, _lead.c.id, ids)).order_by(_lead.c.id).with_for_update()
    conn.execute(query).all()

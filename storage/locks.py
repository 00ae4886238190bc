"""Write transactions that serialize the decisions that must not interleave, on both databases.

One lock order everywhere: the lead rows first (ascending id), then an address (``lock_address``, taken only
by opt-outs), then whatever belongs to the leads (touches, suppressions, tasks, positions). The STOP handler
and the send that may race it both take the lead first, so an opt-out and a send to the same person are
strictly ordered and can never deadlock each other. A claim that locks many leads at once (the tick) uses
``SKIP LOCKED``: it never waits, so the order it meets them in does not matter.

On PostgreSQL the lead rows are locked with ``SELECT ... FOR UPDATE``. SQLite has one writer at a time:
``write_transaction`` begins ``IMMEDIATE`` (the write lock is taken before the first read) and, inside one
process, threads queue on a lock instead of spinning in SQLite's busy handler.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

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


def lock_address(conn: Connection, address: str) -> None:
    """Serialize the decisions about one phone number or email address until the transaction ends, also when no
    lead has it (an opt-out from a stranger's number is still answered once). Taken after the lead rows.
    PostgreSQL: a transaction-scoped advisory lock on a hash of the address; a no-op on SQLite."""
    _named_lock(conn, f"address:{address}")


def address_lock(address: str | sa.ColumnElement[str]) -> sa.ColumnElement[Any]:
    """PostgreSQL: the expression that takes :func:`lock_address`'s lock, for a query that does more besides
    (``address`` may be a bound parameter)."""
    if isinstance(address, str):
        return _lock_expression(f"address:{address}")
    return _lock_expression(sa.literal("address:", sa.Text()) + address)


def lock_lender_guidelines(conn: Connection, lender: str) -> None:
    """Serialize the guideline loads of one lender until the transaction ends, so the same feed posted twice at
    once stores one snapshot (the second load sees the first). Takes no lead lock: a load only adds snapshots.
    PostgreSQL: an advisory lock on a hash of the lender; a no-op on SQLite (``write_transaction``)."""
    _named_lock(conn, f"guidelines:{lender}")


def _named_lock(conn: Connection, name: str) -> None:
    if conn.dialect.name != "postgresql":
        return
    conn.execute(sa.select(_lock_expression(name)))


def _lock_expression(name: str | sa.ColumnElement[str]) -> sa.ColumnElement[Any]:
    return sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(name, 0))

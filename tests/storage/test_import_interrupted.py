"""An import the database fails under part way says exactly which lines are in, and running it again finishes it;
on SQLite and PostgreSQL (the ``engine`` fixture), with real faults: PostgreSQL's connection terminated by
``pg_terminate_backend`` from another session, SQLite's write lock held by another connection."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.db import make_engine
from storage.importer import ImportInterrupted, import_leads
from storage.models import Lead, table
from tests.conftest import PG_URL
from tests.factories import NOW, lead_row, write_rows

_lead = table(Lead)
BATCH = 10


def external_ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(_lead.c.external_id).order_by(_lead.c.external_id)).scalars())


def a_file(tmp_path: Path) -> Path:
    """25 rows on lines 2-26, the one on line 3 bad: with batches of 10, the first batch ends on line 12."""
    rows = [lead_row(external_id=f"E{n:02d}", phone=f"305-456-{n:04d}") for n in range(2, 27)]
    rows[1]["fico"] = "912"
    return write_rows(tmp_path / "leads.csv", rows)


def _terminate(pid: int) -> None:
    """End PostgreSQL backend ``pid`` from another session, and wait until it is gone."""
    admin = make_engine(PG_URL)  # type: ignore[arg-type]
    with admin.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        for _ in range(200):
            if not conn.execute(sa.text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).first():
                break
            time.sleep(0.01)
    admin.dispose()


@contextmanager
def database_fails(engine: Engine, *, on: str) -> Iterator[Engine]:
    """An engine on ``engine``'s database that fails once the first batch is committed: at the next INSERT
    (``on="write"``) or the next COMMIT (``on="commit"``)."""
    url = engine.url.render_as_string(hide_password=False)
    sqlite_lock: list[sqlite3.Connection] = []
    # SQLite meets the other connection's lock after 0.2 s, not 30
    failing = make_engine(url, **({"connect_args": {"timeout": 0.2}} if engine.dialect.name == "sqlite" else {}))
    commits = 0

    def fault(conn: sa.Connection) -> None:
        if engine.dialect.name == "postgresql":
            _terminate(conn.connection.dbapi_connection.info.backend_pid)  # type: ignore[union-attr]
        elif not sqlite_lock:
            other = sqlite3.connect(engine.url.database, isolation_level=None)  # type: ignore[arg-type]
            other.execute("BEGIN EXCLUSIVE")
            sqlite_lock.append(other)

    @sa.event.listens_for(failing, "commit")
    def _commit(conn: sa.Connection) -> None:
        nonlocal commits
        commits += 1
        if on == "commit" and commits == 2:
            if engine.dialect.name == "sqlite":
                raise sqlite3.OperationalError("disk I/O error")
            fault(conn)

    @sa.event.listens_for(failing, "before_cursor_execute")
    def _write(conn: sa.Connection, cursor, statement: str, *_: object) -> None:  # type: ignore[no-untyped-def]
        if on == "write" and commits == 1 and statement.startswith("INSERT INTO lead"):
            fault(conn)

    try:
        yield failing
    finally:
        for other in sqlite_lock:
            other.rollback()
            other.close()
        failing.dispose()


def test_a_database_failure_mid_import_names_the_lines_in_and_a_rerun_imports_the_rest_once(engine, tmp_path):
    path = a_file(tmp_path)

    with database_fails(engine, on="write") as failing, pytest.raises(ImportInterrupted) as caught:
        import_leads(engine=failing, path=path, now=NOW, batch_size=BATCH)

    stopped = caught.value
    assert (stopped.summary.done_through, stopped.stopped_at, stopped.in_doubt) == (12, 13, False)
    first, second = str(stopped).splitlines()
    assert first.startswith("stopped at line 13: database: ")  # and the driver's words: terminated, locked
    assert engine.dialect.name != "sqlite" or first.endswith("database is locked")
    assert second == (
        "lines 2-12 are imported (10 new, 0 updated); nothing from line 13 on is. Run the same import again to "
        "finish: rows already imported are recognised and left unchanged"
    )
    in_first_batch = [f"E{n:02d}" for n in range(2, 13) if n != 3]
    assert external_ids(engine) == in_first_batch

    again = import_leads(engine=engine, path=path, now=NOW, batch_size=BATCH)

    assert (again.created, again.unchanged, again.rejected, again.done_through) == (14, 10, 1, 26)
    assert external_ids(engine) == [f"E{n:02d}" for n in range(2, 27) if n != 3]


def test_a_failure_while_committing_leaves_that_batch_in_doubt_and_a_rerun_settles_it(engine, tmp_path):
    path = a_file(tmp_path)

    with database_fails(engine, on="commit") as failing, pytest.raises(ImportInterrupted) as caught:
        import_leads(engine=failing, path=path, now=NOW, batch_size=BATCH)

    stopped = caught.value
    assert (stopped.summary.done_through, stopped.stopped_at, stopped.in_doubt_through) == (12, 13, 22)
    assert (
        "lines 2-12 are imported (10 new, 0 updated); lines 13-22 may be (it failed while committing them), "
        "nothing after line 22 is. Run the same import again" in str(stopped)
    )

    again = import_leads(engine=engine, path=path, now=NOW, batch_size=BATCH)

    assert again.rejected == 1 and again.created + again.unchanged == 24
    assert external_ids(engine) == [f"E{n:02d}" for n in range(2, 27) if n != 3]

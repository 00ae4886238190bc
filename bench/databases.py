"""Fresh, migrated databases for the dispatch and reliability benchmarks: a SQLite file in ``bench/out``, or a
schema of its own in the PostgreSQL database the URL names (dropped first if a run left it behind)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.db import make_engine, upgrade

OUT = Path(__file__).resolve().parent / "out"


@contextmanager
def fresh_database(db: str, name: str, pg_url: str, *, keep: bool = False) -> Iterator[tuple[str, Engine]]:
    """Yield ``(url, engine)`` of an empty migrated database called ``name``; drop it afterwards unless ``keep``."""
    url = _create(db, name, pg_url)
    engine = make_engine(url)
    upgrade(engine)
    try:
        yield url, engine
    finally:
        engine.dispose()
        if not keep:
            _drop(db, name, pg_url)


def _schema(name: str) -> str:
    return f"dripline_bench_{name}"


def _create(db: str, name: str, pg_url: str) -> str:
    _drop(db, name, pg_url)
    if db == "sqlite":
        OUT.mkdir(exist_ok=True)
        return f"sqlite:///{OUT / f'{name}.db'}"
    admin = make_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{_schema(name)}"'))
    url = admin.url.update_query_dict({"options": f"-csearch_path={_schema(name)}"})
    admin.dispose()
    return url.render_as_string(hide_password=False)


def _drop(db: str, name: str, pg_url: str) -> None:
    if db == "sqlite":
        for f in OUT.glob(f"{name}.db*"):  # with its -wal and -shm files
            f.unlink()
        return
    admin = make_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{_schema(name)}" CASCADE'))
    admin.dispose()

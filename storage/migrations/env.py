"""Alembic environment: runs against the engine handed in by storage.db.upgrade (or, for the plain ``alembic``
command, the ``sqlalchemy.url`` option or ``DRIPLINE_DATABASE_URL``)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    import os

    from storage.db import make_engine

    url = config.get_main_option("sqlalchemy.url") or os.environ.get("DRIPLINE_DATABASE_URL")
    if not url:
        raise SystemExit("set sqlalchemy.url or DRIPLINE_DATABASE_URL, or run `dripline init`")
    engine = make_engine(url)

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite alters a table by copying it; with foreign keys enforced, dropping the old copy of a
        # referenced table fails. The pragma only takes effect outside a transaction.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    with connection.begin():
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration left rows with dangling foreign keys: {broken[:5]}")
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()

"""Alembic environment: runs against the engine handed in by storage.db.upgrade."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    from dripline.settings import get_settings
    from storage.db import make_engine

    engine = make_engine(get_settings().database_url)

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()

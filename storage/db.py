"""Engine, sessions and schema upgrades."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class DatabaseURLError(ValueError):
    """The database URL cannot be used: not a URL, or a driver SQLAlchemy does not have."""


class DatabaseNotReady(RuntimeError):
    """The database does not exist yet, has no schema, or its schema is behind: ``dripline init`` fixes it."""


class DatabaseUnreachable(RuntimeError):
    """Connecting to the database failed (server down, wrong host, no permission)."""


def shown_url(url: str) -> str:
    """``url`` with any password hidden, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return re.sub(r":[^:@/]*@", ":***@", url)


def make_engine(url: str, **kwargs: object) -> Engine:
    """An engine for ``url``. SQLite gets WAL, foreign keys and a busy timeout.

    Raises :class:`DatabaseURLError` for a URL SQLAlchemy cannot use.
    """
    try:
        return _make_engine(url, **kwargs)
    except sa.exc.ArgumentError as exc:  # NoSuchModuleError too: an unknown dialect or driver
        why = str(exc).splitlines()[0]
        raise DatabaseURLError(
            f"{shown_url(url)!r} is not a database URL dripline can use ({why}); "
            "e.g. sqlite:///./dripline.db or postgresql://user@host/db"
        ) from exc


def _make_engine(url: str, **kwargs: object) -> Engine:
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = sa.create_engine(url, **kwargs)  # type: ignore[arg-type]

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)  # type: ignore[arg-type]


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema. Safe to run any number of times."""
    from alembic import command  # alembic takes ~0.15 s to import: only the commands that migrate load it

    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The schema revision stored in the database (None: no dripline schema)."""
    with engine.connect() as conn:
        return _stored_revision(conn)


def _stored_revision(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


_REVISION = re.compile(r"""^(down_revision|revision) = (?:['"]([^'"]*)['"]|None)""", re.MULTILINE)


def head_revision() -> str | None:
    """The newest migration, read from the migration files (their one ``revision``/``down_revision`` lines;
    tests/storage/test_migrations.py checks it against alembic's own answer)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for name, value in _REVISION.findall(path.read_text()):
            (revisions if name == "revision" else parents).add(value)
    heads = revisions - parents
    return max(heads) if heads else None


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (None for an in-memory database or another backend)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.database.startswith("file:") or parsed.query.get("mode") == "memory":
        return None
    return Path(parsed.database)


def check_database(url: str) -> None:
    """Refuse a database dripline cannot work on, creating nothing: a SQLite file that does not exist, a
    database without dripline's schema or with an older one (:class:`DatabaseNotReady`), a server that cannot
    be reached (:class:`DatabaseUnreachable`) or a URL that is not one (:class:`DatabaseURLError`)."""
    engine = make_engine(url)  # checks the URL before anything is touched
    shown = shown_url(url)
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise DatabaseNotReady(f"database {shown}: {path} does not exist; run `dripline init` to create it")
    try:
        with engine.connect() as conn:
            current = _stored_revision(conn)
    except sa.exc.DBAPIError as exc:
        raise DatabaseUnreachable(f"database {shown}: cannot connect: {first_line(exc.orig)}") from exc
    finally:
        engine.dispose()
    head = head_revision()
    if current is None:
        raise DatabaseNotReady(f"database {shown} has no dripline tables; run `dripline init` to create them")
    if current != head:
        raise DatabaseNotReady(
            f"database {shown} is at schema revision {current}, this dripline needs {head}; "
            "run `dripline init` to upgrade it"
        )


def first_line(exc: BaseException | None) -> str:
    """The first non-blank line of an exception's message (a driver's error can run to many lines)."""
    text = str(exc or "").strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

"""Shared fixtures. Every storage test runs on SQLite and, when
DRIPLINE_TEST_DATABASE_URL is set, on PostgreSQL too, from the same test code."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from prefect.logging.configuration import setup_logging
from sqlalchemy.engine import Engine
from sqlmodel import Session

from flows.common import forget_pipelines
from service.settings import get_settings
from storage.db import make_engine, upgrade
from tests.factories import clear_database

# Prefect binds its console log handler to sys.stderr when it first configures logging. Do it now, on
# pytest's stream, not lazily inside a CliRunner invocation whose stream is closed once it returns.
setup_logging()

PG_URL = os.environ.get("DRIPLINE_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under CI, PostgreSQL is required: an unreachable server fails the run instead of skipping."""
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        return
    if not PG_URL:
        pytest.exit("CI=true but DRIPLINE_TEST_DATABASE_URL is not set: PostgreSQL tests would not run", returncode=3)
    try:
        engine = make_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect must stop CI loudly
        pytest.exit(f"CI=true and PostgreSQL at DRIPLINE_TEST_DATABASE_URL is unreachable: {exc}", returncode=3)


def _pg_engine(schema: str) -> Engine:
    assert PG_URL
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    url = sa.engine.make_url(make_engine(PG_URL).url).update_query_dict({"options": f"-csearch_path={schema}"})
    return make_engine(url.render_as_string(hide_password=False))


@contextmanager
def _database(backend: str, folder: Path, name: str, *, migrated: bool = True) -> Iterator[Engine]:
    """A fresh database on ``backend``: a SQLite file in ``folder``, or a throw-away PostgreSQL schema."""
    schema = None
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{folder / f'{name}.db'}")
    else:
        schema = f"{name}_{uuid.uuid4().hex[:10]}"
        engine = _pg_engine(schema)
    if migrated:
        upgrade(engine)
    yield engine
    engine.dispose()
    if schema is not None:
        _drop_schema(schema)


@pytest.fixture(scope="session", params=BACKENDS)
def _migrated_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with _database(request.param, tmp_path_factory.mktemp("db"), "dripline_test") as engine:
        yield engine


@pytest.fixture(params=BACKENDS)
def blank_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database with no schema at all (SQLite, then PostgreSQL), for migration tests."""
    with _database(request.param, tmp_path, "dripline_blank", migrated=False) as engine:
        yield engine


def _drop_schema(schema: str) -> None:
    admin = make_engine(PG_URL)  # type: ignore[arg-type]
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def engine(_migrated_engine: Engine) -> Iterator[Engine]:
    """A migrated, empty database (SQLite, then PostgreSQL)."""
    yield _migrated_engine
    clear_database(_migrated_engine)


@pytest.fixture
def twin_engine(engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    """A second migrated, empty database on ``engine``'s backend: the same work done there, another way, is
    what a test compares with."""
    with _database(engine.dialect.name, tmp_path, "dripline_twin") as twin:
        yield twin


@pytest.fixture
def database_url(engine: Engine) -> str:
    """The URL of the ``engine`` database, for code that opens its own engine (flows, CLI)."""
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def backend(engine: Engine) -> str:
    return engine.dialect.name


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield
    # The harness stops its server after our logs are torn down; keep its shutdown chatter out of the output.
    logging.getLogger("prefect").setLevel(logging.CRITICAL)


@pytest.fixture
def app_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point dripline's settings at the test database and a fresh outbox folder; small batches."""
    outbox = tmp_path / "outbox"
    monkeypatch.setenv("DRIPLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("DRIPLINE_OUTBOX_DIR", str(outbox))
    monkeypatch.setenv("DRIPLINE_BATCH_SIZE", "2")
    get_settings.cache_clear()
    forget_pipelines()
    yield outbox
    forget_pipelines()
    get_settings.cache_clear()

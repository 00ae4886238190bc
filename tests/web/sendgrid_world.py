"""What the SendGrid and unsubscribe tests share: a fixed clock, an app on the test database, a lead with an email
address, and every table's row count (what "changes nothing" is checked against)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from service.settings import Settings, get_settings
from storage.models import Suppression, Touch, table
from web.app import create_app

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in Miami


def settings_with(monkeypatch: pytest.MonkeyPatch, **values: str) -> Settings:
    """The ``app_env`` settings (test database, outbox) with ``values`` set as the environment would."""
    for name, value in values.items():
        monkeypatch.setenv(f"DRIPLINE_{name.upper()}", value)
    get_settings.cache_clear()
    return get_settings()


@contextmanager
def client_for(settings: Settings, now: datetime = NOW) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=lambda: now), raise_server_exceptions=False) as client:
        yield client


def row_counts(engine: Engine) -> dict[str, Any]:
    """Every table's row count, and the touches by status: equal before and after means nothing changed."""
    with engine.connect() as conn:
        counts: dict[str, Any] = {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in SQLModel.metadata.sorted_tables
        }
        touch = table(Touch)
        counts["touch statuses"] = dict(
            conn.execute(sa.select(touch.c.status, sa.func.count()).group_by(touch.c.status)).all()
        )
    return counts


def email_opted_out(engine: Engine, *, address: str | None = None, lead_id: int | None = None) -> list[str]:
    """The sources of the email opt-outs recorded for ``address`` or ``lead_id``."""
    sup = table(Suppression)
    where = sup.c.address == address if address is not None else sup.c.lead_id == lead_id
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sup.c.source, sup.c.channel, sup.c.action).where(where)).all()
    return [r.source for r in rows if r.channel == "email" and r.action == "opt_out"]


def insert_touch(engine: Engine, *, lead_id: int, key: str, status: str, channel: str = "email") -> None:
    """A touch whose send began at NOW - 10 minutes in ``status`` (e.g. ``unknown``: no answer was recorded)."""
    began = NOW - timedelta(minutes=10)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(table(Touch)).values(
                key=key, lead_id=lead_id, step_id="d1-email", channel=channel, template="education",
                scheduled_for=began, not_after=began + timedelta(hours=8), status=status, reason="",
                to_address="x@example.com", send_started_at=began, attempts=1, decisions="", created_at=began,
                updated_at=began,
            )
        )  # fmt: skip


def touch_row(engine: Engine, key: str) -> Any:
    touch = table(Touch)
    with engine.connect() as conn:
        return conn.execute(sa.select(touch).where(touch.c.key == key)).one()

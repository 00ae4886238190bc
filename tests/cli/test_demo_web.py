"""The demo's closing step: the web app on the demo's database, and a sign-in link that works. SQLite and
PostgreSQL."""

from __future__ import annotations

import io
import re
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.engine import Engine

from dripline.demo_web import LATE_MORNING, MORNING_LEADS, busiest_officer, morning_batch, running_from, serve_demo_web
from nurture.actions import TaskKind, TaskStatus
from service.settings import Settings
from storage.models import CallTask, Lead, table
from storage.officers import OfficerSettings, add_officer
from tests.factories import insert_lead
from tests.waiting import wait_for

AT = datetime(2026, 6, 30, 13, 0, tzinfo=UTC)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _task(engine: Engine, lead_id: int, officer_id: int, n: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.insert(table(CallTask)).values(
                key=f"t{lead_id}-{n}",
                lead_id=lead_id,
                loan_officer_id=officer_id,
                kind=TaskKind.CADENCE.value,
                template="calls/intro",
                due_at=AT,
                status=TaskStatus.OPEN.value,
                created_at=AT,
            )
        )


def test_the_busiest_officer_gets_a_link_that_signs_in(engine: Engine, database_url: str) -> None:
    quiet = add_officer(engine=engine, name="Quiet One", email="quiet@example.com", nmls_id="1", now=AT)
    busy = add_officer(engine=engine, name="Busy One", email="busy@example.com", nmls_id="2", now=AT)
    assert quiet.id is not None and busy.id is not None
    lead = insert_lead(engine)
    _task(engine, lead, quiet.id, 1)
    for n in range(3):
        _task(engine, lead, busy.id, n + 2)
    assert busiest_officer(engine) == (busy.id, "Busy One")

    out = io.StringIO()
    port = _free_port()
    settings = Settings(database_url=database_url, channel="local")
    serving = threading.Thread(
        target=serve_demo_web, args=(settings, engine),
        kwargs={"at": AT, "port": port, "serve_for": 6.0, "console": Console(file=out, width=400)},
    )  # fmt: skip
    serving.start()
    try:
        wait_for("the sign-in link", lambda: "/signin/" in out.getvalue(), 30)
        [link] = re.findall(rf"http://127\.0\.0\.1:{port}/signin/\S+", out.getvalue())
        assert "Sign in as Busy One" in out.getvalue()
        signed = httpx.post(link, follow_redirects=False, timeout=10)
        assert signed.status_code == 303 and signed.headers["location"] == "/calls"
        assert httpx.post(link, follow_redirects=False, timeout=10).status_code == 403  # once only
    finally:
        serving.join(timeout=40)


def test_the_demo_clock_starts_where_the_simulation_ended() -> None:
    clock = running_from(AT)
    first = clock()
    time.sleep(0.05)
    assert AT <= first < AT + timedelta(seconds=1) and clock() > first


def test_the_morning_after_opens_the_days_first_calls(engine: Engine, database_url: str, tmp_path) -> None:
    monday = datetime(2026, 3, 16, 13, 0, tzinfo=UTC)  # 9:00 in New York: the day's first calls are at 10:00
    add_officer(engine=engine, name="Dana Whitfield", email="dana@example.com", nmls_id="1456789", now=monday,
                settings=OfficerSettings(licensed_states="all", max_open_tasks=1000))  # fmt: skip
    out = io.StringIO()
    settings = Settings(database_url=database_url, channel="local", outbox_dir=tmp_path / "outbox")
    at = morning_batch(settings, engine, at=monday, folder=tmp_path, console=Console(file=out, width=400))
    assert at == monday + LATE_MORNING
    with engine.connect() as conn:
        leads = conn.execute(sa.select(sa.func.count()).select_from(table(Lead))).scalar_one()
        open_calls = conn.execute(
            sa.select(sa.func.count()).select_from(table(CallTask)).where(table(CallTask).c.status == "open")
        ).scalar_one()
    assert leads == MORNING_LEADS and open_calls > 0
    assert f"{MORNING_LEADS} fresh leads imported" in out.getvalue() and f"{open_calls} calls open" in out.getvalue()

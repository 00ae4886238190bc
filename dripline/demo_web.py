"""The end of ``dripline demo``: the web app on the demo's database, and a sign-in link for one loan officer.

The app's clock starts where the simulation ended and runs on from there, so "My calls" shows the demo's last
day as today. Nothing here runs for a real deployment (``dripline web`` does that).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.engine import Engine

from nurture.actions import TaskStatus
from service.settings import Settings
from service.synthetic import generate_leads, write_csv
from storage.importer import import_leads
from storage.models import CallTask, LoanOfficer, table
from storage.officers import open_task_counts
from storage.signin import create_sign_in_link
from web.app import create_app
from web.server import Background, WebServerError

_task, _officer = table(CallTask), table(LoanOfficer)


def running_from(at: datetime) -> Callable[[], datetime]:
    """A clock that reads ``at`` now and moves on in real time."""
    began = time.monotonic()
    return lambda: at + timedelta(seconds=time.monotonic() - began)


def busiest_officer(engine: Engine) -> tuple[int, str] | None:
    """The active officer with the most open call tasks (id, name), ties to the lowest id; None without one."""
    with engine.connect() as conn:
        counts = open_task_counts(conn)
        active = conn.execute(
            sa.select(_officer.c.id, _officer.c.name).where(_officer.c.active.is_(True)).order_by(_officer.c.id)
        ).all()
    if not active:
        return None
    best = max(active, key=lambda r: (counts.get(r.id, 0), -r.id))
    return best.id, best.name


MORNING_LEADS = 24
LATE_MORNING = timedelta(hours=3)  # the simulation ends at 9:00 on the east coast; the day's first calls are at 10
MORNING_SEED = 1_000_003  # a stream of its own: no lead of the simulated months comes again


def morning_batch(settings: Settings, engine: Engine, *, at: datetime, folder: Path, console: Console) -> datetime:
    """The morning after the simulation: a fresh purchase of aged leads imported at ``at`` and one tick
    ``LATE_MORNING`` later, as the cadence-tick deployment would run it, so the officers' first calls of the day
    are open on "My calls" (the simulated officers worked every call of the months before). Returns the tick's
    time, where the web app's clock starts."""
    from service.pipeline import Pipeline, tick

    path = folder / "morning-leads.csv"
    write_csv(generate_leads(MORNING_LEADS, seed=MORNING_SEED, as_of=at.date()), path)
    summary = import_leads(engine=engine, path=path, now=at)
    later = at + LATE_MORNING
    p = Pipeline.open(settings, now=later)
    try:
        tick(p, now=later)
    finally:
        p.engine.dispose()
    with engine.connect() as conn:
        open_calls = conn.execute(
            sa.select(sa.func.count()).select_from(_task).where(_task.c.status == TaskStatus.OPEN.value)
        ).scalar_one()
    console.print(f"the morning after: {summary.created} fresh leads imported from {path}; {open_calls} calls open")
    return later


def serve_demo_web(
    settings: Settings, engine: Engine, *, at: datetime, port: int, serve_for: float | None, console: Console
) -> None:
    """Serve the demo's web app on 127.0.0.1:``port`` and print a sign-in link; until Ctrl-C (``serve_for`` None)
    or for ``serve_for`` seconds. A busy port is reported in one line and the demo still ends well."""
    officer = busiest_officer(engine)
    if officer is None:
        console.print("web app: no loan officer to sign in as")
        return
    where = f"http://127.0.0.1:{port}"
    clock = running_from(at)
    app = create_app(settings.model_copy(update={"public_base_url": where}), clock=clock)
    with engine.begin() as conn:
        token = create_sign_in_link(conn, officer_id=officer[0], now=clock(), next_path="/calls")
    link = f"{where}/signin/{token}"
    try:
        with Background(app, "127.0.0.1", port):
            shown = httpx.get(link, timeout=10)  # the page answers (a GET spends nothing)
            if shown.status_code != 200:
                console.print(f"web app: the sign-in page answered {shown.status_code}")
                return
            console.print(
                f"\nThe loan officers' web app is running on {where} for this database.\n"
                f"Sign in as {officer[1]} (their calls, on a phone-sized window): {link}\n"
                + _until(serve_for, settings, port)
            )
            try:
                deadline = None if serve_for is None else time.monotonic() + serve_for
                while deadline is None or time.monotonic() < deadline:
                    time.sleep(0.2)
            except KeyboardInterrupt:
                console.print("web app stopped")
    except WebServerError as exc:
        console.print(f"web app: {exc}; serve it later with: dripline --db {settings.database_url} web")


def _until(serve_for: float | None, settings: Settings, port: int) -> str:
    if serve_for is None:
        return "Press Ctrl-C to stop it."
    again = f"serve it again with `dripline --db {settings.database_url} web --port {port}` and open the link"
    return f"It stops now; {again}." if serve_for == 0 else f"It stops in {serve_for:.0f} s; then {again}."

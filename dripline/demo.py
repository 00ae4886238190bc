"""``dripline demo``: the whole job on the embedded default, in a folder of its own."""

from __future__ import annotations

import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from dripline.report_view import print_report, print_scrubs
from flows.local_server import LocalServer
from nurture.guidelines import parse_feed
from service.report import report_payload
from service.settings import Settings, shipped
from service.simulate import demo_settings
from service.synthetic import MIXED_AGES, generate_leads, write_csv
from storage.db import make_engine, upgrade
from storage.guidelines import load_snapshot
from storage.importer import import_leads
from storage.officers import OfficerSettings, add_officer

DEMO_START = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # a Monday morning on the east coast
# Two lenders' guideline sheets are in force from the start; on June 2 one of them lowers a minimum credit
# score and shortens a bankruptcy wait, which re-engages the aged leads that change makes eligible.
GUIDELINES_IN_FORCE = shipped("guidelines") / "examples" / "harbor-2026-02.json"
GUIDELINE_FEEDS = (
    (datetime(2026, 6, 2, 13, 30, tzinfo=UTC), shipped("guidelines") / "examples" / "harbor-2026-06.csv"),
)
SCRUB_EVERY_DAYS = 7  # marketing ops send the numbers waiting on a DNC scrub to the vendor every Monday
OFFICERS = (
    ("Dana Whitfield", "dana.whitfield@example.com", "1456789"),
    ("Luis Carranza", "luis.carranza@example.com", "1876543"),
    ("Priya Raman", "priya.raman@example.com", "2034567"),
    ("Marcus Bell", "marcus.bell@example.com", "1199887"),
)


def _reach_prefect_api(server: LocalServer | None) -> None:
    """Wait for the demo's own Prefect server, if it started one, then connect to the API (with no server
    configured at all, this starts Prefect's ephemeral one)."""
    if server is not None:
        server.wait_until_up()
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.api_healthcheck()


def run_demo(
    *,
    out: Path,
    leads: int,
    days: int,
    seed: int,
    cost_per_lead: float,
    console: Console,
    server: LocalServer | None = None,
) -> tuple[Settings, datetime]:
    """Run the demo into ``out``; return its settings and the simulated moment it ended."""
    started = time.monotonic()
    # A Prefect server takes 8-24 s to start: let it start while the leads are generated and imported.
    warm_up = threading.Thread(target=_reach_prefect_api, args=(server,), name="prefect-warm-up", daemon=True)
    warm_up.start()
    out = out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    settings = demo_settings(out)
    db_url = settings.database_url
    engine = make_engine(db_url)
    upgrade(engine)
    licensed = OfficerSettings(licensed_states="all", max_open_tasks=1000)  # the demo's leads come from every state
    for name, email, nmls in OFFICERS:
        add_officer(engine=engine, name=name, email=email, phone=None, nmls_id=nmls, now=DEMO_START, settings=licensed)

    in_force = parse_feed(GUIDELINES_IN_FORCE.read_text(encoding="utf-8"), format="json")
    load_snapshot(engine=engine, programs=in_force, source=GUIDELINES_IN_FORCE.name, loaded_by="demo", now=DEMO_START)

    csv_path = out / "leads.csv"
    write_csv(generate_leads(leads, seed=seed, as_of=DEMO_START.date(), ages=MIXED_AGES), csv_path)
    summary = import_leads(engine=engine, path=csv_path, now=DEMO_START)
    console.print(f"imported {summary.created} synthetic aged leads ({summary.rejected} rejected) from {csv_path}")
    console.print(f"simulating {days} days from {DEMO_START:%Y-%m-%d} as a Prefect flow (hourly tick + dispatch)...")

    from flows.demo import simulate_days

    warm_up.join()

    feeds = [(at, str(path)) for at, path in GUIDELINE_FEEDS if at < DEMO_START + timedelta(days=days)]
    result = simulate_days(
        folder=str(out),
        start=DEMO_START,
        days=days,
        seed=seed,
        guideline_feeds=feeds,
        scrub_every_days=SCRUB_EVERY_DAYS,
    )
    payload = report_payload(engine, cost_per_lead=cost_per_lead)
    print_report(payload, console, guideline_loads=result["guideline_loads"])
    print_scrubs(result["dnc_scrubs"], console)
    end = DEMO_START + timedelta(days=days)
    console.print(
        f"\n{result['sent']} messages sent through the local outbox, {result['call_tasks']} call tasks, "
        f"{DEMO_START:%Y-%m-%d} to {end:%Y-%m-%d}, in {time.monotonic() - started:.0f} s.\n"
        f"Files: database {out / 'dripline.db'}\n"
        f"       outbox  {settings.outbox_dir}  (one readable file per message)\n"
        f"       leads   {csv_path}\n"
        f"Explore: dripline --db {db_url} report | tasks --status all | outbox --lead 1"
    )
    return settings, end

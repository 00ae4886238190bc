"""The officer pages under a full book: ``python -m bench --what pages [--db sqlite|postgresql|both] [--requests 300]``.

A fresh database holds 20 officers and 10,000 leads with an open call task each (``bench/pages_world.py``).
``dripline web`` runs on loopback against it; this process signs one officer in through a real magic link and
asks, one request at a time over a kept-alive connection, for "My calls" (``GET /calls``, their 500 open tasks),
a lead page (``GET /leads/{id}``, a different one of their leads each time) and ``GET /healthz`` (the floor: the
same app and connection, no database), interleaved, ``requests`` times each, after a few untimed ones. Latency:
from the request leaving to its whole answer read. Target: p95 under 100 ms for both pages on both databases.

A page that is not on this app (404: the officer pages not merged yet) or that does not answer 200 stops the run
with a message and a non-zero exit: no number is made up.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from rich.console import Console

from bench.databases import fresh_database
from bench.pages_world import seed
from bench.webhooks import wait_ready
from flows.local_server import free_port
from storage.models import Lead, table
from storage.signin import create_sign_in_link

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 100.0
console = Console()


class PageMissing(SystemExit):
    """A page the benchmark times is not there (or does not answer 200): nothing to measure."""


@dataclass
class PagesRun:
    db: str
    leads: int
    requests: int
    open_tasks: int = 0  # on the signed-in officer's list
    load: float = 0.0  # 1-minute load average when the timing began
    ms: dict[str, list[float]] = field(default_factory=dict)  # route -> latencies

    def percentile(self, route: str, q: float) -> float:
        ordered = sorted(self.ms.get(route, []))
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def officer_and_leads(engine: sa.Engine, officer: int) -> tuple[str, list[int], int]:
    """A sign-in link for ``officer``, their leads, and their open tasks."""
    lead = table(Lead)
    with engine.begin() as conn:
        link = create_sign_in_link(conn, officer_id=officer, now=datetime.now(UTC))
        leads = list(conn.execute(sa.select(lead.c.id).where(lead.c.loan_officer_id == officer).order_by(lead.c.id))
                     .scalars())  # fmt: skip
        tasks = conn.execute(
            sa.text("SELECT count(*) FROM call_task WHERE loan_officer_id = :o AND status = 'open'"), {"o": officer}
        ).scalar_one()
    return link, leads, int(tasks)


def _get(client: httpx.Client, path: str, what: str) -> float:
    began = time.perf_counter()
    answer = client.get(path)
    took = (time.perf_counter() - began) * 1000
    if answer.status_code == 404 and what != "floor":
        raise PageMissing(f"GET {path} answered 404: {what} is not on this app (are the officer pages merged?); "
                          "nothing timed")  # fmt: skip
    if answer.status_code != 200:
        raise PageMissing(f"GET {path} ({what}) answered {answer.status_code}, not 200: {answer.text[:200]!r}")
    return took


def time_pages(
    client: httpx.Client, link: str, leads: list[int], *, requests: int, warmup: int
) -> tuple[dict[str, list[float]], float]:
    """Sign in with ``link``, then time My calls, a lead page (one of ``leads`` in turn) and the floor, interleaved,
    ``requests`` times each after ``warmup`` untimed rounds. Returns the latencies (ms) by page and the load average
    when the timing began. Raises :class:`PageMissing` for a page that is not there or does not answer 200."""
    signed = client.post(f"/signin/{link}", follow_redirects=False)
    if signed.status_code != 303 or "dripline_session" not in client.cookies:
        raise PageMissing(f"signing in answered {signed.status_code}: {signed.text[:200]!r}")
    routes = {"calls": lambda i: "/calls", "lead": lambda i: f"/leads/{leads[i % len(leads)]}",
              "floor": lambda i: "/healthz"}  # fmt: skip
    for i in range(warmup):  # the pipeline opens, the pool fills, templates compile
        for name, path in routes.items():
            _get(client, path(i), name)
    load = os.getloadavg()[0]
    ms: dict[str, list[float]] = {name: [] for name in routes}
    gc.collect()
    gc.disable()  # this process's own collector pauses are not the app's latency
    try:
        for i in range(requests):
            for name, path in routes.items():
                ms[name].append(_get(client, path(warmup + i), name))
    finally:
        gc.enable()
    return ms, load


def run(db: str, pg_url: str, *, leads: int = 10_000, requests: int = 300, warmup: int = 20) -> PagesRun:
    result = PagesRun(db=db, leads=leads, requests=requests)
    console.print(f"[bold]pages[/] on [bold]{db}[/]: seeding {leads:,} leads with an open task each ...")
    with fresh_database(db, "pages", pg_url) as (url, engine):
        started = time.perf_counter()
        officers = seed(engine, leads=leads)
        console.print(f"  seeded in {time.perf_counter() - started:.0f} s")
        link, own, result.open_tasks = officer_and_leads(engine, officers[1])
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        out = ROOT / "bench" / "out"
        out.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DRIPLINE_"))} | {
            "DRIPLINE_DATABASE_URL": url,
            "DRIPLINE_PUBLIC_BASE_URL": base,
            "DRIPLINE_WEB_RATE_PER_MINUTE": "0",
            "XDG_RUNTIME_DIR": str(out),  # no `dripline serve` marker: no Prefect API
            "PREFECT_HOME": str(out / "prefect-home"),
        }
        log = (out / f"pages-web-{db}.log").open("wb")
        web = subprocess.Popen([sys.executable, "-m", "dripline.cli", "web", "--port", str(port)], env=env, cwd=ROOT,
                               stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            wait_ready(f"{base}/readyz", web)
            with httpx.Client(base_url=base, timeout=30.0) as client:
                result.ms, result.load = time_pages(client, link, own, requests=requests, warmup=warmup)
        finally:
            web.terminate()
            web.wait(timeout=30)
            log.close()
    report(result)
    return result


def report(r: PagesRun) -> None:
    console.print(f"  {r.db}: one officer's {r.open_tasks} open tasks, {r.requests} requests a page, load {r.load:.2f}")
    for route, label in (("calls", "GET /calls"), ("lead", "GET /leads/{id}"), ("floor", "GET /healthz (floor)")):
        p95 = r.percentile(route, 0.95)
        verdict = "" if route == "floor" else ("  [green]ok[/]" if p95 < TARGET_MS else "  [red]over the target[/]")
        console.print(f"  {label:<21}p50 {r.percentile(route, 0.5):5.1f}  p95 {p95:5.1f}  "
                      f"p99 {r.percentile(route, 0.99):5.1f}  max {max(r.ms[route]):5.1f} ms{verdict}")  # fmt: skip


TABLE = (
    "## Officer pages\n\n"
    "`python -m bench --what pages`: `dripline web` (one process) on loopback; 20 officers, 10,000 leads with an "
    "open call task each; one signed-in officer (500 open tasks) asks for My calls (`GET /calls`), a lead page "
    "(`GET /leads/{id}`, another lead each time) and the floor `GET /healthz`, interleaved, one at a time over a "
    "kept-alive connection. Latency: request out to answer read, at the client. Target: p95 < 100 ms for both "
    "pages on both databases. Load: the 1-minute load average when the timing began (2 cores).\n\n"
    "| date | code | machine | db | leads | open tasks (officer) | requests each | calls p50 | calls p95 | calls p99 "
    "| lead p50 | lead p95 | lead p99 | floor p50 | floor p95 | load |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
)


def line(r: PagesRun, stamp: str, code: str, where: str) -> str:
    cells: list[Any] = [stamp, code, where, r.db, f"{r.leads:,}", r.open_tasks, r.requests]
    for route, qs in (("calls", (0.5, 0.95, 0.99)), ("lead", (0.5, 0.95, 0.99)), ("floor", (0.5, 0.95))):
        cells += [f"{r.percentile(route, q):.1f}" for q in qs]
    cells.append(f"{r.load:.2f}")
    return "| " + " | ".join(str(c) for c in cells) + " |\n"

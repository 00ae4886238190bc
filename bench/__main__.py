"""``python -m bench``: time one cadence tick against the plain-SQL floor on SQLite and PostgreSQL.

    python -m bench [--leads 100000] [--db sqlite|postgresql|both] [--batch-size 5000] [--record]

Each database is seeded once and copied, so the tick and the floor start from
identical data; each phase runs in its own process and reports its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from bench.seed import seed
from storage.db import make_engine, upgrade

OUT = Path(__file__).resolve().parent / "out"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
console = Console()


def _prepare_sqlite(n: int) -> dict[str, str]:
    OUT.mkdir(exist_ok=True)
    base = OUT / "base.db"
    for f in OUT.glob("*.db*"):
        f.unlink()
    engine = make_engine(f"sqlite:///{base}")
    upgrade(engine)
    _seed(engine, n)
    with engine.begin() as conn:
        conn.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    urls = {}
    for phase in ("tick", "floor"):
        shutil.copy(base, OUT / f"{phase}.db")
        urls[phase] = f"sqlite:///{OUT / f'{phase}.db'}"
    return urls


def _prepare_postgres(n: int, url: str) -> dict[str, str]:
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    names = {"base": "dripline_bench_base", "tick": "dripline_bench_tick", "floor": "dripline_bench_floor"}
    with admin.connect() as conn:
        for name in names.values():
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {names['base']}"))
    base_url = make_engine(url).url.set(database=names["base"])
    engine = make_engine(base_url.render_as_string(hide_password=False))
    upgrade(engine)
    _seed(engine, n)
    engine.dispose()
    urls = {}
    with admin.connect() as conn:
        for phase in ("tick", "floor"):
            conn.execute(sa.text(f"CREATE DATABASE {names[phase]} TEMPLATE {names['base']}"))
            urls[phase] = base_url.set(database=names[phase]).render_as_string(hide_password=False)
    admin.dispose()
    return urls


def _seed(engine: sa.Engine, n: int) -> None:
    with Progress(TextColumn("seeding"), BarColumn(), MofNCompleteColumn(), console=console, transient=True) as bar:
        task = bar.add_task("leads", total=n)
        started = time.perf_counter()
        seed(engine, n, progress=lambda done: bar.update(task, completed=done))
    console.print(f"  seeded {n:,} leads in {time.perf_counter() - started:.0f} s")


def _phase(name: str, url: str, batch: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.phase", name, url, str(batch)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(db: str, n: int, batch: int, pg_url: str) -> dict[str, object]:
    console.print(f"[bold]{db}[/], {n:,} leads, batch {batch:,}")
    urls = _prepare_sqlite(n) if db == "sqlite" else _prepare_postgres(n, pg_url)
    floor = _phase("floor", urls["floor"], batch)
    tick = _phase("tick", urls["tick"], batch)
    if tick["leads"] != floor["leads"] or tick["rows"] != floor["rows"]:
        raise SystemExit(f"tick and floor did different work: {tick} vs {floor}")
    row = {
        "db": db,
        "leads": n,
        "due": int(tick["leads"]),
        "batch": batch,
        "tick_s": tick["seconds"],
        "floor_s": floor["seconds"],
        "ratio": tick["seconds"] / floor["seconds"],
        "tick_leads_per_s": tick["leads"] / tick["seconds"],
        "floor_leads_per_s": floor["leads"] / floor["seconds"],
        "tick_rss_mb": tick["max_rss_mb"],
        "floor_rss_mb": floor["max_rss_mb"],
    }
    console.print(
        f"  tick  {row['tick_s']:.1f} s ({row['tick_leads_per_s']:,.0f} due leads/s, peak RSS "
        f"{row['tick_rss_mb']:.0f} MB)\n  floor {row['floor_s']:.1f} s ({row['floor_leads_per_s']:,.0f} leads/s, "
        f"peak RSS {row['floor_rss_mb']:.0f} MB)\n  ratio tick/floor [bold]{row['ratio']:.2f}[/] (target <= 3)"
    )
    return row


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    pg = shutil.which("psql")
    pg_version = subprocess.run([pg, "--version"], capture_output=True, text=True).stdout.strip() if pg else ""
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {pg_version}"
    )


def commit() -> str:
    """The code measured: the short commit, marked dirty when the tree has uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                           text=True)  # fmt: skip
    return (head.stdout.strip() or "unknown") + ("-dirty" if dirty.stdout.strip() else "")


def record(rows: list[dict[str, object]]) -> None:
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmark results\n\nOne cadence tick (`python -m bench`) against the floor: the same touch rows "
            "inserted and positions updated by plain batched SQL with no domain logic, in the same run. "
            "Targets at 1,000,000 leads: ratio <= 3, peak RSS < 400 MB.\n\n"
            "| date | code | machine | db | leads | due | batch | tick s | floor s | ratio | tick due leads/s "
            "| tick peak RSS MB | floor peak RSS MB |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    code = commit()
    with RESULTS.open("a") as f:
        for r in rows:
            f.write(
                f"| {stamp} | {code} | {machine()} | {r['db']} | {r['leads']:,} | {r['due']:,} | {r['batch']:,} | "
                f"{r['tick_s']:.1f} | {r['floor_s']:.1f} | {r['ratio']:.2f} | {r['tick_leads_per_s']:,.0f} | "
                f"{r['tick_rss_mb']:.0f} | {r['floor_rss_mb']:.0f} |\n"
            )
    console.print(f"recorded in {RESULTS}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument(
        "--pg-url", default=os.environ.get("DRIPLINE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--record", action="store_true", help=f"append the results to {RESULTS.name}")
    args = parser.parse_args()
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    rows = [run(db, args.leads, args.batch_size, args.pg_url) for db in dbs]
    if args.record:
        record(rows)


if __name__ == "__main__":
    main()

"""``python -m bench``: time a cadence tick or a guideline re-score against its plain-SQL floor, dispatch against
the providers' rate limits, or run the fault scenarios heavier than the test suite does.

    python -m bench [--what tick|rescore] [--leads 100000] [--db sqlite|postgresql|both] [--batch-size 5000]
                    [--record]
    python -m bench --what dispatch [--seconds 45] [--sms-rate 30] [--email-rate 100] [--fake process|inline]
    python -m bench --what dispatch-memory [--touches 100000] [--sms-rate 50] [--email-rate 150]
    python -m bench --what faults [--race-leads 5000] [--repeat 1] [--rounds 50] [--leads-per-round 150]
    python -m bench --what webhooks [--stop-rate 200] [--seconds 30]   (PostgreSQL)
    python -m bench --what pages [--db sqlite|postgresql|both] [--requests 300] [--leads 10000]

Each database is seeded once and copied, so the measured phase and its floors start
from identical data; each phase runs in its own process and reports its peak RSS.
Two floors write the same rows with no domain logic: the bench floor (SQLAlchemy batches)
and the lean floor (the fastest plain SQL each database allows: the raw driver's
``executemany`` on SQLite, ``COPY`` and ``UPDATE ... FROM unnest`` on PostgreSQL).
``tick``: about half the leads are due; one tick plans them all. ``rescore``: every
lead rests in nurture with a bank-statement FICO spread over 560-819; a lender lowers
its minimum from 640 to 600, and the re-score re-engages the leads that makes eligible;
then the whole ``guideline-rescore`` flow runs as a Prefect flow run on a copy of its own.
``dispatch``: see ``bench/dispatch_rate.py``; ``faults``: see ``bench/faults.py``; ``pages``: see ``bench/pages.py``.
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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from bench.seed import NOW, seed, seed_resting
from storage.db import make_engine, upgrade

OUT = Path(__file__).resolve().parent / "out"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
console = Console()


def _copies(what: str) -> tuple[str, ...]:
    """The phases that each get a copy of the seeded database (the re-score's whole flow gets one of its own)."""
    return ("tick", "floor", "lean", "flow") if what == "rescore" else ("tick", "floor", "lean")


def _prepare_sqlite(n: int, what: str) -> dict[str, str]:
    OUT.mkdir(exist_ok=True)
    base = OUT / "base.db"
    for f in OUT.glob("*.db*"):
        f.unlink()
    engine = make_engine(f"sqlite:///{base}")
    upgrade(engine)
    _seed(engine, n, what)
    with engine.begin() as conn:
        conn.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    urls = {}
    for phase in _copies(what):
        shutil.copy(base, OUT / f"{phase}.db")
        urls[phase] = f"sqlite:///{OUT / f'{phase}.db'}"
    return urls


def _prepare_postgres(n: int, url: str, what: str) -> dict[str, str]:
    admin = make_engine(url, isolation_level="AUTOCOMMIT")
    names = {"base": "dripline_bench_base"} | {phase: f"dripline_bench_{phase}" for phase in _copies("rescore")}
    with admin.connect() as conn:
        for name in names.values():
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {names['base']}"))
    base_url = make_engine(url).url.set(database=names["base"])
    engine = make_engine(base_url.render_as_string(hide_password=False))
    upgrade(engine)
    _seed(engine, n, what)
    engine.dispose()
    urls = {}
    with admin.connect() as conn:
        for phase in _copies(what):
            conn.execute(sa.text(f"CREATE DATABASE {names[phase]} TEMPLATE {names['base']}"))
            urls[phase] = base_url.set(database=names[phase]).render_as_string(hide_password=False)
    admin.dispose()
    return urls


def _seed(engine: sa.Engine, n: int, what: str) -> None:
    with Progress(TextColumn("seeding"), BarColumn(), MofNCompleteColumn(), console=console, transient=True) as bar:
        task = bar.add_task("leads", total=n)
        started = time.perf_counter()
        seeder = seed if what == "tick" else seed_resting
        seeder(engine, n, progress=lambda done: bar.update(task, completed=done))
    if what == "rescore":
        _load_guidelines(engine)
    console.print(f"  seeded {n:,} leads in {time.perf_counter() - started:.0f} s")


def _load_guidelines(engine: sa.Engine) -> None:
    """The lender's guidelines before (min FICO 640) and after (600) the change the re-score measures."""
    from nurture.guidelines import ProgramRules
    from nurture.products import CreditEventType, Product
    from storage.guidelines import load_snapshot

    # The credit-event program is the same in both: not part of the change, it gives the seasoning re-date pass
    # (the flow's last step) credit-event leads to date.
    months = {CreditEventType.CHAPTER_7: 24, CreditEventType.CHAPTER_13: 12, CreditEventType.FORECLOSURE: 36,
              CreditEventType.SHORT_SALE: 24}  # fmt: skip
    seasoned = ProgramRules(lender="Harbor Capital", program=Product.CREDIT_EVENT, effective_date=date(2026, 1, 1),
                            min_fico=580, min_loan_amount=125_000, states=frozenset({"FL", "GA", "TX"}),
                            seasoning_months=months)  # fmt: skip
    for at, fico in ((NOW - timedelta(days=30), 640), (NOW - timedelta(hours=1), 600)):
        rules = ProgramRules(lender="Harbor Capital", program=Product.BANK_STATEMENT, effective_date=date(2026, 1, 1),
                             min_fico=fico, min_loan_amount=125_000, states=frozenset({"FL", "GA", "TX"}))  # fmt: skip
        load_snapshot(engine=engine, programs=[rules, seasoned], source="bench", loaded_by="bench", now=at)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))


def _phase(name: str, url: str, batch: int) -> dict[str, float]:
    if url.startswith("postgresql"):
        # Each phase starts with nothing left for the server to flush: the writes of the phase before it would
        # otherwise be checkpointed while this one runs, and count against it.
        admin = make_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("CHECKPOINT"))
        admin.dispose()
    out = subprocess.run(
        [sys.executable, "-m", "bench.phase", name, url, str(batch)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(db: str, n: int, batch: int, pg_url: str, what: str = "tick") -> dict[str, object]:
    console.print(f"[bold]{what}[/] on [bold]{db}[/], {n:,} leads, batch {batch:,}")
    urls = _prepare_sqlite(n, what) if db == "sqlite" else _prepare_postgres(n, pg_url, what)
    floor = _phase("floor" if what == "tick" else "rescore-floor", urls["floor"], batch)
    lean = _phase("lean-floor" if what == "tick" else "rescore-lean-floor", urls["lean"], batch)
    tick = _phase(what, urls["tick"], batch)
    flow = _phase("rescore-flow", urls["flow"], batch) if what == "rescore" else None
    for name, done in (("floor", floor), ("lean floor", lean), ("whole flow", flow or tick)):
        if tick["leads"] != done["leads"] or tick["rows"] != done["rows"]:
            raise SystemExit(f"{what} and its {name} did different work: {tick} vs {done}")
    row = {
        "what": what,
        "db": db,
        "leads": n,
        "due": int(tick["leads"]),
        "batch": batch,
        "tick_s": tick["seconds"],
        "floor_s": floor["seconds"],
        "ratio": tick["seconds"] / floor["seconds"],
        "lean_s": lean["seconds"],
        "lean_ratio": tick["seconds"] / lean["seconds"],
        "lean_rss_mb": lean["max_rss_mb"],
        "tick_leads_per_s": tick["leads"] / tick["seconds"],
        "floor_leads_per_s": floor["leads"] / floor["seconds"],
        "tick_rss_mb": tick["max_rss_mb"],
        "floor_rss_mb": floor["max_rss_mb"],
        "flow_s": flow["seconds"] if flow else None,
        "flow_seasoning": int(flow["seasoning_dated"]) if flow else None,
        "flow_rss_mb": flow["max_rss_mb"] if flow else None,
    }
    unit = "due leads/s" if what == "tick" else "re-engaged leads/s"
    console.print(
        f"  {what}  {row['tick_s']:.1f} s ({row['tick_leads_per_s']:,.0f} {unit}, {row['due']:,} leads, peak RSS "
        f"{row['tick_rss_mb']:.0f} MB)\n  floor {row['floor_s']:.1f} s ({row['floor_leads_per_s']:,.0f} leads/s, "
        f"peak RSS {row['floor_rss_mb']:.0f} MB)\n  lean floor {row['lean_s']:.1f} s (peak RSS "
        f"{row['lean_rss_mb']:.0f} MB)\n  ratio {what}/floor {row['ratio']:.2f}, {what}/lean floor "
        f"[bold]{row['lean_ratio']:.2f}[/] (target <= 3)"
    )
    if flow:
        console.print(
            f"  whole guideline-rescore flow (Prefect flow run, its tasks, seasoning re-date pass, artifact) "
            f"[bold]{row['flow_s']:.1f} s[/] ({row['flow_seasoning']:,} dated for seasoning, peak RSS "
            f"{row['flow_rss_mb']:.0f} MB; target < 30 s on PostgreSQL)"
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
    # The results file itself does not count: recording a row changes it.
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/RESULTS.md"],
                           cwd=root, capture_output=True, text=True)  # fmt: skip
    return (head.stdout.strip() or "unknown") + ("-dirty" if dirty.stdout.strip() else "")


TABLES = {
    "tick": (
        "## Cadence tick\n\nOne cadence tick against the floor: the same touch rows inserted and positions updated "
        "by plain batched SQL with no domain logic, in the same run. Targets at 1,000,000 leads: ratio <= 3, "
        "peak RSS < 400 MB.\n\n| date | code | machine | db | leads | due | batch | tick s | floor s | ratio "
        "| tick due leads/s | tick peak RSS MB | floor peak RSS MB |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    ),
    "rescore": (
        "## Guideline re-score\n\nAll leads resting in nurture; a lender lowers its bank-statement minimum FICO "
        "from 640 to 600. `rescore`: the guideline-rescore flow's work (one SQL pass per id range of 100,000, "
        "each candidate checked again in Python, compliance facts, priority score, re-engagement cadence), "
        "without Prefect's per-task cost. Floor: the same leads by a hand-written predicate, the same rows "
        "written by plain batched SQL. Target: 1,000,000 leads in under 30 s on PostgreSQL.\n\n"
        "| date | code | machine | db | leads | re-engaged | batch | rescore s | floor s | ratio "
        "| re-engaged leads/s | rescore peak RSS MB | floor peak RSS MB |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    ),
}


LEAN_TABLES = {
    "tick": (
        "## Cadence tick against the lean floor\n\nThe lean floor writes the tick's rows by the fastest plain SQL "
        "each database allows (`bench/phase.py` `run_lean_floor`: one select of every due id; per batch, SQLite "
        "raw `executemany`, PostgreSQL `COPY` and `UPDATE ... FROM unnest`). The bench floor of the table above is "
        "kept for comparison. Targets at 1,000,000 leads: tick / lean floor <= 3, peak RSS < 400 MB.\n\n"
        "| date | code | db | leads | due | batch | tick s | lean floor s | tick / lean | bench floor s "
        "| tick due leads/s | tick peak RSS MB | lean peak RSS MB | load at end |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    ),
    "rescore": (
        "## Guideline re-score against the lean floor\n\nThe lean floor (`run_rescore_lean_floor`): the same "
        "leads by a hand-written predicate in one select; per batch, the re-engagement and history rows (COPY on "
        "PostgreSQL, raw `executemany` on SQLite) and the positions moved with their home columns kept. Targets "
        "at 1,000,000 leads: re-score / lean floor <= 3; the whole flow under 30 s on PostgreSQL.\n\n"
        "| date | code | db | leads | re-engaged | batch | rescore s | lean floor s | rescore / lean "
        "| bench floor s | re-engaged leads/s | rescore peak RSS MB | lean peak RSS MB | load at end |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    ),
    "flow": (
        "## Guideline re-score, the whole flow\n\n`bench/phase.py` `run_rescore_flow`: the `guideline-rescore` "
        "flow run as its deployment runs it, against a local Prefect server already up: one Prefect task per id "
        "range of 100,000, then the seasoning re-date pass (a full pass over the resting credit-event leads), the "
        "run's artifact and log lines; on its own copy of the same seeded database. Target at 1,000,000 leads: "
        "under 30 s on PostgreSQL.\n\n"
        "| date | code | db | leads | re-engaged | dated for seasoning | flow s | re-score work alone s "
        "| flow peak RSS MB | load at end |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
    ),
}


def record(rows: list[dict[str, object]]) -> None:
    """Add each row at the end of its table (tick or rescore) in RESULTS.md."""
    stamp, code, where = datetime.now(UTC).strftime("%Y-%m-%d"), commit(), machine()
    for r in rows:
        line = (
            f"| {stamp} | {code} | {where} | {r['db']} | {r['leads']:,} | {r['due']:,} | {r['batch']:,} | "
            f"{r['tick_s']:.1f} | {r['floor_s']:.1f} | {r['ratio']:.2f} | {r['tick_leads_per_s']:,.0f} | "
            f"{r['tick_rss_mb']:.0f} | {r['floor_rss_mb']:.0f} |\n"
        )
        record_lines(TABLES[str(r["what"])], [line])
        lean = (
            f"| {stamp} | {code} | {r['db']} | {r['leads']:,} | {r['due']:,} | {r['batch']:,} | {r['tick_s']:.1f} | "
            f"{r['lean_s']:.1f} | {r['lean_ratio']:.2f} | {r['floor_s']:.1f} | {r['tick_leads_per_s']:,.0f} | "
            f"{r['tick_rss_mb']:.0f} | {r['lean_rss_mb']:.0f} | {os.getloadavg()[0]:.2f} |\n"
        )
        record_lines(LEAN_TABLES[str(r["what"])], [lean])
        if r.get("flow_s") is not None:
            whole = (
                f"| {stamp} | {code} | {r['db']} | {r['leads']:,} | {r['due']:,} | {r['flow_seasoning']:,} | "
                f"{r['flow_s']:.1f} | {r['tick_s']:.1f} | {r['flow_rss_mb']:.0f} | {os.getloadavg()[0]:.2f} |\n"
            )
            record_lines(LEAN_TABLES["flow"], [whole])


def record_lines(header: str, lines: list[str]) -> None:
    """Add ``lines`` at the end of the table ``header`` opens in RESULTS.md (the table is added when missing)."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n`python -m bench --record`.\n\n"
    if header not in text:
        text = text.rstrip("\n") + "\n\n" + header
    start = text.index(header) + len(header)
    end = start
    while end < len(text) and text.startswith("|", end):
        end = text.index("\n", end) + 1
    text = text[:end] + "".join(lines) + text[end:]
    RESULTS.write_text(text)
    console.print(f"recorded in {RESULTS}")


def _dispatch(args: argparse.Namespace, dbs: list[str]) -> None:
    from bench import dispatch_rate

    common = {"sms_per_second": args.sms_rate, "email_per_second": args.email_rate, "latency": args.latency,
              "concurrency": args.concurrency, "batch": args.dispatch_batch, "fake": args.fake}  # fmt: skip
    if args.what == "dispatch":
        # ~``seconds`` of texts at the SMS rate: the rates' own mix (both lanes busy all along), then a wave
        # where every lead gets a text and an email (the email lane must not wait for the text lane).
        sms = round(args.sms_rate * args.seconds)
        mixes = [(round(sms * (1 + args.email_rate / args.sms_rate)), None, "throughput"), (2 * sms, 1.0, "1:1 wave")]
        configs = [
            dispatch_rate.Config(db=db, touches=touches, texted=texted, run=name, **common)
            for db in dbs
            for touches, texted, name in mixes
        ]
    else:
        configs = [dispatch_rate.Config(db=db, touches=args.touches, run="memory", **common) for db in dbs]
    rows = [dispatch_rate.run(c, args.pg_url) for c in configs]
    if args.record:
        stamp, code, where = datetime.now(UTC).strftime("%Y-%m-%d"), commit(), machine()
        record_lines(dispatch_rate.TABLE, [dispatch_rate.line(r, stamp, code, where) for r in rows])


def _faults(args: argparse.Namespace, dbs: list[str]) -> None:
    from bench import faults

    results = [
        (db, run)
        for db in dbs
        for run in faults.bench(
            db,
            args.pg_url,
            race_leads=args.race_leads,
            repeat=args.repeat,
            rounds=args.rounds,
            leads_per_round=args.leads_per_round,
        )
    ]
    if args.record:
        stamp, code, where = datetime.now(UTC).strftime("%Y-%m-%d"), commit(), machine()
        record_lines(faults.TABLE, [faults.line(db, run, stamp, code, where) for db, run in results])
    if any(run.problems for _, run in results):
        raise SystemExit("some fault scenario failed its checks (see above)")


def _webhooks(args: argparse.Namespace) -> None:
    from bench import webhooks

    seconds = args.seconds if args.seconds != 45.0 else 30.0  # --seconds defaults to the dispatch bench's 45
    result = webhooks.run(args.pg_url, rate=args.stop_rate, seconds=seconds, workers=args.web_workers)
    if args.record:
        stamp, code, where = datetime.now(UTC).strftime("%Y-%m-%d"), commit(), machine()
        record_lines(webhooks.TABLE, [webhooks.line(result, stamp, code, where)])


def _pages(args: argparse.Namespace, dbs: list[str]) -> None:
    from bench import pages

    leads = args.leads if args.leads != 100_000 else 10_000  # --leads defaults to the tick bench's 100,000
    results = [pages.run(db, args.pg_url, leads=leads, requests=args.requests) for db in dbs]
    if args.record:
        stamp, code, where = datetime.now(UTC).strftime("%Y-%m-%d"), commit(), machine()
        record_lines(pages.TABLE, [pages.line(r, stamp, code, where) for r in results])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--what",
        choices=["tick", "rescore", "dispatch", "dispatch-memory", "faults", "webhooks", "pages"],
        default="tick",
    )
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument(
        "--pg-url", default=os.environ.get("DRIPLINE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--record", action="store_true", help=f"append the results to {RESULTS.name}")
    sending = parser.add_argument_group("dispatch, dispatch-memory")
    sending.add_argument("--seconds", type=float, default=45.0, help="dispatch: about this long at the SMS rate")
    sending.add_argument("--touches", type=int, default=100_000, help="dispatch-memory: due touches")
    sending.add_argument("--sms-rate", type=float, help="texts per second (30; dispatch-memory 50)")
    sending.add_argument("--email-rate", type=float, help="emails per second (100; dispatch-memory 150)")
    sending.add_argument("--latency", type=float, default=0.15, help="seconds the fake providers take to answer")
    sending.add_argument("--concurrency", type=int, help="requests in flight per lane (32; dispatch-memory 64)")
    sending.add_argument("--dispatch-batch", type=int, default=2000, help="touches per claim (the default setting)")
    sending.add_argument("--fake", choices=["process", "inline"], default="process")
    faulty = parser.add_argument_group("faults")
    faulty.add_argument("--race-leads", type=int, default=5000, help="leads (a text and an email each) per race")
    faulty.add_argument("--repeat", type=int, default=1, help="races of 2, 3 and 4 dispatchers, this many times")
    faulty.add_argument("--rounds", type=int, default=50, help="kill rounds")
    faulty.add_argument("--leads-per-round", type=int, default=150)
    hooks = parser.add_argument_group("webhooks")
    hooks.add_argument("--stop-rate", type=float, default=200.0, help="signed STOPs posted per second")
    hooks.add_argument("--web-workers", type=int, default=2, help="dripline web processes")
    officer_pages = parser.add_argument_group("pages")
    officer_pages.add_argument("--requests", type=int, default=300, help="timed requests per page")
    args = parser.parse_args()
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if args.what in ("dispatch", "dispatch-memory"):
        memory = args.what == "dispatch-memory"
        args.sms_rate = args.sms_rate or (50.0 if memory else 30.0)
        args.email_rate = args.email_rate or (150.0 if memory else 100.0)
        args.concurrency = args.concurrency or (64 if memory else 32)
        _dispatch(args, dbs)
        return
    if args.what == "faults":
        _faults(args, dbs)
        return
    if args.what == "webhooks":
        _webhooks(args)
        return
    if args.what == "pages":
        _pages(args, dbs)
        return
    rows = [run(db, args.leads, args.batch_size, args.pg_url, args.what) for db in dbs]
    if args.record:
        record(rows)


if __name__ == "__main__":
    main()

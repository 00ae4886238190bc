"""Dispatchers racing and dying in real processes: the fault scenarios of issue 9, shared by the test suite
(``tests/faults``, small and bounded) and the reliability benchmark (``python -m bench --what faults``, heavier).

Every message is counted at the ledger provider (``bench/ledger.py``), a file all the processes append to.

- :func:`race`: ``racers`` dispatcher processes start at once over the same due touches.
- :func:`kills`: round after round, new leads are planned, one dispatcher starts and is SIGKILLed at a
  random moment; then a normal dispatch after its lease settles what it left (planned again, or ``unknown``
  and reconciled from the provider's records) and sends the rest. Each round is checked.

``python -m bench.faults dispatcher URL AT LEDGER LATENCY`` is one such dispatcher: it prints ``ready`` once
imported and connected, then dispatches everything due at ``AT`` and prints its stats.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.engine import Engine

from bench.databases import fresh_database
from bench.ledger import LedgerSender, entries
from bench.world import CADENCE, DUE, START, add_leads, settings
from nurture.actions import TouchStatus
from service.dispatch import dispatch
from service.pipeline import Pipeline, tick
from storage.cadences import register_cadence
from storage.db import make_engine
from storage.models import Touch, table

ROOT = Path(__file__).resolve().parent.parent
_touch = table(Touch)
console = Console()
FINAL = {s.value for s in (TouchStatus.SENT, TouchStatus.FAILED, TouchStatus.CANCELLED, TouchStatus.BLOCKED)}
DISPATCH_BATCH = 200


def pipeline(url: str, ledger: Path, *, now: datetime, latency: float = 0.0, engine: Engine | None = None) -> Pipeline:
    """A pipeline on the fault cadence whose channel is the ledger provider (no rate limit)."""
    engine = engine or make_engine(url)
    registry = register_cadence(engine=engine, cadence=CADENCE, now=now)
    return Pipeline(settings(url), engine, registry, LedgerSender(ledger, latency=latency))


@dataclass
class FaultRun:
    """What one scenario did, counted at the provider and in the outbox."""

    scenario: str
    runs: int = 0  # dispatcher processes started (plus, for kills, the follow-up dispatch of each round)
    kills: int = 0  # dispatchers SIGKILLed while running
    due: int = 0  # touches planned for the scenario
    delivered: int = 0  # messages the provider holds
    duplicates: int = 0  # extra deliveries: a touch key the provider holds n times counts n - 1
    stranded: int = 0  # touches a killed dispatcher left in `sending`
    began: int = 0  # of those, the ones whose send had begun (unknown when the lease ran out)
    reconciled: int = 0  # unknown touches settled from the provider's records
    unknown: int = 0  # left unknown at the end (for a person), each one the provider holds
    left: int = 0  # touches still planned or sending at the end
    overlapped: int = 0  # racers that sent something (they really ran at once)
    seconds: float = 0.0
    load: float = 0.0  # the 1-minute load average when it began
    problems: list[str] = field(default_factory=list)  # every check that failed, with its round


def statuses(engine: Engine) -> Counter[str]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_touch.c.status, sa.func.count()).group_by(_touch.c.status)).all()
    return Counter({status: n for status, n in rows})


def start_dispatcher(url: str, ledger: Path, *, latency: float) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "bench.faults", "dispatcher", url, DUE.isoformat(), str(ledger), str(latency)]
    return subprocess.Popen(
        cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_ready(proc: subprocess.Popen[str]) -> None:
    """Wait until the dispatcher has loaded everything and is waiting for :func:`go`."""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        raise RuntimeError(f"dispatcher did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")


def go(proc: subprocess.Popen[str]) -> None:
    """Let a ready dispatcher begin (racers start together, not as fast as each one happens to import)."""
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()


def _wait_for_a_claim(engine: Engine, proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
    """Until the dispatcher holds a touch in ``sending`` (or has ended)."""
    deadline = time.monotonic() + timeout
    claimed = sa.select(sa.func.count()).where(_touch.c.status == TouchStatus.SENDING.value)
    while proc.poll() is None and time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(claimed).scalar_one():
                return
        time.sleep(0.01)


def _extra(ledger: Path) -> int:
    return sum(n - 1 for n in Counter(r["key"] for r in entries(ledger)).values() if n > 1)


def race(engine: Engine, url: str, ledger: Path, *, racers: int, leads: int, latency: float = 0.002) -> FaultRun:
    """``racers`` dispatchers at once over the day-0 text and email of ``leads`` new leads."""
    run = FaultRun(f"{racers} racing")
    add_leads(engine, leads)
    p = pipeline(url, ledger, now=START, engine=engine)
    tick(p, now=DUE)
    run.due = statuses(engine)[TouchStatus.PLANNED.value]
    started = time.perf_counter()
    procs = [start_dispatcher(url, ledger, latency=latency) for _ in range(racers)]
    run.runs = racers
    for proc in procs:
        wait_ready(proc)
    for proc in procs:
        go(proc)
    for proc in procs:
        out, err = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            run.problems.append(f"a dispatcher failed: {err[-2000:]}")
        elif "'sent': 0," not in out:
            run.overlapped += 1
    run.seconds = time.perf_counter() - started
    run.delivered, run.duplicates = len(entries(ledger)), _extra(ledger)
    left = statuses(engine)
    run.left = left[TouchStatus.PLANNED.value] + left[TouchStatus.SENDING.value]
    run.unknown = left[TouchStatus.UNKNOWN.value]
    if run.duplicates:
        run.problems.append(f"{run.duplicates} duplicate deliveries")
    if run.delivered != run.due:
        run.problems.append(f"{run.delivered} delivered of {run.due} due")
    if left != Counter({TouchStatus.SENT.value: run.due}):
        run.problems.append(f"the outbox ends as {dict(left)}")
    return run


def kills(
    engine: Engine,
    url: str,
    ledger: Path,
    *,
    rounds: int,
    leads_per_round: int,
    latency: float = 0.004,
    seed: int = 9,
    max_wait: float = 1.2,
) -> FaultRun:
    """Each round: ``leads_per_round`` new leads planned (a text and an email each), one dispatcher killed at a
    random moment within ``max_wait`` s of its first claim (so the kill lands in the sending itself, however long
    the dispatcher takes to get there), then a normal dispatch after its lease. Every round is
    checked: no duplicate, nothing planned or sending, each ``unknown`` one the provider holds, and the
    outbox's ``sent`` exactly what the provider holds besides those."""
    run = FaultRun("SIGKILL")
    rng = random.Random(seed)
    started = time.perf_counter()
    for round_ in range(rounds):
        add_leads(engine, leads_per_round, first=round_ * leads_per_round)
        p = pipeline(url, ledger, now=START, engine=engine)
        tick(p, now=DUE)
        run.due += statuses(engine)[TouchStatus.PLANNED.value]
        proc = start_dispatcher(url, ledger, latency=latency)
        run.runs += 2
        wait_ready(proc)
        go(proc)
        _wait_for_a_claim(engine, proc)
        time.sleep(rng.uniform(0.0, max_wait))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            run.kills += 1
        proc.communicate(timeout=600)
        with engine.connect() as conn:
            sending = _touch.c.status == TouchStatus.SENDING.value
            run.stranded += conn.execute(sa.select(sa.func.count()).where(sending)).scalar_one()
            began = sa.and_(sending, _touch.c.send_started_at.is_not(None))
            run.began += conn.execute(sa.select(sa.func.count()).where(began)).scalar_one()
        # The next run comes after the dead worker's lease: it settles the lease, reconciles, and sends the rest.
        later = DUE + timedelta(seconds=p.settings.lease_seconds + 61)
        stats = dispatch(p, now=later)
        run.reconciled += stats.reconciled
        run.problems.extend(f"round {round_}: {what}" for what in _check(engine, ledger))
    run.seconds = time.perf_counter() - started
    run.delivered, run.duplicates = len(entries(ledger)), _extra(ledger)
    left = statuses(engine)
    run.left = left[TouchStatus.PLANNED.value] + left[TouchStatus.SENDING.value]
    run.unknown = left[TouchStatus.UNKNOWN.value]
    return run


def _check(engine: Engine, ledger: Path) -> list[str]:
    problems = []
    if extra := _extra(ledger):
        problems.append(f"{extra} duplicate deliveries")
    left = statuses(engine)
    if stray := set(left) - FINAL - {TouchStatus.UNKNOWN.value}:
        problems.append(f"touches left {', '.join(sorted(stray))}: {dict(left)}")
    on_ledger = {r["key"] for r in entries(ledger)}
    with engine.connect() as conn:
        unknown = set(conn.execute(sa.select(_touch.c.key).where(_touch.c.status == "unknown")).scalars())
        sent = set(conn.execute(sa.select(_touch.c.key).where(_touch.c.status == "sent")).scalars())
    if unknown - on_ledger:
        problems.append(f"{len(unknown - on_ledger)} unknown touches the provider never got")
    if sent != on_ledger - unknown:
        problems.append(f"the outbox and the provider disagree on {len(sent ^ (on_ledger - unknown))} touches")
    return problems


def bench(db: str, pg_url: str, *, race_leads: int, repeat: int, rounds: int, leads_per_round: int) -> list[FaultRun]:
    """The reliability benchmark on one database: ``repeat`` races of 2, 3 and 4 dispatchers over the text and
    email of ``race_leads`` leads, then ``rounds`` kill rounds of ``leads_per_round`` leads; each in a fresh
    database, with a fresh ledger."""
    runs = []
    scenarios: list[tuple[str, int]] = [("race", racers) for _ in range(repeat) for racers in (2, 3, 4)]
    for kind, racers in [*scenarios, ("kills", 0)]:
        with tempfile.TemporaryDirectory() as tmp, fresh_database(db, "faults", pg_url) as (url, engine):
            ledger = Path(tmp) / "ledger.jsonl"
            load = os.getloadavg()[0]
            if kind == "race":
                run = race(engine, url, ledger, racers=racers, leads=race_leads)
            else:
                run = kills(engine, url, ledger, rounds=rounds, leads_per_round=leads_per_round)
        run.load = load
        runs.append(run)
        console.print(
            f"  {db} {run.scenario}: {run.runs} runs, {run.kills} kills, {run.due:,} due, {run.delivered:,} "
            f"delivered, {run.duplicates} duplicates, {run.stranded} stranded ({run.began} begun), "
            f"{run.reconciled} reconciled, {run.unknown} unknown, {run.left} left, {run.seconds:.0f} s"
            + (f"\n    [red]{'; '.join(run.problems[:5])}[/]" if run.problems else "")
        )
    return runs


TABLE = (
    "## Reliability\n\n"
    "`python -m bench --what faults`: the fault scenarios of `tests/faults` (`bench/faults.py`), heavier, each in a "
    "fresh database, every message counted at a provider ledger all the processes share. Racing: 2, 3 or 4 "
    "dispatcher processes started at once over the same due texts and emails. SIGKILL: round after round, new "
    "leads are planned and one dispatcher is killed at a random moment in its first 0.8 s, then a normal dispatch "
    "after its lease settles what it left and sends the rest; every round is checked. Runs: dispatcher processes "
    "(a kill round counts the killed one and the follow-up). Duplicates: extra deliveries at the provider. "
    "Stranded: touches a killed dispatcher left `sending` (begun: its send had started, so they became `unknown` "
    "when the lease ran out). Reconciled: `unknown` touches settled from the provider's records. Unknown: left "
    "`unknown` at the end, for a person. Left: `planned` or `sending` at the end. Problems: failed checks (any "
    "duplicate, a touch left planned or sending, an `unknown` the provider never got, outbox and provider "
    "disagreeing). Load: the 1-minute load average when the scenario began (2 cores).\n\n"
    "| date | code | machine | db | scenario | runs | kills | due | delivered | duplicates | stranded | begun "
    "| reconciled | unknown | left | problems | s | load |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
)


def line(db: str, r: FaultRun, stamp: str, code: str, where: str) -> str:
    return (
        f"| {stamp} | {code} | {where} | {db} | {r.scenario} | {r.runs} | {r.kills} | {r.due:,} | {r.delivered:,} | "
        f"{r.duplicates} | {r.stranded} | {r.began} | {r.reconciled} | {r.unknown} | {r.left} | {len(r.problems)} | "
        f"{r.seconds:.0f} | {r.load:.2f} |\n"
    )


def _dispatcher(argv: list[str]) -> int:
    url, at, ledger = argv[:3]
    latency = float(argv[3]) if len(argv) > 3 else 0.0
    p = pipeline(url, Path(ledger), now=datetime.fromisoformat(at), latency=latency)
    print("ready", flush=True)
    sys.stdin.readline()  # "go" (or the parent's end of the pipe closing)
    stats = dispatch(p, now=datetime.fromisoformat(at), batch_size=DISPATCH_BATCH)
    print(stats.as_dict(), flush=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] != ["dispatcher"]:
        sys.exit("usage: python -m bench.faults dispatcher URL AT LEDGER [LATENCY]")
    sys.exit(_dispatcher(sys.argv[2:]))

"""Dispatchers racing and dying, in real processes, on SQLite and PostgreSQL (issue 9's fault tests).

Every message is counted at the ledger provider (tests/faults/ledger.py), which all the processes share.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.actions import TouchStatus
from service.dispatch import dispatch
from service.pipeline import tick
from storage.models import Touch, table
from tests.faults.ledger import duplicates, entries
from tests.faults.world import DUE, START, add_leads, pipeline

ROOT = Path(__file__).resolve().parents[2]
_touch = table(Touch)
FINAL = {s.value for s in (TouchStatus.SENT, TouchStatus.FAILED, TouchStatus.CANCELLED, TouchStatus.BLOCKED)}


def _statuses(engine: Engine) -> Counter[str]:
    with engine.connect() as conn:
        return Counter(dict(conn.execute(sa.select(_touch.c.status, sa.func.count()).group_by(_touch.c.status)).all()))


def _start(url: str, ledger: Path, *, latency: float) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "tests.faults.dispatcher", url, DUE.isoformat(), str(ledger), str(latency)]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", f"dispatcher did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"


@pytest.mark.parametrize("racers", [2, 3, 4])
def test_racing_dispatchers_send_every_touch_exactly_once(engine: Engine, database_url: str, tmp_path: Path, racers):
    ledger = tmp_path / "ledger.jsonl"
    add_leads(engine, 1000)  # x 2 channels = 2,000 due touches
    p = pipeline(database_url, ledger, now=START, engine=engine)
    tick(p, now=DUE)
    due = _statuses(engine)[TouchStatus.PLANNED.value]
    assert due >= 2000
    procs = [_start(database_url, ledger, latency=0.002) for _ in range(racers)]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        outs.append(out)
    assert duplicates(ledger) == {}
    assert len(entries(ledger)) == due, "every due touch reached the provider once"
    left = _statuses(engine)
    assert left == Counter({TouchStatus.SENT.value: due}), left
    assert sum(1 for out in outs if "'sent': 0," not in out) >= 2, "the dispatchers really overlapped"


def test_dispatchers_killed_at_random_points_leave_nothing_duplicated_or_stranded(
    engine: Engine, database_url: str, tmp_path: Path
):
    ledger = tmp_path / "ledger.jsonl"
    rng = random.Random(int(os.environ.get("DRIPLINE_FAULT_SEED", "9")))
    kills, unknown_seen, reconciled = 0, 0, 0
    for round_ in range(20):
        add_leads(engine, 60, first=round_ * 60)  # 120 new due touches a round
        p = pipeline(database_url, ledger, now=START, engine=engine)
        tick(p, now=DUE)
        proc = _start(database_url, ledger, latency=0.004)
        _wait_ready(proc)
        time.sleep(rng.uniform(0.0, 0.8))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=60)
        # The next run comes after the dead worker's lease: it settles the lease, reconciles, and sends the rest.
        later = DUE + timedelta(seconds=p.settings.lease_seconds + 61)
        stranded = _statuses(engine)
        unknown_seen += stranded.get(TouchStatus.SENDING.value, 0)
        stats = dispatch(p, now=later)
        reconciled += stats.reconciled
        assert duplicates(ledger) == {}, f"round {round_}"
        left = _statuses(engine)
        assert set(left) <= FINAL | {TouchStatus.UNKNOWN.value}, f"round {round_}: {left}"
        on_ledger = {r["key"] for r in entries(ledger)}
        with engine.connect() as conn:
            unknown = set(conn.execute(sa.select(_touch.c.key).where(_touch.c.status == "unknown")).scalars())
            sent = set(conn.execute(sa.select(_touch.c.key).where(_touch.c.status == "sent")).scalars())
        assert unknown <= on_ledger, "an unknown touch is one the provider may have delivered"
        assert sent == on_ledger - unknown, f"round {round_}: the outbox and the provider agree"
    print(f"\n{engine.dialect.name}: {kills} kills, {unknown_seen} stranded in sending, {reconciled} reconciled, "
          f"{len(entries(ledger))} delivered, 0 duplicates")  # fmt: skip
    assert kills >= 15, f"only {kills} of 20 dispatchers were killed mid-run"
    assert unknown_seen > 0 and reconciled > 0, "some kills stranded sends that reconciliation had to settle"

"""Dispatchers racing and dying, in real processes, on SQLite and PostgreSQL (issue 9's fault tests).

The scenarios live in ``bench/faults.py``; the reliability benchmark runs them heavier and records the counts.
Every message is counted at the ledger provider (bench/ledger.py), which all the processes share.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bench.faults import kills, race


@pytest.mark.parametrize("racers", [2, 3, 4])
def test_racing_dispatchers_send_every_touch_exactly_once(engine: Engine, database_url: str, tmp_path: Path, racers):
    run = race(engine, database_url, tmp_path / "ledger.jsonl", racers=racers, leads=1000)  # 2,000 due touches
    assert run.due >= 2000
    assert run.problems == []
    assert run.duplicates == 0 and run.delivered == run.due and run.left == 0 and run.unknown == 0
    assert run.overlapped >= 2, "the dispatchers really overlapped"


def test_dispatchers_killed_at_random_points_leave_nothing_duplicated_or_stranded(
    engine: Engine, database_url: str, tmp_path: Path
):
    seed = int(os.environ.get("DRIPLINE_FAULT_SEED", "9"))
    run = kills(engine, database_url, tmp_path / "ledger.jsonl", rounds=20, leads_per_round=60, seed=seed)
    print(f"\n{engine.dialect.name}: {run.kills} kills, {run.stranded} stranded in sending, {run.reconciled} "
          f"reconciled, {run.delivered} delivered, {run.duplicates} duplicates")  # fmt: skip
    assert run.problems == []
    assert run.duplicates == 0 and run.left == 0
    assert run.kills >= 15, f"only {run.kills} of 20 dispatchers were killed mid-run"
    assert run.stranded > 0 and run.reconciled > 0, "some kills stranded sends that reconciliation had to settle"

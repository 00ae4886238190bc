"""The tick and re-score benchmarks, small, on SQLite: every phase runs (the tick, the bench floor, the lean floor;
for the re-score also the whole guideline-rescore flow), they all did the same work, and a recorded row lands in
its tables. The real runs are 1,000,000 leads on a quiet machine (bench/RESULTS.md); this only keeps them working.
PostgreSQL is left out: the benchmark's own databases would collide with a benchmark run on the same server."""

from __future__ import annotations

from pathlib import Path

import pytest

import bench.__main__ as bench


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(bench, "OUT", tmp_path / "out")
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "RESULTS.md")
    return tmp_path


def test_the_tick_and_both_floors_plan_the_same_due_leads(scratch: Path) -> None:
    row = bench.run("sqlite", 2_000, 500, "", "tick")
    assert row["due"] == 1_000  # half the seeded leads are due, each with one step
    assert row["lean_ratio"] == pytest.approx(row["tick_s"] / row["lean_s"])  # type: ignore[operator]
    assert 0 < row["tick_rss_mb"] < 400  # type: ignore[operator]
    bench.record([row])
    text = (scratch / "RESULTS.md").read_text()
    assert "## Cadence tick against the lean floor" in text and "| sqlite | 2,000 | 1,000 | 500 |" in text


def test_the_rescore_its_floors_and_the_whole_flow_re_engage_the_same_leads(scratch: Path) -> None:
    row = bench.run("sqlite", 2_000, 500, "", "rescore")
    assert row["due"] > 0  # the bank-statement leads of 600-639 in the lender's states
    assert row["flow_s"] is not None and row["flow_s"] > 0  # type: ignore[operator]
    bench.record([row])
    text = (scratch / "RESULTS.md").read_text()
    assert "## Guideline re-score, the whole flow" in text
    assert f"| sqlite | 2,000 | {row['due']:,} |" in text

"""Re-scoring after a guideline load, and the daily guideline sweep: one implementation for every entry point.

The lead table is split into id ranges, one step each (a Prefect task in the flows);
each step finds its range's newly eligible leads in one SQL pass and moves them onto
the re-engagement cadence. Then the seasoning dates are recomputed under the new
guidelines.
"""

from __future__ import annotations

from datetime import datetime

from service.pipeline import Pipeline
from service.steps import Runner, inline
from storage.guidelines import current_snapshots
from storage.rescore import RANGE_SIZE, RescoreStats, lead_id_ranges, newly_effective, rescore_snapshot
from storage.seasoning import SEASONING_SWEEP_LOOKBACK, schedule_seasoning


def _rescore_range(p: Pipeline, snapshot_id: int, lo: int, hi: int, now: datetime) -> RescoreStats:
    return rescore_snapshot(
        engine=p.engine, registry=p.registry, snapshot_id=snapshot_id, now=now, batch_size=p.settings.batch_size,
        ids=(lo, hi),
    )  # fmt: skip


def _seasoning(p: Pipeline, now: datetime, since: datetime | None) -> RescoreStats:
    return schedule_seasoning(engine=p.engine, now=now, since=since)


def rescore_snapshots(
    p: Pipeline, snapshot_ids: list[int], *, now: datetime, run: Runner = inline, range_size: int = RANGE_SIZE
) -> RescoreStats:
    """Re-engage the aged leads each snapshot made newly eligible (one step per id range and snapshot).

    Safe to run again: nobody is re-engaged twice for the same change.
    """
    totals = RescoreStats()
    if not snapshot_ids:
        return totals
    ranges = lead_id_ranges(p.engine, range_size)
    for snapshot_id in snapshot_ids:
        for lo, hi in ranges:
            totals.add(run(f"rescore-{snapshot_id}-{lo}-{hi}", _rescore_range, p, snapshot_id, lo, hi, now, retry=True))
    return totals


def rescore(p: Pipeline, snapshot_id: int, *, now: datetime, run: Runner = inline) -> RescoreStats:
    """What the ``guideline-rescore`` deployment does for one loaded snapshot: re-engage, then re-date seasoning."""
    totals = rescore_snapshots(p, [snapshot_id], now=now, run=run)
    totals.add(run("schedule-seasoning", _seasoning, p, now, None, retry=True))
    return totals


def daily(p: Pipeline, *, now: datetime, run: Runner = inline) -> tuple[list[str], RescoreStats]:
    """Once a day: re-score loosenings that took effect since they were loaded, and date credit-event seasoning
    for the leads that came to rest since. Returns the lenders whose loosening took effect, and the counts."""
    with p.engine.connect() as conn:
        due = newly_effective(conn, now.date())
        lenders = {row.id: row.lender for row in current_snapshots(conn)}
    totals = rescore_snapshots(p, due, now=now, run=run)
    totals.add(run("schedule-seasoning", _seasoning, p, now, now - SEASONING_SWEEP_LOOKBACK, retry=True))
    return [lenders[i] for i in due], totals

"""Re-scoring after a guideline load: the deployment a ``lender.guideline.loosened`` event starts.

The lead table is split into id ranges, one Prefect task each (never a task per lead);
each task finds its range's newly eligible leads in one SQL pass and moves them onto
the re-engagement cadence. Then the seasoning dates are recomputed under the new
guidelines. The CLI runs the same flow in-process when no Prefect server is configured.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.common import pipeline, resolve_now
from storage.rescore import lead_id_ranges, rescore_snapshot, schedule_seasoning

EVENT = "lender.guideline.loosened"
RANGE_SIZE = 100_000


@task(name="rescore-lead-range", cache_policy=NO_CACHE)
def rescore_range(snapshot_id: int, lo: int, hi: int, now: str) -> dict[str, Any]:
    at = resolve_now(now)
    p = pipeline(at)
    stats = rescore_snapshot(
        engine=p.engine, registry=p.registry, snapshot_id=snapshot_id, now=at, batch_size=p.settings.batch_size,
        ids=(lo, hi),
    )  # fmt: skip
    return stats.as_dict()


@task(name="schedule-seasoning", cache_policy=NO_CACHE)
def seasoning_task(now: str) -> dict[str, Any]:
    at = resolve_now(now)
    return schedule_seasoning(engine=pipeline(at).engine, now=at).as_dict()


@flow(name="guideline-rescore")
def rescore_flow(snapshot_id: int, now: str | None = None) -> dict[str, Any]:
    """Re-engage the aged leads that guideline snapshot ``snapshot_id`` made newly eligible; re-date seasoning."""
    at = resolve_now(now)
    iso = at.isoformat()
    totals: dict[str, Any] = {"snapshot_id": snapshot_id, "candidates": 0, "reengaged": 0, "suppressed": 0,
                              "mismatched": 0, "reasons": {}}  # fmt: skip
    for lo, hi in lead_id_ranges(pipeline(at).engine, RANGE_SIZE):
        part = rescore_range(snapshot_id, lo, hi, iso)
        for key in ("candidates", "reengaged", "suppressed", "mismatched"):
            totals[key] += part[key]
        for why, n in part["reasons"].items():
            totals["reasons"][why] = totals["reasons"].get(why, 0) + n
    seasoning = seasoning_task(iso)
    totals |= {"scheduled": seasoning["scheduled"], "superseded": seasoning["superseded"]}
    get_run_logger().info("rescored snapshot %s: %s", snapshot_id, totals)
    return totals

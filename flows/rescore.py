"""Re-scoring after a guideline load: the deployment a ``lender.guideline.loosened`` event starts.

The lead table is split into id ranges, one Prefect task each (never a task per lead);
each task finds its range's newly eligible leads in one SQL pass and moves them onto
the re-engagement cadence. Then the seasoning dates are recomputed under the new
guidelines. The CLI runs the same flow in-process when no Prefect server is configured.

``guideline-daily`` runs each morning: it re-scores loosenings that were loaded ahead
of their effective date once that date comes, and dates seasoning for the leads that
have come to rest in nurture since the last load.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dripline.pipeline import Pipeline
from dripline.settings import Settings
from flows.common import pipeline, resolve_now
from storage.guidelines import current_snapshots
from storage.rescore import RANGE_SIZE, lead_id_ranges, newly_effective, rescore_snapshot
from storage.seasoning import SEASONING_SWEEP_LOOKBACK, schedule_seasoning

EVENT = "lender.guideline.loosened"


def _open(at: Any, database_url: str | None) -> Pipeline:
    """The pipeline of the configured database, or of ``database_url`` (the demo passes its own)."""
    return pipeline(at, Settings(database_url=database_url) if database_url else None)  # type: ignore[arg-type]


@task(name="rescore-lead-range", cache_policy=NO_CACHE)
def rescore_range(snapshot_id: int, lo: int, hi: int, now: str, database_url: str | None = None) -> dict[str, Any]:
    at = resolve_now(now)
    p = _open(at, database_url)
    stats = rescore_snapshot(
        engine=p.engine, registry=p.registry, snapshot_id=snapshot_id, now=at, batch_size=p.settings.batch_size,
        ids=(lo, hi),
    )  # fmt: skip
    return stats.as_dict()


@task(name="schedule-seasoning", cache_policy=NO_CACHE)
def seasoning_task(now: str, database_url: str | None = None, since: str | None = None) -> dict[str, Any]:
    at = resolve_now(now)
    changed_since = resolve_now(since) if since else None
    return schedule_seasoning(engine=_open(at, database_url).engine, now=at, since=changed_since).as_dict()


def _rescore(snapshot_ids: list[int], iso: str, database_url: str | None) -> dict[str, Any]:
    totals: dict[str, Any] = {"candidates": 0, "reengaged": 0, "suppressed": 0, "mismatched": 0, "reasons": {}}
    if not snapshot_ids:
        return totals
    ranges = lead_id_ranges(_open(resolve_now(iso), database_url).engine, RANGE_SIZE)
    for snapshot_id in snapshot_ids:
        for lo, hi in ranges:
            part = rescore_range(snapshot_id, lo, hi, iso, database_url)
            for key in ("candidates", "reengaged", "suppressed", "mismatched"):
                totals[key] += part[key]
            for why, n in part["reasons"].items():
                totals["reasons"][why] = totals["reasons"].get(why, 0) + n
    return totals


@flow(name="guideline-rescore")
def rescore_flow(snapshot_id: int, now: str | None = None, database_url: str | None = None) -> dict[str, Any]:
    """Re-engage the aged leads that guideline snapshot ``snapshot_id`` made newly eligible; re-date seasoning.

    ``database_url`` defaults to the configured database (DRIPLINE_DATABASE_URL).
    """
    iso = resolve_now(now).isoformat()
    totals: dict[str, Any] = {"snapshot_id": snapshot_id} | _rescore([snapshot_id], iso, database_url)
    seasoning = seasoning_task(iso, database_url)
    totals |= {"scheduled": seasoning["scheduled"], "superseded": seasoning["superseded"]}
    get_run_logger().info("rescored snapshot %s: %s", snapshot_id, totals)
    return totals


@flow(name="guideline-daily")
def daily_flow(now: str | None = None, database_url: str | None = None) -> dict[str, Any]:
    """Each morning: re-score loosenings whose effective date has come, and date seasoning for newly resting leads."""
    at = resolve_now(now)
    iso = at.isoformat()
    with _open(at, database_url).engine.connect() as conn:
        due = newly_effective(conn, at.date())
        lenders = {row.id: row.lender for row in current_snapshots(conn)}
    totals: dict[str, Any] = {"snapshots": [lenders[i] for i in due]} | _rescore(due, iso, database_url)
    seasoning = seasoning_task(iso, database_url, (at - SEASONING_SWEEP_LOOKBACK).isoformat())
    totals |= {"scheduled": seasoning["scheduled"], "superseded": seasoning["superseded"]}
    get_run_logger().info("daily guideline sweep: %s", totals)
    return totals

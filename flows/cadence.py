"""The scheduled flows: plan due leads (tick) and send due touches (dispatch).

One Prefect task per batch of leads or touches, never one per lead.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dripline import pipeline as batch
from flows.common import pipeline, resolve_now
from storage.seasoning import enroll_seasoned
from storage.tick import expire_call_tasks


@task(name="enroll-new-leads", cache_policy=NO_CACHE)
def enroll_task(now: str, batch_size: int) -> int:
    at = resolve_now(now)
    return batch.enroll(pipeline(at), now=at, batch_size=batch_size)


@task(name="plan-due-leads", cache_policy=NO_CACHE)
def plan_task(now: str, batch_size: int) -> dict[str, Any]:
    at = resolve_now(now)
    stats = batch.plan_batch(pipeline(at), now=at, batch_size=batch_size)
    return {
        "leads": stats.leads,
        "touches": stats.touches,
        "tasks": stats.tasks,
        "skipped": stats.skipped,
        "blocked": stats.blocked,
        "deferred": stats.deferred,
        "events": dict(stats.events),
    }


@task(name="dispatch-due-touches", cache_policy=NO_CACHE)
def dispatch_task(now: str, batch_size: int) -> dict[str, Any]:
    at = resolve_now(now)
    stats = batch.dispatch_batch(pipeline(at), now=at, batch_size=batch_size)
    return vars(stats)


@flow(name="cadence-tick", log_prints=True)
def cadence_tick(now: str | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Enroll new leads and plan every lead that is due at ``now`` (default: the current time)."""
    at = resolve_now(now)
    p = pipeline(at)
    size = batch_size or p.settings.batch_size
    iso = at.isoformat()
    enrolled = enroll_task(iso, size)
    seasoned = enroll_seasoned(engine=p.engine, registry=p.registry, now=at, batch_size=size).reengaged
    expired = expire_call_tasks(engine=p.engine, now=at)
    totals = {
        "enrolled": enrolled,
        "seasoned": seasoned,
        "expired_tasks": expired,
        "leads": 0,
        "touches": 0,
        "tasks": 0,
    }
    totals |= {"blocked": 0, "deferred": 0, "batches": 0}
    while True:
        stats = plan_task(iso, size)
        totals["batches"] += 1
        for k in ("leads", "touches", "tasks", "blocked", "deferred"):
            totals[k] += stats.get(k, 0)
        if stats["leads"] < size:
            break
    get_run_logger().info("tick at %s: %s", iso, totals)
    return totals


@flow(name="dispatch", log_prints=True)
def dispatch_touches(now: str | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Send every planned touch due at ``now`` through the configured channel."""
    at = resolve_now(now)
    size = batch_size or pipeline(at).settings.batch_size
    iso = at.isoformat()
    names = ("claimed", "sent", "failed", "retried", "cancelled", "deferred", "blocked")
    totals = dict.fromkeys(names, 0) | {"batches": 0}
    while True:
        stats = dispatch_task(iso, size)
        totals["batches"] += 1
        for k in totals:
            if k != "batches":
                totals[k] += stats[k]
        if stats["claimed"] + stats["cancelled"] + stats["deferred"] + stats["blocked"] < size:
            break
    get_run_logger().info("dispatch at %s: %s", iso, totals)
    return totals

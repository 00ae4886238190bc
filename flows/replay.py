"""Replay ticks and dispatch over a time range in one flow run (``dripline run``)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from dripline.replay import replay
from flows.common import pipeline, resolve_now
from nurture.cadence import parse_duration


@flow(name="replay", log_prints=True)
def replay_range(start: str, until: str, every: str = "1h", batch_size: int | None = None) -> dict[str, Any]:
    """Tick and dispatch at every ``every`` from ``start`` to ``until``, calling the batch functions directly."""
    begin, end = resolve_now(start), resolve_now(until)
    p = pipeline(begin)
    if batch_size:
        p.settings = p.settings.model_copy(update={"batch_size": batch_size})
    stats = replay(p, start=begin, until=end, every=parse_duration(every))
    summary = {
        "steps": stats.steps,
        "idle_steps_skipped": stats.idle,
        "leads_planned": stats.tick.leads,
        "touches_planned": stats.tick.touches,
        "call_tasks": stats.tick.tasks,
        "sent": stats.dispatch.sent,
        "failed": stats.dispatch.failed,
        "cancelled": stats.dispatch.cancelled,
        "deferred": stats.dispatch.deferred + stats.tick.deferred,
        "blocked": stats.dispatch.blocked + stats.tick.blocked,
    }
    get_run_logger().info("replayed %s .. %s every %s: %s", begin, end, every, summary)
    return summary

"""The demo's simulation as one Prefect flow run over the production batch functions."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from dripline.replay import replay
from dripline.settings import Settings
from dripline.simulate import Simulation
from flows.common import pipeline, resolve_now
from nurture.cadence import parse_duration


@flow(name="demo-simulation")
def simulate_days(
    database_url: str,
    outbox_dir: str,
    start: str,
    days: int,
    seed: int,
    every: str = "1h",
    guideline_feeds: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Replay ``days`` of ticks and dispatch from ``start`` with simulated borrowers and loan officers.

    ``guideline_feeds``: (ISO time, feed file) pairs, each loaded at its time as a lender's feed would be.
    """
    begin = resolve_now(start)
    settings = Settings(database_url=database_url, outbox_dir=outbox_dir, channel="local")  # type: ignore[arg-type]
    p = pipeline(begin, settings)
    feeds = [(resolve_now(at), Path(path)) for at, path in guideline_feeds or []]
    sim = Simulation(engine=p.engine, seed=seed, start=begin, pipeline=p, guideline_feeds=feeds)
    step = parse_duration(every)
    stats = replay(p, start=begin, until=begin + timedelta(days=days), every=step, hook=sim)
    summary = {
        "steps": stats.steps,
        "idle_steps_skipped": stats.idle,
        "planned": stats.tick.touches,
        "call_tasks": stats.tick.tasks,
        "sent": stats.dispatch.sent,
        "by_channel": {str(k): v for k, v in stats.dispatch.by_channel.items()},
        "guideline_loads": sim.guideline_loads,
    }
    get_run_logger().info("simulated %s days: %s", days, summary)
    return summary

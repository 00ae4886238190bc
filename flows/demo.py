"""The demo's simulation as one Prefect flow run over the production tick and dispatch."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from flows.common import pipeline, resolve_now
from service.simulate import demo_settings, simulate


@flow(name="demo-simulation", flow_run_name="demo: {days} simulated days")
def simulate_days(
    start: datetime,
    days: int,
    seed: int,
    every: str = "1h",
    guideline_feeds: list[tuple[datetime, str]] | None = None,
    folder: str | None = None,
    scrub_every_days: int | None = None,
) -> dict[str, Any]:
    """Replay ``days`` of ticks and dispatch from ``start`` with simulated borrowers and loan officers, on the
    demo database in ``folder`` (default: the configured database).

    ``guideline_feeds``: (time, feed file) pairs, each loaded at its time as a lender's feed would be.
    ``scrub_every_days``: the numbers waiting on a DNC scrub are scrubbed that often (files in ``folder``/dnc).
    """
    begin = resolve_now(start)
    p = pipeline(begin, demo_settings(Path(folder)) if folder else None)
    feeds = [(resolve_now(at), Path(path)) for at, path in guideline_feeds or []]
    where = Path(folder) if folder else Path(p.settings.outbox_dir).parent
    summary = simulate(
        p,
        start=begin,
        days=days,
        seed=seed,
        every=every,
        guideline_feeds=feeds,
        scrub_every=timedelta(days=scrub_every_days) if scrub_every_days else None,
        scrub_folder=where / "dnc",
    )
    get_run_logger().info(
        "simulated %s days: %s messages sent, %s call tasks", days, summary["sent"], summary["call_tasks"]
    )
    return summary

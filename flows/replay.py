"""Replay ticks and dispatch over a time range in one flow run (``dripline run`` with a Prefect API)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.common import markdown_table, pipeline, publish, resolve_now, stamp
from service.replay import replay_summary


def _name() -> str:
    params = flow_run.parameters
    return f"replay {stamp(resolve_now(params['start']))} .. {stamp(resolve_now(params['until']))}"


@flow(name="replay", flow_run_name=_name)
def replay_range(start: datetime, until: datetime, every: str = "1h", batch_size: int | None = None) -> dict[str, Any]:
    """Tick and dispatch at every ``every`` from ``start`` to ``until``, in this flow run's process."""
    begin, end = resolve_now(start), resolve_now(until)
    summary = replay_summary(pipeline(begin), start=begin, until=end, every=every, batch_size=batch_size)
    get_run_logger().info(
        "replayed %s .. %s every %s: %s steps, %s sent, %s call tasks",
        stamp(begin), stamp(end), every, summary["steps"], summary["sent"], summary["call_tasks"],
    )  # fmt: skip
    rows = [{"what": k.replace("_", " "), "count": v} for k, v in summary.items()]
    publish("replay-summary", f"Replay {stamp(begin)} .. {stamp(end)}", markdown_table(rows), "what the replay did")
    return summary

"""The scheduled flows: plan due leads (tick) and send due touches (dispatch).

Each is the service function with the Prefect step runner: one task per batch of leads or
touches, never one per lead. Every run is named for its time and leaves a summary artifact.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.common import markdown_table, pipeline, prefect_step, publish, resolve_now, stamp
from service import pipeline as service
from service.alerts import dispatch_and_alert


def _named(verb: str) -> Any:
    def name() -> str:
        return f"{verb} {stamp(resolve_now(flow_run.parameters.get('at')))}"

    return name


@flow(name="cadence-tick", flow_run_name=_named("tick"))
def cadence_tick(at: datetime | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Enroll new leads and plan every lead that is due at ``at`` (default: the current time)."""
    now = resolve_now(at)
    summary = service.tick(pipeline(now), now=now, batch_size=batch_size, run=prefect_step).as_dict()
    get_run_logger().info(
        "tick at %s: %s leads planned, %s messages queued, %s call tasks, %s blocked, %s deferred, %s enrolled",
        stamp(now), summary["leads"], summary["touches"], summary["tasks"], summary["blocked"], summary["deferred"],
        summary["enrolled"],
    )  # fmt: skip
    publish(
        "tick-summary",
        f"Tick {stamp(now)}",
        markdown_table([{"what": k.replace("_", " "), "count": v} for k, v in summary.items()]),
        "leads enrolled and planned, messages queued, call tasks created, what the compliance gate held back",
    )
    return summary


@flow(name="dispatch", flow_run_name=_named("dispatch"))
def dispatch_touches(at: datetime | None = None, batch_size: int | None = None) -> dict[str, Any]:
    """Send every planned touch due at ``at`` through the configured channel, then the loan officers' alerts."""
    now = resolve_now(at)
    done = dispatch_and_alert(pipeline(now), now=now, batch_size=batch_size, run=prefect_step)
    stats, alerted = done.messages, done.alerts
    get_run_logger().info(
        "dispatch at %s: %s sent, %s failed, %s retried later, %s blocked, %s deferred, %s cancelled",
        stamp(now), stats.sent, stats.failed, stats.retried, stats.blocked, stats.deferred, stats.cancelled,
    )  # fmt: skip
    result = done.as_dict()
    rows = [{"what": k, "count": v} for k, v in stats.as_dict().items() if k != "by_channel"]
    rows += [{"what": f"sent by {channel}", "count": n} for channel, n in sorted(stats.by_channel.items())]
    rows += [{"what": f"officer alerts {k}", "count": v} for k, v in alerted.as_dict().items() if v]
    publish(
        "dispatch-summary", f"Dispatch {stamp(now)}", markdown_table(rows), "what went out, by channel, and why not"
    )
    return result

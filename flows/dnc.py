"""The daily DNC re-scrub check (``dnc-scrub-check``): which numbers hold work waiting on a scrub, as an artifact,
and a ``dripline.dnc.scrub_due`` event when there are any."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.common import markdown_table, pipeline, prefect_step, publish, resolve_now, stamp
from flows.events import emit_scrub_due
from service import dnc as service

LISTED = 500  # numbers shown in the artifact; `dripline dnc due --csv` exports them all


def _name() -> str:
    return f"dnc scrub check {stamp(resolve_now(flow_run.parameters.get('at')))[:10]}"


@flow(name="dnc-scrub-check", flow_run_name=_name)
def dnc_check_flow(at: datetime | None = None) -> dict[str, Any]:
    """List the numbers whose texts, voicemails or call tasks wait on a DNC scrub; emit an event when any do."""
    now = resolve_now(at)
    p = pipeline(now)
    due = prefect_step("due-numbers", service.due, p, retry=True)
    counts = {
        "numbers": len(due),
        "touches": sum(d.touches for d in due),
        "call_tasks": sum(d.tasks for d in due),
    }
    oldest = min((d.held_since for d in due), default=None)
    get_run_logger().info(
        "%s numbers wait on a DNC scrub (%s texts/voicemails, %s call tasks)",
        counts["numbers"], counts["touches"], counts["call_tasks"],
    )  # fmt: skip
    rows = [service.due_row(d) for d in due[:LISTED]]
    publish(
        "dnc-scrub-due",
        f"Numbers waiting on a DNC scrub, {stamp(now)[:10]}",
        markdown_table([counts]) + f"\n## Most held first (at most {LISTED})\n\n" + markdown_table(rows),
        "export them with `dripline dnc due --csv FILE`; import the results with `dripline dnc import`",
    )
    event = emit_scrub_due(**counts, oldest=oldest, now=now) if due else None
    return counts | {"event_id": event}

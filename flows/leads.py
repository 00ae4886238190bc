"""Lead import as a flow (the ``import-leads`` deployment): the service's import, then enrollment."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.common import markdown_table, pipeline, prefect_step, publish, resolve_now
from service.leads import import_file


def _name() -> str:
    return f"import {Path(str(flow_run.parameters['path'])).name}"


@flow(name="import-leads", flow_run_name=_name)
def import_leads_flow(path: str, at: datetime | None = None) -> dict[str, Any]:
    """Import a purchased lead file and enroll its new leads in the current cadence."""
    now = resolve_now(at)
    summary = import_file(pipeline(now), path=Path(path), now=now, run=prefect_step)
    get_run_logger().info(
        "imported %s: %s created, %s updated, %s rejected, %s enrolled",
        Path(path).name, summary["created"], summary["updated"], summary["rejected"], summary["enrolled"],
    )  # fmt: skip
    rows = [{"what": k, "count": v} for k, v in summary.items() if isinstance(v, int)]
    publish("import-summary", f"Import of {Path(path).name}", markdown_table(rows), "rows created, updated, rejected")
    return summary

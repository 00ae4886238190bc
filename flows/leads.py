"""Lead import as a flow: one task reads the whole file in batches, then new leads are enrolled."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from dripline import pipeline as batch
from flows.common import pipeline, resolve_now
from storage.importer import import_leads


@task(name="import-lead-file", cache_policy=NO_CACHE)
def import_task(path: str, now: str) -> dict[str, Any]:
    at = resolve_now(now)
    summary = import_leads(engine=pipeline(at).engine, path=Path(path), now=at)
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(summary).items()}


@flow(name="import-leads")
def import_leads_flow(path: str, at: str | None = None) -> dict[str, Any]:
    """Import a purchased lead file and enroll its new leads in the current cadence."""
    now = resolve_now(at)
    summary = import_task(path, now.isoformat())
    p = pipeline(now)
    summary["enrolled"] = batch.enroll(p, now=now, batch_size=p.settings.batch_size)
    get_run_logger().info("imported %s: %s", path, {k: v for k, v in summary.items() if k != "errors"})
    return summary

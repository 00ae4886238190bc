"""Re-scoring after a guideline load (``guideline-rescore``, started by the ``lender.guideline.loosened`` event)
and the daily guideline sweep (``guideline-daily``): the service functions with the Prefect step runner.

Each run is named for what it re-scores and leaves an artifact: counts by reason and who was re-engaged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.common import markdown_table, pipeline, prefect_step, publish, resolve_now, stamp
from service import rescore as service
from service.report import funnel_markdown
from storage.rescore import RescoreStats, reengagements_of, snapshot_lender


def _rescore_name() -> str:
    snapshot_id = int(flow_run.parameters["snapshot_id"])
    lender = snapshot_lender(pipeline(resolve_now(None)).engine, snapshot_id)
    return f"rescore snapshot {snapshot_id}: {lender or 'unknown lender'}"


def _daily_name() -> str:
    return f"guideline sweep {stamp(resolve_now(flow_run.parameters.get('at')))[:10]}"


def _counts(stats: RescoreStats) -> str:
    rows = [{"what": k, "count": v} for k, v in stats.as_dict().items() if k != "reasons"]
    reasons = [{"reason": f"one of our lenders {why}", "leads": n} for why, n in stats.reasons.most_common()]
    return markdown_table(rows) + "\n## Re-engaged, by reason\n\n" + markdown_table(reasons)


@flow(name="guideline-rescore", flow_run_name=_rescore_name)
def rescore_flow(snapshot_id: int, at: datetime | None = None) -> dict[str, Any]:
    """Re-engage the aged leads that guideline snapshot ``snapshot_id`` made newly eligible; re-date seasoning."""
    now = resolve_now(at)
    p = pipeline(now)
    stats = service.rescore(p, snapshot_id, now=now, run=prefect_step)
    get_run_logger().info(
        "snapshot %s: %s leads re-engaged, %s opted out (not contacted), %s dated for seasoning",
        snapshot_id, stats.reengaged, stats.suppressed, stats.scheduled,
    )  # fmt: skip
    who = reengagements_of(p.engine, snapshot_id, limit=500)
    publish(
        f"rescore-snapshot-{snapshot_id}",
        f"Re-score of snapshot {snapshot_id} ({snapshot_lender(p.engine, snapshot_id)})",
        _counts(stats) + "\n## Who (highest priority first, at most 500)\n\n" + markdown_table(who),
        "who the guideline change re-engaged and why",
    )
    return {"snapshot_id": snapshot_id} | stats.as_dict()


@flow(name="guideline-daily", flow_run_name=_daily_name)
def daily_flow(at: datetime | None = None) -> dict[str, Any]:
    """Each morning: re-score loosenings whose effective date has come, date seasoning for newly resting leads,
    and publish the day's funnel."""
    now = resolve_now(at)
    p = pipeline(now)
    lenders, stats = service.daily(p, now=now, run=prefect_step)
    get_run_logger().info(
        "daily sweep %s: loosenings took effect at %s; %s re-engaged, %s dated for seasoning",
        stamp(now)[:10], ", ".join(lenders) or "no lender", stats.reengaged, stats.scheduled,
    )  # fmt: skip
    publish("guideline-daily", f"Guideline sweep {stamp(now)[:10]}", _counts(stats), "loosenings that took effect")
    publish("daily-funnel", f"Funnel on {stamp(now)[:10]}", funnel_markdown(p.engine), "the funnel by product")
    return {"snapshots": lenders} | stats.as_dict()

"""Events dripline emits to Prefect: a guideline loosening (the ``guideline-rescore`` deployment's trigger starts the
flow) and numbers due for a DNC re-scrub (``dnc-scrub-check``)."""

from __future__ import annotations

import re
from datetime import datetime

from prefect.events import emit_event
from prefect.settings import PREFECT_API_URL, temporary_settings

from storage.guidelines import LenderLoad

EVENT = "lender.guideline.loosened"


def emit_loosened(load: LenderLoad, now: datetime, *, api: str | None = None) -> str:
    """Emit ``lender.guideline.loosened`` for one stored loosening; returns the event id. ``api``: the Prefect API
    to send it to, when it is not this process's own setting (a long-running web app finds it per request)."""
    if api is not None:
        with temporary_settings(updates={PREFECT_API_URL: api}):
            return emit_loosened(load, now)
    slug = re.sub(r"[^a-z0-9]+", "-", load.lender.lower()).strip("-")
    event = emit_event(
        event=EVENT,
        resource={"prefect.resource.id": f"dripline.lender.{slug}", "prefect.resource.name": load.lender},
        payload={
            "snapshot_id": load.snapshot_id,
            "lender": load.lender,
            "loaded_at": now.isoformat(),
            "changes": [
                {"program": c.program.value, "field": c.field, "describe": c.describe()}
                for c in load.changes
                if c.direction.value == "loosening"
            ],
        },
    )
    if event is None:
        raise RuntimeError("Prefect did not accept the event (is the API reachable?)")
    return str(event.id)


SCRUB_DUE = "dripline.dnc.scrub_due"


def emit_scrub_due(*, numbers: int, touches: int, call_tasks: int, oldest: datetime | None, now: datetime) -> str:
    """Emit ``dripline.dnc.scrub_due``: phone numbers hold work that waits on a DNC re-scrub; returns the event id.

    An automation in Prefect (a notification to marketing ops, a vendor upload) can match it; the payload carries
    the counts, never the numbers themselves."""
    event = emit_event(
        event=SCRUB_DUE,
        resource={"prefect.resource.id": "dripline.dnc", "prefect.resource.name": "DNC re-scrub"},
        payload={
            "numbers": numbers,
            "touches": touches,
            "call_tasks": call_tasks,
            "oldest_held_since": oldest.isoformat() if oldest else None,
            "checked_at": now.isoformat(),
        },
    )
    if event is None:
        raise RuntimeError("Prefect did not accept the event (is the API reachable?)")
    return str(event.id)

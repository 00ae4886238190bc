"""Announcing a guideline loosening to Prefect: the ``guideline-rescore`` deployment's trigger starts the flow."""

from __future__ import annotations

import re
from datetime import datetime

from prefect.events import emit_event

from storage.guidelines import LenderLoad

EVENT = "lender.guideline.loosened"


def emit_loosened(load: LenderLoad, now: datetime) -> str:
    """Emit ``lender.guideline.loosened`` for one stored loosening; returns the event id."""
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

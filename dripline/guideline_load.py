"""Loading a lender guideline feed: store what changed, then re-score through Prefect or in-process.

With a Prefect server configured (``PREFECT_API_URL``), each lender whose programs
loosened gets a ``lender.guideline.loosened`` event; the ``guideline-rescore``
deployment in prefect.yaml is triggered by it. Without one (the ephemeral default),
the same flow runs here, directly. A load that only tightens re-dates seasoning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dripline.pipeline import Pipeline
from nurture.guidelines import parse_feed
from storage.guidelines import LenderLoad, LoadResult, load_snapshot
from storage.seasoning import schedule_seasoning

FORMATS = {".json": "json", ".csv": "csv"}


@dataclass(slots=True)
class LoadOutcome:
    result: LoadResult
    events: list[str] = field(default_factory=list)  # ids of the events emitted
    rescored: list[dict[str, Any]] = field(default_factory=list)  # flow results when run in-process
    seasoning: dict[str, Any] | None = None


def feed_format(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise ValueError(f"{path.name}: a guideline feed is .json or .csv") from None


def load_guideline_file(
    p: Pipeline, *, path: Path, now: datetime, loaded_by: str, rescore: str = "auto"
) -> LoadOutcome:
    """Parse (raises ``nurture.guidelines.FeedError`` listing every problem), store, and start re-scoring.

    ``rescore``: ``auto`` (an event when a Prefect server is configured, else in-process), ``event``,
    ``inline`` or ``none``.
    """
    programs = parse_feed(path.read_text(encoding="utf-8"), format=feed_format(path))
    return load_programs(p, programs=programs, source=path.name, now=now, loaded_by=loaded_by, rescore=rescore)


def load_programs(
    p: Pipeline, *, programs: list[Any], source: str, now: datetime, loaded_by: str, rescore: str = "auto"
) -> LoadOutcome:
    result = load_snapshot(engine=p.engine, programs=programs, source=source, loaded_by=loaded_by, now=now)
    outcome = LoadOutcome(result)
    loosened = [x for x in result.stored if x.loosened]
    mode = ("event" if prefect_server_configured() else "inline") if rescore == "auto" else rescore
    for load in loosened:
        assert load.snapshot_id is not None  # only stored snapshots are listed
        if mode == "event":
            outcome.events.append(emit_loosened(load, now))
        elif mode == "inline":
            from flows.rescore import rescore_flow

            run = rescore_flow(snapshot_id=load.snapshot_id, now=now.isoformat(), database_url=p.settings.database_url)
            outcome.rescored.append(run)
    if result.stored and not loosened and mode != "none":
        outcome.seasoning = schedule_seasoning(engine=p.engine, now=now).as_dict()
    return outcome


def prefect_server_configured() -> bool:
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def emit_loosened(load: LenderLoad, now: datetime) -> str:
    """Announce a loosening to Prefect; the guideline-rescore deployment's trigger starts the flow."""
    from prefect.events import emit_event

    from flows.rescore import EVENT

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

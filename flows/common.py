"""What every flow shares: settings, the pipeline per process, and ``now``."""

from __future__ import annotations

import os
from datetime import datetime

import pendulum

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

from dripline.pipeline import Pipeline
from dripline.settings import Settings, get_settings

_pipelines: dict[str, Pipeline] = {}


def resolve_now(now: str | datetime | None) -> datetime:
    """The flow's ``now``: the parameter if given (ISO 8601), else the wall clock at the edge."""
    if now is None:
        return pendulum.now("UTC")
    if isinstance(now, datetime):
        return pendulum.instance(now).in_timezone("UTC")
    parsed = pendulum.parse(now)
    if not isinstance(parsed, pendulum.DateTime):
        raise ValueError(f"now: {now!r} is not a date and time")
    return parsed.in_timezone("UTC")


def pipeline(now: datetime, settings: Settings | None = None) -> Pipeline:
    """One Pipeline per database URL per process (engines are pooled, not rebuilt per batch)."""
    settings = settings or get_settings()
    key = settings.database_url
    if key not in _pipelines:
        _pipelines[key] = Pipeline.open(settings, now=now)
    return _pipelines[key]


def forget_pipelines() -> None:
    for p in _pipelines.values():
        p.engine.dispose()
    _pipelines.clear()

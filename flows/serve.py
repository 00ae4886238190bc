"""``dripline serve``: run the scheduled deployments in this process with Prefect's serve().

The ephemeral API does not run schedules, so when no PREFECT_API_URL is set a
local Prefect server is started on loopback first and stopped on exit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from prefect import serve
from prefect.settings import PREFECT_API_URL, temporary_settings

from dripline.local_prefect import running
from dripline.settings import Settings
from flows.cadence import cadence_tick, dispatch_touches
from flows.rescore import daily_flow
from nurture.cadence import parse_duration


@contextmanager
def local_prefect_server(port: int, *, timeout: float = 120.0) -> Iterator[str]:
    """Start ``prefect server start`` on 127.0.0.1:port and yield its API URL."""
    with running(port, timeout=timeout) as server:
        yield server.url


def deployments(settings: Settings, every: str | None = None) -> list:  # type: ignore[type-arg]
    interval = parse_duration(every or settings.tick_every)
    return [
        cadence_tick.to_deployment(
            name="cadence-tick", interval=interval, concurrency_limit=1, description="plan every lead that is due"
        ),
        dispatch_touches.to_deployment(
            name="dispatch", interval=interval, concurrency_limit=1, description="send every touch that is due"
        ),
        daily_flow.to_deployment(
            name="guideline-daily",
            cron="0 11 * * *",
            concurrency_limit=1,
            description="re-score loosenings that took effect; date seasoning for newly resting leads",
        ),
    ]


def serve_locally(settings: Settings, *, every: str | None = None, port: int = 4200) -> None:
    if os.environ.get("PREFECT_API_URL"):
        serve(*deployments(settings, every))
        return
    with local_prefect_server(port) as url, temporary_settings(updates={PREFECT_API_URL: url}):
        names = "cadence-tick, dispatch and guideline-daily"
        print(f"local Prefect server at {url}; serving {names} (Ctrl-C to stop)", flush=True)
        serve(*deployments(settings, every))

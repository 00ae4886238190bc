"""``dripline serve``: the deployments of ``prefect.yaml``, run in this process with Prefect's serve().

``prefect.yaml`` is the one definition of the deployments: ``prefect deploy --all`` registers it
with a server and work pool; :func:`deployments` builds the same deployments (names, schedules,
concurrency, parameters, triggers) for serve(). The ephemeral API does not run schedules, so
when no Prefect API is configured a local Prefect server (with its UI) is started on loopback
first and stopped on exit.
"""

from __future__ import annotations

import importlib
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig
from prefect.events import DeploymentEventTrigger
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.api import announce_serve, withdraw_serve
from flows.local_server import running
from service.settings import Settings

PREFECT_YAML = Path(__file__).resolve().parent.parent / "prefect.yaml"


def prefect_yaml() -> dict[str, Any]:
    """``prefect.yaml`` with its anchors resolved (the copy in the wheel when installed)."""
    installed = Path(__file__).resolve().parent / "_project" / "prefect.yaml"
    return yaml.safe_load((installed if installed.exists() else PREFECT_YAML).read_text())


def _flow(entrypoint: str) -> Any:
    path, name = entrypoint.split(":")
    return getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)


def _schedule(spec: dict[str, Any], every: timedelta | None) -> dict[str, Any]:
    if "interval" in spec:
        return {"interval": every or timedelta(seconds=spec["interval"])}
    return {"cron": spec["cron"]}


def _triggers(spec: dict[str, Any]) -> list[DeploymentEventTrigger] | None:
    triggers = [DeploymentEventTrigger(**{k: v for k, v in t.items() if k != "type"}) for t in spec.get("triggers", [])]
    return triggers or None


def deployments(every: timedelta | None = None) -> list[Any]:
    """Every deployment of prefect.yaml as a RunnerDeployment; ``every`` overrides interval schedules (tests)."""
    built = []
    for spec in prefect_yaml()["deployments"]:
        [schedule] = [_schedule(s, every) for s in spec.get("schedules", [])] or [{}]
        limit = spec.get("concurrency_limit")
        built.append(
            _flow(spec["entrypoint"]).to_deployment(
                name=spec["name"],
                description=" ".join(str(spec.get("description", "")).split()),
                parameters=spec.get("parameters") or {},
                concurrency_limit=ConcurrencyLimitConfig(**limit) if limit else None,
                triggers=_triggers(spec),
                **schedule,
            )
        )
    return built


def serve_locally(settings: Settings, *, every: timedelta | None = None, port: int = 4200) -> None:
    """Serve every deployment until Ctrl-C; announce the API so one-off commands report their runs there."""
    names = ", ".join(d["name"] for d in prefect_yaml()["deployments"])
    if os.environ.get("PREFECT_API_URL"):
        announce_serve(settings.database_url, os.environ["PREFECT_API_URL"])
        try:
            serve(*deployments(every))
        finally:
            withdraw_serve(settings.database_url)
        return
    with running(port, ui=True) as server, temporary_settings(updates={PREFECT_API_URL: server.url}):
        print(f"Prefect UI at {server.ui_url}; serving {names} (Ctrl-C to stop)", flush=True)
        announce_serve(settings.database_url, server.url)
        try:
            serve(*deployments(every))
        finally:
            withdraw_serve(settings.database_url)

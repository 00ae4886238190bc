"""What every ``dripline`` subcommand shares: consoles, the --now option, settings and the pipeline."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from typing import Annotated, Any

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import pendulum
import typer
from rich.console import Console

from service.settings import Settings, get_settings

console = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, soft_wrap=True)

NowOpt = Annotated[str | None, typer.Option("--now", help="ISO 8601 time to act at (default: now)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="one JSON object per line")]


def parse_time(value: str | None, *, option: str = "--now") -> datetime:
    """An ISO 8601 time from the command line, or the current time (the clock is read only here)."""
    if value is None:
        return pendulum.now("UTC")
    try:
        parsed = pendulum.parse(value)
    except (ValueError, pendulum.parsing.exceptions.ParserError):
        example = "2026-11-22T09:00:00-05:00"
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time like {example}", param_hint=option) from None
    if not isinstance(parsed, pendulum.DateTime):
        raise typer.BadParameter(f"{value!r} is a date; give a time too", param_hint=option)
    return parsed.in_timezone("UTC")


def settings() -> Settings:
    try:
        return get_settings()
    except ValueError as exc:
        err.print(f"[red]settings:[/] {exc}")
        raise typer.Exit(2) from None


def open_pipeline(now: datetime) -> Any:
    from nurture.cadence import CadenceError
    from nurture.compliance import RuleTableError
    from service.pipeline import ComplianceSettingsError, Pipeline

    try:
        return Pipeline.open(settings(), now=now)
    except CadenceError as exc:
        err.print(f"[red]cadence:[/] {exc}")
        raise typer.Exit(2) from None
    except RuleTableError as exc:
        err.print(f"[red]compliance rule table:[/] {exc}")
        raise typer.Exit(2) from None
    except ComplianceSettingsError as exc:
        err.print(f"[red]settings:[/] {exc}")
        raise typer.Exit(2) from None


def prefect_api() -> str | None:
    """The Prefect API to run flows against (``PREFECT_API_URL``, a running ``dripline serve``), or None."""
    from flows.api import api_url

    return api_url(settings().database_url)


def in_process(what: str) -> None:
    """Say, in one line on stderr, that a command runs here because no Prefect API is configured."""
    err.print(
        f"[dim]no Prefect API configured: {what} in this process "
        "(start `dripline serve` or set PREFECT_API_URL to record runs in Prefect)[/]"
    )


def quiet_prefect() -> None:
    """Keep Prefect's log lines out of the command's output: they go to the Prefect API, and to the console only
    with ``--verbose``. Must run before Prefect is imported."""
    if not os.environ.get("DRIPLINE_VERBOSE"):
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
        os.environ.setdefault("PREFECT_LOGGING_INTERNAL_LEVEL", "ERROR")


def run_flow(flow: Any, api: str, **parameters: Any) -> Any:
    """Run ``flow`` in this process as a flow run reported to ``api``; print the run's name and URL (stderr)."""
    quiet_prefect()
    os.environ["PREFECT_API_URL"] = api
    state = flow(**parameters, return_state=True)
    run_id = state.state_details.flow_run_id
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        name = client.read_flow_run(run_id).name
    err.print(f"flow run {name}: {api.removesuffix('/api')}/runs/flow-run/{run_id}", soft_wrap=True)
    return state.result()


def _engine() -> Any:
    from storage.db import make_engine

    return make_engine(settings().database_url)

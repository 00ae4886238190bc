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

from dripline.settings import Settings, get_settings

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
    from dripline.pipeline import ComplianceSettingsError, Pipeline
    from nurture.cadence import CadenceError
    from nurture.compliance import RuleTableError

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


def _engine() -> Any:
    from storage.db import make_engine

    return make_engine(settings().database_url)

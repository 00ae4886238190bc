"""What every ``dripline`` subcommand shares: consoles, the --at option, ids, settings and the pipeline."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import pendulum
import typer
from rich.console import Console

from dripline.cli_errors import err
from service.settings import Settings, get_settings

console = Console(width=None if sys.stdout.isatty() else 120)

AtOpt = Annotated[str | None, typer.Option("--at", help="ISO 8601 time to act at (default: now)")]
NowOpt = AtOpt  # the option was --now; the command line still accepts that name (cli_errors.alias_options)
JsonOpt = Annotated[bool, typer.Option("--json", help="one JSON object per line")]
MAX_ID = 2**31 - 1  # ids are INTEGER columns on SQLite and PostgreSQL alike
M = TypeVar("M")


def record_id(what: str) -> Any:
    """A parser for a database id: a whole number from 1 to MAX_ID (a larger one cannot name anything stored)."""

    def parse(value: str) -> int:
        try:
            number = int(str(value).strip())
        except ValueError:
            raise typer.BadParameter(f"{value!r} is not a {what} id (a whole number)") from None
        if not 1 <= number <= MAX_ID:
            raise typer.BadParameter(f"there is no {what} {number}: ids run from 1 to {MAX_ID}")
        return number

    return parse


def id_argument(what: str) -> Any:
    return typer.Argument(parser=record_id(what), metavar=what.upper().replace(" ", "_") + "_ID",
                          help=f"the {what} id", show_default=False)  # fmt: skip


def checked_input(model: type[M], names: dict[str, str], **values: Any) -> M:
    """``model`` (a ``service.inputs`` model) built from command-line values, or a usage error naming each bad
    option as the person typed it (``names``: field -> option)."""
    from pydantic import ValidationError

    from service.inputs import problems

    try:
        return model(**values)
    except ValidationError as exc:
        found = problems(exc, names)
        if len(found) == 1:
            raise typer.BadParameter(found[0][1], param_hint=found[0][0]) from None
        raise typer.BadParameter("; ".join(f"{name}: {why}" for name, why in found)) from None


def parse_time(value: str | None, *, option: str = "--at") -> datetime:
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
    from pydantic import ValidationError

    from dripline.cli_errors import fail, settings_message

    try:
        return get_settings()
    except ValidationError as exc:
        fail(f"settings: {settings_message(exc)}")
    except ValueError as exc:
        fail(f"settings: {exc}")


def checked_database() -> str:
    """The database URL, once the database is known to exist at the current schema (nothing is created)."""
    from storage.db import check_database

    url = settings().database_url
    check_database(url)
    return url


def open_pipeline(now: datetime) -> Any:
    from nurture.cadence import CadenceError
    from nurture.compliance import RuleTableError
    from service.pipeline import ComplianceSettingsError, Pipeline

    checked_database()
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


def as_flow_or_here(flow: str, here: Callable[[], Any], *, doing: str, **parameters: Any) -> Any:
    """What a one-off command runs: with a Prefect API, ``flow`` ("module:function", imported only then) called with
    ``parameters`` as a flow run reported there; with none, ``here()``, the same service code, in this process, after
    one line saying so (``doing``: "ticking")."""
    if api := prefect_api():
        return run_flow(flow, api, **parameters)
    in_process(doing)
    return here()


def run_flow(flow: str, api: str, **parameters: Any) -> Any:
    """Run ``flow`` ("module:function") in this process as a flow run reported to ``api``; print the run's name and
    URL (stderr).

    Prefect reads its settings and sets up its logging when it is first imported: the API and the quiet console are
    put in the environment before the flow's module is imported, or Prefect would start a temporary server of its own
    and log to the console. ``temporary_settings`` covers a process that has imported Prefect already.
    """
    quiet_prefect()
    os.environ["PREFECT_API_URL"] = api
    module, name = flow.split(":")
    function = getattr(importlib.import_module(module), name)
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api}):
        state = function(**parameters, return_state=True)
        run_id = state.state_details.flow_run_id
        with get_client(sync_client=True) as client:
            run_name = client.read_flow_run(run_id).name
        err.print(f"flow run {run_name}: {api.removesuffix('/api')}/runs/flow-run/{run_id}", soft_wrap=True)
        return state.result()


def _engine() -> Any:
    from storage.db import make_engine

    return make_engine(checked_database())

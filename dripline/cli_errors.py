"""The root of the ``dripline`` command: errors a person can read and help grouped by who uses each command.

Every failure is one or two lines on stderr and an exit code, 2 for bad usage or input and 1 for an operational
failure; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer
from rich.console import Console
from typer._click.exceptions import ClickException, NoArgsIsHelpError  # Typer's own copy of click
from typer.core import TyperGroup

err = Console(stderr=True, soft_wrap=True)  # every message to the person, one console for the whole CLI

USAGE, OPERATIONAL = 2, 1
CHECK_DATABASE = "check --db or DRIPLINE_DATABASE_URL, and that the database server is running"
# The one time option is --at; --now, its old name, still works.
TIME_ALIASES = {"--now": "--at"}
# The panels of `dripline --help`, by who uses the commands, in the order they are shown.
PANELS = OFFICER, MARKETING, ADMIN = ("Loan officers", "Marketing ops", "Admin")


def alias_options(args: Sequence[str]) -> list[str]:
    """``args`` with old option names replaced by the current ones (up to a ``--`` that ends the options)."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + list(args[i:])
        name, eq, value = arg.partition("=")
        out.append(TIME_ALIASES[name] + eq + value if name in TIME_ALIASES else arg)
    return out


def settings_message(exc: Any) -> str:
    """A pydantic settings ``ValidationError`` as ``DRIPLINE_NAME: what is wrong``, one line, no help URL."""
    from service.settings import Settings

    prefix = Settings.model_config.get("env_prefix", "")
    parts = []
    for e in exc.errors(include_url=False):
        msg = str(e["msg"]).removeprefix("Value error, ")
        if e["loc"]:
            name = prefix + "_".join(str(p) for p in e["loc"]).upper()
            got = e.get("input")
            shown = f" (got {got!r})" if isinstance(got, str | int | float) and e["type"] != "missing" else ""
            parts.append(f"{name}: {msg}{shown}")
        else:
            parts.append(msg)
    return "; ".join(parts)


def describe(exc: BaseException) -> tuple[int, str]:
    """The exit code and the message for an exception nothing below the CLI turned into one."""
    import pydantic
    import sqlalchemy as sa

    from storage.db import DatabaseNotReady, DatabaseUnreachable, DatabaseURLError, first_line
    from storage.import_csv import ImportFileError

    if isinstance(exc, pydantic.ValidationError) and exc.title == "Settings":
        return USAGE, f"settings: {settings_message(exc)}"
    if isinstance(exc, DatabaseURLError):
        return USAGE, f"--db / DRIPLINE_DATABASE_URL: {exc}"
    if isinstance(exc, DatabaseNotReady):
        return USAGE, str(exc)
    if isinstance(exc, DatabaseUnreachable):
        return OPERATIONAL, f"{exc}\n{CHECK_DATABASE}"
    if isinstance(exc, ImportFileError):
        return USAGE, f"refused, nothing imported: {exc}"
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        return OPERATIONAL, f"database: {first_line(exc.orig)}\n{CHECK_DATABASE}"
    if isinstance(exc, sa.exc.DBAPIError):
        return OPERATIONAL, f"database refused the change, nothing was written: {first_line(exc.orig)}"
    if isinstance(exc, UnicodeError):
        return USAGE, f"not UTF-8 text: {exc}"
    if isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError):
        return USAGE, f"{exc.filename}: {exc.strerror} (a path given on the command line or in a DRIPLINE_ setting)"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return OPERATIONAL, f"{where}{exc.strerror or first_line(exc)}"
    if isinstance(exc, RecursionError):
        return USAGE, "the input is nested too deeply to read"
    return (
        OPERATIONAL,
        f"unexpected error: {type(exc).__name__}: {first_line(exc)}\nrun again with --debug for the details",
    )


def fail(message: str, code: int = USAGE) -> NoReturn:
    """Print ``message`` (one or two lines) on stderr and exit with ``code``."""
    err.print(message, markup=False, highlight=False)
    raise typer.Exit(code)


class PanelOrder(TyperGroup):
    """A command group whose ``--help`` shows the panels in the order of PANELS (then any other), each panel's
    commands in the order they were defined. Rich draws the panels in the order their first command is listed."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda name: _panel_rank(self.commands[name]))


def _panel_rank(command: Any) -> int:
    panel = getattr(command, "rich_help_panel", None)
    return PANELS.index(panel) if panel in PANELS else len(PANELS)


class DriplineGroup(PanelOrder):
    """The root command: old option names, one-line usage errors, no tracebacks unless ``--debug``."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        args = alias_options(sys.argv[1:] if args is None else args)
        options = args[: args.index("--")] if "--" in args else args
        debug = "--debug" in options
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except ClickException as exc:
            _usage_error(exc)
        except typer.Abort:
            print("Aborted.", file=sys.stderr)
            sys.exit(OPERATIONAL)
        except Exception as exc:
            if debug:
                raise
            code, message = describe(exc)
            _print(message)
            sys.exit(code)
        sys.exit(rv if isinstance(rv, int) else 0)


def _usage_error(exc: ClickException) -> NoReturn:
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        _print(f"error: {exc.format_message()}")
    else:
        path = ctx.command_path
        _print(f"{path}: {exc.format_message()}\nsee '{path} --help'")
    sys.exit(exc.exit_code)


def _print(message: str) -> None:
    err.print(message, markup=False, highlight=False)

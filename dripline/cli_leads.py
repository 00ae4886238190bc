"""``dripline leads|tasks|cadence ...`` commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from dripline.cli_common import (
    AtOpt,
    JsonOpt,
    _engine,
    checked_input,
    console,
    err,
    id_argument,
    open_pipeline,
    parse_time,
    settings,
)
from dripline.cli_errors import MARKETING, OFFICER, OPERATIONAL, PanelOrder, fail
from nurture.actions import Outcome
from nurture.cadence import Cadence
from nurture.states import Event, InvalidTransition

leads_app = typer.Typer(cls=PanelOrder, help="Import and inspect leads.", no_args_is_help=True)
tasks_app = typer.Typer(help="Loan officers' call tasks.", invoke_without_command=True)
cadence_app = typer.Typer(help="The contact cadence file.", no_args_is_help=True)
LeadId = Annotated[int, id_argument("lead")]
TaskId = Annotated[int, id_argument("call task")]

PIPELINE_EVENTS = [
    e.value
    for e in (
        Event.EDUCATED,
        Event.DOCS_REQUESTED,
        Event.DOCS_RECEIVED,
        Event.PRE_QUALIFIED,
        Event.APPLICATION,
        Event.PROCESSING,
        Event.CLEAR_TO_CLOSE,
        Event.FUNDED,
        Event.NOT_INTERESTED,
        Event.DO_NOT_CONTACT,
        Event.LOST,
        Event.RESUME_NURTURE,
        Event.INBOUND_REPLY,
    )
]


@leads_app.command("import", rich_help_panel=MARKETING)
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV of leads")],
    at: Annotated[str | None, typer.Option("--at", help="ISO 8601 import time (default: now)")] = None,
) -> None:
    """Import a lead CSV and enroll its new leads: bad rows are reported with their line and written to
    FILE.rejects.csv."""
    from service.leads import import_file
    from storage.importer import ImportFileError, ImportInterrupted

    now = parse_time(at, option="--at")
    p = open_pipeline(now)
    # The bar starts with the first batch: a file refused before (encoding, header) prints only its reason.
    progress = Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=err, transient=True)  # fmt: skip
    bar = progress.add_task("rows", total=None)

    def advanced(done: int, total: int) -> None:
        progress.start()
        progress.update(bar, completed=done, total=total)

    try:
        summary = import_file(p, path=file, now=now, progress=advanced)
    except ImportFileError as exc:
        fail(f"{file}: refused, nothing imported: {exc}")
    except ImportInterrupted as exc:
        fail(f"{file}: import {exc}", OPERATIONAL)
    finally:
        if progress.live.is_started:
            progress.stop()
    console.print(
        f"{summary['total']} rows: [green]{summary['created']} new[/], {summary['updated']} updated, "
        f"{summary['unchanged']} unchanged, [red]{summary['rejected']} rejected[/]; {summary['enrolled']} enrolled"
    )
    for line in summary["errors"][:20]:
        err.print(f"  [red]{line}[/]")
    if summary["rejected"]:
        more = " (first 20 above)" if summary["rejected"] > 20 else ""
        err.print(f"rejected rows{more} with reasons: {summary['rejects_path']}")
    if unassigned := summary["unassigned"]:
        by_state = summary["unassigned_by_state"]
        states = ", ".join(f"{state or 'no state'} {n}" for state, n in sorted(by_state.items(), key=lambda kv: -kv[1]))
        err.print(
            f"{unassigned} new leads unassigned: nobody licensed in their state had room ({states}); license "
            "officers with 'dripline officers set EMAIL --states' or raise --max-open",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


@leads_app.command("show", rich_help_panel=OFFICER)
def show(lead_id: LeadId, as_json: JsonOpt = False) -> None:
    """One lead: its stage, cadence position, touches, tasks and history."""
    import sqlalchemy as sa

    from storage.models import Lead, table
    from storage.queries import lead_history, list_tasks, list_touches

    engine = _engine()
    leads = table(Lead)
    with engine.connect() as conn:
        if conn.execute(sa.select(leads.c.id).where(leads.c.id == lead_id)).first() is None:
            fail(f"no lead with id {lead_id}", 1)
    story = {
        "history": lead_history(engine=engine, lead_id=lead_id),
        "touches": list_touches(engine=engine, lead_id=lead_id),
        "tasks": list_tasks(engine=engine, lead_id=lead_id, status=None),
    }
    if not story["history"] and not story["touches"] and not story["tasks"]:
        err.print(f"lead {lead_id}: nothing recorded (unknown id, or not enrolled yet: run 'dripline tick')")
    if as_json:
        sys.stdout.write(json.dumps(story, default=str) + "\n")
        return
    console.print_json(data=story)


@leads_app.command("advance", rich_help_panel=OFFICER)
def advance(
    lead_id: LeadId,
    event: Annotated[str, typer.Option("--event", help=", ".join(PIPELINE_EVENTS))],
    at: Annotated[str | None, typer.Option("--at")] = None,
    note: str = "",
) -> None:
    """Record a pipeline step for a lead (docs received, pre-qualified, ... funded)."""
    from storage.lead_events import LeadNotFound, record_event

    if event not in PIPELINE_EVENTS:
        raise typer.BadParameter(f"{event!r} is not one of {', '.join(PIPELINE_EVENTS)}", param_hint="--event")
    note = _note(note)
    try:
        result = record_event(
            engine=_engine(),
            lead_id=lead_id,
            event=Event(event),
            at=parse_time(at, option="--at"),
            actor="cli",
            note=note,
        )
    except (LeadNotFound, InvalidTransition) as exc:
        err.print(f"[red]lead {lead_id}:[/] {exc}")
        raise typer.Exit(1) from None
    c = result.change
    console.print(f"lead {lead_id}: stage {c.stage_from} -> {c.stage_to}, cadence {c.cadence_from} -> {c.cadence_to}")


def _note(note: str) -> str:
    from service.inputs import CallNote

    return checked_input(CallNote, {"note": "--note"}, note=note).note


@tasks_app.callback()
def tasks(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    officer: Annotated[str | None, typer.Option(help="only this loan officer's (email)")] = None,
    status: Annotated[str, typer.Option(help="open, done, expired, cancelled, blocked, held, or all")] = "open",
) -> None:
    """List call tasks, most urgent first."""
    if ctx.invoked_subcommand is not None:
        return
    from nurture.actions import TaskStatus
    from storage.queries import list_tasks

    known = [s.value for s in TaskStatus]
    if status != "all" and status not in known:
        raise typer.BadParameter(f"{status!r} is not one of {', '.join(known)} or all", param_hint="--status")

    rows = list_tasks(engine=_engine(), status=None if status == "all" else status, officer_email=officer)
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row, default=str) + "\n")
        return
    table = Table(title=f"{len(rows)} call tasks ({status})")
    for col in ("id", "lead", "phone", "product", "kind", "due (lead local)", "officer", "status"):
        table.add_column(col)
    import pendulum

    for r in rows:
        due = pendulum.parse(r["due_at"]).in_timezone(r["timezone"]).format("ddd MMM D HH:mm zz")  # type: ignore[union-attr]
        table.add_row(
            str(r["id"]),
            r["lead"],
            r["phone"] or "",
            r["product"],
            r["kind"],
            due,
            r["officer"] or "-",
            r["outcome"] or r["status"],
        )
    console.print(table)


@tasks_app.command("complete")
def complete(
    task_id: TaskId,
    outcome: Annotated[str, typer.Option("--outcome", help=", ".join(o.value for o in Outcome))],
    at: Annotated[str | None, typer.Option("--at")] = None,
    note: str = "",
) -> None:
    """Log a call's outcome. A live contact hands the lead to its loan officer and stops automation."""
    from storage.lead_events import TaskNotOpen, complete_task

    if outcome not in {o.value for o in Outcome}:
        raise typer.BadParameter(f"{outcome!r} is not one of {', '.join(o.value for o in Outcome)}",
                                 param_hint="--outcome")  # fmt: skip
    note = _note(note)
    try:
        result = complete_task(
            engine=_engine(), task_id=task_id, outcome=Outcome(outcome), at=parse_time(at, option="--at"), note=note
        )
    except TaskNotOpen as exc:
        fail(f"task {task_id}: {exc}", 1)
    if result is None:
        console.print(f"task {task_id}: {outcome} logged; the cadence goes on")
        return
    c = result.change
    console.print(
        f"task {task_id}: {outcome} logged; stage {c.stage_from} -> {c.stage_to}, cadence {c.cadence_from} -> "
        f"{c.cadence_to}; {result.cancelled_touches} queued messages and {result.cancelled_tasks} call tasks cancelled"
    )


@tasks_app.command("script")
def script(task_id: TaskId, at: Annotated[str | None, typer.Option("--at")] = None) -> None:
    """Print the call script for a task, written for the lead's product, with the lead's numbers as of --at."""
    from service.pipeline import render_call_script_for

    now = parse_time(at, option="--at")
    p = open_pipeline(now)
    try:
        text = render_call_script_for(p, task_id, now=now)
    except LookupError as exc:
        fail(str(exc), 1)
    console.print(text, markup=False, highlight=False)


def _load_cadence_file(path: Path | None = None) -> tuple[Path, Cadence]:
    from nurture.cadence import CadenceError, load_cadence

    path = path or settings().cadence_file
    try:
        return path, load_cadence(path.read_text(), source=str(path))
    except CadenceError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None


@cadence_app.command("show")
def cadence_show() -> None:
    """Print the cadence steps as the planner reads them."""
    path, c = _load_cadence_file()
    table = Table(title=f"{c.name} v{c.version} ({path})")
    for col in ("step", "when", "channel", "template(s)", "window (lead local)"):
        table.add_column(col)
    for s in c.steps:
        when = f"day {s.day} {s.at:%H:%M}" if s.day is not None and s.at else f"{s.after} + {s.delay}"
        if s.every_days:
            when += f", every {s.every_days} days" + (f" until day {s.until_day}" if s.until_day else "")
        table.add_row(
            s.id, when, s.channel.value, ", ".join(s.templates), f"{s.window.start:%H:%M}-{s.window.end:%H:%M}"
        )
    console.print(table)


@cadence_app.command("check")
def cadence_check(now: AtOpt = None) -> None:
    """Validate every cadence file (the contact cadence, re-engagement, referral asks, documents) and that every
    template each names exists."""
    from service.templates import missing_templates

    s = settings()
    failed = False
    for file in (s.cadence_file, s.reengage_cadence_file, s.referral_cadence_file, s.documents_cadence_file):
        path, c = _load_cadence_file(file)
        missing = missing_templates(s, c)
        if missing:
            err.print(f"[red]{path}: templates not found: {', '.join(missing)}[/]")
            failed = True
        else:
            console.print(f"{path}: {c.name} v{c.version}, {len(c.steps)} steps, all templates present")
    if failed:
        raise typer.Exit(2)

"""``dripline officers ...``: the loan-officer roster, licensing, hours, capacity and alerts."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from dripline.cli_common import AtOpt, JsonOpt, _engine, console, err, id_argument, parse_time
from dripline.cli_errors import fail
from nurture import roster

officers_app = typer.Typer(help="The loan-officer roster.", no_args_is_help=True)
T = TypeVar("T")

StatesOpt = Annotated[
    str | None, typer.Option("--states", help="USPS codes the officer is NMLS-licensed in: TX,FL; all; none")
]
TimezoneOpt = Annotated[str | None, typer.Option("--timezone", help="the officer's IANA zone, e.g. America/Chicago")]
HoursOpt = Annotated[str | None, typer.Option("--hours", help="working hours on their own clock: 09:00-18:00")]
DaysOpt = Annotated[str | None, typer.Option("--days", help="ISO weekdays worked (Monday = 1): 1-5, or 1,3,5")]
QuietOpt = Annotated[str | None, typer.Option("--quiet", help="no alerts between, their clock: 21:00-08:00")]
MaxOpenOpt = Annotated[
    int | None, typer.Option("--max-open", help="open call tasks at which new leads go to others (default 150)")
]
AlertsOpt = Annotated[str | None, typer.Option("--alerts", help="sms,email | sms | email | none")]
RoleOpt = Annotated[str | None, typer.Option("--role", help="officer | manager")]


def _parsed(option: str, value: str | None, parse: Callable[[str], T]) -> T | None:
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as exc:
        fail(f"{option}: {exc}")


def _settings(states: str | None, timezone: str | None, hours: str | None, days: str | None, quiet: str | None,
              max_open: int | None, alerts: str | None, role: str | None) -> Any:  # fmt: skip
    from storage.officers import OfficerSettings

    if max_open is not None and not 0 <= max_open <= 100_000:
        fail(f"--max-open: {max_open} is not between 0 and 100000")
    return OfficerSettings(
        licensed_states=_parsed("--states", states, roster.parse_states),
        timezone=_parsed("--timezone", timezone, roster.parse_timezone),
        hours=_parsed("--hours", hours, roster.parse_hours),
        work_days=_parsed("--days", days, roster.parse_days),
        quiet_hours=_parsed("--quiet", quiet, roster.parse_hours),
        max_open_tasks=max_open,
        alerts=_parsed("--alerts", alerts, roster.parse_alerts),
        role=_parsed("--role", role, roster.parse_role),
    )


def _describe(officer: Any) -> None:
    states = roster.describe_states(officer.licensed_states)
    hours = roster.format_hours(officer.work_start, officer.work_end)
    days = roster.format_days(officer.work_days)
    alerts = roster.format_alerts(officer.alert_sms, officer.alert_email)
    console.print(
        f"loan officer {officer.id}: {officer.name} <{officer.email}> {'active' if officer.active else 'inactive'}, "
        f"{officer.role}, licensed in {states}, {hours} {officer.timezone} days {days}, "
        f"at most {officer.max_open_tasks} open tasks, alerts {alerts}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if not officer.licensed_states:
        _unlicensed_warning(officer.email)


def _unlicensed_warning(email: str) -> None:
    err.print(
        f"warning: {email} is licensed in no state and gets no leads: 'dripline officers set {email} --states TX,FL'",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@officers_app.command("add")
def officer_add(
    name: Annotated[str, typer.Option()],
    email: Annotated[str, typer.Option()],
    phone: Annotated[str | None, typer.Option()] = None,
    nmls_id: Annotated[str | None, typer.Option("--nmls-id")] = None,
    states: StatesOpt = None,
    timezone: TimezoneOpt = None,
    hours: HoursOpt = None,
    days: DaysOpt = None,
    quiet: QuietOpt = None,
    max_open: MaxOpenOpt = None,
    alerts: AlertsOpt = None,
    role: RoleOpt = None,
    at: AtOpt = None,
) -> None:
    """Add (or reactivate) a loan officer; new leads go to officers licensed in their state with room."""
    from storage.officers import add_officer

    settings = _settings(states, timezone, hours, days, quiet, max_open, alerts, role)
    now = parse_time(at, option="--at")
    try:
        officer = add_officer(engine=_engine(), name=name, email=email, phone=phone, nmls_id=nmls_id, now=now,
                              settings=settings)  # fmt: skip
    except ValueError as exc:  # the email, phone, name or NMLS id
        fail(f"loan officer {email}: {exc}")
    _describe(officer)


@officers_app.command("set")
def officer_set(
    email: Annotated[str, typer.Argument(help="the officer's email")],
    name: Annotated[str | None, typer.Option()] = None,
    phone: Annotated[str | None, typer.Option()] = None,
    nmls_id: Annotated[str | None, typer.Option("--nmls-id")] = None,
    states: StatesOpt = None,
    timezone: TimezoneOpt = None,
    hours: HoursOpt = None,
    days: DaysOpt = None,
    quiet: QuietOpt = None,
    max_open: MaxOpenOpt = None,
    alerts: AlertsOpt = None,
    role: RoleOpt = None,
) -> None:
    """Change any of an officer's details; what is not given stays as it is."""
    from storage.officers import OfficerNotFound, update_officer

    settings = _settings(states, timezone, hours, days, quiet, max_open, alerts, role)
    try:
        officer = update_officer(engine=_engine(), email=email, name=name, phone=phone, nmls_id=nmls_id,
                                 settings=settings)  # fmt: skip
    except OfficerNotFound as exc:
        fail(f"{exc}: 'dripline officers list' shows the roster", 1)
    except ValueError as exc:
        fail(f"loan officer {email}: {exc}")
    _describe(officer)


@officers_app.command("deactivate")
def officer_deactivate(
    email: Annotated[str, typer.Argument(help="the officer's email")],
    actor: Annotated[str, typer.Option("--by", help="who is doing it, for the logs")] = "cli",
    at: AtOpt = None,
) -> None:
    """Take an officer off the roster; their open leads and call tasks go to others by the same rule."""
    from storage.assignment import deactivate_officer
    from storage.officers import OfficerNotFound

    now = parse_time(at, option="--at")
    try:
        moved = deactivate_officer(_engine(), email=email, now=now, actor=actor)
    except OfficerNotFound as exc:
        fail(f"{exc}: 'dripline officers list' shows the roster", 1)
    except ValueError as exc:
        fail(f"loan officer {email}: {exc}")
    console.print(
        f"{email} inactive: {moved.leads_moved} leads and {moved.tasks_moved} call tasks moved to other officers; "
        f"{moved.leads_unassigned} leads and {moved.tasks_unassigned} call tasks left unassigned",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if moved.leads_unassigned or moved.tasks_unassigned:
        err.print("nobody licensed in their state had room: license or add officers, then assign them by hand")


@officers_app.command("activate")
def officer_activate(email: Annotated[str, typer.Argument(help="the officer's email")]) -> None:
    """Put an officer back on the roster: new leads reach them again (nothing moved away comes back)."""
    from storage.officers import OfficerNotFound, set_officer_active

    try:
        officer = set_officer_active(engine=_engine(), email=email, active=True)
    except OfficerNotFound as exc:
        fail(f"{exc}: 'dripline officers list' shows the roster", 1)
    except ValueError as exc:
        fail(f"loan officer {email}: {exc}")
    _describe(officer)


@officers_app.command("list")
def officer_list(as_json: JsonOpt = False) -> None:
    """The roster: licensing, hours, capacity, alerts, and each officer's leads and open call tasks."""
    from storage.officers import list_officers

    rows = list_officers(engine=_engine())
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row, default=str) + "\n")
        return
    table = Table()
    for col in rows[0].keys() if rows else ("id", "name", "email"):
        table.add_column(str(col))
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)
    for row in rows:
        if row["active"] and row["states"] == "none":
            _unlicensed_warning(row["email"])


def task_reassign(
    task_id: Annotated[int, id_argument("call task")],
    reason: Annotated[str, typer.Option("--reason", help="why, for the task's log")] = "",
    actor: Annotated[str, typer.Option("--by", help="who is doing it, for the logs")] = "cli",
    at: AtOpt = None,
) -> None:
    """Hand a call task to another officer licensed in the lead's state with room, or to the unassigned queue."""
    from storage.assignment import reassign_task
    from storage.locks import write_transaction

    now = parse_time(at, option="--at")
    try:
        with write_transaction(_engine()) as conn:
            to_id = reassign_task(conn, task_id=task_id, now=now, reason=reason, actor=actor)
    except LookupError as exc:
        fail(str(exc), 1)
    except ValueError as exc:
        fail(str(exc))
    if to_id is None:
        console.print(f"call task {task_id}: unassigned (nobody else licensed in the lead's state has room)")
    else:
        console.print(f"call task {task_id} handed to loan officer {to_id}")


@officers_app.command("queue")
def officer_queue(
    assign: Annotated[bool, typer.Option("--assign", help="give what fits to officers licensed in its state")] = False,
    actor: Annotated[str, typer.Option("--by", help="who is doing it, for the logs")] = "cli",
    at: AtOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The unassigned queue: open leads and call tasks no officer holds; --assign hands out what fits."""
    from storage.assignment import assign_queue, unassigned_counts

    if assign:
        moved = assign_queue(_engine(), now=parse_time(at, option="--at"), actor=actor)
        console.print(f"assigned {moved.leads_moved} leads and {moved.tasks_moved} call tasks from the queue")
    with _engine().connect() as conn:
        counts = unassigned_counts(conn)
    if as_json:
        sys.stdout.write(json.dumps(counts) + "\n")
        return
    console.print(f"unassigned: {counts['leads']} open leads, {counts['call_tasks']} open or held call tasks")

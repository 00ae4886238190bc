"""``dripline alerts``: the loan officers' alerts, sent now or listed."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from dripline.cli_common import AtOpt, JsonOpt, _engine, console, open_pipeline, parse_time
from dripline.cli_errors import fail

alerts_app = typer.Typer(help="Loan officers' alerts: call tasks that fell due, digests, reminders, managers' notices.")

LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=10_000, help="at most this many, newest first")]


@alerts_app.command("run")
def run(at: AtOpt = None) -> None:
    """Plan the alerts due now and send those whose time has come (the dispatch flow does this every run)."""
    from service.alerts import run_alerts

    now = parse_time(at)
    console.print_json(data=run_alerts(open_pipeline(now), now=now).as_dict())


@alerts_app.command("list")
def list_(
    officer: Annotated[str | None, typer.Option("--officer", metavar="EMAIL", help="only this officer's")] = None,
    limit: LimitOpt = 50,
    as_json: JsonOpt = False,
) -> None:
    """The alerts, newest first: to whom, by which channel, when, and what became of each."""
    from storage.alerts import list_alerts
    from storage.officers import OfficerNotFound

    try:
        rows = list_alerts(_engine(), officer_email=officer, limit=limit)
    except OfficerNotFound as exc:
        fail(f"--officer: {exc}; `dripline officers list` shows every officer's email")
    if as_json:
        for r in rows:
            sys.stdout.write(json.dumps(asdict(r), default=str) + "\n")
        return
    table = Table(title=f"{len(rows)} alert(s)")
    for col in ("id", "officer", "kind", "channel", "status", "scheduled", "sent", "reason"):
        table.add_column(col)
    for r in rows:
        sent = r.sent_at.strftime("%Y-%m-%d %H:%MZ") if r.sent_at else ""
        table.add_row(
            str(r.id),
            r.officer,
            r.kind,
            r.channel,
            r.status,
            r.scheduled_for.strftime("%Y-%m-%d %H:%MZ"),
            sent,
            r.reason,
        )
    console.print(table)

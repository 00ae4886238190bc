"""``dripline dnc``: the numbers waiting on a Do Not Call re-scrub, and a scrub's results imported."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dripline.cli_common import AtOpt, JsonOpt, console, open_pipeline, parse_time
from dripline.cli_errors import err, fail

dnc_app = typer.Typer(help="DNC re-scrub: the numbers whose calls and texts wait on a scrub; import a scrub's results.")


@dnc_app.command("due")
def due(
    as_json: JsonOpt = False,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", dir_okay=False, help="also write the numbers to this CSV for the scrub")
    ] = None,
    at: AtOpt = None,
) -> None:
    """The phone numbers whose texts, voicemails or call tasks are held for a missing or stale DNC scrub."""
    from service.dnc import due as work
    from service.dnc import due_row, write_due_csv

    p = open_pipeline(parse_time(at))
    numbers = work(p)
    if csv_file is not None:
        write_due_csv(csv_file, numbers)
        err.print(f"wrote {len(numbers)} number(s) to {csv_file}")
    if as_json:
        for d in numbers:
            sys.stdout.write(json.dumps(due_row(d)) + "\n")
        return
    table = Table(title=f"{len(numbers)} number(s) wait on a DNC scrub")
    for col in ("number", "leads", "texts/voicemails", "call tasks", "last scrubbed", "held since"):
        table.add_column(col)
    for d in numbers:
        last = d.scrubbed_on.isoformat() if d.scrubbed_on else "never"
        table.add_row(d.number, str(d.leads), str(d.touches), str(d.tasks), last, d.held_since.strftime("%Y-%m-%d"))
    console.print(table)


@dnc_app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV: number,listed,scrubbed_on")
    ],
    at: AtOpt = None,
) -> None:
    """Record a DNC scrub's results and release (or, for a listed number, block) what waited on it."""
    from nurture.dnc_scrub import ScrubFileError
    from service.dnc import import_scrub

    now = parse_time(at)
    p = open_pipeline(now)
    try:
        out = import_scrub(p, path=file, now=now)
    except ScrubFileError as exc:
        if exc.total == 1:
            fail(f"{file}: refused, nothing recorded: {exc.problems[0]}")
        more = f", the first {len(exc.problems)} below" if exc.total > len(exc.problems) else ""
        fail(f"{file}: refused, nothing recorded: {exc.total} problems{more}\n" + "\n".join(exc.problems))
    console.print(
        f"{out['numbers']} number(s): {out['leads_updated']} lead(s) updated; released "
        f"{out['released_touches']} text(s)/voicemail(s) and {out['released_tasks']} call task(s); blocked "
        f"{out['blocked_touches']} and {out['blocked_tasks']}; {out['still_held']} still held"
    )
    if out["cancelled_tasks"]:
        console.print(f"{out['cancelled_tasks']} held call task(s) cancelled: their leads left the cadence")
    if out["older_than_on_file"]:
        err.print(f"{out['older_than_on_file']} lead(s) kept a newer scrub already on file")
    if out["unknown"]:
        err.print(f"{len(out['unknown'])} number(s) belong to no lead, e.g. {', '.join(out['unknown'][:3])}")

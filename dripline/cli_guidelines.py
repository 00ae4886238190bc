"""``dripline guidelines load|show|diff|history|sweep`` and ``dripline leads eligible``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dripline.cli_common import AtOpt as NowOpt
from dripline.cli_common import (
    JsonOpt,
    _engine,
    as_flow_or_here,
    console,
    err,
    id_argument,
    in_process,
    open_pipeline,
    parse_time,
    prefect_api,
    quiet_prefect,
)
from dripline.cli_errors import fail

guidelines_app = typer.Typer(help="Lender guidelines: load feeds, see what is in force and what changed.",
                             no_args_is_help=True)  # fmt: skip
LenderOpt = Annotated[str | None, typer.Option("--lender", help="only this lender")]


@guidelines_app.command("load")
def load(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="feed, .json or .csv")],
    at: Annotated[str | None, typer.Option("--at", help="ISO 8601 load time (default: now)")] = None,
    rescore: Annotated[
        str, typer.Option(help="auto (a Prefect event when a server is configured, else here), event, inline, none")
    ] = "auto",
) -> None:
    """Load a guideline feed: a bad feed is refused whole with every error; a loosening re-engages leads."""
    from nurture.guidelines import FeedError
    from service.guideline_load import Rescore, inline_rescore, load_guideline_file

    if rescore not in ("auto", "event", "inline", "none"):
        raise typer.BadParameter(f"{rescore!r} is not auto, event, inline or none", param_hint="--rescore")
    now = parse_time(at, option="--at")
    _check_feed_file(file)  # before the database is opened
    p = open_pipeline(now)
    api = prefect_api()
    mode = ("event" if api else "inline") if rescore == "auto" else rescore
    then: Rescore | None = None
    if mode == "event":
        if api is None:
            err.print("[red]--rescore event needs a Prefect API: start `dripline serve` or set PREFECT_API_URL[/]")
            raise typer.Exit(2)
        quiet_prefect()
        os.environ["PREFECT_API_URL"] = api
        from flows.events import emit_loosened

        def then(load: Any) -> str:
            return emit_loosened(load, now)

    elif mode == "inline":
        here = inline_rescore(p, now)

        def then(load: Any) -> Any:
            if rescore == "auto":
                in_process(f"re-scoring snapshot {load.snapshot_id}")
            return here(load)

    try:
        outcome = load_guideline_file(p, path=file, now=now, loaded_by="cli", rescore=then)
    except RecursionError:
        fail(f"{file}: refused, nothing loaded: nested too deeply to be a guideline feed")
    except FeedError as exc:
        err.print(f"[red]{file.name}: refused, nothing loaded ({len(exc.errors)} problems):[/]")
        for problem in exc.errors:
            err.print(f"  {problem}")
        raise typer.Exit(2) from None
    except ValueError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    for lender in outcome.result.lenders:
        if lender.snapshot_id is None:
            console.print(f"{lender.lender}: unchanged (same as snapshot {lender.previous_id})", soft_wrap=True)
            continue
        loosen = sum(c.direction.value == "loosening" for c in lender.changes)
        tighten = sum(c.direction.value == "tightening" for c in lender.changes)
        console.print(
            f"{lender.lender}: snapshot {lender.snapshot_id}, {loosen} loosening and {tighten} tightening changes",
            soft_wrap=True,
        )
        for change in lender.changes:
            console.print(f"  {change.direction.value}: {change.describe()}", soft_wrap=True)
    for event_id in outcome.events:
        console.print(f"emitted lender.guideline.loosened ({event_id}): the guideline-rescore deployment re-scores")
    loosened = [x for x in outcome.result.stored if x.loosened]
    for load, stats in zip(loosened, outcome.rescored, strict=False):
        _print_rescored(f"re-scored snapshot {load.snapshot_id}: ", stats.as_dict())


def _check_feed_file(file: Path) -> None:
    """Refuse, in one line, a feed that is not UTF-8 text (binary, UTF-16, latin-1) before anything is opened."""
    from nurture.guidelines import FeedError
    from service.guideline_load import decode_feed

    try:
        decode_feed(file.read_bytes())
    except FeedError as exc:
        fail(f"{file}: refused, nothing loaded: {exc.errors[0]}")


def _print_rescored(head: str, stats: dict[str, Any]) -> None:
    console.print(
        f"{head}{stats['reengaged']} leads re-engaged, {stats['suppressed']} opted out (not contacted), "
        f"{stats['scheduled']} newly dated for seasoning, {stats['superseded']} dates no longer due",
        soft_wrap=True,
    )
    for why, n in sorted(stats["reasons"].items(), key=lambda kv: -kv[1]):
        console.print(f"  {n} because one of our lenders {why}", soft_wrap=True)


@guidelines_app.command("show")
def show(lender: LenderOpt = None, as_json: JsonOpt = False) -> None:
    """Every lender program in force."""
    from storage.guidelines import current_set

    with _engine().connect() as conn:
        programs = [p for p in current_set(conn).programs if lender is None or p.lender == lender]
    rows = [_program_row(p) for p in programs]
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row, default=str) + "\n")
        return
    if not rows:
        console.print("no guidelines loaded: dripline guidelines load FILE")
        return
    table = Table(title="Lender programs in force")
    for column in rows[0]:
        table.add_column(column.replace("_", " "), overflow="fold")
    for row in rows:
        table.add_row(*(_cell(v) for v in row.values()))
    console.print(table)


def _program_row(p: Any) -> dict[str, Any]:
    return {
        "lender": p.lender,
        "program": p.program.value,
        "effective": p.effective_date.isoformat(),
        "min_fico": p.min_fico,
        "seasoning_months": {e.value: m for e, m in sorted(p.seasoning_months.items())},
        "min_dscr": p.min_dscr,
        "asset_divisor": p.asset_divisor,
        "max_ltv": p.max_ltv,
        "min_loan_amount": p.min_loan_amount,
        "states": sorted(p.states) if p.states is not None else None,
        "expense_ratio": p.expense_ratio,
        "statement_months": p.statement_months,
        "max_dti": p.max_dti,
    }


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in value.items()) or "none accepted"
    if isinstance(value, list):
        return " ".join(value)
    return str(value)


@guidelines_app.command("diff")
def diff(snapshot_id: Annotated[int, id_argument("guideline snapshot")], as_json: JsonOpt = False) -> None:
    """What a snapshot changed against the one before it, loosening or tightening."""
    import sqlalchemy as sa

    from storage.guidelines import snapshot_changes
    from storage.models import GuidelineSnapshot, table

    snaps = table(GuidelineSnapshot)
    with _engine().connect() as conn:
        row = conn.execute(sa.select(snaps).where(snaps.c.id == snapshot_id)).first()
    if row is None:
        err.print(f"[red]no guideline snapshot {snapshot_id}[/]")
        raise typer.Exit(1)
    changes = snapshot_changes(row)
    if as_json:
        for change in changes:
            sys.stdout.write(json.dumps(change) + "\n")
        return
    console.print(f"snapshot {row.id}: {row.lender}, loaded {row.loaded_at:%Y-%m-%d %H:%M} UTC from {row.source}")
    if not changes:
        console.print("  first snapshot of this lender" if row.previous_id is None else "  no changes")
    for c in changes:
        console.print(f"  {c['direction']}: {c['describe']} ({c['field']}: {c['old']} -> {c['new']})", soft_wrap=True)


@guidelines_app.command("history")
def history(lender: LenderOpt = None, as_json: JsonOpt = False) -> None:
    """Every snapshot ever loaded: who, when, from where, and how many changes."""
    from storage.guidelines import history as snapshot_history

    with _engine().connect() as conn:
        rows = snapshot_history(conn, lender=lender)
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return
    table = Table(title="Guideline snapshots")
    for column in ("id", "lender", "loaded at", "source", "by", "programs", "loosenings", "tightenings"):
        table.add_column(column)
    for r in rows:
        table.add_row(str(r["id"]), r["lender"], r["loaded_at"][:16].replace("T", " "), r["source"], r["loaded_by"],
                      str(r["programs"]), str(r["loosenings"]), str(r["tightenings"]))  # fmt: skip
    console.print(table)


@guidelines_app.command("sweep")
def sweep(now: NowOpt = None) -> None:
    """The daily sweep (the guideline-daily deployment, each morning): re-score loosenings whose effective date has
    come, and date credit-event seasoning for leads that came to rest since. Safe to run again."""
    at = parse_time(now)
    p = open_pipeline(at)  # refuses a database or settings that cannot run
    from service.rescore import daily

    def here() -> dict[str, Any]:
        lenders, stats = daily(p, now=at)
        return {"snapshots": lenders} | stats.as_dict()

    result = as_flow_or_here("flows.rescore:daily_flow", here, doing="sweeping", at=at)
    for lender in result["snapshots"]:
        console.print(f"{lender}: a loosening took effect; re-scored", soft_wrap=True)
    _print_rescored("", result)


def eligible(
    program: Annotated[str | None, typer.Option(help="only leads of this product/program")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many, highest priority first")] = 50,
    now: NowOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Leads that qualify for some lender program today, with the program and their priority score."""
    from nurture.products import Product
    from storage.eligibility_report import eligible_leads

    known = [p.value for p in Product]
    if program is not None and program not in known:
        raise typer.BadParameter(f"{program!r} is not one of {', '.join(known)}", param_hint="--program")
    at = parse_time(now)
    rows = eligible_leads(engine=open_pipeline(at).engine, on=at.date(), program=program, limit=limit)
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row, default=str) + "\n")
        return
    table = Table(title=f"Leads eligible on {at:%Y-%m-%d}")
    for column in ("lead", "name", "product", "fico", "lender", "score", "stage", "cadence"):
        table.add_column(column)
    for r in rows:
        table.add_row(str(r["lead_id"]), r["name"], r["product"], str(r["fico"] or "-"), r["lender"],
                      f"${r['score']:,.2f}", r["stage"], r["cadence"] or "-")  # fmt: skip
    console.print(table)

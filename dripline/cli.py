"""The ``dripline`` command."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from dripline import (
    cli_alerts,
    cli_compliance,
    cli_dnc,
    cli_feeds,
    cli_guidelines,
    cli_leads,
    cli_officers,
    cli_roi,
    cli_templates,
)
from dripline.cli_common import (
    AtOpt,
    JsonOpt,
    _engine,
    as_flow_or_here,
    checked_database,
    console,
    open_pipeline,
    parse_time,
    record_id,
    settings,
)
from dripline.cli_errors import ADMIN, MARKETING, OFFICER, DriplineGroup, fail
from service.settings import get_settings

app = typer.Typer(
    cls=DriplineGroup, help="Work purchased aged non-QM mortgage leads.", no_args_is_help=True, add_completion=False
)
app.add_typer(cli_leads.tasks_app, name="tasks", rich_help_panel=OFFICER)
app.add_typer(cli_leads.leads_app, name="leads", rich_help_panel=OFFICER)
app.add_typer(cli_alerts.alerts_app, name="alerts", rich_help_panel=OFFICER)
app.command("explain", rich_help_panel=OFFICER)(cli_compliance.explain)
cli_leads.leads_app.command("eligible", rich_help_panel=OFFICER)(cli_guidelines.eligible)
cli_leads.tasks_app.command("reassign")(cli_officers.task_reassign)
app.add_typer(cli_leads.cadence_app, name="cadence", rich_help_panel=MARKETING)
app.add_typer(cli_templates.templates_app, name="templates", rich_help_panel=MARKETING)
app.add_typer(cli_guidelines.guidelines_app, name="guidelines", rich_help_panel=MARKETING)
app.add_typer(cli_dnc.dnc_app, name="dnc", rich_help_panel=MARKETING)
app.add_typer(cli_officers.officers_app, name="officers", rich_help_panel=ADMIN)
app.add_typer(cli_compliance.consent_app, name="consent", rich_help_panel=ADMIN)
app.add_typer(cli_feeds.feeds_app, name="feeds", rich_help_panel=ADMIN)
app.add_typer(cli_compliance.inbound_app, name="inbound", rich_help_panel=ADMIN)
app.command("email-event", rich_help_panel=ADMIN)(cli_compliance.email_event)


@app.callback()
def main(
    db: Annotated[
        str | None, typer.Option("--db", help="SQLAlchemy URL (default: DRIPLINE_DATABASE_URL or ./dripline.db)")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="on failure, show the full traceback")] = False,
) -> None:
    if db:
        os.environ["DRIPLINE_DATABASE_URL"] = db
        get_settings.cache_clear()


@app.command(rich_help_panel=ADMIN)
def init(now: AtOpt = None) -> None:
    """Create or upgrade the database and store the current cadence version. Safe to run twice."""
    from storage.db import current_revision, make_engine, upgrade

    s = settings()
    engine = make_engine(s.database_url)
    before = current_revision(engine)
    upgrade(engine)
    p = open_pipeline(parse_time(now))
    after = current_revision(engine)
    state = "already up to date" if before == after else f"upgraded {before or 'empty'} -> {after}"
    console.print(f"database {engine.url.render_as_string(hide_password=True)}: {state}", soft_wrap=True)
    console.print(f"cadence {p.registry.current.name} v{p.registry.current.version} ready")


BatchOpt = Annotated[int | None, typer.Option(min=1, help="leads or messages per batch (default: DRIPLINE_BATCH_SIZE)")]


@app.command(rich_help_panel=MARKETING)
def tick(now: AtOpt = None, batch_size: BatchOpt = None) -> None:
    """Plan every lead that is due: enroll new leads, create call tasks, queue messages."""
    from service.pipeline import tick as work

    _pass(work, "flows.cadence:cadence_tick", "ticking", now, batch_size)


@app.command(rich_help_panel=MARKETING)
def dispatch(now: AtOpt = None, batch_size: BatchOpt = None) -> None:
    """Send every queued message that is due, through the configured channel, then the loan officers' alerts."""
    from service.alerts import dispatch_and_alert as work

    _pass(work, "flows.cadence:dispatch_touches", "dispatching", now, batch_size)


def _pass(work: Callable[..., Any], flow: str, doing: str, now: str | None, batch_size: int | None) -> None:
    """One tick or dispatch at ``now``: ``flow`` with a Prefect API, else ``work``, the service function that flow
    runs, in this process; print the counts."""
    at = parse_time(now)
    p = open_pipeline(at)
    result = as_flow_or_here(
        flow, lambda: work(p, now=at, batch_size=batch_size).as_dict(), doing=doing, at=at, batch_size=batch_size
    )
    console.print_json(data=result)


@app.command(rich_help_panel=MARKETING)
def run(
    start: Annotated[str, typer.Option("--from", help="ISO 8601 start")],
    until: Annotated[str, typer.Option("--until", help="ISO 8601 end (inclusive)")],
    every: Annotated[str, typer.Option("--every", help="step, e.g. 15m, 1h, 1d")] = "1h",
) -> None:
    """Replay ticks and dispatch over a time range in one flow run (120 days in seconds)."""
    from nurture.cadence import parse_duration
    from service.replay import replay_summary

    begin, end = parse_time(start, option="--from"), parse_time(until, option="--until")
    try:
        parse_duration(every)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--every") from None
    if end < begin:
        raise typer.BadParameter("must not be before --from", param_hint="--until")
    p = open_pipeline(begin)
    result = as_flow_or_here(
        "flows.replay:replay_range",
        lambda: replay_summary(p, start=begin, until=end, every=every),
        doing="replaying",
        start=begin,
        until=end,
        every=every,
    )
    console.print_json(data=result)


outbox_app = typer.Typer(help="What was or will be sent, when, and why not; settle messages whose outcome is unknown.")
app.add_typer(outbox_app, name="outbox", rich_help_panel=MARKETING)


@outbox_app.callback(invoke_without_command=True)
def outbox(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    lead: Annotated[int | None, typer.Option("--lead", parser=record_id("lead"), help="only this lead id")] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="planned, sending, unknown, sent, failed, cancelled, skipped, blocked"),
    ] = None,
    limit: Annotated[int, typer.Option(min=1)] = 200,
) -> None:
    """List outbox touches: what was or will be sent, when, and why not."""
    if ctx.invoked_subcommand is not None:
        return
    from nurture.actions import TouchStatus
    from storage.queries import list_touches

    if status is not None and status not in {s.value for s in TouchStatus}:
        raise typer.BadParameter(
            f"{status!r} is not one of {', '.join(s.value for s in TouchStatus)}", param_hint="--status"
        )
    rows = list_touches(engine=_engine(), lead_id=lead, status=status, limit=limit)
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row, default=str) + "\n")
        return
    from rich.table import Table

    table = Table()
    keyed = status == "unknown"  # the key is what `outbox settle` takes
    for col in ("key",) * keyed + (
        "lead",
        "step",
        "channel",
        "template",
        "scheduled_for",
        "sent_at",
        "status",
        "reason",
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(
            *([r["key"]] if keyed else []),
            str(r["lead_id"]),
            r["step"],
            r["channel"],
            r["template"],
            _short(r["scheduled_for"]),
            _short(r["sent_at"]),
            r["status"],
            r["reason"],
        )
    console.print(table)


@outbox_app.command("settle")
def outbox_settle(
    key: Annotated[str, typer.Argument(help="the touch key, as `dripline outbox --status unknown` shows it")],
    sent: Annotated[
        bool | None, typer.Option("--sent/--not-sent", help="what the provider's console says happened")
    ] = None,
    now: AtOpt = None,
    note: Annotated[str, typer.Option("--note", help="why, for the record (who checked, where)")] = "",
) -> None:
    """Settle a message whose outcome is unknown. Only --not-sent makes it sendable again."""
    from storage.leases import NotUnknownError, settle

    if sent is None:
        raise typer.BadParameter("say what happened: --sent or --not-sent", param_hint="--sent/--not-sent")
    at = parse_time(now)
    what = "sent" if sent else "not sent; planned again"
    reason = f"settled by a person: {what}" + (f" ({note})" if note else "")
    try:
        settle(_engine(), key=key, sent=sent, now=at, reason=reason)
    except NotUnknownError as exc:
        raise typer.BadParameter(str(exc), param_hint="KEY") from None
    console.print(f"{key}: {what}")


def _short(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else ""


@app.command(rich_help_panel=MARKETING)
def report(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    cost_per_lead: Annotated[float | None, typer.Option(min=0, help="override what each lead cost, in dollars")] = None,
) -> None:
    """The funnel by product beside the benchmark ranges, revenue per close and ROI."""
    from dripline.report_view import print_report
    from service.report import report_payload

    payload = report_payload(_engine(), cost_per_lead=cost_per_lead)
    if as_json:
        sys.stdout.write(json.dumps(payload, default=str) + "\n")
        return
    print_report(payload, console)


app.command("roi", rich_help_panel=MARKETING)(cli_roi.roi)


@app.command(rich_help_panel=ADMIN)
def serve(
    every: Annotated[str | None, typer.Option(help="override the interval schedules of prefect.yaml, e.g. 1m")] = None,
    port: Annotated[int, typer.Option(help="port for the local Prefect server if none is configured")] = 4200,
    with_web: Annotated[bool, typer.Option("--web/--no-web", help="also run the web app (webhooks, feeds)")] = True,
    web_port: Annotated[int | None, typer.Option(help="port for the web app (DRIPLINE_WEB_PORT, 8000)")] = None,
) -> None:
    """Run every deployment of prefect.yaml with serve() (no work pool) and the web app; one Ctrl-C stops both.
    Other commands report their runs to it."""
    from datetime import timedelta

    from dripline.cli_common import quiet_prefect
    from nurture.cadence import parse_duration

    interval: timedelta | None = None
    if every is not None:
        try:
            interval = parse_duration(every)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--every") from None
    quiet_prefect()
    from flows.serve import serve_locally

    checked_database()
    s = settings()
    if not with_web:
        serve_locally(s, every=interval, port=port)
        return
    from web.app import create_app
    from web.server import Background, WebServerError, log_requests

    log_requests()
    try:
        with Background(create_app(s), s.web_host, web_port or s.web_port) as running_web:
            print(f"web app at {running_web.where} (webhooks, unsubscribe, lender feeds)", flush=True)
            serve_locally(s, every=interval, port=port)
    except WebServerError as exc:
        fail(str(exc), 1)


@app.command(rich_help_panel=ADMIN)
def web(
    host: Annotated[str | None, typer.Option(help="address to listen on (DRIPLINE_WEB_HOST, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on (DRIPLINE_WEB_PORT, 8000)")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="processes serving the port (DRIPLINE_WEB_WORKERS, 1)")
    ] = None,
) -> None:
    """Run the web app: Twilio and SendGrid webhooks, unsubscribe links, lender feeds, /healthz and /readyz."""
    import uvicorn

    from web.app import create_app
    from web.server import NoDelayHTTP, config, log_requests

    checked_database()
    s = settings()
    bind, listen = host or s.web_host, port or s.web_port
    processes = workers or s.web_workers
    if processes > 1:  # each worker builds its app from the same settings (the environment and .env)
        uvicorn.run("web.server:worker_app", factory=True, workers=processes, log_level="warning", access_log=False,
                    host=bind, port=listen, http=NoDelayHTTP)  # fmt: skip
        return
    log_requests()
    uvicorn.Server(config(create_app(s), bind, listen)).run()


@app.command(rich_help_panel=MARKETING)
def demo(
    out: Annotated[Path, typer.Option(help="folder for the demo database and outbox")] = Path("demo-output"),
    leads: Annotated[int, typer.Option(min=10, max=100_000)] = 1000,
    days: Annotated[int, typer.Option(min=1, max=400)] = 120,
    seed: int = 7,
    cost_per_lead: Annotated[float, typer.Option(help="dollars per purchased lead")] = 5.0,
    web: Annotated[bool, typer.Option(help="serve the officers' web app on the demo's database at the end")] = True,
    web_port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    serve_for: Annotated[
        float | None,
        typer.Option(min=0, help="seconds to keep the web app up (default: until Ctrl-C; 0 when not in a terminal)"),
    ] = None,
) -> None:
    """Simulate the whole job on a fresh SQLite database: synthetic leads, 120 days, funnel report; then serve
    the loan officers' web app on it with a sign-in link."""
    from dripline.cli_common import quiet_prefect
    from flows import local_server as local_prefect

    quiet_prefect()
    # No Prefect server configured: start a temporary one on loopback first thing, so it boots while the
    # demo imports its modules and builds its leads (Prefect is not imported into this process before it).
    server = None if os.environ.get("PREFECT_API_URL") else local_prefect.start()
    if server is not None:
        os.environ["PREFECT_API_URL"] = server.url
    try:
        from dripline.demo import run_demo

        settings, end = run_demo(
            out=out, leads=leads, days=days, seed=seed, cost_per_lead=cost_per_lead, console=console, server=server
        )
    finally:
        if server is not None:
            server.stop()
            del os.environ["PREFECT_API_URL"]
    if web:
        from dripline.demo_web import morning_batch, serve_demo_web
        from storage.db import make_engine

        if serve_for is None and not sys.stdin.isatty():
            serve_for = 0.0
        engine = make_engine(settings.database_url)
        morning = morning_batch(settings, engine, at=end, folder=out.resolve(), console=console)
        serve_demo_web(settings, engine, at=morning, port=web_port, serve_for=serve_for,
                       console=console)  # fmt: skip


@app.command(rich_help_panel=ADMIN)
def docs() -> None:
    """Regenerate the documentation built from the code (docs/state-machine.md)."""
    from service.docs import write_docs

    for path in write_docs():
        console.print(f"wrote {path}")


if __name__ == "__main__":
    app()

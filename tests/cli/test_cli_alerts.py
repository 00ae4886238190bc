"""``dripline alerts run`` and ``dripline alerts list``, in-process against SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from dripline.cli import app
from tests.factories import NOW
from tests.service.alert_support import add_officer, add_task

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_run_sends_the_due_alerts_once_and_list_shows_them_per_officer(
    engine: Engine, database_url: str, app_env: Path
) -> None:
    dana = add_officer(engine, 1)
    add_task(engine, officer=dana)
    add_task(engine, officer=add_officer(engine, 2, alert_sms=False))
    at = (NOW + timedelta(minutes=1)).isoformat()

    first = invoke("--db", database_url, "alerts", "run", "--at", at)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output[first.output.index("{") :])["sent"] == 3
    again = invoke("--db", database_url, "alerts", "run", "--at", at)
    assert json.loads(again.output[again.output.index("{") :])["sent"] == 0

    listed = invoke("--db", database_url, "alerts", "list", "--officer", "Dana1@Lender.test", "--json")
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert {(r["officer"], r["channel"], r["status"]) for r in rows} == {
        ("dana1@lender.test", "sms", "sent"),
        ("dana1@lender.test", "email", "sent"),
    }
    everyone = invoke("--db", database_url, "alerts", "list")
    assert "4 alert(s)" in everyone.output and "text alerts off" in everyone.output


def test_listing_for_an_unknown_officer_says_so_in_one_line(engine: Engine, database_url: str, app_env: Path) -> None:
    out = invoke("--db", database_url, "alerts", "list", "--officer", "nobody@lender.test")
    assert out.exit_code == 2
    assert out.output.strip() == (
        "--officer: no loan officer has the email 'nobody@lender.test'; `dripline officers list` shows every "
        "officer's email"
    )


def test_a_bad_time_is_refused_naming_the_option(engine: Engine, database_url: str, app_env: Path) -> None:
    out = runner.invoke(app, ["--db", database_url, "alerts", "run", "--at", "tomorrow-ish"])
    assert out.exit_code == 2 and "--at" in out.output and "ISO 8601" in out.output


def test_dispatch_sends_the_officers_alerts_after_the_borrowers_messages(
    engine: Engine, database_url: str, app_env: Path
) -> None:
    add_task(engine, officer=add_officer(engine, 1))
    out = invoke("--db", database_url, "dispatch", "--at", (NOW + timedelta(minutes=1)).isoformat())
    assert out.exit_code == 0, out.output
    result = json.loads(out.output[out.output.index("{") :])
    assert (result["sent"], result["alerts"]["sent"]) == (0, 2)
    assert len(list((app_env / "sms").iterdir())) == 1 and len(list((app_env / "email").iterdir())) == 2

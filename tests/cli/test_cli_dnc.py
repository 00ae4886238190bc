"""``dripline dnc due`` and ``dripline dnc import``, run in-process against SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from dripline.cli import app
from service.pipeline import Pipeline
from service.replay import replay
from service.settings import get_settings
from tests.factories import insert_lead

START = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # 08:00 in New York
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_due_lists_the_held_number_and_import_puts_its_call_back_on_the_list(
    engine: Engine, database_url: str, tmp_path: Path, app_env: Path
):
    insert_lead(engine, at=START, dnc_scrubbed_on=date(2026, 1, 1))
    p = Pipeline.open(get_settings(), now=START)
    replay(p, start=START, until=START + timedelta(hours=3), every=timedelta(hours=1))
    assert json.loads(invoke("--db", database_url, "tasks", "--json").output or "[]") == []

    due = invoke("--db", database_url, "dnc", "due", "--csv", str(tmp_path / "due.csv"), "--at", START.isoformat())
    assert due.exit_code == 0, due.output
    assert "+13055550147" in due.output and "2026-01-01" in due.output
    [row] = list(csv.DictReader((tmp_path / "due.csv").open()))
    assert (row["number"], row["call_tasks"], row["last_scrubbed_on"]) == ("+13055550147", "1", "2026-01-01")

    bad = tmp_path / "bad.csv"
    bad.write_text("number,listed,scrubbed_on\n(305) 555-0147,maybe,2026-03-01\n")
    refused = invoke("--db", database_url, "dnc", "import", str(bad), "--at", START.isoformat())
    assert refused.exit_code == 2
    assert "refused, nothing recorded: line 2, listed: 'maybe' is not yes or no" in refused.output
    assert len(refused.output.strip().splitlines()) <= 2

    good = tmp_path / "scrub.csv"
    good.write_text("number,listed,scrubbed_on\n(305) 555-0147,no,2026-03-01\n")
    later = (START + timedelta(hours=3)).isoformat()
    done = invoke("--db", database_url, "dnc", "import", str(good), "--at", later)
    assert done.exit_code == 0, done.output
    assert "1 lead(s) updated" in done.output and "1 call task(s)" in done.output
    tasks = [json.loads(line) for line in invoke("--db", database_url, "tasks", "--json").output.splitlines()]
    assert [(t["phone"], t["step"], t["status"]) for t in tasks] == [("+13055550147", "d0-call", "open")]
    assert "0 number(s) wait" in invoke("--db", database_url, "dnc", "due").output

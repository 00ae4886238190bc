"""The dripline command, run in-process against SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dripline.cli import app

runner = CliRunner()
AT = "2026-03-02T13:00:00+00:00"
HEADER = [
    "external_id",
    "first_name",
    "last_name",
    "phone",
    "email",
    "address_state",
    "zip",
    "self_employed",
    "fico",
    "inquiry_date",
    "dnc_scrubbed_on",
    "consent_at",
    "consent_source",
    "consent_seller",
    "consent_text",
]
CONSENT = ["2026-02-25", "2026-01-05", "https://apply.example.com/form", "Dripline Demo Mortgage", "I agree to texts."]


def invoke(*args: str):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result


def _csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


GOOD = [
    [
        "v-1",
        "Maria",
        "Lopez",
        "(305) 555-0147",
        "maria@example.com",
        "FL",
        "33101",
        "yes",
        "640",
        "2026-01-10",
        *CONSENT,
    ],
    ["v-2", "Sam", "Okafor", "212-555-0188", "sam@example.com", "NY", "10001", "no", "700", "2026-01-12", *CONSENT],
]
BAD = [
    ["v-3", "Ana", "Ruiz", "not a phone", "", "TX", "75001", "yes", "650", "2026-01-15", *CONSENT],
    ["v-4", "Lee", "Park", "212-555-0199", "lee@example.com", "NY", "10001", "no", "912", "2026-01-15", *CONSENT],
]


def _add_officer(database_url: str) -> None:
    added = invoke(
        "--db",
        database_url,
        "officers",
        "add",
        "--name",
        "Dana Whitfield",
        "--email",
        "dana@example.com",
        "--nmls-id",
        "1456789",
        "--states",
        "all",
        "--at",
        AT,
    )
    assert added.exit_code == 0, added.output


def test_init_is_safe_to_run_twice(database_url):
    first = invoke("--db", database_url, "init", "--now", AT)
    assert first.exit_code == 0, first.output
    second = invoke("--db", database_url, "init", "--now", AT)
    assert second.exit_code == 0 and "already up to date" in second.output
    assert "cadence aged-nonqm v1 ready" in second.output


def test_import_reports_bad_rows_and_is_idempotent(database_url, tmp_path):
    _add_officer(database_url)
    path = _csv(tmp_path / "leads.csv", GOOD + BAD)
    first = invoke("--db", database_url, "leads", "import", str(path), "--at", AT)
    assert first.exit_code == 0, first.output
    assert "4 rows: 2 new, 0 updated, 0 unchanged, 2 rejected; 2 enrolled" in first.output
    assert "line 4: phone" in first.output and "line 5: fico" in first.output
    rejects = list(csv.DictReader((tmp_path / "leads.rejects.csv").open()))
    assert [r["line"] for r in rejects] == ["4", "5"]
    second = invoke("--db", database_url, "leads", "import", str(path), "--at", AT)
    assert "4 rows: 0 new, 0 updated, 2 unchanged, 2 rejected; 0 enrolled" in second.output


def test_outbox_json_has_one_object_per_line(database_url, tmp_path, app_env, prefect_server):
    _add_officer(database_url)
    invoke("--db", database_url, "leads", "import", str(_csv(tmp_path / "l.csv", GOOD)), "--at", AT)
    assert invoke("--db", database_url, "tick", "--now", AT).exit_code == 0
    noon_ny = "2026-03-02T17:30:00+00:00"
    assert invoke("--db", database_url, "tick", "--now", noon_ny).exit_code == 0
    assert invoke("--db", database_url, "dispatch", "--now", noon_ny).exit_code == 0
    out = invoke("--db", database_url, "outbox", "--json", "--status", "sent")
    rows = [json.loads(line) for line in out.output.splitlines()]
    assert {r["channel"] for r in rows} == {"sms"} and len(rows) == 2
    keys = {"lead_id", "step", "channel", "template", "scheduled_for", "sent_at", "status", "reason"}
    assert all(keys <= r.keys() for r in rows)

    tasks = [json.loads(line) for line in invoke("--db", database_url, "tasks", "--json").output.splitlines()]
    assert len(tasks) == 2 and all(t["officer_email"] == "dana@example.com" for t in tasks)
    done = invoke(
        "--db", database_url, "tasks", "complete", str(tasks[0]["id"]), "--outcome", "reached", "--at", noon_ny
    )
    assert done.exit_code == 0 and "stage new_lead -> contacted" in done.output
    script = invoke("--db", database_url, "tasks", "script", str(tasks[1]["id"]))
    assert script.exit_code == 0 and "Dana Whitfield" in script.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tick", "--now", "yesterday-ish"], "is not an ISO 8601 time"),
        (["outbox", "--status", "lost"], "is not one of planned"),
        (["tasks", "complete", "999", "--outcome", "reached"], "no call task with id 999"),
        (["tasks", "complete", "1", "--outcome", "maybe"], "is not one of no_answer"),
        (["leads", "advance", "1", "--event", "teleported"], "is not one of educated"),
    ],
)
def test_bad_input_gets_a_clear_error(database_url, args, message):
    invoke("--db", database_url, "init", "--now", AT)
    result = runner.invoke(app, ["--db", database_url, *args])
    assert result.exit_code != 0
    assert message in result.output


def test_report_json_lists_products(database_url, tmp_path):
    invoke("--db", database_url, "leads", "import", str(_csv(tmp_path / "l.csv", GOOD)), "--at", AT)
    payload = json.loads(invoke("--db", database_url, "report", "--json").output)
    products = {p["product"]: p["leads"] for p in payload["products"]}
    assert products == {"bank_statement": 1, "general": 1}
    assert payload["totals"]["leads"] == 2
    assert [(b["band"], b["leads"]) for b in payload["by_age"]] == [("under_30", 0), ("30_90", 2), ("over_90", 0)]
    text = invoke("--db", database_url, "report").output
    assert "Funnel by lead age at import" in text and "30-90 days *" in text


def test_a_person_lists_and_settles_messages_whose_outcome_is_unknown(database_url, tmp_path, app_env):
    import sqlalchemy as sa

    from storage.db import make_engine

    _add_officer(database_url)
    invoke("--db", database_url, "leads", "import", str(_csv(tmp_path / "l.csv", GOOD)), "--at", AT)
    noon_ny = "2026-03-02T17:30:00+00:00"
    assert invoke("--db", database_url, "tick", "--at", AT).exit_code == 0
    for command in ("tick", "dispatch"):
        assert invoke("--db", database_url, command, "--at", noon_ny).exit_code == 0
    engine = make_engine(database_url)
    with engine.begin() as conn:  # as if the dispatcher had died between the provider request and its answer
        conn.execute(sa.text("UPDATE touch SET status = 'unknown', sent_at = NULL WHERE status = 'sent'"))
        keys = sorted(conn.execute(sa.text("SELECT key FROM touch WHERE status = 'unknown'")).scalars())
    engine.dispose()
    assert len(keys) == 2
    listed = invoke("--db", database_url, "outbox", "--status", "unknown")
    assert all(k[:12] in listed.output for k in keys), listed.output
    report = invoke("--db", database_url, "report")
    assert "2 message(s) whose outcome is unknown" in report.output
    undecided = runner.invoke(app, ["--db", database_url, "outbox", "settle", keys[0]])
    assert undecided.exit_code == 2 and "--sent or --not-sent" in undecided.output
    assert invoke("--db", database_url, "outbox", "settle", keys[0], "--sent", "--at", noon_ny).exit_code == 0
    again = invoke("--db", database_url, "outbox", "settle", keys[1], "--not-sent", "--note", "no record at Twilio")
    assert again.exit_code == 0 and "planned again" in again.output
    twice = runner.invoke(app, ["--db", database_url, "outbox", "settle", keys[1], "--sent"])
    assert twice.exit_code == 2 and "it is planned, not unknown" in twice.output
    rows = [json.loads(line) for line in invoke("--db", database_url, "outbox", "--json").output.splitlines()]
    assert sorted(r["status"] for r in rows if r["channel"] == "sms") == ["planned", "sent"]


@pytest.mark.parametrize(
    ("args", "panels"),
    [([], ["Loan officers", "Marketing ops", "Admin"]), (["leads"], ["Loan officers", "Marketing ops"])],
)
def test_help_shows_loan_officers_then_marketing_ops_then_admin(args, panels):
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    titles = [line.split("─ ", 1)[1].split(" ─", 1)[0] for line in result.output.splitlines() if "╭─ " in line]
    assert titles == ["Options", *panels]

"""`dripline leads advance ID --event docs_requested` starts the documents sequence; `docs_received` stops it. In
process, against SQLite and PostgreSQL, through the local outbox."""

from __future__ import annotations

import json

from tests.cli.test_cli import AT, GOOD, _add_officer, _csv, invoke

ASKED = "2026-03-02T15:00:00+00:00"  # Monday 10:00 in Miami
TEXT_DUE = "2026-03-02T15:30:00+00:00"
RECEIVED = "2026-03-03T14:00:00+00:00"
FIRST_REMINDER = "2026-03-04T15:00:00+00:00"  # Wednesday, business day 2


def _documents(database_url: str, lead: str) -> list[dict]:
    out = invoke("--db", database_url, "outbox", "--json", "--lead", lead)
    return [r for r in map(json.loads, out.output.splitlines()) if r["template"].startswith("documents_")]


def _step(database_url: str, at: str) -> None:
    for command in ("tick", "dispatch"):
        assert invoke("--db", database_url, command, "--at", at).exit_code == 0


def test_advance_docs_requested_sends_the_checklist_and_docs_received_stops_the_reminders(
    database_url, tmp_path, app_env, prefect_server
):
    _add_officer(database_url)
    invoke("--db", database_url, "leads", "import", str(_csv(tmp_path / "l.csv", GOOD)), "--at", AT)
    _step(database_url, AT)
    for lead in ("1", "2"):
        moved = invoke("--db", database_url, "leads", "advance", lead, "--event", "docs_requested", "--at", ASKED)
        assert "stage new_lead -> docs_requested, cadence active -> handed_off" in moved.output
    _step(database_url, ASKED)
    _step(database_url, TEXT_DUE)

    sent = {(r["template"], r["channel"], r["status"]) for r in _documents(database_url, "1")}
    assert sent == {("documents_checklist", "email", "sent"), ("documents_checklist", "sms", "sent")}
    checklist = next((app_env / "email").glob("1_documents_*_d0-email_*.txt")).read_text()
    assert "Subject: Your checklist for a bank statement loan: first part by Thursday, March 5" in checklist

    received = invoke("--db", database_url, "leads", "advance", "1", "--event", "docs_received", "--at", RECEIVED)
    assert "stage docs_requested -> docs_received, cadence active -> handed_off" in received.output
    _step(database_url, FIRST_REMINDER)
    _step(database_url, "2026-03-04T18:00:00+00:00")

    assert {r["template"] for r in _documents(database_url, "1")} == {"documents_checklist"}, "no reminder after"
    reminded = {(r["template"], r["channel"], r["status"]) for r in _documents(database_url, "2")}
    assert {("documents_reminder", "email", "sent"), ("documents_reminder", "sms", "sent")} <= reminded

"""dripline explain, inbound sms, consent add, email-event, and the refusal to send incomplete solicitations."""

from __future__ import annotations

import json

from tests.cli.test_cli import AT, GOOD, _add_officer, _csv, invoke

MIAMI = "+13055550147"


def _imported(database_url: str, tmp_path) -> None:
    _add_officer(database_url)
    result = invoke("--db", database_url, "leads", "import", str(_csv(tmp_path / "l.csv", GOOD)), "--at", AT)
    assert result.exit_code == 0, result.output


def test_stop_by_text_then_explain_shows_the_opt_out_and_why_touches_were_blocked(database_url, tmp_path):
    _imported(database_url, tmp_path)
    stop = invoke("--db", database_url, "inbound", "sms", "--from", "(305) 555-0147", "--to", "+18005550100",
                  "--body", "Stop texting me please", "--at", "2026-03-02T13:30:00+00:00", "--json")  # fmt: skip
    assert stop.exit_code == 0, stop.output
    result = json.loads(stop.output)
    assert result["kind"] == "opt_out" and result["lead_ids"] == [1] and "unsubscribed" in result["reply"]
    assert invoke("--db", database_url, "tick", "--now", "2026-03-02T17:30:00+00:00").exit_code == 0
    doc = json.loads(invoke("--db", database_url, "explain", "1", "--json", "--now", "2026-03-03T00:00:00Z").output)
    assert set(doc["opted_out_now"]) == {"sms", "voicemail", "call", "email"}
    assert doc["rules"]["states"] == ["FL"] and doc["rules"]["quiet_hours"] == "08:00-20:00"
    kinds = [e["kind"] for e in doc["timeline"]]
    assert "inbound text" in kinds and "state" in kinds
    readable = invoke("--db", database_url, "explain", "1", "--now", "2026-03-03T00:00:00Z")
    assert readable.exit_code == 0 and "opted out of sms" in readable.output
    assert "Stop texting me please" in readable.output


def test_start_by_text_says_where_the_cadence_resumes(database_url, tmp_path):
    _imported(database_url, tmp_path)
    assert invoke("--db", database_url, "tick", "--at", AT).exit_code == 0
    sms = ("--db", database_url, "inbound", "sms", "--from", MIAMI, "--to", "+18005550100")
    assert invoke(*sms, "--body", "STOP", "--at", "2026-03-02T14:00:00+00:00").exit_code == 0
    back = invoke(*sms, "--body", "START", "--at", "2026-03-03T20:00:00+00:00")
    assert back.exit_code == 0, back.output
    assert "texts will resume" in back.output
    assert "lead 1: cadence resumed (active, next step d2-call); next text d2-sms" in back.output


def test_explain_an_unknown_lead_fails_clearly(database_url):
    invoke("--db", database_url, "init", "--now", AT)
    result = invoke("--db", database_url, "explain", "999", "--now", AT)
    assert result.exit_code == 1


def test_a_bad_sender_number_is_a_clear_error(database_url, tmp_path):
    _imported(database_url, tmp_path)
    result = runner_invoke(database_url, "--from", "not-a-number")
    assert result.exit_code == 2 and "--from" in result.output


def runner_invoke(database_url: str, *extra: str):
    from typer.testing import CliRunner

    from dripline.cli import app

    args = ["--db", database_url, "inbound", "sms", "--to", "+18005550100", "--body", "hi", "--at", AT, *extra]
    return CliRunner().invoke(app, args)


def test_consent_add_records_once_and_refuses_other_numbers(database_url, tmp_path):
    _imported(database_url, tmp_path)
    args = ["--db", database_url, "consent", "add", "2", "--seller", "Dripline Demo Mortgage", "--text", "I agree.",
            "--source", "phone recording 77", "--consented-at", "2026-02-01T15:00:00Z", "--at", AT]  # fmt: skip
    first, again = invoke(*args), invoke(*args)
    assert "recorded" in first.output and "already on file" in again.output
    other = runner_invoke_consent(database_url, "--phone", "+12125550111")
    assert other.exit_code == 2 and "not one of lead 2's numbers" in other.output


def runner_invoke_consent(database_url: str, *extra: str):
    from typer.testing import CliRunner

    from dripline.cli import app

    args = ["--db", database_url, "consent", "add", "2", "--seller", "X", "--text", "t", "--source", "s", "--at", AT]
    return CliRunner().invoke(app, [*args, *extra])


def test_an_email_bounce_stops_email_only(database_url, tmp_path):
    _imported(database_url, tmp_path)
    result = invoke("--db", database_url, "email-event", "bounce", "Sam@Example.com", "--at", AT)
    assert result.exit_code == 0 and "leads 2" in result.output
    doc = json.loads(invoke("--db", database_url, "explain", "2", "--json", "--now", AT).output)
    assert list(doc["opted_out_now"]) == ["email"]


def test_an_email_event_delivered_twice_is_handled_once(database_url, tmp_path):
    _imported(database_url, tmp_path)
    args = ("--db", database_url, "email-event", "unsubscribe", "sam@example.com", "--event-id", "sg-77", "--at", AT)
    first, again = invoke(*args), invoke(*args)
    assert first.exit_code == again.exit_code == 0
    assert "email stopped (unsubscribe); leads 2" in first.output and "already handled" in again.output


def test_the_pipeline_refuses_to_start_when_an_officer_has_no_nmls_id(database_url, tmp_path):
    _imported(database_url, tmp_path)
    invoke("--db", database_url, "officers", "add", "--name", "Lee Nolicense", "--email", "lee@example.com", "--at", AT)
    from typer.testing import CliRunner

    from dripline.cli import app

    result = CliRunner().invoke(app, ["--db", database_url, "tick", "--now", AT])
    assert result.exit_code == 2
    assert "Lee Nolicense has no NMLS ID" in result.output

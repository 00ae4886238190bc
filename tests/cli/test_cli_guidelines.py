"""dripline guidelines load|show|diff|history|sweep, leads eligible, and eligibility in explain, run in-process
against SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from dripline.cli import app
from nurture.products import Product
from storage.models import CadencePosition, LeadHistory, Reengagement, table
from tests.factories import insert_nurture_lead

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "guidelines" / "examples" / "harbor-2026-02.json"
JUNE = ROOT / "guidelines" / "examples" / "harbor-2026-06.csv"
FEBRUARY_LOAD = "2026-02-15T15:00:00Z"
LOWERED_FICO = "lowered its minimum credit score from 640 to 600 for bank statement loans"
SHORTER_CH7 = "shortened the wait after a chapter 7 bankruptcy from 48 to 24 months for credit event loans"

_re, _pos, _hist = table(Reengagement), table(CadencePosition), table(LeadHistory)


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _ok(*args: str):
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


def _json_lines(database_url: str, *args: str) -> list[dict]:
    out = _ok("--db", database_url, *args, "--json").stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _load(database_url: str, path: Path, at: str, rescore: str = "none"):
    return _ok("--db", database_url, "guidelines", "load", str(path), "--at", at, "--rescore", rescore)


def _lead(engine: Engine, now: datetime, n: int, **overrides) -> int:
    """A bank-statement lead resting in email nurture, in Miami (FL)."""
    values = {"product": Product.BANK_STATEMENT.value, "loan_amount": 150_000} | overrides
    return insert_nurture_lead(engine, now=now, n=n, **values)


def _reengagements(engine: Engine) -> dict[int, object]:
    with engine.connect() as conn:
        return {r.lead_id: r for r in conn.execute(sa.select(_re))}


def _reengage_history(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(_hist.c.lead_id).where(_hist.c.event == "reengage")).scalars())


@pytest.mark.prefect
def test_loading_june_inline_re_engages_exactly_the_newly_eligible_lead(engine, database_url, app_env, prefect_server):
    now = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
    fico_610 = _lead(engine, now, 1, fico=610)
    fico_599 = _lead(engine, now, 2, fico=599)
    fico_650 = _lead(engine, now, 3, fico=650)  # eligible already under February's 640: nothing new for it
    small_loan = _lead(engine, now, 4, fico=610, loan_amount=100_000)  # below Harbor's $125,000 minimum
    _load(database_url, BASELINE, FEBRUARY_LOAD)

    result = _load(database_url, JUNE, now.isoformat(), rescore="inline")
    out = result.stdout
    assert "Bayline Mortgage: unchanged (same as snapshot 1)" in out
    assert "Harbor Capital: snapshot 3, 2 loosening and 0 tightening changes" in out
    assert f"  loosening: {LOWERED_FICO}" in out
    assert f"  loosening: {SHORTER_CH7}" in out
    assert "re-scored snapshot 3: 1 leads re-engaged, 0 opted out (not contacted)" in out
    assert f"  1 because one of our lenders {LOWERED_FICO}" in out

    done = _reengagements(engine)
    assert list(done) == [fico_610], (fico_599, fico_650, small_loan)
    row = done[fico_610]
    assert (row.status, row.lender, row.program, row.change_key) == ("enrolled", "Harbor Capital", "bank_statement",
                                                                      "snapshot:3")  # fmt: skip
    assert row.reason == LOWERED_FICO and row.score > 0
    assert _reengage_history(engine) == [fico_610]
    with engine.connect() as conn:
        cadences = dict(conn.execute(sa.select(_pos.c.lead_id, _pos.c.cadence_name)).all())
    assert cadences == {fico_610: "reengage", fico_599: "aged-nonqm", fico_650: "aged-nonqm", small_loan: "aged-nonqm"}

    explained = _ok("--db", database_url, "explain", str(fico_610), "--now", now.isoformat()).stdout
    assert f"re-engagement snapshot:3 (enrolled): one of our lenders {LOWERED_FICO}" in explained
    assert "program Harbor Capital bank_statement: eligible" in explained


def test_loading_the_same_feed_twice_is_unchanged_and_stores_nothing(database_url, app_env):
    first = _load(database_url, BASELINE, FEBRUARY_LOAD)
    assert "Bayline Mortgage: snapshot 1" in first.stdout and "Harbor Capital: snapshot 2" in first.stdout
    before = _json_lines(database_url, "guidelines", "history")
    assert [h["id"] for h in before] == [1, 2]

    again = _load(database_url, BASELINE, "2026-02-16T15:00:00Z")
    assert "Bayline Mortgage: unchanged (same as snapshot 1)" in again.stdout
    assert "Harbor Capital: unchanged (same as snapshot 2)" in again.stdout
    assert "loosening" not in again.stdout and "re-scored" not in again.stdout
    assert _json_lines(database_url, "guidelines", "history") == before


def _program(program: str, **overrides) -> dict:
    base = {
        "program": program,
        "effective_date": "2026-06-01",
        "min_fico": 600,
        "seasoning_months": {"chapter_7": 24},
        "min_dscr": None,
        "asset_divisor": None,
        "max_ltv": 80,
        "min_loan_amount": 100000,
        "states": ["FL"],
    }
    return base | overrides


def test_a_malformed_feed_is_refused_whole_with_every_problem(database_url, app_env, tmp_path):
    _load(database_url, BASELINE, FEBRUARY_LOAD)
    shown, history = _json_lines(database_url, "guidelines", "show"), _json_lines(database_url, "guidelines", "history")
    missing = _program("bank_statement")
    del missing["max_ltv"]
    programs = [
        missing,
        _program("dscr", min_fico=-5, min_dscr=1.0),
        _program("jumbo"),
        _program("bank_statement", min_fico=580),  # bank_statement again, for the same lender
        _program("credit_event"),  # valid: must not be loaded on its own either
    ]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"lenders": [{"lender": "Harbor Capital", "programs": programs}]}))

    result = invoke("--db", database_url, "guidelines", "load", str(bad), "--at", "2026-05-15T15:00:00Z",
                    "--rescore", "none")  # fmt: skip
    assert result.exit_code == 2, "a refused feed is bad input"
    errors = result.stderr
    assert "bad.json: refused, nothing loaded (4 problems):" in errors
    assert "lenders[0].programs[0]: missing max_ltv" in errors
    assert "lenders[0].programs[1].min_fico: -5 is not a credit score" in errors
    assert 'lenders[0].programs[2].program: "jumbo" is not a program' in errors
    assert (
        "lenders[0].programs[3]: Harbor Capital / bank_statement is already given at lenders[0].programs[0]" in errors
    )
    assert "snapshot" not in result.stdout
    assert _json_lines(database_url, "guidelines", "show") == shown
    assert _json_lines(database_url, "guidelines", "history") == history


def test_show_history_and_diff_print_one_json_object_per_line(database_url, app_env):
    _load(database_url, BASELINE, FEBRUARY_LOAD)
    _load(database_url, JUNE, "2026-05-15T15:00:00Z")

    shown = _json_lines(database_url, "guidelines", "show")
    assert len(shown) == 7
    by_key = {(r["lender"], r["program"]): r for r in shown}
    harbor = by_key[("Harbor Capital", "bank_statement")]
    assert harbor["min_fico"] == 600 and harbor["effective"] == "2026-06-01"
    assert harbor["states"] == ["FL", "GA", "TX"] and harbor["min_loan_amount"] == 125000
    assert by_key[("Harbor Capital", "credit_event")]["seasoning_months"]["chapter_7"] == 24
    assert by_key[("Harbor Capital", "dscr")]["states"] is None and by_key[("Harbor Capital", "dscr")]["min_dscr"] == 1
    bayline = _json_lines(database_url, "guidelines", "show", "--lender", "Bayline Mortgage")
    assert {r["program"] for r in bayline} == {"bank_statement", "dscr", "foreign_national"}
    assert {r["lender"] for r in bayline} == {"Bayline Mortgage"}

    history = _json_lines(database_url, "guidelines", "history")
    assert [(h["id"], h["lender"], h["previous_id"]) for h in history] == [
        (1, "Bayline Mortgage", None),
        (2, "Harbor Capital", None),
        (3, "Harbor Capital", 2),
    ]
    june = history[2]
    assert (june["source"], june["loaded_by"], june["programs"]) == ("harbor-2026-06.csv", "cli", 4)
    assert (june["loosenings"], june["tightenings"]) == (2, 0)
    assert june["loaded_at"].startswith("2026-05-15T15:00")
    assert len(_json_lines(database_url, "guidelines", "history", "--lender", "Harbor Capital")) == 2

    changes = _json_lines(database_url, "guidelines", "diff", str(june["id"]))
    by_field = {(c["program"], c["field"]): c for c in changes}
    fico = by_field[("bank_statement", "min_fico")]
    assert (fico["lender"], fico["old"], fico["new"], fico["direction"]) == ("Harbor Capital", 640, 600, "loosening")
    assert fico["describe"] == LOWERED_FICO
    ch7 = by_field[("credit_event", "seasoning_months.chapter_7")]
    assert (ch7["old"], ch7["new"], ch7["direction"]) == (48, 24, "loosening")
    moved = by_field[("bank_statement", "effective_date")]
    assert (moved["old"], moved["new"], moved["direction"]) == ("2026-02-01", "2026-06-01", "neutral")
    assert len(changes) == 4

    readable = _ok("--db", database_url, "guidelines", "diff", str(june["id"])).stdout
    assert f"loosening: {LOWERED_FICO} (min_fico: 640 -> 600)" in readable
    first = _ok("--db", database_url, "guidelines", "diff", "1").stdout
    assert "snapshot 1: Bayline Mortgage, loaded 2026-02-15 15:00 UTC from harbor-2026-02.json" in first
    assert "loosening: now offers foreign national loans (program: None -> offered)" in first
    assert invoke("--db", database_url, "guidelines", "diff", "99").exit_code == 1


def test_leads_eligible_lists_lender_and_score_and_filters_by_program(engine, database_url, app_env):
    now = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    _load(database_url, BASELINE, FEBRUARY_LOAD)
    eligible = _lead(engine, now, 1, fico=700)
    _lead(engine, now, 2, fico=610)  # short of Harbor's 640
    dscr = _lead(engine, now, 3, fico=700, product=Product.DSCR.value, loan_amount=300_000, monthly_rent=3_000)

    rows = _json_lines(database_url, "leads", "eligible", "--now", now.isoformat())
    assert [r["lead_id"] for r in rows if r["product"] == "bank_statement"] == [eligible]
    [mine] = [r for r in rows if r["lead_id"] == eligible]
    assert (mine["lender"], mine["program"], mine["fico"]) == ("Harbor Capital", "bank_statement", 700)
    assert isinstance(mine["score"], float) and mine["score"] > 0
    assert {r["lead_id"] for r in rows} == {eligible, dscr}

    only_dscr = _json_lines(database_url, "leads", "eligible", "--program", "dscr", "--now", now.isoformat())
    assert [(r["lead_id"], r["lender"], r["program"]) for r in only_dscr] == [(dscr, "Harbor Capital", "dscr")]
    before_rules = _json_lines(database_url, "leads", "eligible", "--now", "2026-01-10T14:00:00Z")
    assert before_rules == [], "no program is in effect before its effective date"
    unknown = invoke("--db", database_url, "leads", "eligible", "--program", "jumbo")
    assert unknown.exit_code == 2 and "'jumbo' is not one of bank_statement, dscr" in unknown.output


def test_explain_names_the_fico_blocker(engine, database_url, app_env):
    now = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    _load(database_url, BASELINE, FEBRUARY_LOAD)
    lead = _lead(engine, now, 1, fico=610)

    out = _ok("--db", database_url, "explain", str(lead), "--now", now.isoformat()).stdout
    assert "program Harbor Capital bank_statement: blocked: FICO 610 is 30 points short of 640" in out
    assert (
        "program Bayline Mortgage bank_statement: blocked: FICO 610 is 10 points short of 620; "
        "this lender does not lend in FL"
    ) in out
    doc = json.loads(_ok("--db", database_url, "explain", str(lead), "--json", "--now", now.isoformat()).stdout)
    programs = {p["lender"]: p for p in doc["eligibility"]["programs"]}
    assert programs["Harbor Capital"] == {
        "lender": "Harbor Capital",
        "program": "bank_statement",
        "eligible": False,
        "blockers": ["FICO 610 is 30 points short of 640"],
    }
    assert doc["eligibility"]["seasons_on"] is None and doc["eligibility"]["reengagements"] == []


@pytest.mark.prefect
def test_sweep_re_engages_when_a_loosening_loaded_early_takes_effect(engine, database_url, app_env, prefect_server):
    loaded = datetime(2026, 5, 15, 14, 0, tzinfo=UTC)
    fico_610 = _lead(engine, loaded, 1, fico=610)
    fico_590 = _lead(engine, loaded, 2, fico=590)
    _load(database_url, BASELINE, FEBRUARY_LOAD)

    early = _load(database_url, JUNE, loaded.isoformat(), rescore="inline").stdout
    assert f"  loosening: {LOWERED_FICO}" in early
    assert "re-scored snapshot 3: 0 leads re-engaged" in early, "June's rules are not in effect in May"
    assert _reengagements(engine) == {}

    not_yet = _ok("--db", database_url, "guidelines", "sweep", "--now", "2026-05-20T14:00:00Z").stdout
    assert "0 leads re-engaged" in not_yet and "took effect" not in not_yet
    assert _reengagements(engine) == {} and _reengage_history(engine) == []

    due = _ok("--db", database_url, "guidelines", "sweep", "--now", "2026-06-01T14:00:00Z").stdout
    assert "Harbor Capital: a loosening took effect; re-scored" in due
    assert "1 leads re-engaged, 0 opted out (not contacted)" in due
    assert f"  1 because one of our lenders {LOWERED_FICO}" in due
    done = _reengagements(engine)
    assert list(done) == [fico_610] and fico_590 not in done
    assert done[fico_610].status == "enrolled" and done[fico_610].reason == LOWERED_FICO
    assert _reengage_history(engine) == [fico_610]

    again = _ok("--db", database_url, "guidelines", "sweep", "--now", "2026-06-02T14:00:00Z").stdout
    assert "0 leads re-engaged" in again, "a lead is re-engaged once per change"
    assert _reengage_history(engine) == [fico_610]

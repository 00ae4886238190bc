"""`dripline tasks script` shows the lead's own numbers under the lender programs in force on --at, and the
messages dispatch renders carry them: run in-process against SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from dripline.cli import app
from nurture.actions import TaskKind
from storage.models import CallTask, Reengagement, table
from tests.factories import insert_lead

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "guidelines" / "examples" / "harbor-2026-02.json"
AT = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _ok(*args: str) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return " ".join(result.stdout.split())


def _call_task(engine: Engine, lead_id: int, template: str = "intro") -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                sa.insert(table(CallTask)).values(
                    key=f"test:{lead_id}:{template}",
                    lead_id=lead_id,
                    kind=TaskKind.CADENCE.value,
                    template=template,
                    due_at=AT,
                    created_at=AT,
                )
            ).inserted_primary_key[0]
        )


def _lead(engine: Engine) -> int:
    """Self-employed in Miami: $20,000 a month of business deposits, a $400,000 loan, a chapter 7 in January 2023."""
    return insert_lead(
        engine, at=AT, fico=700, loan_amount=400_000, monthly_deposits=20_000, statement_type="business",
        statement_months=12, monthly_debts=500, credit_event_type="chapter_7", credit_event_date=date(2023, 1, 10),
    )  # fmt: skip


def test_tasks_script_shows_the_leads_numbers_under_the_programs_in_force(engine, database_url, app_env):
    _ok("--db", database_url, "guidelines", "load", str(BASELINE), "--at", "2026-02-15T15:00:00Z", "--rescore", "none")
    task = _call_task(engine, _lead(engine))

    script = _ok("--db", database_url, "tasks", "script", str(task), "--at", AT.isoformat())
    assert "THE NUMBERS (estimates from what is on file" in script
    assert (
        "- Estimated qualifying income: $10,000 a month 12 months of business deposits averaging $20,000 a month"
        " at the standard 50% expense ratio"
    ) in script
    assert "- Estimated DTI: 37.97% of income $3,297 estimated payment and $500 of other debts on $10,000" in script
    # Harbor waits 48 months after a chapter 7; Bayline's 36 do not count: it does not lend in Florida.
    assert "- Earliest eligible date after the chapter 7: January 10, 2027 48 months after the chapter 7" in script
    assert "- Programs that fit today: none today; Harbor Capital from January 10, 2027" in script
    assert "- Rate premium over a conventional loan: about $200-$337 a month" in script
    assert "each point is about $269 a month ($3,223 a year)" in script
    assert "Is a property under contract? If so, what is the closing date" in script

    later = _ok("--db", database_url, "tasks", "script", str(task), "--at", "2027-01-11T15:00:00Z")
    assert "- Programs that fit today: Harbor Capital" in later
    assert "- Earliest eligible date after the chapter 7: eligible now seasoned since January 10, 2027" in later


def test_without_lender_programs_the_script_says_so_and_still_works_out_the_income(engine, database_url, app_env):
    task = _call_task(engine, _lead(engine))
    script = _ok("--db", database_url, "tasks", "script", str(task), "--at", AT.isoformat())
    assert "- Estimated qualifying income: $10,000 a month" in script
    assert "- Programs that fit today: not worked out no bank statement program is loaded" in script
    seasoning = "- Earliest eligible date after the chapter 7: not worked out no bank statement program is loaded"
    assert seasoning in script


def test_render_contexts_work_out_every_leads_numbers_on_the_day_given(engine, database_url, app_env):
    from service.pipeline import Pipeline, render_contexts
    from service.settings import get_settings

    _ok("--db", database_url, "guidelines", "load", str(BASELINE), "--at", "2026-02-15T15:00:00Z", "--rescore", "none")
    first = _lead(engine)
    second = insert_lead(engine, at=AT, phone="+13055550148", email="sam@example.com", fico=610, loan_amount=300_000)
    p = Pipeline.open(get_settings(), now=AT)
    contexts = render_contexts(p, {first, second}, now=AT)
    numbers = {lead_id: c.numbers for lead_id, c in contexts.items()}
    assert numbers[first] is not None and numbers[first].income is not None
    assert numbers[first].income.value == "$10,000 a month"
    assert numbers[second] is not None and numbers[second].fit.basis.startswith("closest is")
    assert all(c.numbers is None for c in render_contexts(p, {first, second}).values())  # no day, no numbers
    only_first = render_contexts(p, {first, second}, now=AT, numbers_for={first})
    assert only_first[first].numbers == numbers[first] and only_first[second].numbers is None


def test_a_re_engagement_call_still_names_its_change_after_the_lead_went_back_to_nurture(engine, database_url, app_env):
    lead = _lead(engine)
    change = "lowered its minimum credit score from 640 to 600 for bank statement loans"
    with engine.begin() as conn:
        conn.execute(
            sa.insert(table(Reengagement)).values(
                lead_id=lead, change_key="snapshot:3", reason=change, status="enrolled", created_at=AT
            )
        )
    task = _call_task(engine, lead, "reengage")  # the lead has no cadence position naming the change any more
    script = _ok("--db", database_url, "tasks", "script", str(task), "--at", AT.isoformat())
    assert f"WHAT CHANGED One of our lenders {change}." in script
    assert "THE NUMBERS" in script

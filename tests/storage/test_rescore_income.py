"""Re-engagement when a lender changes how it counts income, on SQLite and PostgreSQL: a lower expense ratio or
fewer months of bank statements re-engages exactly the leads whose estimated DTI now fits, each with a reason that
names the change.

The numbers: a $400,000 loan is an estimated $3,296.86 a month; with $1,500 of other debts and a 45% maximum DTI the
borrower needs $10,659.69 of income. Business deposits give that from $21,320 a month at the standard 50% expense
ratio and from $17,767 at 40%.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.cadence import load_cadence
from nurture.guidelines import ProgramRules
from nurture.products import Product
from service.guideline_load import load_programs
from service.pipeline import Pipeline
from service.replay import replay
from service.settings import Settings
from storage.cadences import register_cadence
from storage.models import CadencePosition, LeadHistory, Reengagement, Touch, table
from storage.rescore import rescore_snapshot
from tests.factories import insert_nurture_lead
from tests.fakes import RecordingSender
from tests.storage.test_rescore import NOW

ROOT = Path(__file__).resolve().parents[2]
CADENCE = load_cadence((ROOT / "cadences" / "default.yaml").read_text())
REENGAGE = load_cadence((ROOT / "cadences" / "reengage.yaml").read_text())
_pos, _re, _hist = table(CadencePosition), table(Reengagement), table(LeadHistory)
EXPENSE_50_TO_40 = (
    "lowered the expense ratio it takes off business bank statement deposits from 50% to 40% for bank statement loans"
)
MONTHS_24_TO_12 = "now needs only 12 months of bank statements instead of 24 for bank statement loans"


def _pipeline(engine: Engine) -> Pipeline:
    registry = register_cadence(engine=engine, cadence=CADENCE, now=NOW, others=(REENGAGE,))
    return Pipeline(Settings(), engine, registry, RecordingSender())


def _program(**fields) -> ProgramRules:
    base = dict(lender="Harbor Capital", program=Product.BANK_STATEMENT, effective_date=date(2026, 1, 1),
                min_fico=620, max_dti=45.0, statement_months=24)  # fmt: skip
    return ProgramRules(**(base | fields))  # type: ignore[arg-type]


def _load(p: Pipeline, program: ProgramRules, at=NOW) -> int:
    outcome = load_programs(p, programs=[program], source="test", now=at, loaded_by="test", rescore=None)
    [snapshot] = [x.snapshot_id for x in outcome.result.stored]
    assert snapshot is not None
    return snapshot


def _borrower(engine: Engine, n: int, deposits: int | None, **income) -> int:
    values = dict(product=Product.BANK_STATEMENT.value, fico=700, loan_amount=400_000, monthly_debts=1_500,
                  monthly_deposits=deposits, statement_type="business" if deposits else None,
                  statement_months=24 if deposits else None)  # fmt: skip
    return insert_nurture_lead(engine, now=NOW, n=n, **(values | income))


def _reengaged(engine: Engine, snapshot: int) -> dict[int, str]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(_re.c.lead_id, _re.c.reason).where(_re.c.snapshot_id == snapshot))
        return {r.lead_id: r.reason for r in rows}


def test_a_lower_expense_ratio_re_engages_exactly_the_leads_whose_dti_now_fits(engine: Engine):
    p = _pipeline(engine)
    by_deposits = {d: _borrower(engine, n, d) for n, d in enumerate([17_766, 17_767, 19_000, 21_319, 21_320], 1)}
    cpa_50 = _borrower(engine, 10, 19_000, expense_ratio_bp=5_000)  # its CPA's ratio, not the lender's, counts
    personal = _borrower(engine, 11, 10_000, statement_type="personal")  # no expense ratio to lower: 47.97%
    year_only = _borrower(engine, 12, 19_000, statement_months=12)  # the lender still averages 24 months
    no_income = _borrower(engine, 13, None)
    lower_debts = _borrower(engine, 14, 17_000, monthly_debts=1_000)  # at 40%: $10,200 of income, 42.13%
    _load(p, _program(), at=NOW - timedelta(days=30))

    snapshot = _load(p, _program(expense_ratio=40.0))
    stats = rescore_snapshot(engine=engine, registry=p.registry, snapshot_id=snapshot, now=NOW)

    opened = {by_deposits[17_767], by_deposits[19_000], by_deposits[21_319], lower_debts}
    assert set(_reengaged(engine, snapshot)) == opened
    assert stats.reengaged == 4 and stats.mismatched == 0 and stats.candidates == 4
    for left_out in (by_deposits[17_766], by_deposits[21_320], cpa_50, personal, year_only, no_income):
        assert left_out not in _reengaged(engine, snapshot)
    assert set(_reengaged(engine, snapshot).values()) == {EXPENSE_50_TO_40}
    assert dict(stats.reasons) == {EXPENSE_50_TO_40: 4}
    with engine.connect() as conn:
        moved = {r.lead_id: r for r in conn.execute(sa.select(_pos).where(_pos.c.lead_id.in_(opened)))}
        history = conn.execute(sa.select(_hist.c.lead_id, _hist.c.reason).where(_hist.c.event == "reengage")).all()
    assert all(m.cadence_name == "reengage" and m.reason == EXPENSE_50_TO_40 for m in moved.values())
    assert {(h.lead_id, h.reason) for h in history} == {(i, f"one of our lenders {EXPENSE_50_TO_40}") for i in opened}

    again = rescore_snapshot(engine=engine, registry=p.registry, snapshot_id=snapshot, now=NOW + timedelta(hours=1))
    assert again.candidates == 0, "nobody twice for the same change"

    replay(p, start=NOW, until=NOW + timedelta(hours=6), every=timedelta(hours=1))
    touch = table(Touch)
    with engine.connect() as conn:
        sent = conn.execute(
            sa.select(touch.c.channel, touch.c.body_text).where(
                touch.c.lead_id == by_deposits[19_000], touch.c.status == "sent"
            )
        ).all()
    assert {t.channel for t in sent} == {"sms", "email"}
    assert all("from 50% to 40%" in t.body_text for t in sent), "the text and the email name the change"


def test_24_to_12_months_re_engages_the_leads_with_a_year_of_statements_whose_dti_fits(engine: Engine):
    p = _pipeline(engine)
    year_fits = _borrower(engine, 1, 19_000, statement_months=12, monthly_debts=0)  # 34.70%
    year_too_thin = _borrower(engine, 2, 19_000, statement_months=12)  # 50.49% at 50%
    two_years = _borrower(engine, 3, 22_000)  # fits already
    unknown_months = _borrower(engine, 4, 22_000, statement_months=None, statement_type="business")
    _load(p, _program(), at=NOW - timedelta(days=30))

    snapshot = _load(p, _program(statement_months=12))
    stats = rescore_snapshot(engine=engine, registry=p.registry, snapshot_id=snapshot, now=NOW)

    assert _reengaged(engine, snapshot) == {year_fits: MONTHS_24_TO_12}
    assert stats.reengaged == 1 and stats.mismatched == 0
    assert {year_too_thin, two_years, unknown_months}.isdisjoint(_reengaged(engine, snapshot))

    both = _load(p, _program(statement_months=12, expense_ratio=40.0), at=NOW + timedelta(days=1))
    rescore_snapshot(engine=engine, registry=p.registry, snapshot_id=both, now=NOW + timedelta(days=1))
    assert _reengaged(engine, both) == {year_too_thin: EXPENSE_50_TO_40}, "the thinner year fits at 40%: 42.08%"

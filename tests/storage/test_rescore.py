"""Re-engagement after a guideline load: exactly the newly eligible, once per change, and seasoning dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pendulum
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.cadence import load_cadence
from nurture.guidelines import FeedError, ProgramRules
from nurture.products import CreditEventType, Product
from nurture.states import CadenceStatus
from service import rescore as service_rescore
from service.guideline_load import load_guideline_file, load_programs
from service.inbound import handle_inbound_sms
from service.pipeline import Pipeline, tick
from service.settings import Settings
from storage.cadences import register_cadence
from storage.models import CadencePosition, CallTask, GuidelineSnapshot, LeadHistory, Reengagement, Touch, table
from storage.rescore import EFFECTIVE_LOOKBACK_DAYS, newly_effective, rescore_snapshot
from tests.factories import insert_nurture_lead
from tests.fakes import RecordingSender

ROOT = Path(__file__).resolve().parents[2]
CADENCE = load_cadence((ROOT / "cadences" / "default.yaml").read_text())
REENGAGE = load_cadence((ROOT / "cadences" / "reengage.yaml").read_text())
NOW = datetime(2026, 6, 15, 14, 0, tzinfo=UTC)  # a Monday, 10:00 in New York
_pos, _re, _snap = table(CadencePosition), table(Reengagement), table(GuidelineSnapshot)


def _pipeline(engine: Engine) -> Pipeline:
    registry = register_cadence(engine=engine, cadence=CADENCE, now=NOW, others=(REENGAGE,))
    return Pipeline(Settings(), engine, registry, RecordingSender())


def _resting(engine: Engine, *, n: int, **kw) -> int:
    return insert_nurture_lead(engine, now=NOW, n=n, **kw)


def _bank_statement(min_fico: int, **kw) -> ProgramRules:
    values = dict(lender="Harbor Capital", program=Product.BANK_STATEMENT, effective_date=date(2026, 1, 1),
                  min_fico=min_fico, seasoning_months={CreditEventType.CHAPTER_7: 48})  # fmt: skip
    return ProgramRules(**(values | kw))  # type: ignore[arg-type]


def _dscr() -> ProgramRules:
    return ProgramRules(lender="Harbor Capital", program=Product.DSCR, effective_date=date(2026, 1, 1), min_fico=640,
                        min_dscr=1.0)  # fmt: skip


def _reengaged(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(_re.c.lead_id).where(_re.c.status == "enrolled")).scalars())


def _load(p: Pipeline, programs: list[ProgramRules], at: datetime = NOW):
    outcome = load_programs(p, programs=programs, source="test", now=at, loaded_by="test", rescore=None)
    return [x.snapshot_id for x in outcome.result.stored]


def test_lowering_min_fico_re_engages_exactly_the_newly_eligible(engine: Engine):
    p = _pipeline(engine)
    ficos = {599: None, 600: None, 620: None, 639: None, 640: None, 700: None}
    for n, fico in enumerate(ficos, 1):
        ficos[fico] = _resting(engine, n=n, fico=fico, product=Product.BANK_STATEMENT.value)
    dscr_lead = _resting(engine, n=20, fico=620, product=Product.DSCR.value, monthly_rent=3000, loan_amount=300_000)
    opted_out = _resting(engine, n=21, fico=610, product=Product.BANK_STATEMENT.value)
    handle_inbound_sms(p, from_number="+13055550021", to_number="+18005550100", body="STOP", at=NOW - timedelta(days=3))
    active = _resting(engine, n=22, fico=615, product=Product.BANK_STATEMENT.value)
    with engine.begin() as conn:
        conn.execute(_pos.update().where(_pos.c.lead_id == active).values(status=CadenceStatus.ACTIVE.value))

    _load(p, [_bank_statement(640), _dscr()], at=NOW - timedelta(days=30))  # in force before; not re-scored here
    [snapshot] = _load(p, [_bank_statement(600), _dscr()])
    stats = rescore_snapshot(engine=engine, registry=p.registry, snapshot_id=snapshot, now=NOW)
    assert _reengaged(engine) == sorted([ficos[600], ficos[620], ficos[639]])
    assert stats.reengaged == 3 and stats.mismatched == 0
    assert dscr_lead not in _reengaged(engine) and active not in _reengaged(engine)
    assert opted_out not in _reengaged(engine), "an opted-out lead is not re-engaged"
    [why] = stats.reasons
    assert "640" in why and "600" in why and "credit score" in why

    with engine.connect() as conn:
        positions = {r.lead_id: r for r in conn.execute(sa.select(_pos))}
        history = conn.execute(sa.select(table(LeadHistory)).where(table(LeadHistory).c.event == "reengage")).all()
    for lead_id in _reengaged(engine):
        assert positions[lead_id].cadence_name == "reengage" and positions[lead_id].status == "active"
        assert "600" in positions[lead_id].reason
    assert len(history) == 3 and all("one of our lenders" in h.reason for h in history)

    again = rescore_snapshot(engine=engine, registry=p.registry, snapshot_id=snapshot, now=NOW + timedelta(hours=1))
    assert again.candidates == 0, "a lead is not re-engaged twice for the same change"


def test_loading_the_same_snapshot_twice_and_a_tightening_re_engage_nobody(engine: Engine):
    p = _pipeline(engine)
    _resting(engine, n=1, fico=620, product=Product.BANK_STATEMENT.value)
    _load(p, [_bank_statement(600)])
    assert _load(p, [_bank_statement(600)]) == [], "the same snapshot twice stores nothing"
    [tighter] = _load(p, [_bank_statement(640)])
    stats = rescore_snapshot(engine=engine, registry=p.registry, snapshot_id=tighter, now=NOW)
    assert stats.candidates == 0 and _reengaged(engine) == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(_snap)).scalar() == 2


def test_shorter_chapter_7_seasoning_re_engages_the_seasoned_and_dates_the_rest(engine: Engine):
    p = _pipeline(engine)
    today = NOW.date()

    def discharged(months: int) -> date:
        d = pendulum.Date(today.year, today.month, today.day).subtract(months=months)
        return date(d.year, d.month, d.day)

    leads = {
        m: _resting(
            engine,
            n=m,
            fico=700,
            product=Product.CREDIT_EVENT.value,
            credit_event_type="chapter_7",
            credit_event_date=discharged(m),
        )
        for m in (23, 24, 36, 47, 48)
    }
    rules = dict(lender="Harbor Capital", program=Product.CREDIT_EVENT, effective_date=date(2026, 1, 1), min_fico=620)
    _load(p, [ProgramRules(**rules, seasoning_months={CreditEventType.CHAPTER_7: 48})], at=NOW - timedelta(days=1))  # type: ignore[arg-type]
    [snapshot] = _load(p, [ProgramRules(**rules, seasoning_months={CreditEventType.CHAPTER_7: 24})])  # type: ignore[arg-type]
    outcome = rescore_snapshot(engine=engine, registry=p.registry, snapshot_id=snapshot, now=NOW)
    assert _reengaged(engine) == sorted([leads[24], leads[36], leads[47]]), "48 already qualified; 23 not yet"
    assert "48 to 24 months" in next(iter(outcome.reasons))

    from storage.seasoning import schedule_seasoning

    dated = schedule_seasoning(engine=engine, now=NOW)
    assert dated.scheduled == 1
    with engine.connect() as conn:
        row = conn.execute(sa.select(_re).where(_re.c.lead_id == leads[23])).one()
    seasons_on = date(2026, 7, 15)  # 2024-07-15 + 24 months
    assert row.status == "scheduled" and row.change_key == f"seasoning:{seasons_on.isoformat()}"
    assert row.reason == "began counting your chapter 7 as far enough in the past on July 15 for credit event loans"
    assert schedule_seasoning(engine=engine, now=NOW).scheduled == 0, "recomputing keeps a date that still holds"

    day = datetime.combine(seasons_on, datetime.min.time(), tzinfo=UTC) + timedelta(hours=14)
    tick(p, now=day - timedelta(days=1))
    assert leads[23] not in _reengaged(engine)
    tick(p, now=day)
    assert leads[23] in _reengaged(engine)
    with engine.connect() as conn:
        tasks = conn.execute(sa.select(table(CallTask)).where(table(CallTask).c.lead_id == leads[23])).all()
    assert [t.priority for t in tasks] == [50], "a priority call task for the officer on the day it seasons"


def test_a_re_engaged_lead_gets_a_priority_call_and_messages_naming_the_change(engine: Engine):
    p = _pipeline(engine)
    lead = _resting(engine, n=1, fico=610, product=Product.BANK_STATEMENT.value)
    _load(p, [_bank_statement(640)], at=NOW - timedelta(days=1))
    [snapshot] = _load(p, [_bank_statement(600)])
    rescore_snapshot(engine=engine, registry=p.registry, snapshot_id=snapshot, now=NOW)
    from service.replay import replay

    replay(p, start=NOW, until=NOW + timedelta(hours=6), every=timedelta(hours=1))
    with engine.connect() as conn:
        task = conn.execute(sa.select(table(CallTask)).where(table(CallTask).c.lead_id == lead)).one()
        touches = conn.execute(sa.select(table(Touch)).where(table(Touch).c.lead_id == lead)).all()
    assert task.priority == 50 and task.template == "reengage"
    sent = {t.channel: t for t in touches if t.status == "sent"}
    assert set(sent) == {"sms", "email"}
    assert "600" in sent["sms"].body_text and "600" in sent["email"].body_text


def test_a_malformed_feed_changes_nothing_and_lists_every_error(engine: Engine, tmp_path: Path):
    p = _pipeline(engine)
    feed = tmp_path / "bad.json"
    feed.write_text(
        '{"lenders": [{"lender": "Harbor Capital", "programs": ['
        '{"program": "bank_statement", "effective_date": "2026-06-01", "min_fico": -5},'
        '{"program": "crypto", "effective_date": "2026-06-01"},'
        '{"program": "dscr", "min_dscr": "high"},'
        '{"program": "bank_statement", "effective_date": "2026-06-01", "min_fico": 620}]}]}'
    )
    with pytest.raises(FeedError) as caught:
        load_guideline_file(p, path=feed, now=NOW, loaded_by="test", rescore=None)
    text = "\n".join(caught.value.errors)
    for expected in ("min_fico", "crypto", "effective_date", "min_dscr", "already given"):
        assert expected in text.lower(), (expected, text)
    assert len(caught.value.errors) >= 5
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(_snap)).scalar() == 0


def test_a_loosening_loaded_ahead_of_its_effective_date_re_engages_when_that_date_comes(engine: Engine):
    p = _pipeline(engine)
    announced, effective = NOW - timedelta(days=20), date(2026, 6, 8)
    newly = _resting(engine, n=1, fico=610, product=Product.BANK_STATEMENT.value)
    _resting(engine, n=2, fico=590, product=Product.BANK_STATEMENT.value)
    _load(p, [_bank_statement(640)], at=announced - timedelta(days=30))
    [snapshot] = _load(p, [_bank_statement(600, effective_date=effective)], at=announced)

    at_load = rescore_snapshot(engine=engine, registry=p.registry, snapshot_id=snapshot, now=announced)
    assert at_load.candidates == 0, "the lower minimum does not count before its effective date"
    day_before = datetime.combine(effective - timedelta(days=1), NOW.timetz())
    assert daily(p, now=day_before).reengaged == 0 and _reengaged(engine) == []

    on_the_day = datetime.combine(effective, NOW.timetz())
    stats = daily(p, now=on_the_day)
    assert stats.reengaged == 1 and _reengaged(engine) == [newly]
    [why] = stats.reasons
    assert "640" in why and "600" in why
    assert daily(p, now=on_the_day + timedelta(days=1)).candidates == 0, "once per change"
    with engine.connect() as conn:
        assert newly_effective(conn, effective + timedelta(days=EFFECTIVE_LOOKBACK_DAYS + 1)) == []


def test_the_daily_sweep_dates_seasoning_for_leads_that_came_to_rest_after_the_load(engine: Engine):
    p = _pipeline(engine)
    _load(p, [_bank_statement(600)], at=NOW - timedelta(days=10))
    discharged = date(2022, 7, 1)  # 47 months and a half before NOW: seasons under 48 months on 2026-07-01
    lead = _resting(engine, n=1, fico=700, product=Product.BANK_STATEMENT.value,
                    credit_event_type=CreditEventType.CHAPTER_7.value, credit_event_date=discharged)  # fmt: skip
    with engine.begin() as conn:  # it finished its contact days and came to rest in nurture yesterday
        conn.execute(_pos.update().where(_pos.c.lead_id == lead).values(updated_at=NOW - timedelta(days=1)))
    stats = daily(p, now=NOW)
    assert stats.scheduled == 1
    with engine.connect() as conn:
        row = conn.execute(sa.select(_re).where(_re.c.lead_id == lead)).one()
    assert row.status == "scheduled" and row.change_key == "seasoning:2026-07-01"
    assert daily(p, now=NOW + timedelta(days=1)).scheduled == 0, "an existing date is kept, not duplicated"


def test_rules_announced_ahead_leave_the_current_ones_in_force_until_their_date(engine: Engine):
    from storage.eligibility_report import eligible_leads

    p = _pipeline(engine)
    qualified = _resting(engine, n=1, fico=650, product=Product.BANK_STATEMENT.value)
    _load(p, [_bank_statement(640)], at=NOW - timedelta(days=60))
    _load(p, [_bank_statement(660, effective_date=date(2026, 7, 1))], at=NOW - timedelta(days=1))  # a tightening
    assert [r["lead_id"] for r in eligible_leads(engine=engine, on=NOW.date())] == [qualified]
    assert eligible_leads(engine=engine, on=date(2026, 7, 1)) == [], "from July 1 the minimum is 660"


def daily(p, *, now):
    """The daily sweep's counts (``service.rescore.daily`` also names the lenders whose loosening took effect)."""
    return service_rescore.daily(p, now=now)[1]

"""Re-engagement that reaches people: every step goes out, and an unresponsive lead goes back to its own nurture."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.cadence import load_cadence
from nurture.guidelines import ProgramRules
from nurture.planner import local_time
from nurture.products import CreditEventType, Product
from service.guideline_load import load_programs
from service.pipeline import Pipeline
from service.replay import replay
from service.settings import Settings
from storage.cadences import register_cadence
from storage.models import CadencePosition, CallTask, LeadHistory, Touch, table
from storage.report import reengagement_counts
from storage.rescore import rescore_snapshot
from tests.factories import insert_nurture_lead
from tests.fakes import RecordingSender

ROOT = Path(__file__).resolve().parents[2]
CADENCE = load_cadence((ROOT / "cadences" / "default.yaml").read_text())
REENGAGE = load_cadence((ROOT / "cadences" / "reengage.yaml").read_text())
NOW = datetime(2026, 6, 15, 14, 0, tzinfo=UTC)  # a Monday, 10:00 in New York
TZ = "America/New_York"
MONTHLY = CADENCE.index_of("monthly-email")
_pos, _touch, _task, _hist = table(CadencePosition), table(Touch), table(CallTask), table(LeadHistory)


def _pipeline(engine: Engine) -> Pipeline:
    registry = register_cadence(engine=engine, cadence=CADENCE, now=NOW - timedelta(days=200), others=(REENGAGE,))
    return Pipeline(Settings(), engine, registry, RecordingSender())


def _bank_statement(min_fico: int) -> ProgramRules:
    return ProgramRules(lender="Harbor Capital", program=Product.BANK_STATEMENT, effective_date=date(2026, 1, 1),
                        min_fico=min_fico, seasoning_months={CreditEventType.CHAPTER_7: 48})  # fmt: skip


def _monthly_lead(engine: Engine, *, n: int) -> int:
    """A lead enrolled 120 days before NOW that got its day-92 monthly email; day 122 (June 17) is next."""
    lead = insert_nurture_lead(engine, now=NOW, n=n, fico=610, product=Product.BANK_STATEMENT.value)
    with engine.begin() as conn:
        position = conn.execute(sa.select(_pos).where(_pos.c.lead_id == lead)).one()
        conn.execute(
            _pos.update()
            .where(_pos.c.lead_id == lead)
            .values(step_index=MONTHLY, repeat=1, next_due_at=datetime(2026, 6, 17, 14, 0, tzinfo=UTC))
        )
    assert position.anchor_date == (NOW - timedelta(days=120)).date()
    return lead


def _reengage(p: Pipeline, at: datetime) -> None:
    for load_at, fico in ((at - timedelta(days=30), 640), (at, 600)):
        outcome = load_programs(p, programs=[_bank_statement(fico)], source="test", now=load_at, loaded_by="test",
                                rescore=None)  # fmt: skip
    [stored] = outcome.result.stored
    rescore_snapshot(engine=p.engine, registry=p.registry, snapshot_id=stored.snapshot_id, now=at)


def test_an_unresponsive_re_engaged_lead_gets_every_step_then_its_own_monthly_email_again(engine: Engine):
    p = _pipeline(engine)
    lead = _monthly_lead(engine, n=1)
    _reengage(p, NOW)
    replay(p, start=NOW, until=NOW + timedelta(days=60), every=timedelta(hours=1))

    with engine.connect() as conn:
        touches = conn.execute(sa.select(_touch).where(_touch.c.lead_id == lead).order_by(_touch.c.id)).all()
        tasks = conn.execute(sa.select(_task).where(_task.c.lead_id == lead).order_by(_task.c.id)).all()
        events = conn.execute(sa.select(_hist.c.event, _hist.c.at).where(_hist.c.lead_id == lead)).all()
        position = conn.execute(sa.select(_pos).where(_pos.c.lead_id == lead)).one()
    assert [(t.step_id, t.template) for t in tasks] == [("d0-call", "reengage"), ("d3-call", "reengage")]
    assert all(t.status == "expired" for t in tasks), "nobody worked them: they reached the list and expired"
    steps = [(t.step_id, t.channel, t.status) for t in touches]
    assert steps == [
        ("d0-sms", "sms", "sent"),
        ("d0-email", "email", "sent"),
        ("d7-email", "email", "sent"),
        ("monthly-email", "email", "sent"),
    ]
    monthly = touches[-1]
    assert monthly.key.endswith(":monthly-email#2:email"), "day 122 fell inside the re-engagement; day 152 goes"
    assert monthly.template == CADENCE.steps[MONTHLY].template_for(2)
    anchor = (NOW - timedelta(days=120)).date()
    assert local_time(monthly.sent_at, TZ).date() == anchor + timedelta(days=152)
    assert [e for e, _ in events] == ["reengage", "contact_days_done", "reengagement_ended"]
    ended = dict(events)["reengagement_ended"]
    assert ended > touches[2].sent_at, "the sequence ended only after its follow-up email went"
    assert (position.cadence_name, position.status, position.step_index, position.repeat) == (
        "aged-nonqm",
        "nurturing",
        MONTHLY,
        3,
    )
    assert position.anchor_date == anchor and position.home_cadence_name is None and position.reason == ""
    counts = reengagement_counts(engine=engine)
    assert (counts["messages"], counts["call_tasks"], counts["cadence_ended"]) == ({"sent": 3}, {"expired": 2}, 0)


def test_a_second_re_engagement_gets_a_sequence_of_its_own_and_keeps_the_lead_s_home(engine: Engine):
    p = _pipeline(engine)
    lead = _monthly_lead(engine, n=1)
    _reengage(p, NOW)
    replay(p, start=NOW, until=NOW + timedelta(days=5), every=timedelta(hours=1))
    later = NOW + timedelta(days=5)
    with engine.begin() as conn:  # resting between the day-3 call and the day-7 email: a second change finds it
        assert conn.execute(sa.select(_pos.c.status).where(_pos.c.lead_id == lead)).scalar() == "nurturing"
    _reengage(p, later)
    with engine.connect() as conn:
        position = conn.execute(sa.select(_pos).where(_pos.c.lead_id == lead)).one()
    assert (position.home_cadence_name, position.home_step_index, position.home_repeat) == ("aged-nonqm", MONTHLY, 1)
    replay(p, start=later, until=NOW + timedelta(days=60), every=timedelta(hours=1))
    with engine.connect() as conn:
        touches = conn.execute(sa.select(_touch).where(_touch.c.lead_id == lead).order_by(_touch.c.id)).all()
        tasks = conn.execute(sa.select(_task.c.step_id).where(_task.c.lead_id == lead).order_by(_task.c.id)).all()
    sent = [t.step_id for t in touches if t.status == "sent"]
    assert sent == ["d0-sms", "d0-email", "d0-sms", "d0-email", "d7-email", "monthly-email"]
    assert len({t.key for t in touches}) == len(touches) and [t for t in touches if t.status != "sent"] == []
    assert [t.step_id for t in tasks] == ["d0-call", "d3-call", "d0-call", "d3-call"]

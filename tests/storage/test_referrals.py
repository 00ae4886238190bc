"""Referral asks at funding and 30 days later, through the real tick, gate and dispatch, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.engine import Engine

from dripline.report_view import print_report
from nurture.cadence import load_cadence
from nurture.planner import local_time
from nurture.states import CadenceStatus, Event, Stage
from service.inbound import handle_inbound_sms
from service.pipeline import Pipeline, tick
from service.replay import replay
from service.report import report_payload
from service.settings import Settings
from storage.cadences import register_cadence
from storage.lead_events import record_event
from storage.models import CadencePosition, CallTask, Lead, LeadHistory, Touch, table
from storage.referrals import LOOKBACK, enroll_funded, next_enrollment_at
from tests.factories import insert_lead
from tests.fakes import RecordingSender

ROOT = Path(__file__).resolve().parents[2]
CADENCES = [load_cadence((ROOT / "cadences" / f"{n}.yaml").read_text()) for n in ("default", "reengage", "referral")]
IMPORTED = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
FUNDED = datetime(2026, 5, 4, 19, 0, tzinfo=UTC)  # 15:00 in Miami, a Monday
TZ = "America/New_York"
_pos, _touch, _task, _hist, _leads = (table(m) for m in (CadencePosition, Touch, CallTask, LeadHistory, Lead))
PIPELINE = (Event.DOCS_RECEIVED, Event.PRE_QUALIFIED, Event.APPLICATION, Event.PROCESSING, Event.CLEAR_TO_CLOSE)


def _pipeline(engine: Engine) -> Pipeline:
    registry = register_cadence(engine=engine, cadence=CADENCES[0], now=IMPORTED, others=tuple(CADENCES[1:]))
    return Pipeline(Settings(), engine, registry, RecordingSender())


def _lead(engine: Engine, n: int) -> int:
    # scrubbed on the day it funds, so the loan officer's calls (30 days apart) are not held for a stale scrub
    return insert_lead(engine, at=IMPORTED, phone=f"+1305555{n:04d}", email=f"lead{n}@example.com",
                       dnc_scrubbed_on=FUNDED.date(), inquiry_date=date(2026, 1, 20))  # fmt: skip


def _fund(engine: Engine, lead_id: int, at: datetime, *, stop: Pipeline | None = None) -> None:
    """Walk a lead from its first conversation to funded at ``at``; with ``stop``, it texts STOP on the way."""
    start = at - timedelta(days=40)
    for i, event in enumerate((Event.LIVE_CONTACT, Event.EDUCATED, Event.DOCS_REQUESTED)):
        record_event(engine=engine, lead_id=lead_id, event=event, at=start + timedelta(days=i))
    if stop is not None:
        with engine.connect() as conn:
            phone = conn.execute(sa.select(_leads.c.phone).where(_leads.c.id == lead_id)).scalar_one()
        handle_inbound_sms(stop, from_number=phone, to_number="+18005550100", body="STOP", at=start + timedelta(days=5))
    for i, event in enumerate(PIPELINE, start=10):
        record_event(engine=engine, lead_id=lead_id, event=event, at=start + timedelta(days=i))
    record_event(engine=engine, lead_id=lead_id, event=Event.FUNDED, at=at)


def _touches(engine: Engine, lead_id: int) -> list[tuple[str, str, str, datetime | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(_touch.c.template, _touch.c.channel, _touch.c.status, _touch.c.sent_at)
            .where(_touch.c.lead_id == lead_id, _touch.c.key.like("%:referral:%"))
            .order_by(_touch.c.scheduled_for)
        ).all()
    return [(r.template, r.channel, r.status, r.sent_at) for r in rows]


def _calls(engine: Engine, lead_id: int) -> list[tuple[str, str, datetime]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(_task.c.step_id, _task.c.status, _task.c.due_at)
            .where(_task.c.lead_id == lead_id, _task.c.key.like("%:referral:%"))
            .order_by(_task.c.due_at)
        ).all()
    return [(r.step_id, r.status, r.due_at) for r in rows]


def _local(at: datetime | None) -> tuple[str, int]:
    assert at is not None
    moment = local_time(at, TZ)
    return moment.date().isoformat(), moment.hour


def test_a_funded_borrower_is_asked_at_funding_and_30_days_later(engine: Engine):
    p = _pipeline(engine)
    asked, stopped, long_ago, replied = (_lead(engine, n) for n in range(1, 5))
    tick(p, now=IMPORTED)  # enrolled on the contact cadence, as every imported lead is
    _fund(engine, asked, FUNDED)
    _fund(engine, stopped, FUNDED, stop=p)
    _fund(engine, long_ago, FUNDED - LOOKBACK - timedelta(days=1))
    _fund(engine, replied, FUNDED)

    replay(p, start=FUNDED, until=FUNDED + timedelta(days=2), every=timedelta(hours=1))
    handle_inbound_sms(p, from_number="+13055550004", to_number="+18005550100",
                       body="Thanks! My sister is self-employed and looking, can you call her?",
                       at=FUNDED + timedelta(days=2, hours=1))  # fmt: skip
    replay(p, start=FUNDED + timedelta(days=2, hours=2), until=FUNDED + timedelta(days=32), every=timedelta(hours=1))

    sent = _touches(engine, asked)
    assert [(t, c, s) for t, c, s, _ in sent] == [("referral", "email", "sent"), ("referral_followup", "email", "sent")]
    assert [_local(at) for *_, at in sent] == [("2026-05-04", 15), ("2026-06-03", 10)]
    calls = _calls(engine, asked)
    assert [(step, _local(due)) for step, _, due in calls] == [
        ("d0-call", ("2026-05-04", 16)),
        ("d30-call", ("2026-06-03", 11)),
    ]
    assert {status for _, status, _ in calls} == {"expired"}, "nobody worked them in this test: they lapsed unworked"
    with engine.connect() as conn:
        positions = dict(conn.execute(sa.select(_pos.c.lead_id, _pos.c.status)).all())
        names = dict(conn.execute(sa.select(_pos.c.lead_id, _pos.c.cadence_name)).all())
        stages = dict(conn.execute(sa.select(_leads.c.id, _leads.c.stage)).all())
        events = conn.execute(
            sa.select(_hist.c.event).where(_hist.c.lead_id == asked, _hist.c.at >= FUNDED).order_by(_hist.c.id)
        ).scalars()
        reply_tasks = conn.execute(sa.select(_task.c.lead_id).where(_task.c.kind == "reply")).scalars().all()
    assert list(events) == [Event.FUNDED, Event.REFERRAL_ASK, Event.CAMPAIGN_ENDED]
    assert (positions[asked], stages[asked]) == (CadenceStatus.COMPLETED, Stage.CLOSED_FUNDED)

    assert _touches(engine, stopped) == [] and _calls(engine, stopped) == []
    assert positions[stopped] == CadenceStatus.STOPPED, "a borrower who said STOP is not asked"
    assert _touches(engine, long_ago) == [] and names[long_ago] == "aged-nonqm", "funded before the look-back"

    assert [(t, s) for t, _, s, _ in _touches(engine, replied)] == [("referral", "sent")]
    assert positions[replied] == CadenceStatus.HANDED_OFF and reply_tasks == [replied], "the reply goes to the officer"
    assert stages[replied] == Stage.CLOSED_FUNDED

    assert enroll_funded(engine=engine, registry=p.registry, now=FUNDED + timedelta(days=3)) == 0, "asked once"
    payload = report_payload(engine)
    assert payload["referrals"] == {"asked": 2, "emails": {"sent": 3}, "calls": {"expired": 3}}
    console = Console(record=True, width=200)
    print_report(payload, console)
    assert (
        "Referral asks: 2 funded borrowers asked (at funding and 30 days later); emails sent 3 (sent 3); "
        "referral calls done 0 (none), not done: expired 3"
    ) in console.export_text()


def test_a_replay_wakes_for_a_funding_and_forgets_old_ones(engine: Engine):
    p = _pipeline(engine)
    lead = _lead(engine, 1)
    tick(p, now=IMPORTED)
    assert next_enrollment_at(engine=engine, now=FUNDED) is None
    _fund(engine, lead, FUNDED)
    assert next_enrollment_at(engine=engine, now=FUNDED - timedelta(minutes=1)) is None, "not funded yet then"
    assert next_enrollment_at(engine=engine, now=FUNDED + timedelta(hours=3)) == FUNDED
    assert next_enrollment_at(engine=engine, now=FUNDED + LOOKBACK) is None, "too long ago to ask now"
    assert enroll_funded(engine=engine, registry=p.registry, now=FUNDED + timedelta(hours=3)) == 1
    assert next_enrollment_at(engine=engine, now=FUNDED + timedelta(hours=3)) is None

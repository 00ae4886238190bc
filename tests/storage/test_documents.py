"""The documents sequence after the education call, through the real tick, gate and dispatch to the local outbox,
on SQLite and PostgreSQL: the checklist at once, reminders on business days naming the deadlines, a check-in call;
stopped by docs_received, an opt-out or a reply; started again by a later docs_requested."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from channels.local import LocalOutbox
from nurture.actions import Outcome
from nurture.cadence import load_cadence
from nurture.planner import local_time
from nurture.states import CadenceStatus, Event, Stage
from service.dispatch import dispatch
from service.inbound import handle_inbound_sms
from service.pipeline import Pipeline, tick
from service.replay import replay
from service.settings import Settings
from storage.cadences import register_cadence
from storage.documents import HANDOFF_REPLACED, LOOKBACK, enroll_documents
from storage.lead_events import complete_task, record_event
from storage.models import CadencePosition, CallTask, Lead, LeadHistory, Touch, table
from tests.factories import insert_lead

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("default", "reengage", "referral", "documents")
CADENCES = [load_cadence((ROOT / "cadences" / f"{n}.yaml").read_text()) for n in NAMES]
IMPORTED = datetime(2026, 3, 5, 15, 0, tzinfo=UTC)  # Thursday 10:00 in Miami: the day-0 call task is due
CALLED = datetime(2026, 3, 5, 19, 0, tzinfo=UTC)  # 14:00 the same day: the loan officer logs the call
TZ = "America/New_York"
_pos, _touch, _task, _hist, _leads = (table(m) for m in (CadencePosition, Touch, CallTask, LeadHistory, Lead))


def _pipeline(engine: Engine, outbox: Path) -> Pipeline:
    registry = register_cadence(engine=engine, cadence=CADENCES[0], now=IMPORTED, others=tuple(CADENCES[1:]))
    return Pipeline(Settings(), engine, registry, LocalOutbox(outbox))


def _educated(engine: Engine, p: Pipeline, n: int, *, consent: bool = True, outcome: Outcome = Outcome.EDUCATED) -> int:
    """A lead reached on its day-0 call, the program explained: the officer logs ``outcome`` at ``CALLED``."""
    lead_id = insert_lead(engine, at=IMPORTED, consent=consent, phone=f"+1305555{n:04d}", email=f"lead{n}@example.com",
                          inquiry_date=date(2026, 1, 20))  # fmt: skip
    tick(p, now=IMPORTED)
    with engine.connect() as conn:
        task_id = conn.execute(
            sa.select(_task.c.id).where(_task.c.lead_id == lead_id, _task.c.step_id == "d0-call")
        ).scalar_one()
    complete_task(engine=engine, task_id=task_id, outcome=outcome, at=CALLED)
    return lead_id


def _documents(engine: Engine, lead_id: int, rows: sa.Table, *columns: str) -> list[Any]:
    """The lead's touches or call tasks of the documents sequence, in the order they were written."""
    with engine.connect() as conn:
        return conn.execute(
            sa.select(*(rows.c[c] for c in columns))
            .where(rows.c.lead_id == lead_id, rows.c.key.like("%:documents:%"))
            .order_by(rows.c.id)
        ).all()


def _sequence(engine: Engine, lead_id: int) -> list[tuple[str, str, str, str, int]]:
    """The lead's documents touches: (step, channel, status, local date, local hour it went or was to go)."""
    out = []
    for r in _documents(engine, lead_id, _touch, "step_id", "channel", "status", "sent_at", "scheduled_for"):
        moment = local_time(r.sent_at or r.scheduled_for, TZ)
        out.append((r.step_id, r.channel, r.status, moment.date().isoformat(), moment.hour))
    return out


def _calls(engine: Engine, lead_id: int) -> list[tuple[str, str, str, str]]:
    """The lead's documents call tasks: (step, template, status, local date due)."""
    rows = _documents(engine, lead_id, _task, "step_id", "template", "status", "due_at")
    return [(r.step_id, r.template, r.status, local_time(r.due_at, TZ).date().isoformat()) for r in rows]


def _state(engine: Engine, lead_id: int) -> tuple[str, str, str]:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(_leads.c.stage, _pos.c.status, _pos.c.cadence_name)
            .join(_pos, _pos.c.lead_id == _leads.c.id)
            .where(_leads.c.id == lead_id)
        ).one()
    return row.stage, row.status, row.cadence_name


def _events(engine: Engine, lead_id: int) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(_hist.c.event).where(_hist.c.lead_id == lead_id, _hist.c.at >= CALLED).order_by(_hist.c.id)
            ).scalars()
        )


def _outbox(folder: Path, channel: str, lead_id: int, step: str) -> str:
    (found,) = [f for f in (folder / channel).glob("*.txt") if f.name.startswith(f"{lead_id}_documents_")
                and f"_{step}_" in f.name]  # fmt: skip
    return found.read_text()


def test_the_checklist_goes_at_once_then_reminders_on_business_days_naming_the_deadlines(engine: Engine, tmp_path):
    outbox = tmp_path / "outbox"
    p = _pipeline(engine, outbox)
    lead = _educated(engine, p, 1)
    late = insert_lead(engine, at=IMPORTED, phone="+13055550002", email="late@example.com")
    tick(p, now=IMPORTED)
    record_event(engine=engine, lead_id=late, event=Event.LIVE_CONTACT, at=CALLED - LOOKBACK - timedelta(hours=2))
    record_event(engine=engine, lead_id=late, event=Event.DOCS_REQUESTED, at=CALLED - LOOKBACK - timedelta(hours=1))

    replay(p, start=CALLED, until=CALLED + timedelta(days=16), every=timedelta(hours=1))

    assert _sequence(engine, lead) == [
        ("d0-email", "email", "sent", "2026-03-05", 14),  # Thursday, the hour of the call
        ("d0-sms", "sms", "sent", "2026-03-05", 15),
        ("d2-email", "email", "sent", "2026-03-09", 10),  # Monday: no reminder on the weekend
        ("d2-sms", "sms", "sent", "2026-03-09", 13),
        ("d5-email", "email", "sent", "2026-03-12", 10),
    ]
    assert _calls(engine, lead) == [("d8-call", "documents", "expired", "2026-03-17")]
    assert _state(engine, lead) == (Stage.DOCS_REQUESTED, CadenceStatus.COMPLETED, "documents")
    assert _events(engine, lead) == [Event.EDUCATED, Event.DOCS_SEQUENCE, Event.CAMPAIGN_ENDED]

    checklist = _outbox(outbox, "email", lead, "d0-email")
    assert "Subject: Your checklist for a bank statement loan: first part by Tuesday, March 10" in checklist
    assert "by Monday, March 16" in checklist and "12 or 24 months of complete bank statements" in checklist
    assert "within 2-3 business days" in checklist and "take 60-90 days to close" in checklist
    text = _outbox(outbox, "sms", lead, "d0-sms")
    assert "First step: your last 12 months of bank statements by Tue 3/10." in text and "Reply STOP" in text
    assert "Subject: A reminder: your last 12 months of bank statements by Tuesday, March 10" in _outbox(
        outbox, "email", lead, "d2-email"
    )
    rest = _outbox(outbox, "email", lead, "d5-email")
    assert "Subject: Almost there: the rest of your documents by Monday, March 16" in rest
    assert "within 2-3 business days" in rest and "60-90 days" in rest

    assert _sequence(engine, late) == [] and _state(engine, late)[2] == "aged-nonqm", "logged before the look-back"
    assert enroll_documents(engine=engine, registry=p.registry, now=CALLED + timedelta(days=1)) == 0, "started once"


def test_docs_received_mid_sequence_cancels_what_is_planned_and_stops_the_rest(engine: Engine, tmp_path):
    p = _pipeline(engine, tmp_path / "outbox")
    lead = _educated(engine, p, 1, outcome=Outcome.DOCS_REQUESTED)
    replay(p, start=CALLED, until=datetime(2026, 3, 9, 16, 0, tzinfo=UTC), every=timedelta(hours=1))
    planned_at = datetime(2026, 3, 9, 16, 30, tzinfo=UTC)  # Monday 12:30: the tick plans the day-2 text
    tick(p, now=planned_at)
    assert _sequence(engine, lead)[-1] == ("d2-sms", "sms", "planned", "2026-03-09", 12)

    record_event(engine=engine, lead_id=lead, event=Event.DOCS_RECEIVED, at=planned_at + timedelta(minutes=5),
                 actor="loan officer")  # fmt: skip
    dispatch(p, now=planned_at + timedelta(minutes=10))
    replay(p, start=planned_at + timedelta(hours=1), until=CALLED + timedelta(days=16), every=timedelta(hours=1))

    with engine.connect() as conn:
        reason = conn.execute(
            sa.select(_touch.c.reason).where(_touch.c.lead_id == lead, _touch.c.step_id == "d2-sms")
        ).scalar_one()
        handoffs = conn.execute(
            sa.select(_task.c.status, _task.c.note).where(_task.c.lead_id == lead, _task.c.kind == "handoff")
        ).all()
    assert [(s, st) for s, _, st, _, _ in _sequence(engine, lead)] == [
        ("d0-email", "sent"),
        ("d0-sms", "sent"),
        ("d2-email", "sent"),
        ("d2-sms", "cancelled"),
    ]
    assert reason == "cancelled: docs_received"
    assert _calls(engine, lead) == [], "no check-in call once the documents are in"
    assert _state(engine, lead) == (Stage.DOCS_RECEIVED, CadenceStatus.HANDED_OFF, "documents")
    assert [tuple(h) for h in handoffs] == [("cancelled", HANDOFF_REPLACED)], "none for the documents received"


def test_stop_ends_the_sequence_and_without_consent_no_text_goes_and_no_call_replaces_it(engine: Engine, tmp_path):
    p = _pipeline(engine, tmp_path / "outbox")
    stopped = _educated(engine, p, 1)
    no_consent = _educated(engine, p, 2, consent=False)
    replay(p, start=CALLED, until=datetime(2026, 3, 6, 15, 0, tzinfo=UTC), every=timedelta(hours=1))
    handle_inbound_sms(p, from_number="+13055550001", to_number="+18005550100", body="STOP",
                       at=datetime(2026, 3, 6, 16, 0, tzinfo=UTC))  # fmt: skip
    replay(
        p, start=datetime(2026, 3, 6, 17, 0, tzinfo=UTC), until=CALLED + timedelta(days=16), every=timedelta(hours=1)
    )

    assert [(s, st) for s, _, st, _, _ in _sequence(engine, stopped)] == [("d0-email", "sent"), ("d0-sms", "sent")]
    assert _calls(engine, stopped) == []
    assert _state(engine, stopped)[1] == CadenceStatus.STOPPED

    assert [(s, st) for s, _, st, _, _ in _sequence(engine, no_consent)] == [
        ("d0-email", "sent"),
        ("d0-sms", "blocked"),
        ("d2-email", "sent"),
        ("d2-sms", "blocked"),
        ("d5-email", "sent"),
    ]
    assert [step for step, *_ in _calls(engine, no_consent)] == ["d8-call"], "no call stands in for a missing text"


def test_a_reply_hands_the_lead_over_and_a_later_docs_requested_starts_again(engine: Engine, tmp_path):
    p = _pipeline(engine, tmp_path / "outbox")
    lead = _educated(engine, p, 1)
    replay(p, start=CALLED, until=datetime(2026, 3, 6, 15, 0, tzinfo=UTC), every=timedelta(hours=1))
    handle_inbound_sms(p, from_number="+13055550001", to_number="+18005550100",
                       body="Which statements do you need, business or personal?",
                       at=datetime(2026, 3, 6, 16, 0, tzinfo=UTC))  # fmt: skip
    replay(p, start=datetime(2026, 3, 6, 17, 0, tzinfo=UTC), until=datetime(2026, 3, 10, 14, 0, tzinfo=UTC),
           every=timedelta(hours=1))  # fmt: skip
    assert [s for s, *_ in _sequence(engine, lead)] == ["d0-email", "d0-sms"], "nothing after the reply"
    assert _state(engine, lead) == (Stage.DOCS_REQUESTED, CadenceStatus.HANDED_OFF, "documents")

    again = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # Tuesday 11:00: the officer asks for the documents again
    record_event(engine=engine, lead_id=lead, event=Event.DOCS_REQUESTED, at=again, actor="loan officer")
    replay(p, start=again, until=again + timedelta(days=3), every=timedelta(hours=1))

    with engine.connect() as conn:
        keys = conn.execute(
            sa.select(_touch.c.key).where(_touch.c.lead_id == lead, _touch.c.step_id == "d0-email")
        ).scalars()
        first_due = sorted(keys)
    assert first_due == [
        f"{lead}:documents:v1@2026-03-05:d0-email:email",
        f"{lead}:documents:v1@2026-03-10:d0-email:email",
    ]
    assert [(s, st, day) for s, _, st, day, _ in _sequence(engine, lead)][2:] == [
        ("d0-email", "sent", "2026-03-10"),
        ("d0-sms", "sent", "2026-03-10"),
        ("d2-email", "sent", "2026-03-12"),
        ("d2-sms", "sent", "2026-03-12"),
    ]
    assert _state(engine, lead) == (Stage.DOCS_REQUESTED, CadenceStatus.ACTIVE, "documents")


def test_not_interested_on_the_check_in_call_goes_back_to_the_leads_own_nurture(engine: Engine, tmp_path):
    p = _pipeline(engine, tmp_path / "outbox")
    lead = _educated(engine, p, 1)
    replay(p, start=CALLED, until=datetime(2026, 3, 17, 15, 0, tzinfo=UTC), every=timedelta(hours=1))
    with engine.connect() as conn:
        check_in = conn.execute(
            sa.select(_task.c.id).where(_task.c.lead_id == lead, _task.c.step_id == "d8-call")
        ).scalar_one()
    complete_task(engine=engine, task_id=check_in, outcome=Outcome.NOT_INTERESTED,
                  at=datetime(2026, 3, 17, 15, 30, tzinfo=UTC))  # fmt: skip
    assert _state(engine, lead) == (Stage.NURTURE, CadenceStatus.NURTURING, "aged-nonqm")

    replay(p, start=datetime(2026, 3, 17, 16, 0, tzinfo=UTC), until=datetime(2026, 3, 26, 0, 0, tzinfo=UTC),
           every=timedelta(hours=1))  # fmt: skip
    with engine.connect() as conn:
        nurture = conn.execute(
            sa.select(_touch.c.step_id, _touch.c.status, _touch.c.sent_at)
            .where(_touch.c.lead_id == lead, _touch.c.key.like("%:aged-nonqm:%"), _touch.c.channel == "email")
            .order_by(_touch.c.id)
        ).all()
        home = conn.execute(sa.select(_pos.c.home_cadence_name).where(_pos.c.lead_id == lead)).scalar_one()
    assert [(r.step_id, r.status) for r in nurture][-1] == ("n14-email", "sent"), "day 20 of its own enrollment"
    assert local_time(nurture[-1].sent_at, TZ).date() == date(2026, 3, 25)
    assert home is None
    assert [s for s, *_ in _sequence(engine, lead)] == ["d0-email", "d0-sms", "d2-email", "d2-sms", "d5-email"]

"""START after an opt-out: texts resume where the lead's cadence stands, and the confirmation says what follows."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.actions import InboundKind
from nurture.states import CadenceStatus, Event
from service.inbound import handle_inbound_sms
from service.replay import replay
from storage.lead_events import record_event
from storage.models import CadencePosition, CallTask, LeadHistory, table
from tests.factories import insert_nurture_lead
from tests.storage.test_compliance import OURS, START, _lead, _pipeline, _touches

PHONE = "+13055550147"
_pos, _task, _hist = table(CadencePosition), table(CallTask), table(LeadHistory)


def _text(p, body: str, at: datetime, number: str = PHONE):
    return handle_inbound_sms(p, from_number=number, to_number=OURS, body=body, at=at)


def _state(engine: Engine, lead_id: int) -> tuple[sa.Row, list[sa.Row], list[str]]:
    with engine.connect() as conn:
        position = conn.execute(sa.select(_pos).where(_pos.c.lead_id == lead_id)).one()
        tasks = conn.execute(sa.select(_task).where(_task.c.lead_id == lead_id).order_by(_task.c.id)).all()
        events = conn.execute(sa.select(_hist.c.event).where(_hist.c.lead_id == lead_id).order_by(_hist.c.id))
        return position, tasks, list(events.scalars())


def test_start_resumes_the_texts_of_the_cadence_from_where_it_stands(engine: Engine):
    p, sender = _pipeline(engine)
    lead_id = _lead(engine)
    replay(p, start=START, until=START + timedelta(hours=5), every=timedelta(hours=1))  # 13:00 in Miami
    stopped = _text(p, "STOP", START + timedelta(hours=6))
    assert stopped.kind is InboundKind.OPT_OUT and _state(engine, lead_id)[0].status == "stopped"

    back_at = START + timedelta(days=1, hours=7)  # 15:00 the next day: the day-1 email fell due while opted out
    back = _text(p, "START", back_at)
    assert back.kind is InboundKind.OPT_IN and back.reply is not None
    assert "texts will resume" in back.reply and "calls and emails stay off" in back.reply
    [resumed] = back.resumed
    assert (resumed.lead_id, resumed.status, resumed.next_step, resumed.next_text) == (
        lead_id,
        CadenceStatus.ACTIVE,
        "d2-call",
        "d2-sms",
    )
    replay(p, start=back_at, until=START + timedelta(days=9), every=timedelta(hours=1))

    touches = {t.step_id: t for t in _touches(engine, lead_id)}
    assert touches["d0-sms"].status == "sent" and touches["d0-sms"].sent_at < START + timedelta(hours=6)
    assert "d1-email" not in touches, "due while opted out: passed over, not sent late"
    assert touches["d2-sms"].status == "sent", "the texts resume"
    for step in ("d4-email", "d6-voicemail"):
        assert touches[step].status == "blocked" and "opted out" in touches[step].reason, touches[step].reason
    position, tasks, events = _state(engine, lead_id)
    assert [(t.step_id, t.status) for t in tasks] == [("d0-call", "cancelled"), ("d2-call", "blocked"),
                                                      ("d6-call", "blocked")]  # fmt: skip
    assert events == ["do_not_contact", "resubscribed", "contact_days_done"]
    assert position.status == "nurturing"
    texts = [m for k, m in sender.sent if not k.startswith("inbound:")]
    assert [m.to for m in texts] == [PHONE, PHONE], "the day-0 text, then the day-2 text after START"


def test_start_in_nurture_resumes_the_nurture_and_says_no_text_is_due(engine: Engine):
    p, sender = _pipeline(engine)
    lead_id = insert_nurture_lead(engine, now=START, n=147)  # its phone is PHONE
    _text(p, "Please stop texting me", START)
    back = _text(p, "yes", START + timedelta(days=2))
    assert back.kind is InboundKind.OPT_IN and back.reply is not None and "if any" in back.reply
    [resumed] = back.resumed
    assert (resumed.status, resumed.next_step, resumed.next_text) == (CadenceStatus.NURTURING, "monthly-email", None)
    replay(p, start=START + timedelta(days=2), until=START + timedelta(days=40), every=timedelta(hours=1))
    monthly = [t for t in _touches(engine, lead_id) if t.step_id == "monthly-email"]
    assert monthly and all(t.status == "blocked" and "opted out" in t.reason for t in monthly)
    assert [k for k, _ in sender.sent if not k.startswith("inbound:")] == [], "email stays off; no text is due"
    assert _state(engine, lead_id)[2] == ["do_not_contact", "resubscribed"]


def test_start_leaves_a_lead_that_was_not_in_automation_where_it_is(engine: Engine):
    p, _ = _pipeline(engine)
    with_officer = _lead(engine)
    lost = _lead(engine, phone="+13055550148", email="lost@example.com")
    replay(p, start=START, until=START + timedelta(hours=1), every=timedelta(hours=1))
    record_event(engine=engine, lead_id=with_officer, event=Event.LIVE_CONTACT, at=START + timedelta(hours=2))
    _text(p, "STOP", START + timedelta(hours=3))
    _text(p, "STOP", START + timedelta(hours=3), number="+13055550148")
    record_event(engine=engine, lead_id=lost, event=Event.LOST, at=START + timedelta(hours=4))
    for number, lead_id in ((PHONE, with_officer), ("+13055550148", lost)):
        back = _text(p, "START", START + timedelta(days=1), number=number)
        assert back.kind is InboundKind.OPT_IN and back.reply is not None and back.resumed == ()
        assert _state(engine, lead_id)[0].status == "stopped"
    again = _text(p, "START", START + timedelta(days=2))
    assert again.reply is None and again.resumed == (), "START while subscribed changes nothing"

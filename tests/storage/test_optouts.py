"""Opt-outs and inbound messages one at a time: stored once per provider id, recorded once, keys that never
collide (the races themselves are in test_optout_races.py)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.actions import InboundKind, TaskStatus, TouchStatus
from service.email_events import handle_email_event
from service.inbound import handle_inbound_sms
from service.pipeline import tick
from storage.models import CallTask, EmailEvent, InboundMessage, Suppression, Touch, table
from tests.storage.test_compliance import OURS, START, _lead, _pipeline, _touches

_sup, _task, _touch = table(Suppression), table(CallTask), table(Touch)


def _count(engine: Engine, t: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())


def test_three_texts_in_one_second_each_reach_the_officer(engine: Engine):
    p, _ = _pipeline(engine)
    lead_id = _lead(engine)
    tick(p, now=START)
    at = START + timedelta(hours=1)
    results = [
        handle_inbound_sms(p, from_number="+13055550147", to_number=OURS, body=body, at=at, provider_id=sid)
        for body, sid in (("Is this still open?", "SM1"), ("I have 2 years of statements", "SM2"), ("call me", None))
    ]
    assert all(r.kind is InboundKind.REPLY and len(r.task_ids) == 1 for r in results)
    with engine.connect() as conn:
        tasks = conn.execute(sa.select(_task.c.key, _task.c.note).where(_task.c.kind == "reply")).all()
    assert sorted(k for k, _ in tasks) == sorted(
        [f"{lead_id}:reply:SM1", f"{lead_id}:reply:SM2", f"{lead_id}:reply:inbound-{results[2].message_id}"]
    )
    assert {n.split("They wrote: ")[1] for _, n in tasks} == {"Is this still open?", "I have 2 years of statements",
                                                                "call me"}  # fmt: skip


def test_a_repeated_webhook_stores_nothing_and_sends_nothing(engine: Engine):
    p, sender = _pipeline(engine)
    _lead(engine)
    at = START + timedelta(hours=1)
    for body in ("Is this still open?", "STOP"):
        sid = f"SM-{body[:4]}"
        first = handle_inbound_sms(p, from_number="+13055550147", to_number=OURS, body=body, at=at, provider_id=sid)
        counts = (_count(engine, table(InboundMessage)), _count(engine, _sup), _count(engine, _task))
        sent = len(sender.sent)
        again = handle_inbound_sms(p, from_number="+13055550147", to_number=OURS, body=body, at=at, provider_id=sid)
        assert again.duplicate and again.message_id == first.message_id and again.kind is first.kind
        assert (_count(engine, table(InboundMessage)), _count(engine, _sup), _count(engine, _task)) == counts
        assert len(sender.sent) == sent
    assert [k for k, _ in sender.sent] == [f"inbound:{first.message_id}:opt_out_confirmation"]


def test_a_second_stop_adds_nothing_to_the_suppression_log(engine: Engine):
    p, sender = _pipeline(engine)
    _lead(engine)
    first = handle_inbound_sms(p, from_number="+13055550147", to_number=OURS, body="STOP", at=START)
    rows = _count(engine, _sup)
    again = handle_inbound_sms(p, from_number="+13055550147", to_number=OURS, body="stop", at=START)
    assert first.reply and again.reply is None and again.reply_status == "no reply needed"
    assert rows == 4 and _count(engine, _sup) == rows, "one row per channel, once"
    assert len(sender.sent) == 1


def test_a_stop_lists_the_sends_already_begun_and_cancels_every_planned_touch(engine: Engine):
    p, _ = _pipeline(engine)
    lead_id = _lead(engine)
    tick(p, now=START)
    tick(p, now=START + timedelta(days=1, hours=2))
    planned = [t for t in _touches(engine, lead_id) if t.status == TouchStatus.PLANNED.value]
    assert len(planned) >= 2
    in_flight = planned[0]
    with engine.begin() as conn:  # as a dispatcher would leave it between begin_send and the provider's answer
        conn.execute(
            _touch.update()
            .where(_touch.c.id == in_flight.id)
            .values(status=TouchStatus.SENDING.value, claimed_by="w", send_started_at=START)
        )
    stop_at = START + timedelta(days=1)
    result = handle_inbound_sms(p, from_number="+13055550147", to_number=OURS, body="STOP", at=stop_at)
    assert result.begun == (in_flight.key,)
    statuses = {t.key: t.status for t in _touches(engine, lead_id)}
    assert statuses[in_flight.key] == TouchStatus.SENDING.value
    assert all(statuses[t.key] == TouchStatus.CANCELLED.value for t in planned[1:])
    with engine.connect() as conn:
        open_cadence = conn.execute(
            sa.select(sa.func.count()).where(
                _task.c.lead_id == lead_id, _task.c.kind == "cadence", _task.c.status == TaskStatus.OPEN.value
            )
        ).scalar_one()
    assert open_cadence == 0


def test_an_email_event_is_stored_once_per_provider_id_and_cancels_planned_email(engine: Engine):
    p, _ = _pipeline(engine)
    lead_id = _lead(engine, email="sam@example.com")
    tick(p, now=START)
    tick(p, now=START + timedelta(days=1, hours=2))
    emails = [t for t in _touches(engine, lead_id) if t.channel == "email" and t.status == "planned"]
    assert emails
    at = START + timedelta(days=1)
    first = handle_email_event(engine=engine, event="bounce", address=" Sam@Example.com", at=at, provider_id="sg-1")
    rows = _count(engine, _sup)
    retry = handle_email_event(engine=engine, event="bounce", address="sam@example.com", at=at, provider_id="sg-1")
    other = handle_email_event(engine=engine, event="spam_report", address="sam@example.com", at=at, provider_id="sg-2")
    assert first.stopped and first.lead_ids == (lead_id,) and first.cancelled_touches == len(emails)
    assert retry.duplicate and retry.event_id == first.event_id
    assert not other.stopped and not other.duplicate, "already stopped: recorded as an event, not as a new opt-out"
    assert _count(engine, _sup) == rows == 1 and _count(engine, table(EmailEvent)) == 2
    remaining = {t.channel: t.status for t in _touches(engine, lead_id) if t.status == "planned"}
    assert "email" not in remaining and remaining, "texts and voicemail go on"


def test_a_stop_costs_a_handful_of_statements_whatever_its_leads_have_planned(engine: Engine):
    """One STOP (the Twilio webhook's, answered by Twilio): the leads locked, their states and suppressions read,
    the message stored and every write in one round trip on PostgreSQL (one after another on SQLite)."""
    p, _ = _pipeline(engine)
    lead_id = _lead(engine)
    tick(p, now=START)
    tick(p, now=START + timedelta(days=1, hours=2))
    assert any(t.status == TouchStatus.PLANNED.value for t in _touches(engine, lead_id))
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        result = handle_inbound_sms(p, from_number="+13055550147", to_number=OURS, body="STOP",
                                    at=START + timedelta(days=1), provider_id="SM1", reply_via="caller",
                                    provider_answered=True)  # fmt: skip
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert result.kind is InboundKind.OPT_OUT and result.lead_ids == (lead_id,)
    assert all(t.status != TouchStatus.PLANNED.value for t in _touches(engine, lead_id))
    expected = 5 if engine.dialect.name == "postgresql" else 9  # SQLite: BEGIN IMMEDIATE, 2 reads, 6 writes
    assert len(statements) <= expected, statements

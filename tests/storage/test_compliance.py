"""The compliance gate end to end: through the tick, the dispatch, the inbound handler and the CLI's explain."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from channels.messages import Message, SendResult
from nurture.actions import InboundKind, Outcome, TaskKind, TaskStatus, TouchStatus
from nurture.cadence import load_cadence
from nurture.states import CadenceStatus
from service.dispatch import dispatch
from service.inbound import handle_inbound_sms
from service.pipeline import Pipeline, tick
from service.replay import replay
from service.settings import Settings
from storage.cadences import register_cadence
from storage.explain import explain_lead
from storage.lead_events import complete_task
from storage.models import CadencePosition, CallTask, InboundMessage, Lead, Suppression, Touch, table
from storage.queries import list_touches
from tests.factories import insert_lead
from tests.fakes import RecordingSender

ROOT = Path(__file__).resolve().parents[2]
CADENCE = load_cadence((ROOT / "cadences" / "default.yaml").read_text())
START = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # 08:00 in New York
SELLER = Settings().company_name
OURS = "+18005550100"
_touch, _task, _leads, _sup = table(Touch), table(CallTask), table(Lead), table(Suppression)


def _pipeline(engine: Engine, sender: RecordingSender | None = None, **settings) -> tuple[Pipeline, RecordingSender]:
    sender = sender or RecordingSender()
    registry = register_cadence(engine=engine, cadence=CADENCE, now=START)
    return Pipeline(Settings(**settings), engine, registry, sender), sender


def _lead(engine: Engine, *, consent: bool = True, **kw) -> int:
    """A Miami lead with written consent for its phone and a fresh DNC scrub, unless told otherwise."""
    return insert_lead(engine, consent=consent, at=START, **kw)


def _touches(engine: Engine, lead_id: int | None = None) -> list[sa.Row]:
    query = sa.select(_touch).order_by(_touch.c.id)
    if lead_id is not None:
        query = query.where(_touch.c.lead_id == lead_id)
    with engine.connect() as conn:
        return list(conn.execute(query))


def _tasks(engine: Engine, lead_id: int) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(_task).where(_task.c.lead_id == lead_id).order_by(_task.c.id)))


def test_stop_from_the_second_phone_silences_texts_to_the_first(engine: Engine):
    p, sender = _pipeline(engine)
    lead_id = _lead(engine, alt_phone="+13055550199")
    tick(p, now=START)
    tick(p, now=START + timedelta(hours=5))  # the intro text falls due at 12:00
    result = handle_inbound_sms(
        p, from_number="(305) 555-0199", to_number=OURS, body="STOP", at=START + timedelta(hours=4)
    )
    assert result.kind is InboundKind.OPT_OUT and result.lead_ids == (lead_id,)
    assert result.reply is not None and "STOP" not in result.reply.upper().split()[:1]
    stats = dispatch(p, now=START + timedelta(hours=5))
    assert stats.sent == 0
    replay(p, start=START + timedelta(hours=6), until=START + timedelta(days=10), every=timedelta(hours=1))
    sent_to_lead = [m for k, m in sender.sent if not k.startswith("inbound:")]
    assert sent_to_lead == [], "nothing after STOP, on any channel"
    assert [m.to for k, m in sender.sent if k.startswith("inbound:")] == ["+13055550199"], "one confirmation"
    with engine.connect() as conn:
        position = conn.execute(sa.select(table(CadencePosition))).one()
    assert position.status == CadenceStatus.STOPPED.value
    doc = explain_lead(engine=engine, lead_id=lead_id, policy=p.policy, now=START + timedelta(days=1))
    assert doc is not None and set(doc["opted_out_now"]) == {"sms", "voicemail", "call", "email"}


def test_a_second_stop_gets_no_second_confirmation_and_start_brings_texts_back_only(engine: Engine):
    p, sender = _pipeline(engine)
    lead_id = _lead(engine)
    at = START + timedelta(hours=1)
    first = handle_inbound_sms(p, from_number="+13055550147", to_number=OURS, body="Stop", at=at)
    again = handle_inbound_sms(p, from_number="+13055550147", to_number=OURS, body="STOP!!", at=at + timedelta(hours=1))
    assert first.reply and again.reply is None and again.kind is InboundKind.OPT_OUT
    back = handle_inbound_sms(p, from_number="+13055550147", to_number=OURS, body="START", at=at + timedelta(days=1))
    assert back.kind is InboundKind.OPT_IN and back.reply
    doc = explain_lead(engine=engine, lead_id=lead_id, policy=p.policy, now=at + timedelta(days=1))
    assert doc is not None and set(doc["opted_out_now"]) == {"voicemail", "call", "email"}
    yes = handle_inbound_sms(p, from_number="+13055550147", to_number=OURS, body="yes", at=at + timedelta(days=2))
    assert yes.kind is InboundKind.REPLY, "YES while subscribed is a reply for the loan officer"
    assert len(sender.sent) == 2


def test_help_gets_the_brand_support_opt_out_rates_and_frequency(engine: Engine):
    p, _sender = _pipeline(engine)
    _lead(engine)
    result = handle_inbound_sms(p, from_number="+13055550147", to_number=OURS, body="help", at=START)
    assert result.kind is InboundKind.HELP and result.reply is not None
    text = result.reply
    assert SELLER in text and "STOP" in text and "Msg & data rates may apply" in text
    assert Settings().support_email in text or "800" in text
    assert "frequency" in text.lower()


def test_stop_texting_me_please_is_an_opt_out(engine: Engine):
    p, _ = _pipeline(engine)
    _lead(engine)
    result = handle_inbound_sms(p, from_number="+13055550147", to_number=OURS, body="Stop texting me please", at=START)
    assert result.kind is InboundKind.OPT_OUT


def test_a_reply_stops_automation_and_puts_an_urgent_task_in_front_of_the_officer(engine: Engine):
    p, _ = _pipeline(engine)
    lead_id = _lead(engine)
    tick(p, now=START)
    at = START + timedelta(hours=2)
    result = handle_inbound_sms(p, from_number="+13055550147", to_number=OURS, body="Is this still open?", at=at)
    assert result.kind is InboundKind.REPLY and len(result.task_ids) == 1
    reply_task = next(t for t in _tasks(engine, lead_id) if t.id == result.task_ids[0])
    assert reply_task.kind == TaskKind.REPLY.value and "Is this still open?" in reply_task.note
    maybe = handle_inbound_sms(p, from_number="+13055550147", to_number=OURS, body="Why would I stop looking?", at=at)
    assert maybe.kind is InboundKind.AMBIGUOUS and len(maybe.task_ids) == 1
    flagged = next(t for t in _tasks(engine, lead_id) if t.id == maybe.task_ids[0])
    assert "opt-out" in flagged.note and flagged.priority > reply_task.priority


def test_a_provider_retry_of_the_same_message_changes_nothing(engine: Engine):
    p, sender = _pipeline(engine)
    _lead(engine)
    first = handle_inbound_sms(p, from_number="+13055550147", to_number=OURS, body="STOP", at=START, provider_id="SM1")
    retry = handle_inbound_sms(p, from_number="+13055550147", to_number=OURS, body="STOP", at=START, provider_id="SM1")
    assert retry.duplicate and retry.message_id == first.message_id
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table(InboundMessage))).scalar() == 1
    assert len(sender.sent) == 1


def test_without_consent_texts_and_voicemail_are_blocked_and_a_person_calls_instead(engine: Engine):
    p, sender = _pipeline(engine)
    lead_id = _lead(engine, consent=False)
    replay(p, start=START, until=START + timedelta(days=8), every=timedelta(hours=1))
    touches = _touches(engine, lead_id)
    phone = [t for t in touches if t.channel in ("sms", "voicemail")]
    assert [t.status for t in phone] == [TouchStatus.BLOCKED.value] * 3
    assert all("no written consent" in t.reason for t in phone)
    assert not any(m.__class__.__name__ in ("SmsMessage", "VoicemailMessage") for _, m in sender.sent)
    substitutes = [t for t in _tasks(engine, lead_id) if t.template == "manual"]
    assert sorted(t.step_id for t in substitutes) == ["d0-sms", "d2-sms", "d6-voicemail"]
    assert all(t.status == TaskStatus.OPEN.value or t.status == TaskStatus.EXPIRED.value for t in substitutes)


def test_a_dnc_listed_lead_gets_human_calls_only_inside_the_inquiry_window(engine: Engine):
    p, _ = _pipeline(engine)
    recent = _lead(engine, consent=False, dnc_listed=True, inquiry_date=date(2026, 1, 15))
    old = _lead(engine, consent=False, dnc_listed=True, inquiry_date=date(2025, 11, 1), phone="+13055550148",
                email="old@example.com")  # fmt: skip
    replay(p, start=START, until=START + timedelta(days=1), every=timedelta(hours=1))
    recent_call = next(t for t in _tasks(engine, recent) if t.step_id == "d0-call")
    old_call = next(t for t in _tasks(engine, old) if t.step_id == "d0-call")
    assert recent_call.status in (TaskStatus.OPEN.value, TaskStatus.EXPIRED.value)
    assert old_call.status == TaskStatus.BLOCKED.value and "DNC registry" in old_call.note


def test_a_stale_scrub_holds_phone_touches_until_re_scrubbed(engine: Engine):
    p, sender = _pipeline(engine)
    lead_id = _lead(engine, dnc_scrubbed_on=date(2026, 1, 1))
    replay(p, start=START, until=START + timedelta(hours=8), every=timedelta(hours=1))
    sms = next(t for t in _touches(engine, lead_id) if t.channel == "sms")
    assert sms.status == TouchStatus.PLANNED.value and sms.reason.startswith("held: dnc_scrub")
    assert sender.sent == []
    with engine.begin() as conn:
        conn.execute(_leads.update().values(dnc_scrubbed_on=START.date()))
    replay(p, start=START + timedelta(days=1), until=START + timedelta(days=1, hours=8), every=timedelta(hours=1))
    assert sorted(m.__class__.__name__ for _, m in sender.sent) == ["EmailMessage", "SmsMessage"]


def test_texas_texts_wait_for_registration(engine: Engine):
    p, _sender = _pipeline(engine)
    lead_id = _lead(engine, address_state="TX", zip="75201", timezone="America/Chicago", phone="+12145550147")
    replay(p, start=START, until=START + timedelta(hours=9), every=timedelta(hours=1))
    sms = next(t for t in _touches(engine, lead_id) if t.channel == "sms")
    assert sms.status == TouchStatus.BLOCKED.value and "TX" in sms.reason
    registered, registered_sender = _pipeline(engine, texas_sms_registered=True)
    other = _lead(engine, address_state="TX", zip="75201", timezone="America/Chicago", phone="+12145550148",
                  email="tx2@example.com")  # fmt: skip
    replay(registered, start=START, until=START + timedelta(hours=9), every=timedelta(hours=1))
    assert any(m.to == "+12145550148" for _, m in registered_sender.sent), f"lead {other} texted once registered"


def test_a_do_not_call_outcome_silences_the_person_even_after_a_re_import(engine: Engine):
    p, sender = _pipeline(engine)
    lead_id = _lead(engine)
    tick(p, now=START + timedelta(hours=2))
    call = next(t for t in _tasks(engine, lead_id) if t.step_id == "d0-call")
    complete_task(engine=engine, task_id=call.id, outcome=Outcome.DO_NOT_CALL, at=call.due_at)
    twin = _lead(engine, email="maria.twin@example.com", external_id="other-vendor-1")  # the same phone, bought again
    replay(p, start=START + timedelta(hours=3), until=START + timedelta(days=8), every=timedelta(hours=1))
    assert not [m for _, m in sender.sent if m.to in ("+13055550147", "maria@example.com")]
    twin_phone = [t for t in _touches(engine, twin) if t.channel in ("sms", "voicemail")]
    assert twin_phone and all(t.status == TouchStatus.BLOCKED.value for t in twin_phone)
    assert all("suppression" in t.reason for t in twin_phone)


def test_an_sms_due_in_quiet_hours_is_deferred_with_its_reason_in_the_outbox(engine: Engine):
    # A Los Angeles address with a Miami number: Florida's 20:00 end applies on the Miami clock too.
    p, sender = _pipeline(engine)
    lead_id = _lead(engine, address_state="CA", zip="90012", timezone="America/Los_Angeles")
    evening = datetime(2026, 3, 4, 1, 30, tzinfo=UTC)  # 17:30 in LA (inside the step's 09:00-20:00), 20:30 in Miami
    with engine.begin() as conn:
        conn.execute(
            _touch.insert().values(
                key=f"{lead_id}:manual-test:sms",
                lead_id=lead_id,
                step_id="d2-sms",
                channel="sms",
                template="evening_followup",
                scheduled_for=evening,
                not_after=evening + timedelta(hours=2),
                status="planned",
                reason="",
                attempts=0,
                decisions="",
                created_at=evening,
                updated_at=evening,
            )
        )
        conn.execute(
            sa.insert(table(CadencePosition)).values(
                lead_id=lead_id,
                cadence_name=CADENCE.name,
                cadence_version=CADENCE.version,
                anchor_date=date(2026, 3, 2),
                step_index=5,
                repeat=0,
                status="active",
                next_due_at=START + timedelta(days=30),
                enrolled_at=START,
                updated_at=START,
            )
        )
    assert dispatch(p, now=evening).deferred == 1
    row = list_touches(engine=engine, lead_id=lead_id)[0]
    assert row["status"] == "planned" and row["reason"].startswith("deferred: quiet_hours: 20:30 in America/New_York")
    # 08:00 in Miami is 05:00 in LA; 08:00 in LA is 11:00 in Miami; the step's window opens at 09:00 LA
    assert row["scheduled_for"] == "2026-03-04T17:00:00+00:00"
    last = row["decisions"][-1]
    assert last["phase"] == "dispatch" and last["verdict"] == "defer" and last["at"] == row["scheduled_for"]
    assert [r[0] for r in last["rules"] if r[1] == "defer"] == ["quiet_hours", "cadence_window"]
    assert dispatch(p, now=datetime(2026, 3, 4, 16, 59, tzinfo=UTC)).claimed == 0
    dispatch(p, now=datetime(2026, 3, 4, 17, 0, tzinfo=UTC))
    assert len(sender.sent) == 1


class _SlowSender(RecordingSender):
    """Sends normally; during the first send, another connection records an opt-out and commits."""

    def __init__(self, opt_out) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self.opt_out = opt_out

    def send(self, message: Message, *, key: str) -> SendResult:
        if not self.sent:
            done = threading.Event()
            threading.Thread(target=lambda: (self.opt_out(), done.set())).start()
            assert done.wait(10), "the opt-out could not commit while the batch was sending"
        return super().send(message, key=key)


def test_an_opt_out_committed_during_a_dispatch_batch_stops_the_rest_of_that_batch(engine: Engine):
    first = _lead(engine, phone="+13055550101", email="a@example.com")
    same_person = [_lead(engine, phone="+13055550102", alt_phone="+13055550101", email=f"b{i}@example.com")
                   for i in range(3)]  # fmt: skip
    at = START + timedelta(hours=5)

    def opt_out() -> None:
        handle_inbound_sms(p, from_number="+13055550101", to_number=OURS, body="STOP", at=at)

    # One request in flight at a time: every later message to that person begins after the opt-out committed.
    p, _ = _pipeline(engine, _SlowSender(opt_out), dispatch_concurrency=1)
    tick(p, now=START)
    tick(p, now=at)
    stats = dispatch(p, now=at)
    sent = [m.to for k, m in p.sender.sent if not k.startswith("inbound:")]  # type: ignore[attr-defined]
    assert sent == ["+13055550101"], "only the message already on its way when the opt-out committed"
    assert stats.blocked == len(same_person)
    for lead_id in same_person:
        sms = next(t for t in _touches(engine, lead_id) if t.channel == "sms")
        assert sms.status == TouchStatus.BLOCKED.value and "after the claim" in sms.reason
    assert first


def test_the_explanation_names_every_rule_decision(engine: Engine):
    p, _ = _pipeline(engine)
    lead_id = _lead(engine, consent=False)
    replay(p, start=START, until=START + timedelta(days=2), every=timedelta(hours=1))
    doc = explain_lead(engine=engine, lead_id=lead_id, policy=p.policy, now=START + timedelta(days=2))
    assert doc is not None
    assert doc["rules"]["quiet_hours"] == "08:00-20:00" and doc["rules"]["state_cap"] == "3 per 24 h (FL)"
    blocked = [e for e in doc["timeline"] if e["kind"] == "touch" and e["status"] == "blocked"]
    assert blocked and all(e["decisions"][0]["rules"][-1][0] == "consent" for e in blocked)
    emails = [e for e in doc["timeline"] if e["kind"] == "touch" and e["what"].startswith("email")]
    assert emails and all(e["decisions"] for e in emails)


def test_an_evening_call_that_never_meets_the_quiet_hours_reaches_the_officer_earlier_in_the_day(engine: Engine):
    # Los Angeles address, Miami cell: the day-2 17:00-20:00 (LA) call window is after Florida's 20:00 in Miami.
    p, _ = _pipeline(engine)
    lead_id = _lead(engine, address_state="CA", zip="90012", timezone="America/Los_Angeles")
    replay(p, start=START, until=START + timedelta(days=4), every=timedelta(hours=1))
    call = next(t for t in _tasks(engine, lead_id) if t.step_id == "d2-call")
    assert call.status in (TaskStatus.OPEN.value, TaskStatus.EXPIRED.value), call.note
    local = call.due_at.astimezone(ZoneInfo("America/Los_Angeles"))
    assert (local.hour, call.expires_at - call.due_at) == (14, timedelta(hours=3))
    assert "nearest permitted time" in call.decisions

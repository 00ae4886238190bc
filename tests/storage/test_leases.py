"""Leases, unknown outcomes and their settlement (issue 9 items 2-4), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bench.faults import pipeline
from bench.ledger import LedgerSender, entries
from bench.world import DUE, add_leads
from channels.base import OutcomeUnknownError
from channels.messages import Message, SendResult, TransientSendError
from nurture.actions import TouchStatus
from service.dispatch import dispatch
from service.pipeline import tick
from storage.leases import NotUnknownError, begin_send, expire_leases, settle
from storage.models import Touch, table
from storage.outbox import claim_due_touches

_touch = table(Touch)


def _rows(engine: Engine) -> dict[str, sa.Row]:
    with engine.connect() as conn:
        return {r.key: r for r in conn.execute(sa.select(_touch).order_by(_touch.c.id))}


def _planned(engine: Engine, database_url: str, tmp_path: Path, n: int = 3):
    add_leads(engine, n)
    p = pipeline(database_url, tmp_path / "ledger.jsonl", now=DUE, engine=engine)
    tick(p, now=DUE)
    return p


def test_a_lease_that_runs_out_plans_again_only_what_never_began(engine: Engine, database_url: str, tmp_path: Path):
    p = _planned(engine, database_url, tmp_path)
    claim = claim_due_touches(engine=engine, registry=p.registry, policy=p.policy, now=DUE, limit=100, worker="w1",
                              lease=timedelta(minutes=10))  # fmt: skip
    assert len(claim.touches) == 6
    begun = claim.touches[0]
    assert (
        begin_send(engine, touch_id=begun.id, lead_id=begun.lead_id, channel=begun.channel, worker="w1", now=DUE) == ""
    )
    assert expire_leases(engine, now=DUE + timedelta(minutes=9)).planned_again == 0, "the lease has not run out yet"
    expired = expire_leases(engine, now=DUE + timedelta(minutes=11))
    assert (expired.planned_again, expired.unknown) == (5, 1)
    rows = _rows(engine)
    assert rows[begun.key].status == TouchStatus.UNKNOWN.value
    assert sorted(r.status for k, r in rows.items() if k != begun.key) == ["planned"] * 5
    again = claim.touches[1]
    assert begin_send(engine, touch_id=again.id, lead_id=again.lead_id, channel=again.channel, worker="w1",
                      now=DUE).startswith("lost"), "a worker whose lease ran out may not begin"  # fmt: skip


def test_an_unknown_touch_is_settled_by_a_person_and_only_not_sent_makes_it_sendable(
    engine: Engine, database_url: str, tmp_path: Path
):
    p = _planned(engine, database_url, tmp_path, n=1)
    claim = claim_due_touches(engine=engine, registry=p.registry, policy=p.policy, now=DUE, limit=10, worker="w")
    for t in claim.touches:
        begin_send(engine, touch_id=t.id, lead_id=t.lead_id, channel=t.channel, worker="w", now=DUE)
    expire_leases(engine, now=DUE + timedelta(hours=1))
    sms, email = (t.key for t in sorted(claim.touches, key=lambda t: t.channel != "sms"))
    settle(engine, key=sms, sent=True, now=DUE + timedelta(hours=2), reason="checked the Twilio console")
    settle(engine, key=email, sent=False, now=DUE + timedelta(hours=2), reason="not in SendGrid's activity")
    rows = _rows(engine)
    assert rows[sms].status == "sent" and rows[email].status == "planned"
    assert rows[email].send_started_at is None and rows[email].claimed_by is None
    with pytest.raises(NotUnknownError, match="it is sent, not unknown"):
        settle(engine, key=sms, sent=False, now=DUE, reason="")
    with pytest.raises(NotUnknownError, match="no touch has that key"):
        settle(engine, key="nope", sent=True, now=DUE, reason="")


class _Odd(LedgerSender):
    """Accepts most messages; raises something no adapter should (a bug), or a timeout, for a few."""

    def __init__(self, path: Path, odd: dict[str, Exception]) -> None:
        super().__init__(path)
        self.odd = odd

    def send(self, message: Message, *, key: str) -> SendResult:
        for tail, exc in self.odd.items():
            if key.startswith(tail):
                raise exc
        return super().send(message, key=key)


def test_every_sender_error_is_one_touchs_outcome_and_the_rest_of_the_batch_goes(
    engine: Engine, database_url: str, tmp_path: Path
):
    p = _planned(engine, database_url, tmp_path, n=6)
    busy = TransientSendError("429 slow down")
    busy.retry_after = 1800  # type: ignore[attr-defined]
    p.sender = _Odd(tmp_path / "ledger.jsonl", {
        "1:": ValueError("Expecting value: line 1 column 1 (char 0)"),
        "2:": OutcomeUnknownError("read timeout"),
        "3:": busy,
    })  # fmt: skip
    stats = dispatch(p, now=DUE)
    rows = _rows(engine)
    by_lead = {k.split(":")[0]: r for k, r in rows.items() if k.endswith(":sms")}
    assert by_lead["1"].status == "unknown" and "ValueError" in by_lead["1"].reason
    assert by_lead["2"].status == "unknown" and by_lead["2"].body_text, "what may have gone out is stored"
    assert by_lead["3"].status == "planned" and by_lead["3"].scheduled_for >= DUE + timedelta(seconds=1800)
    sent = [k for k, r in rows.items() if r.status == "sent"]
    assert len(sent) == 12 - 6 and len(entries(tmp_path / "ledger.jsonl")) == len(sent)
    assert (stats.unknown, stats.retried, stats.sent) == (4, 2, 6)


def test_reconciliation_settles_unknown_touches_from_the_providers_records(
    engine: Engine, database_url: str, tmp_path: Path
):
    p = _planned(engine, database_url, tmp_path, n=2)
    ledger = tmp_path / "ledger.jsonl"
    claim = claim_due_touches(engine=engine, registry=p.registry, policy=p.policy, now=DUE, limit=10, worker="dead")
    from channels.render import render
    from service.dispatch import content_of  # the dead worker got as far as: began all, one reached the provider
    from service.pipeline import render_contexts

    contexts = render_contexts(p, {t.lead_id for t in claim.touches})
    for i, t in enumerate(claim.touches):
        message = render(t.channel, t.template, contexts[t.lead_id], templates_dir=p.settings.templates_dir)
        begin_send(engine, touch_id=t.id, lead_id=t.lead_id, channel=t.channel, worker="dead", now=DUE,
                   content=content_of(message))  # fmt: skip
        if i == 0:
            LedgerSender(ledger).send(message, key=t.key)
    too_soon = dispatch(p, now=DUE + timedelta(seconds=30))
    assert too_soon.reconciled == 0 and too_soon.sent == 0, "inside the lease nothing is touched"
    later = dispatch(p, now=DUE + timedelta(minutes=11))
    assert later.expired == 4 and later.reconciled == 4
    keys = [r["key"] for r in entries(ledger)]
    assert sorted(keys) == sorted(t.key for t in claim.touches), "each reached the provider exactly once"
    assert {r.status for r in _rows(engine).values()} == {"sent"}
    first = _rows(engine)[claim.touches[0].key]
    assert first.reason.startswith("reconciled: ledger has it") and first.provider_id == f"L-{first.key}"


def _unknown_after_a_crash(engine: Engine, database_url: str, tmp_path: Path, n: int):
    """``n`` leads whose two touches began (content stored) under a worker that then died."""
    from channels.render import render
    from service.dispatch import content_of
    from service.pipeline import render_contexts

    p = _planned(engine, database_url, tmp_path, n=n)
    claim = claim_due_touches(engine=engine, registry=p.registry, policy=p.policy, now=DUE, limit=50, worker="dead")
    contexts = render_contexts(p, {t.lead_id for t in claim.touches})
    messages = {}
    for t in claim.touches:
        messages[t.key] = render(t.channel, t.template, contexts[t.lead_id], templates_dir=p.settings.templates_dir)
        begin_send(engine, touch_id=t.id, lead_id=t.lead_id, channel=t.channel, worker="dead", now=DUE,
                   content=content_of(messages[t.key]))  # fmt: skip
    expire_leases(engine, now=DUE + timedelta(minutes=11))
    return p, claim.touches, messages


def test_a_provider_record_with_other_words_leaves_the_touch_unknown(engine: Engine, database_url: str, tmp_path):
    from dataclasses import replace

    from service.reconcile import reconcile

    p, touches, messages = _unknown_after_a_crash(engine, database_url, tmp_path, n=1)
    sms = next(t for t in touches if t.channel == "sms")
    rewritten = replace(messages[sms.key], body="a body the provider rewrote")  # type: ignore[call-arg]
    LedgerSender(tmp_path / "ledger.jsonl").send(rewritten, key=sms.key)
    stats = reconcile(p, now=DUE + timedelta(minutes=12))
    assert (stats.sent, stats.not_sent, stats.unknown) == (0, 1, 1), "the email has no record; the text has another"
    rows = _rows(engine)
    assert rows[sms.key].status == "unknown"


def test_a_delivery_callback_settles_an_unknown_touch(engine: Engine, database_url: str, tmp_path: Path):
    from channels.delivery import DeliveryOutcome
    from service.reconcile import settle_from_provider

    p, touches, _ = _unknown_after_a_crash(engine, database_url, tmp_path, n=2)
    at = DUE + timedelta(minutes=12)
    keys = [t.key for t in touches]
    assert not settle_from_provider(p, key=keys[0], outcome=DeliveryOutcome.PENDING, provider_id="x", now=at)
    assert settle_from_provider(p, key=keys[0], outcome=DeliveryOutcome.DELIVERED, provider_id="SM1", now=at)
    assert settle_from_provider(p, key=keys[1], outcome=DeliveryOutcome.FAILED, provider_id="SM2", now=at)
    assert not settle_from_provider(p, key=keys[0], outcome=DeliveryOutcome.FAILED, provider_id="SM1", now=at), (
        "a settled touch stays settled"
    )
    rows = _rows(engine)
    assert (rows[keys[0]].status, rows[keys[0]].provider_id) == ("sent", "SM1")
    assert rows[keys[1]].status == "failed" and "callback: failed" in rows[keys[1]].reason
    assert {rows[k].status for k in keys[2:]} == {"unknown"}


def test_a_text_claimed_before_the_carrier_says_landline_is_blocked_at_its_send(
    engine: Engine, database_url: str, tmp_path: Path
):
    """A 30006 (landline) that arrives between the claim and the send: the text never begins; the email does."""
    from storage.models import Lead, PhoneFact

    p = _planned(engine, database_url, tmp_path, n=1)
    claim = claim_due_touches(engine=engine, registry=p.registry, policy=p.policy, now=DUE, limit=100, worker="w",
                              lease=timedelta(minutes=10))  # fmt: skip
    text = next(t for t in claim.touches if t.channel == "sms")
    mail = next(t for t in claim.touches if t.channel == "email")
    with engine.begin() as conn:
        number = conn.execute(sa.select(table(Lead).c.phone).where(table(Lead).c.id == text.lead_id)).scalar_one()
        conn.execute(sa.insert(table(PhoneFact)).values(number=number, textable=False, reason="30006: landline",
                                                         updated_at=DUE))  # fmt: skip
    why = begin_send(engine, touch_id=text.id, lead_id=text.lead_id, channel="sms", worker="w", now=DUE)
    assert why.startswith("blocked: ") and "30006: landline" in why
    row = _rows(engine)[text.key]
    assert row.status == TouchStatus.BLOCKED.value and row.send_started_at is None
    assert "textable" in row.decisions.splitlines()[-1]
    assert begin_send(engine, touch_id=mail.id, lead_id=mail.lead_id, channel="email", worker="w", now=DUE) == ""

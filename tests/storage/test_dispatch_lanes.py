"""Each channel's lane claims and sends its own batches (issue 9 item 6), and the frequency caps still see what
another lane has in flight; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import service.dispatch
from bench.world import CADENCE, DUE, START, add_leads, settings
from channels.messages import EmailMessage, Message, SendResult, SmsMessage
from nurture.actions import TouchStatus
from service.dispatch import dispatch
from service.pipeline import Pipeline, tick
from storage.cadences import register_cadence
from storage.models import Touch, table
from storage.outbox import claim_due_touches

_touch = table(Touch)


class _TextsAfterEmails:
    """Holds every text until the last email has gone: a text lane slower than the email lane, taken to the end."""

    name = "gated"

    def __init__(self, emails: int) -> None:
        self.emails_left = emails
        self.emails_done = threading.Event()
        self.lock = threading.Lock()
        self.order: list[str] = []

    def send(self, message: Message, *, key: str) -> SendResult:
        # A guard against hanging, not a timing: the texts wait only for the emails.
        if isinstance(message, SmsMessage) and not self.emails_done.wait(60):
            raise RuntimeError("the emails waited for the texts")
        with self.lock:
            self.order.append("email" if isinstance(message, EmailMessage) else "sms")
            if isinstance(message, EmailMessage):
                self.emails_left -= 1
                if self.emails_left == 0:
                    self.emails_done.set()
        return SendResult(provider=self.name, provider_id=key)


def test_the_email_lane_goes_through_all_its_batches_while_the_text_lane_is_still_on_its_first(
    engine: Engine, database_url: str
):
    add_leads(engine, 6)  # a text and an email each
    sender = _TextsAfterEmails(emails=6)
    p = Pipeline(settings(database_url), engine, register_cadence(engine=engine, cadence=CADENCE, now=START), sender)
    tick(p, now=DUE)
    stats = dispatch(p, now=DUE, batch_size=2)
    assert stats.sent == 12 and stats.unknown == 0
    assert sender.order == ["email"] * 6 + ["sms"] * 6
    assert stats.batches == 4 + 4, "each lane claims its own batches of 2 and then finds nothing more"


def test_the_caps_count_a_touch_another_lane_has_in_flight_however_long_ago_it_was_due(
    engine: Engine, database_url: str
):
    in_flight, done_long_ago = add_leads(engine, 2)
    p = Pipeline(settings(database_url), engine, register_cadence(engine=engine, cadence=CADENCE, now=START),
                 _TextsAfterEmails(0))  # fmt: skip
    tick(p, now=DUE)
    with engine.begin() as conn:
        for lead_id in (in_flight, done_long_ago):
            # three texts in the last 24 hours: one more contact of any kind reaches the cap of 4
            conn.execute(
                _touch.insert(),
                [
                    {"key": f"{lead_id}:earlier:{n}:sms", "lead_id": lead_id, "step_id": "d0-sms", "channel": "sms",
                     "template": "intro", "scheduled_for": DUE - timedelta(hours=n), "not_after": DUE,
                     "status": "sent", "sent_at": DUE - timedelta(hours=n), "created_at": START, "updated_at": START}
                    for n in (2, 3, 4)
                ],
            )  # fmt: skip
        # The day-0 text was due two days ago: one lead's is on its way (another lane claimed it), the other's went
        # then. Only the one in flight counts now.
        stale = DUE - timedelta(days=2)
        text = sa.and_(_touch.c.channel == "sms", _touch.c.step_id == "d0-sms", _touch.c.status == "planned")
        conn.execute(
            _touch.update()
            .where(text, _touch.c.lead_id == in_flight)
            .values(
                status="sending", scheduled_for=stale, claimed_by="other lane", lease_until=DUE + timedelta(hours=1)
            )
        )
        conn.execute(
            _touch.update()
            .where(text, _touch.c.lead_id == done_long_ago)
            .values(status="sent", scheduled_for=stale, sent_at=stale)
        )
    claim = claim_due_touches(engine=engine, registry=p.registry, policy=p.policy, now=DUE, limit=10,
                              worker="email lane", channel="email")  # fmt: skip
    assert [t.lead_id for t in claim.touches] == [done_long_ago]
    assert claim.deferred == 1, "the in-flight text counts: the email waits for the cap"
    with engine.connect() as conn:
        sms_left = conn.execute(
            sa.select(sa.func.count()).where(_touch.c.channel == "sms", _touch.c.status == TouchStatus.PLANNED.value)
        ).scalar_one()
    assert sms_left == 0, "an email lane's claim leaves the texts alone"


def test_a_database_error_as_a_send_begins_ends_the_dispatch_with_it_and_nothing_goes(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
):
    add_leads(engine, 3)
    sender = _TextsAfterEmails(emails=3)
    p = Pipeline(settings(database_url), engine, register_cadence(engine=engine, cadence=CADENCE, now=START), sender)
    tick(p, now=DUE)

    def database_gone(*args: object, **kwargs: object) -> str:
        raise sa.exc.OperationalError("UPDATE touch", {}, Exception("server closed the connection"))

    monkeypatch.setattr(service.dispatch, "begin_send", database_gone)
    with pytest.raises(sa.exc.OperationalError):
        dispatch(p, now=DUE)
    assert sender.order == []

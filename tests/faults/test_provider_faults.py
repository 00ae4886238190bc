"""One dispatch against the loopback Twilio and SendGrid (real SDKs, real HTTP) answering badly for some
people: each touch ends in its documented state, the rest of the batch goes, and reconciliation later
settles what may have gone without sending anything twice. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bench.fake_providers import Answer, FakeProviders
from bench.world import CADENCE, DUE, add_leads, phone, settings
from channels.base import RoutingSender
from channels.sendgrid_channel import SendGridSender
from channels.twilio_channel import TwilioSender
from service.dispatch import dispatch
from service.pipeline import Pipeline, tick
from storage.cadences import register_cadence
from storage.models import Touch, table

_touch = table(Touch)
OURS = "+18005550100"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviders]:
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    CLOCK[0] = DUE
    with FakeProviders(clock=lambda: CLOCK[0]) as f:  # the provider keeps our (travelling) time
        yield f


CLOCK = [DUE]


# What the provider does with each lead's text, and the state its touch must end in after one dispatch.
TEXTS = {
    0: (Answer.non_json(), "unknown"),  # 200 text/html: Twilio got it, the body says nothing
    1: (Answer.error(500, "boom"), "unknown"),  # a 5xx after the request was sent: may have gone
    2: (Answer.error(429, "slow down", retry_after="2"), "planned"),  # not accepted: retried later
    3: (Answer.hang_up(3.0), "unknown"),  # read timeout
    4: (Answer.drop(), "unknown"),  # connection dropped after the request
    5: (Answer.error(400, "invalid 'To' number", code=21211), "failed"),
}
HEALTHY = range(6, 12)


def test_odd_provider_answers_each_end_as_documented_and_the_rest_is_sent(
    engine: Engine, database_url: str, fake: FakeProviders
):
    add_leads(engine, 12)
    twilio = TwilioSender(
        account_sid="AC" + "0" * 32, auth_token="t" * 32, from_number=OURS,
        status_callback_url="https://hooks.example.com/twilio/status",
        http_client_factory=lambda: fake.twilio_http_client(timeout=1.0), timeout=1.0,
    )  # fmt: skip
    sendgrid = SendGridSender(api_key="SG." + "k" * 40, from_email="team@example.com", host=fake.url, timeout=1.0)
    s = settings(database_url).model_copy(update={"reconcile_after_seconds": 60})
    p = Pipeline(s, engine, register_cadence(engine=engine, cadence=CADENCE, now=DUE),
                 RoutingSender(sms=twilio, voicemail=twilio, email=sendgrid))  # fmt: skip
    for i, (answer, _) in TEXTS.items():
        fake.always(answer, to=phone(i))
    fake.always(Answer.error(503, "busy", retry_after="1"), to="lead7@example.com")
    tick(p, now=DUE)
    stats = dispatch(p, now=DUE)

    with engine.connect() as conn:
        rows = {r.key: r for r in conn.execute(sa.select(_touch))}
    index = {phone(i): i for i in range(12)}
    text = {index.get(r.to_address or ""): r for r in rows.values() if r.channel == "sms"}
    for i, (_, state) in TEXTS.items():
        assert text[i].status == state, (i, text[i].status, text[i].reason)
    assert text[2].scheduled_for >= DUE + timedelta(minutes=5), "backoff, and at least the Retry-After"
    assert all(text[i].status == "sent" for i in HEALTHY), "the rest of the batch was sent"
    emails = {r.to_address: r for r in rows.values() if r.channel == "email"}
    assert emails["lead7@example.com"].status == "planned", "SendGrid 503 with Retry-After is retried"
    assert sum(r.status == "sent" for r in emails.values()) == 11
    assert (stats.unknown, stats.failed) == (4, 1)
    assert fake.duplicates() == {}

    # Later the provider is healthy again. The next dispatch settles the unknown texts from Twilio's own
    # list (the ones it kept are sent; the 500 it did not keep goes again) and retries the rest: still once each.
    for i in TEXTS:
        fake.always(Answer.accept(), to=phone(i))
    fake.always(Answer.accept(), to="lead7@example.com")
    CLOCK[0] = DUE + timedelta(minutes=30)
    later = dispatch(p, now=CLOCK[0])
    with engine.connect() as conn:
        final = dict(conn.execute(sa.select(_touch.c.key, _touch.c.status)).all())
    assert later.reconciled == 4
    assert sorted(final.values()).count("sent") == 23 and list(final.values()).count("failed") == 1
    assert fake.duplicates() == {}, "nothing reached the provider twice"
    kept = fake.count_by_touch()
    assert all(n == 1 for n in kept.values()) and len(kept) == 23

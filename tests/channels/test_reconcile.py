"""What reconciliation reads: ``TwilioSender.sent_between`` against the loopback fake's list endpoints, and
the callback outcome table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from twilio.rest import Client

from bench.fake_providers import Answer, FakeProviders, Reply, closed_port_url
from channels.delivery import DeliveryOutcome, ProviderRecord, callback_outcome
from channels.messages import OutcomeUnknownError, SmsMessage, TransientSendError, VoicemailMessage
from channels.twilio_channel import RedirectedHttpClient, TwilioSender

SID = "AC" + "0" * 31 + "1"
FROM = "+15005550006"
ANA = "+15551230001"
BO = "+15551230002"


def sender_for(url: str, *, from_number: str = FROM) -> TwilioSender:
    return TwilioSender(
        account_sid=SID,
        auth_token="t",
        from_number=from_number,
        http_client_factory=lambda: RedirectedHttpClient(url, timeout=2.0),
    )


def window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(minutes=5), now + timedelta(minutes=5)


def test_lists_the_texts_from_our_number_to_that_person_in_the_window(fake: FakeProviders) -> None:
    sender = sender_for(fake.url)
    first = sender.send(SmsMessage(ANA, "first"), key="k1")
    second = sender.send(SmsMessage(ANA, "second"), key="k2")
    sender.send(SmsMessage(BO, "to someone else"), key="k3")
    sender_for(fake.url, from_number="+15005550009").send(SmsMessage(ANA, "from another number"), key="k4")

    records = sender.sent_between(ANA, *window(), "sms")

    assert [(r.provider_id, r.to, r.body, r.status) for r in records] == [
        (second.provider_id, ANA, "second", "sent"),
        (first.provider_id, ANA, "first", "sent"),
    ]
    assert all(r.created_at is not None and r.created_at.tzinfo is not None for r in records)
    assert records[0].outcome is DeliveryOutcome.ACCEPTED
    [request] = [r for r in fake.requests if r.method == "GET"]
    assert (request.query["To"], request.query["From"]) == (ANA, FROM)


def test_a_text_still_queued_at_twilio_is_found(fake: FakeProviders) -> None:
    """A queued text has no DateSent yet: a DateSent filter would miss exactly the text that may still go."""
    fake.answer(Answer.accept(record_status="queued"))
    sender = sender_for(fake.url)
    sender.send(SmsMessage(ANA, "queued"), key="k")

    [record] = sender.sent_between(ANA, *window(), "sms")
    assert (record.body, record.status) == ("queued", "queued")
    client = Client(SID, "t", http_client=RedirectedHttpClient(fake.url))
    assert client.messages.list(to=ANA, date_sent_after=datetime.now(UTC) - timedelta(days=1)) == []


def test_texts_outside_the_window_and_its_skew_are_left_out(fake: FakeProviders) -> None:
    sender = sender_for(fake.url)
    sender.send(SmsMessage(ANA, "now"), key="k")
    now = datetime.now(UTC)

    assert sender.sent_between(ANA, now - timedelta(hours=2), now - timedelta(hours=1), "sms") == []
    assert sender.sent_between(ANA, now + timedelta(hours=1), now + timedelta(hours=2), "sms") == []
    assert len(sender.sent_between(ANA, now - timedelta(hours=1), now - timedelta(seconds=30), "sms")) == 1
    no_skew = sender.sent_between(ANA, now - timedelta(hours=1), now - timedelta(seconds=30), "sms", skew=timedelta())
    assert no_skew == []


def test_lists_calls_for_voicemail_also_one_not_yet_dialled(fake: FakeProviders) -> None:
    sender = sender_for(fake.url)
    fake.answer(Answer.accept(record_status="queued"))
    call = sender.send(VoicemailMessage(ANA, "hello"), key="k")
    sender.send(SmsMessage(ANA, "a text is not a call"), key="k2")

    [record] = sender.sent_between(ANA, *window(), "voicemail")
    assert record == ProviderRecord(call.provider_id, ANA, "queued", record.created_at, None)


def test_an_unknown_send_that_twilio_kept_is_found_and_one_it_refused_is_not(fake: FakeProviders) -> None:
    sender = sender_for(fake.url)
    fake.answer(Answer.drop(keep=True), to=ANA)
    fake.answer(Answer.drop(keep=False), to=BO)
    for to in (ANA, BO):
        with pytest.raises(OutcomeUnknownError):
            sender.send(SmsMessage(to, "maybe"), key=f"k-{to}")

    assert [r.body for r in sender.sent_between(ANA, *window(), "sms")] == ["maybe"]
    assert sender.sent_between(BO, *window(), "sms") == []


@pytest.mark.parametrize(
    "reply",
    [Reply(500, b'{"code": 20500, "message": "oops"}'), Reply(200, b"<html>portal</html>"), Reply(then="drop")],
    ids=["500", "html", "dropped"],
)
def test_a_failed_look_up_is_transient_and_decides_nothing(fake: FakeProviders, reply: Reply) -> None:
    fake.reply(reply)
    with pytest.raises(TransientSendError, match="look-up of sms to"):
        sender_for(fake.url).sent_between(ANA, *window(), "sms")


def test_an_unreachable_look_up_is_transient() -> None:
    with pytest.raises(TransientSendError):
        sender_for(closed_port_url()).sent_between(ANA, *window(), "voicemail")


def test_the_kind_is_checked() -> None:
    with pytest.raises(ValueError, match="kind"):
        sender_for(closed_port_url()).sent_between(ANA, *window(), "email")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "outcome"),
    [
        ({"MessageStatus": "delivered", "MessageSid": "SM1"}, DeliveryOutcome.DELIVERED),
        ({"MessageStatus": "read"}, DeliveryOutcome.DELIVERED),
        ({"MessageStatus": "queued"}, DeliveryOutcome.ACCEPTED),
        ({"MessageStatus": "sent"}, DeliveryOutcome.ACCEPTED),
        ({"MessageStatus": "accepted"}, DeliveryOutcome.ACCEPTED),
        ({"MessageStatus": "sending"}, DeliveryOutcome.ACCEPTED),
        ({"MessageStatus": "undelivered", "ErrorCode": "30003"}, DeliveryOutcome.FAILED),
        ({"MessageStatus": "failed"}, DeliveryOutcome.FAILED),
        ({"SmsStatus": "delivered"}, DeliveryOutcome.DELIVERED),
        ({"CallStatus": "completed"}, DeliveryOutcome.DELIVERED),
        ({"CallStatus": "ringing"}, DeliveryOutcome.ACCEPTED),
        ({"CallStatus": "in-progress"}, DeliveryOutcome.ACCEPTED),
        ({"CallStatus": "no-answer"}, DeliveryOutcome.FAILED),
        ({"CallStatus": "busy"}, DeliveryOutcome.FAILED),
        ({"CallStatus": "canceled"}, DeliveryOutcome.FAILED),
        ({"event": "processed", "touch_key": "k"}, DeliveryOutcome.ACCEPTED),
        ({"event": "deferred"}, DeliveryOutcome.ACCEPTED),
        ({"event": "delivered"}, DeliveryOutcome.DELIVERED),
        ({"event": "open"}, DeliveryOutcome.DELIVERED),
        ({"event": "dropped"}, DeliveryOutcome.FAILED),
        ({"event": "bounce"}, DeliveryOutcome.FAILED),
        ({"MessageStatus": "Delivered "}, DeliveryOutcome.DELIVERED),
        ({"MessageStatus": "something-new"}, DeliveryOutcome.PENDING),
        ({"event": ""}, DeliveryOutcome.PENDING),
        ({}, DeliveryOutcome.PENDING),
    ],
)
def test_callback_outcome(fields: dict[str, str], outcome: DeliveryOutcome) -> None:
    assert callback_outcome(fields) is outcome

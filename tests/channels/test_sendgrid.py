"""The real SendGrid SDK against a loopback fake: request contents and error mapping."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from channels.base import OutcomeUnknownError
from channels.messages import EmailMessage, PermanentSendError, SmsMessage, TransientSendError
from channels.sendgrid_channel import SendGridSender
from tests.channels.fake_providers import (
    FakeProvider,
    Reply,
    closed_port_url,
    sendgrid_accepted,
    sendgrid_error,
)

API_KEY = "SG.test-key"
UNSUBSCRIBE = {
    "List-Unsubscribe": "<https://example.com/unsubscribe/tok123>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}
EMAIL = EmailMessage(
    to="ana@example.com",
    subject="Your rate options, Ana",
    html="<p>Hi Ana</p><p>Equal Housing Lender</p>",
    text="Hi Ana\n\nEqual Housing Lender",
    headers=UNSUBSCRIBE,
)
KEY = "7:default:v1:intro:email"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with FakeProvider(sendgrid_accepted) as f:
        yield f


def sender_for(url: str, *, timeout: float = 2.0) -> SendGridSender:
    return SendGridSender(
        api_key=API_KEY, from_email="loans@acme.example", from_name="Acme Mortgage", host=url, timeout=timeout
    )


def test_email_posts_mail_send_with_bearer_auth_and_both_parts(fake: FakeProvider) -> None:
    result = sender_for(fake.url).send(EMAIL, key=KEY)

    [req] = fake.requests
    assert (req.method, req.path) == ("POST", "/v3/mail/send")
    assert req.headers["authorization"] == f"Bearer {API_KEY}"
    assert req.headers["content-type"] == "application/json"
    body = req.json()
    assert body["personalizations"] == [{"to": [{"email": EMAIL.to}]}]
    assert body["from"] == {"email": "loans@acme.example", "name": "Acme Mortgage"}
    assert body["subject"] == EMAIL.subject
    assert body["content"] == [
        {"type": "text/plain", "value": EMAIL.text},
        {"type": "text/html", "value": EMAIL.html},
    ]
    assert body["headers"] == UNSUBSCRIBE
    assert body["custom_args"] == {"touch_key": KEY}
    assert result.provider == "sendgrid"
    assert result.provider_id.startswith("sg-")


def test_provider_id_is_the_x_message_id_header(fake: FakeProvider) -> None:
    message_id = "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"
    fake.reply(Reply(202, headers={"X-Message-Id": message_id}))

    assert sender_for(fake.url).send(EMAIL, key=KEY).provider_id == message_id


def test_accepted_without_a_message_id_still_counts_as_sent(
    fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    fake.reply(Reply(202))

    with caplog.at_level(logging.WARNING, logger="channels.sendgrid_channel"):
        result = sender_for(fake.url).send(EMAIL, key=KEY)
    assert result.provider_id == ""
    assert f"accepted {KEY}" in caplog.text


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (400, "The to email does not contain a valid address."),
        (401, "The provided authorization grant is invalid, expired, or revoked"),
        (403, "The from address does not match a verified Sender Identity."),
        (413, "The JSON payload you have included in your request is too large."),
    ],
)
def test_client_errors_are_permanent(fake: FakeProvider, status: int, text: str) -> None:
    fake.reply(sendgrid_error(status, text, "personalizations.0.to"))

    with pytest.raises(PermanentSendError) as caught:
        sender_for(fake.url).send(EMAIL, key=KEY)
    assert not isinstance(caught.value, OutcomeUnknownError)
    assert str(caught.value) == f"sendgrid HTTP {status}: {text}"


def test_non_json_error_body_is_quoted(fake: FakeProvider) -> None:
    fake.reply(Reply(400, b"Bad Request"))

    with pytest.raises(PermanentSendError, match=r"^sendgrid HTTP 400: Bad Request$"):
        sender_for(fake.url).send(EMAIL, key=KEY)


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_rate_limits_and_server_errors_are_transient(fake: FakeProvider, status: int) -> None:
    fake.reply(sendgrid_error(status, "try again later"))

    with pytest.raises(TransientSendError, match=f"sendgrid HTTP {status}: try again later"):
        sender_for(fake.url).send(EMAIL, key=KEY)


def test_connection_refused_is_transient() -> None:
    with pytest.raises(TransientSendError, match="unreachable"):
        sender_for(closed_port_url()).send(EMAIL, key=KEY)


def test_dropped_connection_after_the_request_is_outcome_unknown(fake: FakeProvider) -> None:
    fake.reply(Reply(drop=True))

    with pytest.raises(OutcomeUnknownError, match="may have sent"):
        sender_for(fake.url).send(EMAIL, key=KEY)
    assert fake.requests[0].json()["custom_args"] == {"touch_key": KEY}


def test_no_answer_within_the_timeout_is_outcome_unknown(fake: FakeProvider) -> None:
    fake.reply(Reply(hang=5))

    with pytest.raises(OutcomeUnknownError):
        sender_for(fake.url, timeout=0.3).send(EMAIL, key=KEY)


def test_sms_is_refused_without_a_request(fake: FakeProvider) -> None:
    with pytest.raises(PermanentSendError, match="sendgrid does not send SmsMessage"):
        sender_for(fake.url).send(SmsMessage(to="+15551230001", body="hi"), key=KEY)
    assert fake.requests == []

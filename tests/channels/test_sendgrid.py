"""The real SendGrid SDK against the loopback fake: request contents and every row of the error table."""

from __future__ import annotations

import email.utils
import logging
import time

import pytest

from bench.fake_providers import Answer, FakeProviders, Reply, closed_port_url
from channels.messages import (
    EmailMessage,
    OutcomeUnknownError,
    PermanentSendError,
    SendError,
    SmsMessage,
    TransientSendError,
)
from channels.sendgrid_channel import SendGridSender

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


def sender_for(url: str, *, timeout: float = 2.0) -> SendGridSender:
    return SendGridSender(
        api_key=API_KEY, from_email="loans@acme.example", from_name="Acme Mortgage", host=url, timeout=timeout
    )


def test_email_posts_mail_send_with_bearer_auth_and_both_parts(fake: FakeProviders) -> None:
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
    assert result.provider_id == fake.kept[0].provider_id
    assert fake.count_by_touch() == {KEY: 1}


def test_provider_id_is_the_x_message_id_header(fake: FakeProviders) -> None:
    message_id = "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"
    fake.reply(Reply(202, headers={"X-Message-Id": message_id}))

    assert sender_for(fake.url).send(EMAIL, key=KEY).provider_id == message_id


def test_accepted_without_a_message_id_still_counts_as_sent(
    fake: FakeProviders, caplog: pytest.LogCaptureFixture
) -> None:
    fake.reply(Reply(202))

    with caplog.at_level(logging.WARNING, logger="channels.sendgrid_channel"):
        result = sender_for(fake.url).send(EMAIL, key=KEY)
    assert result.provider_id == ""
    assert f"accepted {KEY}" in caplog.text


def refusal(fake: FakeProviders, *, timeout: float = 2.0) -> SendError:
    with pytest.raises(SendError) as caught:
        sender_for(fake.url, timeout=timeout).send(EMAIL, key=KEY)
    return caught.value


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (400, "The to email does not contain a valid address."),
        (401, "The provided authorization grant is invalid, expired, or revoked"),
        (403, "The from address does not match a verified Sender Identity."),
        (413, "The JSON payload you have included in your request is too large."),
    ],
)
def test_client_errors_are_permanent(fake: FakeProviders, status: int, text: str) -> None:
    fake.answer(Answer.error(status, text))

    error = refusal(fake)
    assert type(error) is PermanentSendError
    assert str(error) == f"sendgrid HTTP {status}: {text}"


def test_non_json_error_body_is_quoted(fake: FakeProviders) -> None:
    fake.reply(Reply(400, b"Bad Request"))

    error = refusal(fake)
    assert type(error) is PermanentSendError and str(error) == "sendgrid HTTP 400: Bad Request"


def test_429_is_transient_with_the_retry_after_in_seconds(fake: FakeProviders) -> None:
    fake.answer(Answer.error(429, "too many requests", retry_after="12"))

    error = refusal(fake)
    assert isinstance(error, TransientSendError) and error.retry_after == 12.0
    assert str(error) == "sendgrid HTTP 429: too many requests"
    assert fake.kept == []


def test_429_retry_after_as_an_http_date(fake: FakeProviders) -> None:
    fake.answer(Answer.error(429, "slow down", retry_after=email.utils.formatdate(time.time() + 60, usegmt=True)))

    error = refusal(fake)
    assert isinstance(error, TransientSendError)
    assert error.retry_after is not None and 55 <= error.retry_after <= 61


def test_429_with_sendgrids_rate_limit_reset_header(fake: FakeProviders) -> None:
    reset = str(int(time.time()) + 30)
    fake.answer(
        Answer.error(429, "too many requests", headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    )

    error = refusal(fake)
    assert isinstance(error, TransientSendError)
    assert error.retry_after is not None and 25 <= error.retry_after <= 31


def test_503_is_refused_before_queueing_so_transient(fake: FakeProviders) -> None:
    fake.answer(Answer.error(503, "service unavailable", retry_after="5"))

    error = refusal(fake)
    assert isinstance(error, TransientSendError) and error.retry_after == 5.0


@pytest.mark.parametrize("status", [500, 502, 504])
def test_other_server_errors_are_outcome_unknown(fake: FakeProviders, status: int) -> None:
    fake.answer(Answer.error(status, "internal error", keep=True))

    error = refusal(fake)
    assert type(error) is OutcomeUnknownError
    assert str(error) == f"sendgrid HTTP {status}: internal error (may have sent)"
    assert fake.count_by_touch() == {KEY: 1}


def test_200_with_a_non_json_body_and_no_message_id_is_outcome_unknown(fake: FakeProviders) -> None:
    fake.answer(Answer.non_json())

    error = refusal(fake)
    assert type(error) is OutcomeUnknownError and "HTTP 200" in str(error) and "X-Message-Id" in str(error)
    assert fake.count_by_touch() == {KEY: 1}


def test_connection_refused_is_transient() -> None:
    with pytest.raises(TransientSendError, match="unreachable, nothing sent"):
        sender_for(closed_port_url()).send(EMAIL, key=KEY)


@pytest.mark.parametrize("answer", [Answer.drop(), Answer.reset()], ids=["dropped", "reset"])
def test_a_connection_lost_after_the_request_is_outcome_unknown(fake: FakeProviders, answer: Answer) -> None:
    fake.answer(answer)

    error = refusal(fake)
    assert type(error) is OutcomeUnknownError and "may have sent" in str(error)
    assert fake.requests[0].json()["custom_args"] == {"touch_key": KEY}
    assert fake.count_by_touch() == {KEY: 1}


def test_no_answer_within_the_timeout_is_outcome_unknown(fake: FakeProviders) -> None:
    fake.answer(Answer.hang_up(5))

    assert type(refusal(fake, timeout=0.3)) is OutcomeUnknownError
    assert fake.count_by_touch() == {KEY: 1}


def test_a_message_that_cannot_be_serialised_is_permanent_and_sends_nothing(fake: FakeProviders) -> None:
    odd = EmailMessage(to=EMAIL.to, subject="s", html="h", text="t", headers={"X-Odd": object()})  # type: ignore[dict-item]

    with pytest.raises(PermanentSendError, match="nothing sent") as caught:
        sender_for(fake.url).send(odd, key=KEY)
    assert type(caught.value) is PermanentSendError
    assert fake.requests == []


def test_sms_is_refused_without_a_request(fake: FakeProviders) -> None:
    with pytest.raises(PermanentSendError, match="sendgrid does not send SmsMessage"):
        sender_for(fake.url).send(SmsMessage(to="+15551230001", body="hi"), key=KEY)
    assert fake.requests == []

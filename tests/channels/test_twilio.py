"""The real Twilio SDK against the loopback fake: request contents and every row of the error table."""

from __future__ import annotations

import base64
import email.utils
import time
from typing import Any

import pytest
import requests
from twilio.http.response import Response
from urllib3.exceptions import ProtocolError

from bench.fake_providers import Answer, FakeProviders, Reply, closed_port_url
from channels.base import OptedOutError
from channels.messages import (
    EmailMessage,
    OutcomeUnknownError,
    PermanentSendError,
    SendError,
    SendResult,
    SmsMessage,
    TransientSendError,
    VoicemailMessage,
)
from channels.twilio_channel import RedirectedHttpClient, TwilioSender, _never_sent, status_callback

SID = "AC" + "0" * 31 + "1"
TOKEN = "test-auth-token"
FROM = "+15005550006"
SMS = SmsMessage(to="+15551230001", body="Hi Ana, rates moved. Reply STOP to opt out.")
VOICEMAIL = VoicemailMessage(to="+15551230002", script="Hi Ana, it's Bo at Acme <NMLS 1234> & team.")
KEY = "7:default:v1:intro:sms"


def sender_for(url: str, *, twiml_url: str = "", timeout: float = 2.0, callback: str = "") -> TwilioSender:
    return TwilioSender(
        account_sid=SID,
        auth_token=TOKEN,
        from_number=FROM,
        voicemail_twiml_url=twiml_url,
        status_callback_url=callback,
        http_client_factory=lambda: RedirectedHttpClient(url, timeout=timeout),
    )


def refusal(fake: FakeProviders, message: SmsMessage | VoicemailMessage = SMS, **kw: Any) -> SendError:
    with pytest.raises(SendError) as caught:
        sender_for(fake.url, **kw).send(message, key=KEY)
    return caught.value


def test_sms_posts_to_the_messages_resource_with_basic_auth(fake: FakeProviders) -> None:
    result = sender_for(fake.url).send(SMS, key=KEY)

    [req] = fake.requests
    assert (req.method, req.path) == ("POST", f"/2010-04-01/Accounts/{SID}/Messages.json")
    assert req.headers["authorization"] == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert req.form() == {"To": SMS.to, "From": FROM, "Body": SMS.body}
    assert result == SendResult(provider="twilio", provider_id=fake.kept[0].provider_id)
    assert result.provider_id.startswith("SM") and len(result.provider_id) == 34


def test_voicemail_calls_with_escaped_inline_twiml_after_the_beep(fake: FakeProviders) -> None:
    result = sender_for(fake.url).send(VOICEMAIL, key="7:default:v1:breakup:voicemail")

    [req] = fake.requests
    assert req.path == f"/2010-04-01/Accounts/{SID}/Calls.json"
    form = req.form()
    assert (form["To"], form["From"], form["MachineDetection"]) == (VOICEMAIL.to, FROM, "DetectMessageEnd")
    assert "<Say>Hi Ana, it's Bo at Acme &lt;NMLS 1234&gt; &amp; team.</Say>" in form["Twiml"]
    assert form["Twiml"].endswith("</Response>")
    assert "Url" not in form
    assert result.provider_id.startswith("CA")


def test_voicemail_uses_the_twiml_url_when_configured(fake: FakeProviders) -> None:
    url = "https://example.com/twiml/breakup.xml"
    sender_for(fake.url, twiml_url=url).send(VOICEMAIL, key="k")

    form = fake.requests[0].form()
    assert form["Url"] == url
    assert "Twiml" not in form


@pytest.mark.parametrize("message", [SMS, VOICEMAIL], ids=["sms", "voicemail"])
def test_the_status_callback_names_the_touch_url_encoded(fake: FakeProviders, message: Any) -> None:
    key = "7:default:v1:intro & more/é?"
    sender_for(fake.url, callback="https://hooks.example.com/twilio/status?v=2").send(message, key=key)

    callback = fake.requests[0].form()["StatusCallback"]
    assert callback == "https://hooks.example.com/twilio/status?v=2&touch=7%3Adefault%3Av1%3Aintro+%26+more%2F%C3%A9%3F"
    assert fake.count_by_touch() == {key: 1}


def test_no_status_callback_unless_configured(fake: FakeProviders) -> None:
    sender_for(fake.url).send(SMS, key=KEY)
    assert "StatusCallback" not in fake.requests[0].form()


def test_status_callback_keeps_a_url_without_query() -> None:
    assert status_callback("https://h.example/s", "a b") == "https://h.example/s?touch=a+b"


# --- the error table -----------------------------------------------------------------------------------


def test_opted_out_recipient_is_permanent_and_says_so(fake: FakeProviders) -> None:
    fake.answer(Answer.error(400, "Attempt to send to unsubscribed recipient", code=21610))

    error = refusal(fake)
    assert isinstance(error, OptedOutError) and isinstance(error, PermanentSendError)
    assert "21610: " in str(error) and str(error).endswith("unsubscribed recipient")


@pytest.mark.parametrize(
    ("status", "code", "text"),
    [
        (400, 21211, "The 'To' number is not a valid phone number."),
        (400, 21614, "'To' number is not a valid mobile number"),
        (401, 20003, "Authenticate"),
        (404, 20404, "The requested resource was not found"),
    ],
)
def test_other_client_errors_are_permanent(fake: FakeProviders, status: int, code: int, text: str) -> None:
    fake.answer(Answer.error(status, text, code=code))

    error = refusal(fake)
    assert type(error) is PermanentSendError
    assert str(error).startswith(f"twilio HTTP {status} error {code}: ")
    assert str(error).endswith(text)


def test_a_redirect_is_permanent(fake: FakeProviders) -> None:
    fake.reply(Reply(301, b"", {"Location": "https://elsewhere.example/"}))
    assert type(refusal(fake)) is PermanentSendError


@pytest.mark.parametrize("message", [SMS, VOICEMAIL], ids=["sms", "voicemail"])
def test_429_is_transient_with_the_retry_after_in_seconds(fake: FakeProviders, message: Any) -> None:
    fake.answer(Answer.error(429, "Too Many Requests", code=20429, retry_after="7"))

    error = refusal(fake, message)
    assert isinstance(error, TransientSendError)
    assert error.retry_after == 7.0
    assert "HTTP 429 error 20429" in str(error)
    assert fake.kept == []


def test_429_retry_after_as_an_http_date_is_measured_from_the_answers_date(fake: FakeProviders) -> None:
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    fake.answer(Answer.error(429, "slow down", retry_after=later))

    error = refusal(fake)
    assert isinstance(error, TransientSendError)
    assert error.retry_after is not None and 115 <= error.retry_after <= 121


def test_429_without_retry_after_has_none(fake: FakeProviders) -> None:
    fake.answer(Answer.error(429, "slow down"))
    error = refusal(fake)
    assert isinstance(error, TransientSendError) and error.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("message", [SMS, VOICEMAIL], ids=["sms", "voicemail"])
def test_server_errors_are_outcome_unknown_for_texts_and_calls(fake: FakeProviders, status: int, message: Any) -> None:
    fake.answer(Answer.error(status, "Internal Server Error", code=20500, retry_after="3", keep=True))

    error = refusal(fake, message)
    assert type(error) is OutcomeUnknownError
    assert f"HTTP {status}" in str(error) and "may have sent" in str(error)
    assert len(fake.kept) == 1  # and indeed the fake kept it: resending would have sent it twice


@pytest.mark.parametrize("message", [SMS, VOICEMAIL], ids=["sms", "voicemail"])
def test_200_with_a_non_json_body_is_outcome_unknown(fake: FakeProviders, message: Any) -> None:
    fake.answer(Answer.non_json())

    error = refusal(fake, message)
    assert type(error) is OutcomeUnknownError
    assert "HTTP 200 (text/html)" in str(error) and "<html>" in str(error) and "may have sent" in str(error)
    assert len(fake.kept) == 1


@pytest.mark.parametrize(
    "body", [b'{"status": "queued"}', b"[]", b'"queued"', b"{not json"], ids=["no-sid", "list", "string", "broken"]
)
def test_2xx_that_is_not_a_message_resource_is_outcome_unknown(fake: FakeProviders, body: bytes) -> None:
    fake.reply(Reply(201, body, {"Content-Type": "application/json"}))

    assert type(refusal(fake)) is OutcomeUnknownError


def test_connection_refused_is_transient_and_nothing_sent() -> None:
    with pytest.raises(TransientSendError, match="unreachable, nothing sent") as caught:
        sender_for(closed_port_url()).send(SMS, key=KEY)
    assert caught.value.retry_after is None


@pytest.mark.parametrize("answer", [Answer.drop(), Answer.reset()], ids=["dropped", "reset"])
def test_a_connection_lost_after_the_request_is_outcome_unknown(fake: FakeProviders, answer: Answer) -> None:
    fake.answer(answer)

    error = refusal(fake)
    assert type(error) is OutcomeUnknownError and "may have sent" in str(error)
    assert fake.requests[0].form()["Body"] == SMS.body
    assert fake.count_by_content() == {(SMS.to, SMS.body): 1}


def test_no_answer_within_the_timeout_is_outcome_unknown(fake: FakeProviders) -> None:
    fake.answer(Answer.hang_up(5))

    assert type(refusal(fake, timeout=0.3)) is OutcomeUnknownError
    assert fake.count_by_content() == {(SMS.to, SMS.body): 1}


def test_email_is_refused_without_a_request(fake: FakeProviders) -> None:
    email_message = EmailMessage(to="a@example.com", subject="s", html="<p>h</p>", text="t")

    with pytest.raises(PermanentSendError, match="twilio does not send EmailMessage"):
        sender_for(fake.url).send(email_message, key="k")
    assert fake.requests == []


def test_a_failure_before_any_request_is_permanent_and_sends_nothing(fake: FakeProviders) -> None:
    def broken() -> RedirectedHttpClient:
        raise RuntimeError("SDK bug")

    sender = TwilioSender(account_sid=SID, auth_token=TOKEN, from_number=FROM, http_client_factory=broken)
    with pytest.raises(PermanentSendError, match="nothing sent: RuntimeError") as caught:
        sender.send(SMS, key=KEY)
    assert type(caught.value) is PermanentSendError
    assert fake.requests == []


class _FailsAfterSending(RedirectedHttpClient):
    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        super().request(method, url, *args, **kwargs)
        raise TypeError("unexpected type in the SDK")


def test_an_unexpected_error_after_the_request_left_is_outcome_unknown(fake: FakeProviders) -> None:
    sender = TwilioSender(
        account_sid=SID, auth_token=TOKEN, from_number=FROM, http_client_factory=lambda: _FailsAfterSending(fake.url)
    )
    with pytest.raises(OutcomeUnknownError, match="after sending; may have sent: TypeError"):
        sender.send(SMS, key=KEY)
    assert fake.count_by_content() == {(SMS.to, SMS.body): 1}


def test_a_transient_failure_then_success_on_the_next_attempt(fake: FakeProviders) -> None:
    fake.answer(Answer.error(429, "busy"))
    sender = sender_for(fake.url)

    with pytest.raises(TransientSendError):
        sender.send(SMS, key=KEY)
    assert isinstance(sender.send(SMS, key=KEY), SendResult)
    assert len(fake.requests) == 2 and fake.count_by_content() == {(SMS.to, SMS.body): 1}


@pytest.mark.parametrize(
    ("exc", "never_sent"),
    [
        (requests.ConnectTimeout("connect timed out"), True),
        (requests.ReadTimeout("read timed out"), False),
        (requests.ConnectionError(ProtocolError("Connection aborted.")), False),
        (requests.exceptions.SSLError("EOF occurred in violation of protocol"), False),
    ],
)
def test_only_connect_failures_count_as_never_sent(exc: requests.RequestException, never_sent: bool) -> None:
    assert _never_sent(exc) is never_sent

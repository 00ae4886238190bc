"""The real Twilio SDK against a loopback fake: request contents and error mapping."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import requests
from urllib3.exceptions import ProtocolError

from channels.base import OptedOutError, OutcomeUnknownError
from channels.messages import (
    EmailMessage,
    PermanentSendError,
    SendResult,
    SmsMessage,
    TransientSendError,
    VoicemailMessage,
)
from channels.twilio_channel import TwilioSender, _never_sent
from tests.channels.fake_providers import (
    FakeProvider,
    LoopbackTwilioHttpClient,
    Reply,
    closed_port_url,
    twilio_created,
    twilio_error,
)

SID = "AC" + "0" * 31 + "1"
TOKEN = "test-auth-token"
FROM = "+15005550006"
SMS = SmsMessage(to="+15551230001", body="Hi Ana, rates moved. Reply STOP to opt out.")
VOICEMAIL = VoicemailMessage(to="+15551230002", script="Hi Ana, it's Bo at Acme <NMLS 1234> & team.")


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(twilio_created) as f:
        yield f


def sender_for(url: str, *, twiml_url: str = "", timeout: float = 2.0) -> TwilioSender:
    return TwilioSender(
        account_sid=SID,
        auth_token=TOKEN,
        from_number=FROM,
        voicemail_twiml_url=twiml_url,
        http_client=LoopbackTwilioHttpClient(url, timeout=timeout),
    )


def test_sms_posts_to_the_messages_resource_with_basic_auth(fake: FakeProvider) -> None:
    result = sender_for(fake.url).send(SMS, key="7:default:v1:intro:sms")

    [req] = fake.requests
    assert (req.method, req.path) == ("POST", f"/2010-04-01/Accounts/{SID}/Messages.json")
    assert req.headers["authorization"] == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    assert req.form() == {"To": SMS.to, "From": FROM, "Body": SMS.body}
    assert result.provider == "twilio"
    assert result.provider_id.startswith("SM") and len(result.provider_id) == 34


def test_voicemail_calls_with_escaped_inline_twiml_after_the_beep(fake: FakeProvider) -> None:
    result = sender_for(fake.url).send(VOICEMAIL, key="7:default:v1:breakup:voicemail")

    [req] = fake.requests
    assert req.path == f"/2010-04-01/Accounts/{SID}/Calls.json"
    form = req.form()
    assert (form["To"], form["From"], form["MachineDetection"]) == (VOICEMAIL.to, FROM, "DetectMessageEnd")
    assert "<Say>Hi Ana, it's Bo at Acme &lt;NMLS 1234&gt; &amp; team.</Say>" in form["Twiml"]
    assert form["Twiml"].endswith("</Response>")
    assert "Url" not in form
    assert result.provider_id.startswith("CA")


def test_voicemail_uses_the_twiml_url_when_configured(fake: FakeProvider) -> None:
    url = "https://example.com/twiml/breakup.xml"
    sender_for(fake.url, twiml_url=url).send(VOICEMAIL, key="k")

    form = fake.requests[0].form()
    assert form["Url"] == url
    assert "Twiml" not in form


def test_opted_out_recipient_is_permanent_and_says_so(fake: FakeProvider) -> None:
    fake.reply(twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"))

    with pytest.raises(OptedOutError, match=r"21610: .*unsubscribed recipient") as caught:
        sender_for(fake.url).send(SMS, key="k")
    assert isinstance(caught.value, PermanentSendError)


@pytest.mark.parametrize(
    ("status", "code", "text"),
    [
        (400, 21211, "The 'To' number is not a valid phone number."),
        (400, 21614, "'To' number is not a valid mobile number"),
        (401, 20003, "Authenticate"),
        (404, 20404, "The requested resource was not found"),
    ],
)
def test_other_client_errors_are_permanent(fake: FakeProvider, status: int, code: int, text: str) -> None:
    fake.reply(twilio_error(status, code, text))

    with pytest.raises(PermanentSendError) as caught:
        sender_for(fake.url).send(SMS, key="k")
    assert not isinstance(caught.value, OptedOutError | OutcomeUnknownError)
    assert str(caught.value).startswith(f"twilio HTTP {status} error {code}: ")
    assert str(caught.value).endswith(text)


@pytest.mark.parametrize(("status", "code"), [(429, 20429), (500, 20500), (503, 20503)])
def test_rate_limits_and_server_errors_are_transient(fake: FakeProvider, status: int, code: int) -> None:
    fake.reply(twilio_error(status, code, "try later"))

    with pytest.raises(TransientSendError, match=f"HTTP {status} error {code}"):
        sender_for(fake.url).send(VOICEMAIL, key="k")


def test_transient_failure_then_success_on_the_next_attempt(fake: FakeProvider) -> None:
    fake.reply(twilio_error(503, 20503, "Service unavailable"))
    sender = sender_for(fake.url)

    with pytest.raises(TransientSendError):
        sender.send(SMS, key="k")
    assert isinstance(sender.send(SMS, key="k"), SendResult)
    assert len(fake.requests) == 2


def test_connection_refused_is_transient() -> None:
    with pytest.raises(TransientSendError, match="unreachable"):
        sender_for(closed_port_url()).send(SMS, key="k")


def test_dropped_connection_after_the_request_is_outcome_unknown(fake: FakeProvider) -> None:
    fake.reply(Reply(drop=True))

    with pytest.raises(OutcomeUnknownError, match="may have sent"):
        sender_for(fake.url).send(SMS, key="7:intro:sms")
    assert fake.requests[0].form()["Body"] == SMS.body


def test_no_answer_within_the_timeout_is_outcome_unknown(fake: FakeProvider) -> None:
    fake.reply(Reply(hang=5))

    with pytest.raises(OutcomeUnknownError):
        sender_for(fake.url, timeout=0.3).send(SMS, key="k")


def test_email_is_refused_without_a_request(fake: FakeProvider) -> None:
    email = EmailMessage(to="a@example.com", subject="s", html="<p>h</p>", text="t")

    with pytest.raises(PermanentSendError, match="twilio does not send EmailMessage"):
        sender_for(fake.url).send(email, key="k")
    assert fake.requests == []


@pytest.mark.parametrize(
    ("exc", "never_sent"),
    [
        (requests.ConnectTimeout("connect timed out"), True),
        (requests.ReadTimeout("read timed out"), False),
        (requests.ConnectionError(ProtocolError("Connection aborted.")), False),
    ],
)
def test_only_connect_failures_count_as_never_sent(exc: requests.RequestException, never_sent: bool) -> None:
    assert _never_sent(exc) is never_sent

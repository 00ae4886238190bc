"""Texts and voicemail drops through the official Twilio SDK."""

from __future__ import annotations

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse
from urllib3.exceptions import NewConnectionError, SSLError

from channels.base import OutcomeUnknownError, http_refusal, unsupported
from channels.messages import Message, SendResult, SmsMessage, TransientSendError, VoicemailMessage

DEFAULT_TIMEOUT = 30.0


def voicemail_twiml(script: str) -> str:
    """TwiML that speaks ``script`` (escaped by the SDK's builder)."""
    response = VoiceResponse()
    response.say(script)
    return str(response)


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request provably did not reach Twilio (no connection was made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError) or not exc.args:
        return False
    reason = getattr(exc.args[0], "reason", exc.args[0])
    return isinstance(reason, NewConnectionError | SSLError)


class TwilioSender:
    """SMS via ``messages.create``; voicemail via ``calls.create`` that waits for the beep, then speaks.

    ``voicemail_twiml_url`` replaces the spoken script with TwiML fetched from that URL.
    ``http_client`` is the SDK's own extension point (tests point it at a loopback fake).
    """

    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        voicemail_twiml_url: str = "",
        http_client: HttpClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.from_number = from_number
        self.voicemail_twiml_url = voicemail_twiml_url
        http = http_client or TwilioHttpClient(timeout=timeout)
        self._client = Client(account_sid, auth_token, http_client=http)

    def send(self, message: Message, *, key: str) -> SendResult:
        try:
            sid = self._create(message)
        except TwilioRestException as exc:
            raise http_refusal(self.name, exc.status, exc.msg, exc.code) from exc
        except requests.RequestException as exc:
            if _never_sent(exc):
                raise TransientSendError(f"twilio unreachable: {exc}") from exc
            raise OutcomeUnknownError(f"twilio gave no answer for {key}; may have sent: {exc}") from exc
        return SendResult(provider=self.name, provider_id=sid or "")

    def _create(self, message: Message) -> str | None:
        if isinstance(message, SmsMessage):
            return self._client.messages.create(to=message.to, from_=self.from_number, body=message.body).sid
        if isinstance(message, VoicemailMessage):
            spoken = (
                {"url": self.voicemail_twiml_url}
                if self.voicemail_twiml_url
                else {"twiml": voicemail_twiml(message.script)}
            )
            call = self._client.calls.create(
                to=message.to, from_=self.from_number, machine_detection="DetectMessageEnd", **spoken
            )
            return call.sid
        raise unsupported(self.name, message)

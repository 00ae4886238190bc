"""The ``Sender`` protocol, the errors adapters raise, and routing by message kind (the service picks the channel)."""

from __future__ import annotations

from typing import Protocol

from channels.messages import (
    EmailMessage,
    Message,
    PermanentSendError,
    SendResult,
    SmsMessage,
    TransientSendError,
    VoicemailMessage,
)

TWILIO_OPTED_OUT = 21610


class Sender(Protocol):
    """Delivers one rendered message. ``key`` is the touch's unique key: one key, at most one delivery."""

    name: str

    def send(self, message: Message, *, key: str) -> SendResult: ...


class OptedOutError(PermanentSendError):
    """The provider says the recipient opted out (Twilio 21610). Never retry; stop every channel."""


class OutcomeUnknownError(PermanentSendError):
    """The request may have reached the provider but no answer came back.

    Neither Twilio nor SendGrid takes an idempotency key, so resending could deliver twice:
    the touch is treated as failed for good and left to a person to reconcile.
    """


def http_refusal(
    provider: str, status: int, detail: str, code: int | None = None
) -> PermanentSendError | TransientSendError:
    """Map a provider's HTTP error answer to the error the pipeline acts on.

    429 and 5xx mean "not now"; every other 4xx means this message will never be accepted.
    """
    text = f"{provider} HTTP {status}" + (f" error {code}" if code is not None else "") + f": {detail}"
    if code == TWILIO_OPTED_OUT:
        return OptedOutError(text)
    if status == 429 or status >= 500:
        return TransientSendError(text)
    return PermanentSendError(text)


def unsupported(sender: str, message: object) -> PermanentSendError:
    return PermanentSendError(f"{sender} does not send {type(message).__name__}")


def flush(sender: Sender) -> None:
    """Wait until everything ``sender`` accepted is stored (a no-op for senders that do not write behind)."""
    if (wait := getattr(sender, "flush", None)) is not None:
        wait()


class RoutingSender:
    """Sends each kind of message through its sender (live: texts and calls to Twilio, email to SendGrid)."""

    def __init__(self, *, sms: Sender, voicemail: Sender, email: Sender) -> None:
        self.routes: dict[type, Sender] = {SmsMessage: sms, VoicemailMessage: voicemail, EmailMessage: email}
        self.name = "+".join(dict.fromkeys(s.name for s in (sms, voicemail, email)))

    def send(self, message: Message, *, key: str) -> SendResult:
        sender = self.routes.get(type(message))
        if sender is None:
            raise unsupported(self.name, message)
        return sender.send(message, key=key)

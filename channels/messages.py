"""Rendered messages: small values passed from rendering to sending."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class EmailMessage:
    to: str
    subject: str
    html: str
    text: str
    headers: dict[str, str] = field(default_factory=dict)  # e.g. List-Unsubscribe


@dataclass(frozen=True, slots=True)
class SmsMessage:
    to: str  # E.164
    body: str


@dataclass(frozen=True, slots=True)
class VoicemailMessage:
    to: str  # E.164
    script: str  # the words the prerecorded message says


Message = EmailMessage | SmsMessage | VoicemailMessage


@dataclass(frozen=True, slots=True)
class SendResult:
    provider: str  # "local", "twilio", "sendgrid"
    provider_id: str


class SendError(Exception):
    """What a sender may raise: every adapter failure is one of the three subclasses below, never anything else."""


class PermanentSendError(SendError):
    """The provider refused for good (bad address, opted out, our own configuration): never retry."""


class TransientSendError(SendError):
    """The message provably did not reach the provider (rate limited, no connection made): safe to send again.

    ``retry_after`` is the provider's own wait in seconds (its Retry-After answer), or None when it gave none.
    """

    def __init__(self, *args: object, retry_after: float | None = None) -> None:
        super().__init__(*args)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[object, ...]:
        return _transient, (self.args, self.retry_after)


def _transient(args: tuple[object, ...], retry_after: float | None) -> TransientSendError:
    return TransientSendError(*args, retry_after=retry_after)


class OutcomeUnknownError(SendError):
    """The request left for the provider and may have been accepted, but no readable answer came back
    (a timeout while waiting, a dropped connection, a 5xx, a 2xx whose body is not the provider's).

    Neither Twilio nor SendGrid takes an idempotency key, so sending again could deliver twice: the touch must
    not be sent again until reconciliation (the provider's status callbacks, or a look-up such as
    ``TwilioSender.sent_between``) or a person says it was not sent.
    """

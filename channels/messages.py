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


class PermanentSendError(Exception):
    """The provider refused for good (bad address, opted out): never retry."""


class TransientSendError(Exception):
    """The provider could not take it now (timeout, 5xx, rate limit)."""

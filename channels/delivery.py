"""What a provider says about a message after the send: status callbacks, events and look-ups, normalised.

Pure: no IO. The webhook routes hand :func:`callback_outcome` the form fields (Twilio) or one event
(SendGrid); reconciliation reads :class:`ProviderRecord` rows from a look-up such as
``TwilioSender.sent_between``. Twilio's status callback carries the touch key in its URL (``?touch=KEY``,
see ``TwilioSender``); SendGrid echoes the ``touch_key`` custom arg as a field of every event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

TOUCH_QUERY = "touch"  # Twilio: the status callback URL's query parameter naming the touch
TOUCH_KEY_ARG = "touch_key"  # SendGrid: the custom arg naming the touch, echoed in every event


class DeliveryOutcome(StrEnum):
    """DELIVERED, ACCEPTED and FAILED each prove the message reached the provider; PENDING proves nothing."""

    DELIVERED = "delivered"  # the handset, mailbox or voicemail got it (or the recipient acted on it)
    ACCEPTED = "accepted"  # the provider has it and is working on it (queued, sent, processed, deferred)
    FAILED = "failed"  # the provider had it and gave up (undelivered, failed, dropped, bounced, no answer)
    PENDING = "pending"  # a status this table does not know: decide nothing from it


_TWILIO: dict[str, DeliveryOutcome] = {
    # MessageStatus
    "delivered": DeliveryOutcome.DELIVERED,
    "read": DeliveryOutcome.DELIVERED,
    "partially_delivered": DeliveryOutcome.DELIVERED,
    "accepted": DeliveryOutcome.ACCEPTED,
    "scheduled": DeliveryOutcome.ACCEPTED,
    "queued": DeliveryOutcome.ACCEPTED,
    "sending": DeliveryOutcome.ACCEPTED,
    "sent": DeliveryOutcome.ACCEPTED,
    "undelivered": DeliveryOutcome.FAILED,
    "failed": DeliveryOutcome.FAILED,
    "canceled": DeliveryOutcome.FAILED,
    # CallStatus ("queued", "failed" and "canceled" as above)
    "completed": DeliveryOutcome.DELIVERED,
    "initiated": DeliveryOutcome.ACCEPTED,
    "ringing": DeliveryOutcome.ACCEPTED,
    "in-progress": DeliveryOutcome.ACCEPTED,
    "busy": DeliveryOutcome.FAILED,
    "no-answer": DeliveryOutcome.FAILED,
}

_SENDGRID: dict[str, DeliveryOutcome] = {
    "delivered": DeliveryOutcome.DELIVERED,
    # engagement implies delivery
    "open": DeliveryOutcome.DELIVERED,
    "click": DeliveryOutcome.DELIVERED,
    "spamreport": DeliveryOutcome.DELIVERED,
    "unsubscribe": DeliveryOutcome.DELIVERED,
    "group_unsubscribe": DeliveryOutcome.DELIVERED,
    "group_resubscribe": DeliveryOutcome.DELIVERED,
    "processed": DeliveryOutcome.ACCEPTED,
    "deferred": DeliveryOutcome.ACCEPTED,  # the receiving server said "later"; SendGrid keeps retrying
    "dropped": DeliveryOutcome.FAILED,
    "bounce": DeliveryOutcome.FAILED,
    "blocked": DeliveryOutcome.FAILED,
}


def twilio_status_outcome(status: str | None) -> DeliveryOutcome:
    """A Twilio MessageStatus or CallStatus value, normalised."""
    return _TWILIO.get((status or "").strip().lower(), DeliveryOutcome.PENDING)


def sendgrid_event_outcome(event: str | None) -> DeliveryOutcome:
    """A SendGrid event type, normalised."""
    return _SENDGRID.get((event or "").strip().lower(), DeliveryOutcome.PENDING)


def callback_outcome(fields: Mapping[str, Any]) -> DeliveryOutcome:
    """The outcome one provider callback reports: a Twilio status callback's form fields (``MessageStatus`` or
    ``CallStatus``) or one SendGrid event webhook object (``event``)."""
    for name in ("MessageStatus", "SmsStatus", "CallStatus"):
        if name in fields:
            return twilio_status_outcome(str(fields[name]))
    if "event" in fields:
        return sendgrid_event_outcome(str(fields["event"]))
    return DeliveryOutcome.PENDING


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    """One message or call the provider reports having (see ``TwilioSender.sent_between``).

    ``created_at`` is when the provider created it (None when it gave no time: treat it as inside any
    window); ``body`` is a text's body (None for calls).
    """

    provider_id: str
    to: str
    status: str
    created_at: datetime | None
    body: str | None

    @property
    def outcome(self) -> DeliveryOutcome:
        return twilio_status_outcome(self.status)

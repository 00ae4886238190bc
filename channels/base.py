"""The ``Sender`` protocol, the errors adapters raise, and routing by message kind (the service picks the channel).

A sender's ``send`` returns a ``SendResult`` or raises one of three errors, never anything else; each is
one touch's outcome and the rest of a batch goes on:

=============================================  ===============================  ===============================
what happened                                  texts and voicemail (Twilio)     email (SendGrid)
=============================================  ===============================  ===============================
2xx with the provider's answer                 ``SendResult``                   ``SendResult``
2xx whose body is not the provider's answer    ``OutcomeUnknownError``          ``OutcomeUnknownError`` (a 2xx
(HTML from a proxy, no message id)                                              other than 202 with no
                                                                                X-Message-Id)
429                                            ``TransientSendError`` with      ``TransientSendError`` with
                                               ``retry_after``                  ``retry_after``
503                                            ``OutcomeUnknownError``          ``TransientSendError`` with
                                                                                ``retry_after``
any other 5xx                                  ``OutcomeUnknownError``          ``OutcomeUnknownError``
Twilio error 21610 (recipient opted out)       ``OptedOutError`` (permanent)    -
any other 4xx (and 1xx, 3xx)                   ``PermanentSendError``           ``PermanentSendError``
no connection made (refused, DNS, TLS          ``TransientSendError``           ``TransientSendError``
handshake, connect timeout)
read timeout, connection dropped or reset      ``OutcomeUnknownError``          ``OutcomeUnknownError``
after the request was sent
anything else once the request may have left   ``OutcomeUnknownError``          ``OutcomeUnknownError``
anything raised before a request left          ``PermanentSendError``           ``PermanentSendError``
(our configuration, an SDK bug)
message kind the sender does not handle        ``PermanentSendError``           ``PermanentSendError``
=============================================  ===============================  ===============================

Why: neither provider takes an idempotency key, so an answer we could not read may hide a message that
went. Twilio says a 500 on a message or call create may have been acted on (its error 20500 page: retrying
can deliver twice); its 20503 page advises retrying with back-off but does not say the message was not
created, so a 503 on a text or call stays unknown too (a duplicate text costs more than a reconciliation).
SendGrid's v3 error table lists only "500 internal server error", with no promise either way, so a 500
(or a gateway's 502/504) is unknown. SendGrid does not document 503 for mail/send; we read it as Twilio's
newer email API documents it for the same company's mail ("500: don't retry; 503: retry after the
Retry-After"): refused before queueing, so safe to retry after the wait. A rate limit says
how long to wait in ``Retry-After`` (delta-seconds or an HTTP-date) or, on SendGrid, ``X-RateLimit-Reset``
(epoch seconds): see :func:`retry_after_seconds`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from channels.messages import (
    EmailMessage,
    Message,
    OutcomeUnknownError,
    PermanentSendError,
    SendError,
    SendResult,
    SmsMessage,
    TransientSendError,
    VoicemailMessage,
)

__all__ = [
    "MAX_RETRY_AFTER",
    "OptedOutError",
    "OutcomeUnknownError",
    "RoutingSender",
    "Sender",
    "flush",
    "http_refusal",
    "retry_after_seconds",
    "unsupported",
]

TWILIO_OPTED_OUT = 21610
MAX_RETRY_AFTER = 86_400.0  # a day: a larger (or broken) header must not park a touch for years


class Sender(Protocol):
    """Delivers one rendered message. ``key`` is the touch's unique key: one key, at most one delivery.

    ``send`` raises only ``PermanentSendError``, ``TransientSendError`` or ``OutcomeUnknownError``. Every sender
    in this package may be shared by the threads of a dispatch pool.
    """

    name: str

    def send(self, message: Message, *, key: str) -> SendResult: ...


class OptedOutError(PermanentSendError):
    """The provider says the recipient opted out (Twilio 21610). Never retry; stop every channel."""


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None and isinstance(headers, dict):  # a plain dict is case-sensitive; HTTP names are not
        value = next((v for k, v in headers.items() if str(k).lower() == name.lower()), None)
    return None if value is None else str(value).strip()


def _epoch(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def retry_after_seconds(headers: Mapping[str, Any] | None) -> float | None:
    """How long the provider asked us to wait, in seconds (0 to a day), or None when it did not say.

    ``Retry-After`` as delta-seconds or an HTTP-date, else SendGrid's ``X-RateLimit-Reset`` (epoch seconds). A
    date is measured from the answer's own ``Date`` header (the provider's clock, so our clock's skew does
    not matter); without one, from this machine's clock.
    """
    now = _epoch(_header(headers, "Date"))
    reference = time.time() if now is None else now
    seconds: float | None = None
    if (value := _header(headers, "Retry-After")) is not None:
        try:
            seconds = float(value)
        except ValueError:
            when = _epoch(value)
            seconds = None if when is None else when - reference
    elif (reset := _header(headers, "X-RateLimit-Reset")) is not None:
        try:
            seconds = float(reset) - reference
        except ValueError:
            seconds = None
    if seconds is None or math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def http_refusal(
    provider: str,
    status: int,
    detail: str,
    *,
    code: int | None = None,
    headers: Mapping[str, Any] | None = None,
    not_accepted: Collection[int] = (429,),
) -> SendError:
    """Map a provider's non-2xx answer to the error the pipeline acts on (the table in this module's docstring).

    ``not_accepted`` are the statuses this provider answers before taking the message (safe to retry, after
    ``Retry-After``); any other 5xx may have been acted on; every other status refuses this message for good.
    """
    text = f"{provider} HTTP {status}" + (f" error {code}" if code is not None else "") + f": {detail}"
    if code == TWILIO_OPTED_OUT:
        return OptedOutError(text)
    if status in not_accepted:
        return TransientSendError(text, retry_after=retry_after_seconds(headers))
    if status >= 500:
        return OutcomeUnknownError(f"{text} (may have sent)")
    return PermanentSendError(text)


def unsupported(sender: str, message: object) -> PermanentSendError:
    return PermanentSendError(f"{sender} does not send {type(message).__name__}")


def flush(sender: Sender) -> None:
    """Wait until everything ``sender`` accepted is stored (a no-op for senders that do not write behind)."""
    if (wait := getattr(sender, "flush", None)) is not None:
        wait()


class RoutingSender:
    """Sends each kind of message through its sender (live: texts and calls to Twilio, email to SendGrid).

    Its routes never change after construction, so it is as thread-safe as the senders it routes to.
    """

    def __init__(self, *, sms: Sender, voicemail: Sender, email: Sender) -> None:
        self.routes: Mapping[type, Sender] = {SmsMessage: sms, VoicemailMessage: voicemail, EmailMessage: email}
        self.name = "+".join(dict.fromkeys(s.name for s in (sms, voicemail, email)))

    def route(self, message: Message) -> Sender:
        sender = self.routes.get(type(message))
        if sender is None:
            raise unsupported(self.name, message)
        return sender

    def send(self, message: Message, *, key: str) -> SendResult:
        return self.route(message).send(message, key=key)

    def flush(self) -> None:
        seen: list[Sender] = []
        for sender in self.routes.values():
            if not any(sender is s for s in seen):
                seen.append(sender)
                flush(sender)

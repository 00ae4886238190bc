"""Email through the official SendGrid SDK (v3 mail/send).

Thread safety: each thread gets its own ``SendGridAPIClient`` (``threading.local``). The SDK's client is not
safe to share: every request calls ``request_headers.setdefault(...)`` on a headers dict that all its
sub-clients share, while another thread may be copying it into a request. (It opens a new connection per
request either way, so a client per thread costs nothing.)
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import urllib.error
from typing import Any

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, From, Header, Mail, ReplyTo, To

from channels.base import http_refusal, unsupported
from channels.delivery import TOUCH_KEY_ARG
from channels.messages import (
    EmailMessage,
    Message,
    OutcomeUnknownError,
    PermanentSendError,
    SendError,
    SendResult,
    TransientSendError,
)

log = logging.getLogger(__name__)

DEFAULT_HOST = "https://api.sendgrid.com"
DEFAULT_TIMEOUT = 30.0
ACCEPTED = 202  # what mail/send answers when it queued the message
# answered before the mail is queued: safe to retry after Retry-After (see channels.base for the reasoning)
NOT_ACCEPTED = (429, 503)


def build_mail(
    message: EmailMessage, *, key: str, from_email: str, from_name: str | None, reply_to: str | None = None
) -> Mail:
    """The SendGrid request: text and html parts, the message's own headers, the touch key as a custom arg
    (SendGrid echoes custom args in every webhook event) and a Reply-To (the Inbound Parse address) when given.
    Reply-To goes in its own field: SendGrid refuses it among the custom headers."""
    mail = Mail(
        from_email=From(from_email, from_name),
        to_emails=To(message.to),
        subject=message.subject,
        plain_text_content=message.text,
        html_content=message.html,
    )
    for name, value in message.headers.items():
        mail.add_header(Header(name, value))
    mail.add_custom_arg(CustomArg(TOUCH_KEY_ARG, key))
    if reply_to:
        mail.reply_to = ReplyTo(reply_to)
    return mail


def _error_detail(exc: HTTPError) -> str:
    body: Any = exc.body
    try:
        errors = json.loads(body)["errors"]
        return "; ".join(str(e.get("message", e)) for e in errors)
    except (ValueError, KeyError, TypeError, AttributeError):
        text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
        return text.strip()[:300] or str(exc.reason)


class SendGridSender:
    """Sends ``EmailMessage``; ``host`` points the SDK elsewhere (tests: a loopback fake). Safe to share between
    threads."""

    name = "sendgrid"

    def __init__(
        self,
        *,
        api_key: str,
        from_email: str,
        from_name: str | None = None,
        reply_to: str | None = None,
        host: str = DEFAULT_HOST,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.from_email = from_email
        self.from_name = from_name
        self.reply_to = reply_to
        self.host = host
        self.timeout = timeout
        self._api_key = api_key
        self._local = threading.local()

    def _client(self) -> SendGridAPIClient:
        if (client := getattr(self._local, "client", None)) is None:
            client = self._local.client = SendGridAPIClient(api_key=self._api_key, host=self.host)
        return client

    def send(self, message: Message, *, key: str) -> SendResult:
        if not isinstance(message, EmailMessage):
            raise unsupported(self.name, message)
        try:
            mail = build_mail(
                message, key=key, from_email=self.from_email, from_name=self.from_name, reply_to=self.reply_to
            )
            body = mail.get()
            json.dumps(body)  # the SDK serialises inside the request; a failure there must not look like a send
            endpoint = self._client().client.mail.send
        except Exception as exc:
            raise PermanentSendError(f"sendgrid could not prepare {key}, nothing sent: {exc!r}") from exc
        try:
            response = endpoint.post(request_body=body, timeout=self.timeout)
        except Exception as exc:
            raise self._error(exc, key) from exc
        try:
            status = int(response.status_code)
            message_id = response.headers.get("X-Message-Id") or ""
        except Exception as exc:
            raise OutcomeUnknownError(f"sendgrid answer for {key} unreadable; may have sent: {exc!r}") from exc
        if not message_id:
            if status != ACCEPTED:
                raise OutcomeUnknownError(
                    f"sendgrid answered HTTP {status} for {key} without an X-Message-Id (not mail/send's "
                    f"202 Accepted); may have sent"
                )
            log.warning("sendgrid accepted %s (HTTP %s) without an X-Message-Id", key, status)
        return SendResult(provider=self.name, provider_id=message_id)

    def _error(self, exc: Exception, key: str) -> SendError:
        if isinstance(exc, HTTPError):
            return http_refusal(
                self.name, exc.status_code, _error_detail(exc), headers=exc.headers, not_accepted=NOT_ACCEPTED
            )
        if isinstance(exc, urllib.error.URLError):
            # urllib raises URLError only while connecting and writing the request (AbstractHTTPHandler.do_open);
            # errors while waiting for the answer come through as they are (below)
            return TransientSendError(f"sendgrid unreachable, nothing sent: {exc.reason}")
        if isinstance(exc, OSError | http.client.HTTPException):
            return OutcomeUnknownError(f"sendgrid gave no answer for {key}; may have sent: {exc!r}")
        return OutcomeUnknownError(f"sendgrid client failed for {key} while sending; may have sent: {exc!r}")

"""Email through the official SendGrid SDK (v3 mail/send)."""

from __future__ import annotations

import http.client
import json
import logging
import urllib.error
from typing import Any

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, From, Header, Mail, To

from channels.base import OutcomeUnknownError, http_refusal, unsupported
from channels.messages import EmailMessage, Message, SendResult, TransientSendError

log = logging.getLogger(__name__)

DEFAULT_HOST = "https://api.sendgrid.com"
DEFAULT_TIMEOUT = 30.0
TOUCH_KEY_ARG = "touch_key"


def build_mail(message: EmailMessage, *, key: str, from_email: str, from_name: str | None) -> Mail:
    """The SendGrid request: text and html parts, the message's own headers, and the touch key as a custom arg
    (SendGrid echoes custom args in every webhook event)."""
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
    return mail


def _error_detail(exc: HTTPError) -> str:
    body: Any = exc.body
    try:
        errors = json.loads(body)["errors"]
        return "; ".join(str(e.get("message", e)) for e in errors)
    except (ValueError, KeyError, TypeError):
        text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
        return text.strip()[:300] or str(exc.reason)


class SendGridSender:
    """Sends ``EmailMessage``; ``host`` points the SDK elsewhere (tests: a loopback fake)."""

    name = "sendgrid"

    def __init__(
        self,
        *,
        api_key: str,
        from_email: str,
        from_name: str | None = None,
        host: str = DEFAULT_HOST,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.from_email = from_email
        self.from_name = from_name
        self.timeout = timeout
        self._client = SendGridAPIClient(api_key=api_key, host=host)

    def send(self, message: Message, *, key: str) -> SendResult:
        if not isinstance(message, EmailMessage):
            raise unsupported(self.name, message)
        mail = build_mail(message, key=key, from_email=self.from_email, from_name=self.from_name)
        try:
            response = self._client.client.mail.send.post(request_body=mail.get(), timeout=self.timeout)
        except HTTPError as exc:
            raise http_refusal(self.name, exc.status_code, _error_detail(exc)) from exc
        except urllib.error.URLError as exc:
            raise TransientSendError(f"sendgrid unreachable: {exc.reason}") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise OutcomeUnknownError(f"sendgrid gave no answer for {key}; may have sent: {exc!r}") from exc
        message_id = response.headers.get("X-Message-Id") or ""
        if not message_id:
            log.warning("sendgrid accepted %s (HTTP %s) without an X-Message-Id", key, response.status_code)
        return SendResult(provider=self.name, provider_id=message_id)

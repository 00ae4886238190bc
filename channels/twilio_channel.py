"""Texts and voicemail drops through the official Twilio SDK, and the look-up reconciliation uses.

Thread safety: each thread gets its own SDK ``Client`` and HTTP client (``threading.local``). Sharing one is
not safe: ``TwilioHttpClient.request`` stores the response on the client (``self._test_only_last_response =
...``) and then returns that attribute, so two threads can swap answers, and its ``requests.Session`` is not
documented as thread-safe. A client per thread is cheap and keeps its own connection pool.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import SSLError as Urllib3SSLError

from channels.base import http_refusal, unsupported
from channels.delivery import TOUCH_QUERY, ProviderRecord
from channels.messages import (
    Message,
    OutcomeUnknownError,
    PermanentSendError,
    SendError,
    SendResult,
    SmsMessage,
    TransientSendError,
    VoicemailMessage,
)

DEFAULT_TIMEOUT = 30.0
NOT_ACCEPTED = (429,)  # Twilio answers these before creating anything; every other 5xx may have created it
LOOKUP_SKEW = timedelta(minutes=1)
# requests' errors raised while preparing a request, before anything is sent: our configuration is wrong
_NOT_SENT_CONFIG = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.URLRequired,
)


def voicemail_twiml(script: str) -> str:
    """TwiML that speaks ``script`` (escaped by the SDK's builder)."""
    response = VoiceResponse()
    response.say(script)
    return str(response)


def status_callback(url: str, key: str) -> str:
    """``url`` with the touch key added as ``?touch=KEY`` (URL-encoded; an existing query is kept)."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), (TOUCH_QUERY, key)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _causes(exc: BaseException) -> list[object]:
    """``exc`` and what it wraps: requests -> urllib3's MaxRetryError -> its reason -> that reason's args."""
    seen: list[object] = []
    todo: list[object] = [exc]
    while todo and len(seen) < 12:
        item = todo.pop(0)
        if any(item is s for s in seen):
            continue
        seen.append(item)
        if isinstance(item, BaseException):
            todo.extend(a for a in item.args if isinstance(a, BaseException))
            if isinstance(reason := getattr(item, "reason", None), BaseException):
                todo.append(reason)
    return seen


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request provably did not reach Twilio: no connection was made (refused, DNS, connect
    timeout) or the TLS handshake refused the certificate. Any other TLS error may come after the request
    was written, so it does not count."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    causes = _causes(exc)
    if any(isinstance(c, NewConnectionError) for c in causes):
        return True
    tls = [c for c in causes if isinstance(c, Urllib3SSLError | ssl.SSLError)]
    return bool(tls) and any(isinstance(c, ssl.SSLCertVerificationError) for c in causes)


class _Recorder(HttpClient):
    """The SDK's HTTP client, remembering for its thread whether a request left and what answer came back."""

    def __init__(self, inner: HttpClient) -> None:
        super().__init__(inner.logger, False, inner.timeout)
        self.inner = inner
        self.started = False
        self.response: Response | None = None

    def reset(self) -> None:
        self.started, self.response = False, None

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        self.started = True
        self.response = self.inner.request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )
        return self.response


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat[:80] + ("..." if len(flat) > 80 else ""))


class RedirectedHttpClient(TwilioHttpClient):
    """The SDK's own requests-based HTTP client with every Twilio origin swapped for ``base_url``: a staging
    proxy or a test double (``DRIPLINE_TWILIO_API_BASE``). The SDK builds and signs each request as usual."""

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")
        if self.session is not None and urlsplit(self.base_url).hostname in ("127.0.0.1", "localhost", "::1"):
            self.session.trust_env = False  # no proxies from the environment for loopback

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        parts = urlsplit(url)
        moved = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().request(method, moved, *args, **kwargs)


class TwilioSender:
    """SMS via ``messages.create``; voicemail via ``calls.create`` that waits for the beep, then speaks.

    ``voicemail_twiml_url`` replaces the spoken script with TwiML fetched from that URL. ``voice_url`` (the web
    app's ``/twilio/voice``) is better still: Twilio fetches it as ``<url>?touch=<key>`` once answering-machine
    detection has decided, so a machine gets the script after the beep and a person is not played a recording.
    ``status_callback_url``, when set, is given to every create as ``<url>?touch=<key>`` so Twilio's status
    callbacks name the touch. ``http_client_factory`` builds the SDK's HTTP client, one per thread (its own
    extension point: tests and the benchmark point it at a loopback fake). Safe to share between threads.
    """

    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        voicemail_twiml_url: str = "",
        status_callback_url: str = "",
        voice_url: str = "",
        http_client_factory: Callable[[], HttpClient] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.from_number = from_number
        self.voicemail_twiml_url = voicemail_twiml_url
        self.status_callback_url = status_callback_url
        self.voice_url = voice_url
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._http_client_factory = http_client_factory or (lambda: TwilioHttpClient(timeout=timeout))
        self._local = threading.local()

    def _client(self) -> tuple[Client, _Recorder]:
        local = self._local
        if getattr(local, "client", None) is None:
            local.recorder = _Recorder(self._http_client_factory())
            local.client = Client(self._account_sid, self._auth_token, http_client=local.recorder)
        return local.client, local.recorder

    def send(self, message: Message, *, key: str) -> SendResult:
        if not isinstance(message, SmsMessage | VoicemailMessage):
            raise unsupported(self.name, message)
        try:
            client, recorder = self._client()
            recorder.reset()
            params = self._create_params(message, key)
        except Exception as exc:
            raise PermanentSendError(f"twilio could not prepare {key}, nothing sent: {exc!r}") from exc
        try:
            if isinstance(message, SmsMessage):
                sid = client.messages.create(**params).sid
            else:
                sid = client.calls.create(**params).sid
        except Exception as exc:
            raise self._error(exc, recorder, key) from exc
        if not sid:
            raise self._unreadable(recorder, key)
        return SendResult(provider=self.name, provider_id=str(sid))

    def start_call(self, *, to: str, twiml_url: str, status_callback_url: str, key: str) -> str:
        """Ring ``to`` from our number; once answered, Twilio fetches the call's TwiML from ``twiml_url`` and
        reports the call's end to ``status_callback_url`` (click-to-call rings the officer this way). Returns the
        call's sid; raises the same errors as :meth:`send` (``OutcomeUnknownError``: the phone may ring)."""
        try:
            client, recorder = self._client()
            recorder.reset()
        except Exception as exc:
            raise PermanentSendError(f"twilio could not prepare {key}, nothing sent: {exc!r}") from exc
        try:
            sid = client.calls.create(to=to, from_=self.from_number, url=twiml_url,
                                      status_callback=status_callback_url).sid  # fmt: skip
        except Exception as exc:
            raise self._error(exc, recorder, key) from exc
        if not sid:
            raise self._unreadable(recorder, key)
        return str(sid)

    def _create_params(self, message: SmsMessage | VoicemailMessage, key: str) -> dict[str, Any]:
        params: dict[str, Any] = {"to": message.to, "from_": self.from_number}
        if self.status_callback_url:
            params["status_callback"] = status_callback(self.status_callback_url, key)
        if isinstance(message, SmsMessage):
            return params | {"body": message.body}
        if self.voice_url:  # our own TwiML endpoint, told the touch and what answered (AnsweredBy)
            params["url"] = status_callback(self.voice_url, key)
        elif self.voicemail_twiml_url:
            params["url"] = self.voicemail_twiml_url
        else:
            params["twiml"] = voicemail_twiml(message.script)
        return params | {"machine_detection": "DetectMessageEnd"}

    def _error(self, exc: Exception, recorder: _Recorder, key: str) -> SendError:
        answer = recorder.response
        if isinstance(exc, TwilioRestException | TwilioServiceException) and isinstance(exc.status, int):
            detail = exc.msg if isinstance(exc, TwilioRestException) else (exc.detail or exc.title)
            code = exc.code if isinstance(exc.code, int) else None
            headers = answer.headers if answer is not None else None
            return http_refusal(
                self.name, exc.status, str(detail), code=code, headers=headers, not_accepted=NOT_ACCEPTED
            )
        if isinstance(exc, requests.RequestException):
            if _never_sent(exc):
                return TransientSendError(f"twilio unreachable, nothing sent: {exc}")
            if isinstance(exc, _NOT_SENT_CONFIG):
                return PermanentSendError(f"twilio request for {key} is malformed, nothing sent: {exc}")
            return OutcomeUnknownError(f"twilio gave no answer for {key}; may have sent: {exc}")
        if answer is not None and 200 <= answer.status_code < 300:
            return self._unreadable(recorder, key)
        if recorder.started:
            return OutcomeUnknownError(f"twilio client failed for {key} after sending; may have sent: {exc!r}")
        return PermanentSendError(f"twilio client failed for {key} before sending, nothing sent: {exc!r}")

    def _unreadable(self, recorder: _Recorder, key: str) -> OutcomeUnknownError:
        answer = recorder.response
        if answer is None:
            return OutcomeUnknownError(f"twilio returned no message id for {key}; may have sent")
        kind = answer.headers.get("Content-Type", "no content type") if answer.headers else "no content type"
        return OutcomeUnknownError(
            f"twilio answered HTTP {answer.status_code} ({kind}) for {key} without a readable message: "
            f"{_snippet(answer.text or '')}; may have sent"
        )

    def sent_between(
        self,
        to: str,
        since: datetime,
        until: datetime,
        kind: Literal["sms", "voicemail"],
        *,
        skew: timedelta = LOOKUP_SKEW,
        limit: int = 1000,
    ) -> list[ProviderRecord]:
        """The texts (or calls) Twilio holds from our number to ``to`` created between ``since`` and
        ``until`` (widened by ``skew`` each side for the two clocks), newest first, as Twilio reports them.

        Asks Twilio for every message from our number to ``to`` (a lead gets a handful) and keeps those created
        in the window here. Twilio's DateSent and StartTime filters are not used: they are day-granular, and a
        text still queued at Twilio, or a call not yet dialled, has no DateSent or StartTime, so filtering on
        them would report "nothing sent" for exactly the messages that may still go. Any failure raises
        ``TransientSendError``: the look-up may be tried again, and decides nothing.
        """
        if kind not in ("sms", "voicemail"):
            raise ValueError(f"kind must be 'sms' or 'voicemail', not {kind!r}")
        try:
            client, _ = self._client()
            records = (
                [
                    ProviderRecord(
                        provider_id=str(m.sid or ""),
                        to=str(m.to or to),
                        status=str(m.status or ""),
                        created_at=m.date_created or m.date_sent,
                        body=m.body,
                    )
                    for m in client.messages.list(to=to, from_=self.from_number, limit=limit)
                ]
                if kind == "sms"
                else [
                    ProviderRecord(
                        provider_id=str(c.sid or ""),
                        to=str(c.to or to),
                        status=str(c.status or ""),
                        created_at=c.date_created or c.start_time,
                        body=None,
                    )
                    for c in client.calls.list(to=to, from_=self.from_number, limit=limit)
                ]
            )
        except Exception as exc:
            raise TransientSendError(f"twilio look-up of {kind} to {to} failed: {exc!r}") from exc
        low, high = since - skew, until + skew
        return [r for r in records if r.created_at is None or low <= r.created_at <= high]

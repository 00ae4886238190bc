"""SendGrid's two webhooks: the Event Webhook (signed) and Inbound Parse (a secret in the URL).

``POST /sendgrid/events``: the signature (ECDSA over the timestamp header + the raw body) is checked with the SDK's
own ``EventWebhook`` helper and the key in ``DRIPLINE_SENDGRID_WEBHOOK_PUBLIC_KEY`` before the body is parsed; a
timestamp further than ``sendgrid_webhook_max_age_seconds`` from our clock, and a request this process has already
handled (same signature), are refused too. Every refusal is 403 and changes nothing. Events already handled (by
``sg_event_id``) are dropped in the service, whichever process saw them first.

``POST /sendgrid/inbound?secret=...``: SendGrid does not sign Inbound Parse, so the URL carries a secret
(``DRIPLINE_SENDGRID_INBOUND_SECRET``); it is in the query string, which the access log never writes.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections import OrderedDict
from email.parser import HeaderParser
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sendgrid.helpers.eventwebhook import EventWebhook
from sendgrid.helpers.eventwebhook.eventwebhook_header import EventWebhookHeader
from starlette.concurrency import run_in_threadpool

from service.email_webhooks import NoSender, handle_email_reply, handle_sendgrid_events
from web.state import WebState, web_state

log = logging.getLogger("dripline.web.sendgrid")
router = APIRouter()
INBOUND_PATH = "/sendgrid/inbound"  # its body limit is its own (web.app): replies carry attachments
SIGNATURE = EventWebhookHeader.SIGNATURE
TIMESTAMP = EventWebhookHeader.TIMESTAMP


class SeenRequests:
    """Signatures of requests this process handled, kept as long as their timestamp would still be accepted."""

    def __init__(self, keep: int = 100_000) -> None:
        self.keep = keep
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, signature: str) -> bool:
        with self._lock:
            return signature in self._seen

    def add(self, signature: str, timestamp: int, *, oldest: int) -> None:
        with self._lock:
            self._seen[signature] = timestamp
            while self._seen and (len(self._seen) > self.keep or next(iter(self._seen.values())) < oldest):
                self._seen.popitem(last=False)


@lru_cache(maxsize=4)
def _verifier(public_key: str) -> EventWebhook | None:
    try:
        return EventWebhook(public_key.strip())
    except Exception:
        log.error("DRIPLINE_SENDGRID_WEBHOOK_PUBLIC_KEY is not a readable public key: every event is refused")
        return None


def _seen_requests(request: Request) -> SeenRequests:
    app_state = request.app.state
    if not hasattr(app_state, "sendgrid_seen"):
        app_state.sendgrid_seen = SeenRequests()
    seen: SeenRequests = app_state.sendgrid_seen
    return seen


def _refused(why: str) -> JSONResponse:
    log.warning("sendgrid event webhook refused: %s", why)
    return JSONResponse({"error": "signature refused"}, status_code=403)


def signature_problem(state: WebState, body: bytes, signature: str | None, timestamp: str | None) -> str | None:
    """Why this request is not SendGrid's, fresh (None when it is)."""
    key = state.settings.sendgrid_webhook_public_key
    verifier = _verifier(key) if key.strip() else None
    if verifier is None:
        return "no usable verification key is configured"
    if not signature or not timestamp:
        return "unsigned"
    if not timestamp.strip().isdigit():
        return "the timestamp is not a number"
    age = state.clock().timestamp() - int(timestamp)
    if abs(age) > state.settings.sendgrid_webhook_max_age_seconds:
        return f"the timestamp is {int(age)} s from our clock"
    try:
        good = verifier.verify_signature(body.decode("utf-8"), signature, timestamp)
    except Exception as exc:  # a signature that is not base64, or a body that is not UTF-8
        return f"unreadable signature or body ({type(exc).__name__})"
    return None if good else "the signature does not match"


@router.post("/sendgrid/events")
async def sendgrid_events(request: Request, state: Annotated[WebState, Depends(web_state)]) -> JSONResponse:
    body = await request.body()
    signature, timestamp = request.headers.get(SIGNATURE), request.headers.get(TIMESTAMP)
    if why := signature_problem(state, body, signature, timestamp):
        return _refused(why)
    assert signature is not None and timestamp is not None
    seen = _seen_requests(request)
    if seen.seen(signature):
        return _refused("a replay of a request already handled")
    try:
        events: Any = json.loads(body)
    except ValueError:
        return JSONResponse({"error": "the body is not JSON"}, status_code=400)
    if not isinstance(events, list):
        return JSONResponse({"error": "the body is not a list of events"}, status_code=400)
    at = state.clock()

    def work() -> dict[str, int]:
        return handle_sendgrid_events(state.pipeline(), events=events, at=at).as_dict()

    counts = await run_in_threadpool(work)
    oldest = int(at.timestamp()) - state.settings.sendgrid_webhook_max_age_seconds
    seen.add(signature, int(timestamp), oldest=oldest)  # only once handled: a retry of a failed request goes through
    return JSONResponse(counts)


@router.post(INBOUND_PATH)
async def sendgrid_inbound(request: Request, state: Annotated[WebState, Depends(web_state)]) -> JSONResponse:
    expected = state.settings.sendgrid_inbound_secret.get_secret_value()
    given = request.query_params.get("secret", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        log.warning("sendgrid inbound parse refused: %s", "no secret configured" if not expected else "wrong secret")
        return JSONResponse({"error": "refused"}, status_code=403)
    # attachments are spooled to disk and closed at the end of the block; a long html part is read whole
    async with request.form(max_part_size=state.settings.sendgrid_inbound_max_bytes) as form:
        fields = {name: value for name in ("from", "subject", "text", "html", "headers", "SPF")
                  if isinstance(value := form.get(name), str)}  # fmt: skip
    headers = HeaderParser().parsestr(fields.get("headers", ""), headersonly=True)
    message_id = str(headers.get("Message-ID") or headers.get("Message-Id") or "")
    at = state.clock()

    def work() -> dict[str, Any]:
        done = handle_email_reply(
            state.pipeline(),
            sender=fields.get("from", ""),
            subject=fields.get("subject", ""),
            text=fields.get("text", ""),
            html=fields.get("html", ""),
            message_id=message_id,
            at=at,
            spf=fields.get("SPF", ""),
        )
        return {"leads": len(done.lead_ids), "tasks": len(done.task_ids), "kind": done.kind.value,
                "duplicate": done.duplicate}  # fmt: skip

    try:
        answer = await run_in_threadpool(work)
    except NoSender:  # no sender address: nothing to act on, and SendGrid should not retry it
        return JSONResponse({"error": "no sender address"}, status_code=200)
    return JSONResponse(answer)

"""Twilio's webhooks: ``POST /twilio/sms`` (inbound texts), ``/twilio/status`` (message and call status
callbacks, ``?touch=KEY``) and ``/twilio/voice`` (the breakup voicemail after answering-machine detection).

Every request must carry a valid ``X-Twilio-Signature``, checked with the SDK's ``RequestValidator`` and the
auth token (or, during a rotation, the next one) against the URL Twilio called: ``public_base_url`` + the path
+ the query string as received. Anything else (unsigned, forged, another URL, altered fields, no auth token
configured) gets 403 and nothing is read further or stored. Twilio's signature carries no time: an identical
replay is a Twilio retry, and has no second effect (idempotent on the MessageSid, or the sid and status). The
work is ``service.twilio_webhooks``.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from channels.delivery import TOUCH_QUERY
from service.twilio_webhooks import Answered, answer_call, receive_sms, receive_status
from web.state import WebState, web_state

router = APIRouter(prefix="/twilio")
log = logging.getLogger("dripline.web.twilio")
XML = "application/xml"


def signed_url(state: WebState, request: Request) -> str:
    """The URL Twilio signed: the public base URL, the path and the query string exactly as received."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    return state.settings.public_base_url.rstrip("/") + request.url.path + (f"?{query}" if query else "")


async def twilio_fields(request: Request, state: Annotated[WebState, Depends(web_state)]) -> dict[str, str]:
    """The form Twilio posted, once its signature is proven; 403 otherwise (nothing else happens)."""
    settings = state.settings
    tokens = [t for t in (settings.twilio_auth_token, settings.twilio_next_auth_token) if t.get_secret_value()]
    signature = request.headers.get(SIGNATURE_HEADER, "")
    form = await request.form()
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER, ""))
    url = signed_url(state, request)
    if not signature or not any(RequestValidator(t.get_secret_value()).validate(url, form, signature, algorithm)
                                for t in tokens):  # fmt: skip
        log.warning("refused %s: %s", request.url.path, "no valid X-Twilio-Signature" if tokens else "no auth token")
        raise HTTPException(status_code=403, detail="invalid Twilio signature")
    return {name: value for name, value in form.multi_items() if isinstance(value, str)}


Fields = Annotated[dict[str, str], Depends(twilio_fields)]
State = Annotated[WebState, Depends(web_state)]


@router.post("/sms")
async def inbound_sms(fields: Fields, state: State) -> Response:
    """An inbound text: handled like ``dripline inbound sms``; the one reply (if any) is the TwiML ``<Message>``."""
    if not fields.get("MessageSid") or not fields.get("From"):
        raise HTTPException(status_code=400, detail="MessageSid and From are required")
    settings = state.settings

    def handle() -> str | None:
        try:
            result = receive_sms(state.pipeline(), fields=fields, at=state.clock(),
                                 twilio_answers_keywords=settings.twilio_answers_keywords)  # fmt: skip
        except ValueError:  # a sender that is not a phone number (a short code, a name): no lead can have it
            log.warning("inbound text from a sender that is not a phone number: not stored")
            return None
        return None if result.duplicate else result.reply

    reply = await run_in_threadpool(handle)
    answer = MessagingResponse()
    if reply:
        answer.message(reply)
    return Response(str(answer), media_type=XML)


@router.post("/status")
async def status_callback(fields: Fields, state: State, request: Request) -> Response:
    """A message's or call's status callback; the touch is named by ``?touch=KEY``."""
    if not (fields.get("MessageSid") or fields.get("CallSid")) or not (
        fields.get("MessageStatus") or fields.get("SmsStatus") or fields.get("CallStatus")
    ):
        raise HTTPException(status_code=400, detail="a sid and a status are required")
    key = request.query_params.get(TOUCH_QUERY) or None
    await run_in_threadpool(lambda: receive_status(state.pipeline(), fields=fields, touch_key=key, at=state.clock()))
    return Response(status_code=200)


@router.post("/voice")
async def voice(fields: Fields, state: State, request: Request) -> Response:
    """The breakup voicemail call's TwiML, fetched once answering-machine detection has decided (``AnsweredBy``)."""
    key = request.query_params.get(TOUCH_QUERY) or None
    answer = await run_in_threadpool(
        lambda: answer_call(state.pipeline(), fields=fields, touch_key=key, at=state.clock())
    )
    twiml = VoiceResponse()
    if answer.say:
        twiml.say(answer.say)
    if answer.answered is not Answered.MACHINE or not answer.say:
        twiml.hangup()
    return Response(str(twiml), media_type=XML)

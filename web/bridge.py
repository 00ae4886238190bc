"""Click-to-call over the web: the officer's button, the page that follows the call, and Twilio's three requests.

- ``POST /leads/{id}/call`` (signed in, CSRF): the click. Only the lead's officer, an officer with one of its call
  tasks on their list, or a manager may call; anyone else gets 404. Answers 303 to the call's page, whatever the
  gate or Twilio said.
- ``GET /leads/{id}/calls/{call_id}``: what became of the call (reload to follow it).
- ``POST /twilio/bridge/answer?bridge=KEY``: the officer answered; the TwiML says one line and dials the borrower
  with the company's caller ID. ``/twilio/bridge/dialed`` is that ``<Dial>``'s action (the borrower's leg's
  result) and ``/twilio/bridge/status`` the officer's leg's status callback. Each must be signed by Twilio and is
  checked as ``web/twilio.py`` checks its own (403 otherwise, nothing read further).

The work is ``service.bridge``.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from twilio.twiml.voice_response import VoiceResponse

from channels.twilio_channel import TwilioSender
from service.bridge import (
    ANSWER_PATH,
    BRIDGE_QUERY,
    DIALED_PATH,
    STATUS_PATH,
    BridgeView,
    CallUnavailable,
    Click,
    LeadNotFound,
    answer_bridge,
    callback_url,
    caller_id,
    click_to_call,
    dial_finished,
    make_dialer,
    officer_leg_ended,
    view_bridge,
)
from web.deps import Posted, SignedIn
from web.pages import page
from web.state import WebState, web_state
from web.twilio import XML, Fields

router = APIRouter()
log = logging.getLogger("dripline.web.bridge")
State = Annotated[WebState, Depends(web_state)]
NOT_FOUND = "There is no such lead on your list."


def _dialer(request: Request, state: WebState) -> TwilioSender | None:
    """The app's one Twilio client for click-to-call (safe to share between threads), made on first use."""
    app = request.app.state
    if not hasattr(app, "bridge_dialer"):
        app.bridge_dialer = make_dialer(state.settings)
    dialer: TwilioSender | None = app.bridge_dialer
    return dialer


def _message(request: Request, lead_id: int, words: str, status_code: int, *, name: str = "this lead") -> HTMLResponse:
    return page(request, "call.html", status_code=status_code, lead_name=name, lead_id=lead_id, words=words, reason="",
                tone="bad", asked="", outcome="", refresh="")  # fmt: skip


@router.post("/leads/{lead_id}/call")
async def click(request: Request, lead_id: int, session: Posted, state: State) -> Response:
    """The officer's click: 303 to the call's page; 404 for a lead not theirs; 409 when nothing can ring."""
    form = await request.form()
    task = str(form.get("task") or "").strip()
    if task and not task.isdigit():
        return _message(request, lead_id, "task: must be the number of one of this lead's call tasks.", 400)
    dialer = _dialer(request, state)

    def work() -> Click | CallUnavailable | None:
        try:
            return click_to_call(state.pipeline(), dialer=dialer, lead_id=lead_id, officer_id=session.officer_id,
                                 manager=session.manager, click=str(form.get("click") or ""),
                                 task_id=int(task) if task else None, at=state.clock())  # fmt: skip
        except LeadNotFound:
            return None
        except CallUnavailable as exc:
            return exc

    done = await run_in_threadpool(work)
    if done is None:
        return _message(request, lead_id, NOT_FOUND, 404)
    if isinstance(done, CallUnavailable):
        return _message(request, lead_id, str(done), 409, name=done.name)
    if done.problem:
        log.warning("click-to-call %s is %s: %s", done.bridge.key, done.bridge.status, done.problem)
    return RedirectResponse(f"/leads/{lead_id}/calls/{done.bridge.id}", status_code=303)


@router.get("/leads/{lead_id}/calls/{call_id}")
async def call_page(request: Request, lead_id: int, call_id: int, session: SignedIn, state: State) -> HTMLResponse:
    """What became of one click-to-call."""

    def work() -> BridgeView | None:
        try:
            return view_bridge(state.pipeline(), bridge_id=call_id, lead_id=lead_id, officer_id=session.officer_id,
                               manager=session.manager)  # fmt: skip
        except LeadNotFound:
            return None

    view = await run_in_threadpool(work)
    if view is None:
        return _message(request, lead_id, NOT_FOUND, 404)
    b = view.bridge
    return page(request, "call.html", lead_name=view.name, lead_id=lead_id, words=view.words, reason=view.reason,
                tone=view.tone, asked=f"{b.created_at:%Y-%m-%d %H:%M} UTC", outcome=b.outcome or "",
                refresh=f"/leads/{lead_id}/calls/{call_id}")  # fmt: skip


def _key(request: Request) -> str:
    key = request.query_params.get(BRIDGE_QUERY, "")
    if not key:
        raise HTTPException(status_code=400, detail=f"{BRIDGE_QUERY}: the call's key is missing from the URL")
    return key


def _twiml(answer: VoiceResponse) -> Response:
    return Response(str(answer), media_type=XML)


@router.post(ANSWER_PATH)
async def answered(request: Request, fields: Fields, state: State) -> Response:
    """The officer picked up: one line, then the borrower is dialled from the company's number."""
    key = _key(request)
    settings = state.settings
    answer = await run_in_threadpool(lambda: answer_bridge(state.pipeline(), key=key, fields=fields, at=state.clock()))
    twiml = VoiceResponse()
    twiml.say(answer.say)
    if answer.dial is None:
        twiml.hangup()
        return _twiml(twiml)
    dial = twiml.dial(caller_id=caller_id(settings), action=callback_url(settings, DIALED_PATH, key), method="POST",
                      timeout=settings.twilio_bridge_ring_seconds)  # fmt: skip
    dial.number(answer.dial)
    return _twiml(twiml)


@router.post(DIALED_PATH)
async def dialed(request: Request, fields: Fields, state: State) -> Response:
    """The ``<Dial>`` ended: its result is recorded; the officer hears how it went when the borrower was not
    reached."""
    key = _key(request)
    bridge = await run_in_threadpool(lambda: dial_finished(state.pipeline(), key=key, fields=fields, at=state.clock()))
    twiml = VoiceResponse()
    if bridge is not None and bridge.status in ("no-answer", "busy", "failed"):
        twiml.say({"busy": "The line was busy.", "failed": "The call could not be connected."}.get(
            bridge.status, "There was no answer.") + " Goodbye.")  # fmt: skip
    twiml.hangup()
    return _twiml(twiml)


@router.post(STATUS_PATH)
async def officer_status(request: Request, fields: Fields, state: State) -> Response:
    """The officer's leg's status callback."""
    key = _key(request)
    await run_in_threadpool(lambda: officer_leg_ended(state.pipeline(), key=key, fields=fields, at=state.clock()))
    return Response(status_code=200)

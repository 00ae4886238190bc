"""Signing in by the magic link an alert carries, and signing out.

``GET /signin/{token}`` only shows a button: mail and chat apps open links to preview them, and a preview must not
spend a single-use link. The button posts the token back; ``POST /signin/{token}`` spends it (once, before it
expires), sets the session cookie and sends the officer on to the page the alert was about.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from storage.signin import LinkRefused, end_session, use_sign_in_link
from web.deps import COOKIE, SignInRequired
from web.pages import page
from web.state import WebState, web_state

router = APIRouter()


@router.get("/signin/{token}")
def signin_page(request: Request, token: str) -> HTMLResponse:
    return page(request, "signin.html", token=token, session=None)


@router.post("/signin/{token}")
async def signin(request: Request, token: str, state: Annotated[WebState, Depends(web_state)]) -> Response:
    try:
        signed = await run_in_threadpool(lambda: use_sign_in_link(state.pipeline().engine, token, now=state.clock()))
    except LinkRefused as exc:
        return page(request, "signed_out.html", status_code=403, session=None, reason=str(exc))
    response = RedirectResponse(signed.next_path, status_code=303)
    response.set_cookie(
        COOKIE,
        signed.session_token,
        max_age=int((signed.expires_at - state.clock()).total_seconds()),
        httponly=True,
        samesite="lax",
        secure=state.settings.public_base_url.startswith("https://"),
        path="/",
    )
    return response


@router.post("/signout")
async def signout(request: Request, state: Annotated[WebState, Depends(web_state)]) -> Response:
    token = request.cookies.get(COOKIE)
    if token:
        await run_in_threadpool(lambda: end_session(state.pipeline().engine, token, now=state.clock()))
    response = page(request, "signed_out.html", session=None, reason="You are signed out.")
    response.delete_cookie(COOKIE, path="/")
    return response


def sign_in_required(request: Request, _exc: Exception) -> Response:
    """Exception handler for :class:`SignInRequired`: 401 with how to get a link."""
    return page(
        request, "signed_out.html", status_code=401, session=None,
        reason="Please sign in with the link in your latest dripline alert.",
    )  # fmt: skip


HANDLERS = {SignInRequired: sign_in_required}

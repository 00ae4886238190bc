"""Who is asking: the signed-in officer's session (cookie) and the CSRF check every form POST passes.

The session cookie is HttpOnly and SameSite=Lax, Secure when the site is served over https; it holds a random
token whose sha256 names a ``web_session`` row (``storage.signin``). Each session has its own CSRF token, put in
every form as ``csrf``; a POST without it, or with another, gets 403 before anything is read or changed.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from storage.signin import Session, session_for
from web.state import WebState, web_state

COOKIE = "dripline_session"


class SignInRequired(Exception):
    """No live session: the page answers 401 with how to sign in."""


def _lookup(state: WebState, token: str) -> Session | None:
    with state.pipeline().engine.connect() as conn:
        return session_for(conn, token, now=state.clock())


async def officer_session(request: Request, state: Annotated[WebState, Depends(web_state)]) -> Session:
    """FastAPI dependency: the signed-in officer, or :class:`SignInRequired`."""
    token = request.cookies.get(COOKIE, "")
    session = await run_in_threadpool(_lookup, state, token) if token else None
    if session is None:
        raise SignInRequired
    request.state.officer_session = session
    return session


async def csrf_checked(request: Request, session: Annotated[Session, Depends(officer_session)]) -> Session:
    """FastAPI dependency for every POST of a signed-in page: the form's ``csrf`` (or the ``X-CSRF-Token``
    header) must be this session's token, else 403."""
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        value = (await request.form()).get("csrf")
        sent = value if isinstance(value, str) else ""
    if not sent or not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise HTTPException(status_code=403, detail="This form has expired. Go back, reload the page and try again.")
    return session


SignedIn = Annotated[Session, Depends(officer_session)]
Posted = Annotated[Session, Depends(csrf_checked)]

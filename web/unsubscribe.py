"""The unsubscribe link of every email (``GET /unsubscribe?token=...``) and RFC 8058 one-click (``POST``).

A visit with a current token stops email at once and says so; a visit with a genuine but old token shows one
button that posts the same token back. Any ``POST`` with a genuine token (a mailbox provider's one-click, whose body
is ``List-Unsubscribe=One-Click``, or that button) stops email, old or not: it is the person's own click. The
suppression is committed before the 200 goes out. A token we did not sign gets 403 and changes nothing.
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from service.unsubscribe import BadToken, Token, Unsubscribed, read_token, unsubscribe_lead
from web.state import WebState, web_state

router = APIRouter()


@router.get("/unsubscribe")
def unsubscribe_page(
    state: Annotated[WebState, Depends(web_state)], token: str = "", lead: str | None = None
) -> HTMLResponse:
    found = _token(state, token, lead)
    if isinstance(found, HTMLResponse):
        return found
    if found.expired:
        return _confirm_page(state, token)
    return _done_page(state, _unsubscribe(state, found))


@router.post("/unsubscribe")
async def unsubscribe_post(request: Request, state: Annotated[WebState, Depends(web_state)]) -> HTMLResponse:
    token = request.query_params.get("token", "")
    if not token:
        form = await request.form()
        value = form.get("token")
        token = value if isinstance(value, str) else ""
    found = _token(state, token, request.query_params.get("lead"))
    if isinstance(found, HTMLResponse):
        return found
    return _done_page(state, await run_in_threadpool(_unsubscribe, state, found))


def _token(state: WebState, token: str, lead: str | None) -> Token | HTMLResponse:
    try:
        return read_token(state.settings, token, today=state.clock().date(), lead=lead)
    except BadToken:
        return HTMLResponse(
            _page(state, "This link does not work",
                  "We could not read this unsubscribe link. Use the link in the email itself, or write to "
                  f"{html.escape(state.settings.support_email)} and we will take you off our list."),
            status_code=403,
        )  # fmt: skip


def _unsubscribe(state: WebState, token: Token) -> Unsubscribed:
    return unsubscribe_lead(engine=state.pipeline().engine, lead_id=token.lead_id, at=state.clock())


def _confirm_page(state: WebState, token: str) -> HTMLResponse:
    form = (
        '<form method="post">'
        f'<input type="hidden" name="token" value="{html.escape(token, quote=True)}">'
        '<button type="submit">Unsubscribe me</button></form>'
    )
    body = "This link is from an older email. Press the button and we will stop emailing you." + form
    return HTMLResponse(_page(state, "Stop our emails?", body))


def _done_page(state: WebState, done: Unsubscribed) -> HTMLResponse:
    where = f" at {html.escape(_masked(done.address))}" if done.address else ""
    text = (
        f"We will not email you{where} again. If an email was already on its way it may still arrive in the next "
        f"few minutes. Questions: {html.escape(state.settings.support_email)}."
    )
    return HTMLResponse(_page(state, "You are unsubscribed", text))


def _masked(address: str) -> str:
    name, _, domain = address.partition("@")
    return f"{name[:1]}***@{domain}"


def _page(state: WebState, title: str, body: str) -> str:
    company = html.escape(state.settings.company_name)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto; padding: 0 1em">'
        f"<h1>{html.escape(title)}</h1><p>{body}</p>"
        f"<p><small>{company}, {html.escape(state.settings.company_address)}</small></p></body></html>"
    )

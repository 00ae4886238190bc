"""``GET /board``: the manager's view of the team (``service.board``). Managers only: an officer gets 403."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from service.board import team_board
from web.deps import SignedIn
from web.pages import page
from web.state import WebState, web_state

router = APIRouter()


@router.get("/board")
async def board(request: Request, session: SignedIn, state: Annotated[WebState, Depends(web_state)]) -> HTMLResponse:
    if not session.manager:
        return page(request, "managers_only.html", status_code=403)
    shown = await run_in_threadpool(
        lambda: team_board(state.pipeline().engine, manager_id=session.officer_id, now=state.clock())
    )
    return page(request, "board.html", board=shown, totals=shown.totals)

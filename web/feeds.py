"""``POST /feeds/{lender}``: a lender posts its guideline feed (CSV or JSON) with its bearer token.

401 without a bearer token; 403 for a token that is not a live token of that lender (nothing is read or stored);
415 for a body that is not ``text/csv`` or ``application/json`` in UTF-8; 422 with every problem, each with its line
and field, for a feed ``dripline guidelines load`` would refuse (nothing is stored); 200 with the diff otherwise
(``"status": "unchanged"`` for the feed already in force). A loosening emits ``lender.guideline.loosened`` when a
Prefect API is configured, as the CLI does, and is re-scored in this process when none is.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from flows.api import api_url
from nurture.guidelines import FeedError
from service.feeds import MediaTypeError, authenticate, feed_format, receive_feed
from service.guideline_load import Rescore, inline_rescore
from service.pipeline import Pipeline
from storage.guidelines import LenderLoad
from web.state import WebState, web_state

router = APIRouter()
log = logging.getLogger("dripline.web.feeds")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@router.post("/feeds/{lender}")
async def post_feed(lender: str, request: Request, state: Annotated[WebState, Depends(web_state)]) -> JSONResponse:
    token = _bearer(request)
    if token is None:
        return _error(
            401, "send the lender's feed token as Authorization: Bearer TOKEN", {"WWW-Authenticate": "Bearer"}
        )
    p = await run_in_threadpool(state.pipeline)
    now = state.clock()
    token_id = await run_in_threadpool(authenticate, engine=p.engine, lender=lender, token=token, now=now)
    if token_id is None:
        return _error(403, f"this token may not post feeds for {lender}")
    try:
        format = feed_format(request.headers.get("content-type", ""))
    except MediaTypeError as exc:
        return _error(415, str(exc))
    data = await request.body()

    def receive() -> dict[str, Any]:
        rescore = _rescore(p, state, now)
        receipt = receive_feed(p, lender=lender, data=data, format=format, token_id=token_id, now=now, rescore=rescore)
        return receipt.as_json()

    try:
        answer = await run_in_threadpool(receive)
    except FeedError as exc:
        problems = [{"line": e.line, "field": e.field, "message": e.message} for e in exc.problems]
        return JSONResponse({"errors": problems}, status_code=422)
    return JSONResponse(answer)


def _rescore(p: Pipeline, state: WebState, now: datetime) -> Rescore:
    """As ``dripline guidelines load`` decides: the Prefect event with an API, else a re-score here. An event
    Prefect does not take falls back to the re-score here (it is safe to run twice), so no loosening is lost."""
    here = inline_rescore(p, now)
    api = api_url(state.settings.database_url)
    if api is None:
        return here

    def emit(load: LenderLoad) -> Any:
        from flows.events import emit_loosened

        try:
            return emit_loosened(load, now, api=api)
        except RuntimeError:
            log.warning("Prefect did not take the event for snapshot %s; re-scoring here", load.snapshot_id)
            return here(load)

    return emit

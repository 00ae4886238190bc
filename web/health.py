"""``/healthz``: the process answers. ``/readyz``: the database is reachable and at the current migration, and
the Prefect API answers when one is configured."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from flows.api import api_url
from service.health import database_problems
from web.state import WebState, web_state

router = APIRouter()


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: Annotated[WebState, Depends(web_state)]) -> JSONResponse:
    problems = await run_in_threadpool(database_problems, state.settings)
    api = await run_in_threadpool(api_url, state.settings.database_url)
    if api:
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                (await client.get(f"{api.rstrip('/')}/health")).raise_for_status()
        except httpx.HTTPError as exc:
            problems.append(f"Prefect API {api}: {type(exc).__name__}")
    return JSONResponse(
        {"status": "not ready" if problems else "ready", "problems": problems}, status_code=503 if problems else 200
    )

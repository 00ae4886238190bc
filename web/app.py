"""The one FastAPI application: ``create_app()`` is what ``dripline web`` and ``dripline serve`` run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service.settings import Settings, get_settings
from web import feeds, health, sendgrid, signin, twilio, unsubscribe
from web.guards import Guards
from web.pages import static_files
from web.state import Clock, WebState, settle_heap, utc_now

ROUTERS = (health.router, twilio.router, sendgrid.router, unsubscribe.router, feeds.router, signin.router)


def create_app(settings: Settings | None = None, *, clock: Clock = utc_now) -> FastAPI:
    settings = settings or get_settings()
    state = WebState(settings=settings, clock=clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settle_heap()
        yield
        state.close()

    app = FastAPI(title="dripline", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.web = state
    for router in ROUTERS:
        app.include_router(router)
    for exc, handler in signin.HANDLERS.items():
        app.add_exception_handler(exc, handler)
    app.mount("/static", static_files, name="static")
    app.add_middleware(
        Guards,
        max_body_bytes=settings.web_max_body_bytes,
        per_client_per_minute=settings.web_rate_per_minute,
        body_limits={sendgrid.INBOUND_PATH: settings.sendgrid_inbound_max_bytes},
    )
    return app

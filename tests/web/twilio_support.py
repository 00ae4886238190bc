"""What the Twilio webhook tests share: an app with an auth token, requests signed by the Twilio SDK itself, a
touch to call back about, and a snapshot of every row in the database (a refused request changes none)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from httpx import Response
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel
from starlette.types import Message, Receive, Scope, Send
from twilio.request_validator import RequestValidator

from service.settings import get_settings
from storage.models import Touch, table
from tests.factories import NOW
from web.app import create_app

TOKEN = "twilio-test-auth-token-0123456789"
BASE = "https://hooks.dripline.test"
OURS = "+18005550100"


@contextmanager
def twilio_client(
    *, at: datetime = NOW, on_answer: Callable[[], None] | None = None, **overrides: Any
) -> Iterator[TestClient]:
    """The web app on the test database (``app_env``), with Twilio's auth token and our public base URL.
    ``on_answer`` runs as each answer's status line is about to leave, before the client can see it."""
    values: dict[str, Any] = {"twilio_auth_token": SecretStr(TOKEN), "public_base_url": BASE} | overrides
    app = create_app(get_settings().model_copy(update=values), clock=lambda: at)

    async def probed(scope: Scope, receive: Receive, send: Send) -> None:
        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start" and on_answer is not None:
                on_answer()
            await send(message)

        await app(scope, receive, answer)

    with TestClient(probed) as client:
        yield client


def signature(url: str, params: Mapping[str, str], *, token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, dict(params))


def post(client: TestClient, path: str, params: Mapping[str, str], *, signed_url: str | None = None,
         token: str = TOKEN, sign: bool = True) -> Response:  # fmt: skip
    """POST ``params`` as Twilio does, signed by the SDK for ``signed_url`` (default: the public URL of ``path``)."""
    headers = {"X-Twilio-Signature": signature(signed_url or BASE + path, params, token=token)} if sign else {}
    return client.post(path, data=dict(params), headers=headers)


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to show a request changed nothing at all."""
    with engine.connect() as conn:
        return {
            t.name: sorted((tuple(map(repr, row)) for row in conn.execute(sa.select(t))), key=repr)
            for t in SQLModel.metadata.sorted_tables
        }


def count(engine: Engine, name: str, **where: Any) -> int:
    t = SQLModel.metadata.tables[name]
    query = sa.select(sa.func.count()).select_from(t).where(*(t.c[k] == v for k, v in where.items()))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def add_touch(engine: Engine, *, lead_id: int, key: str, channel: str = "sms", status: str = "sent",
              provider_id: str | None = None, to: str = "+13055550147", body: str = "Hi Maria") -> None:  # fmt: skip
    with engine.begin() as conn:
        conn.execute(
            sa.insert(table(Touch)).values(
                key=key, lead_id=lead_id, step_id="s", channel=channel, template="t", scheduled_for=NOW,
                not_after=NOW, status=status, to_address=to, body_text=body, provider="twilio" if provider_id else None,
                provider_id=provider_id, send_started_at=NOW, sent_at=NOW if status == "sent" else None,
                created_at=NOW, updated_at=NOW,
            )
        )  # fmt: skip


def touch(engine: Engine, key: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.select(table(Touch)).where(table(Touch).c.key == key)).one()


def touches(engine: Engine, lead_id: int) -> list[Any]:
    t = table(Touch)
    with engine.connect() as conn:
        return list(conn.execute(sa.select(t).where(t.c.lead_id == lead_id).order_by(t.c.id)))

"""What the click-to-call tests share: an app pointed at the loopback Twilio, a clock the test moves, officers and
their sessions, and Twilio's requests back to us, signed by the SDK for the URLs Twilio was given."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from httpx import Response
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from bench.fake_providers import FakeProviders
from service.settings import get_settings
from storage.models import BridgeCall, LoanOfficer, table
from storage.signin import create_sign_in_link, use_sign_in_link
from tests.web.twilio_support import BASE, TOKEN, signature
from web.app import create_app
from web.deps import COOKIE

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 10:00 in Miami, a Monday
CALLER_ID = "+18005550100"
DANA_PHONE = "+13055550111"
MARIA = "+13055550147"  # the lead tests.factories.insert_lead stores
ACCOUNT = "AC" + "1" * 32


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def add_officer(engine: Engine, *, name: str, email: str, phone: str | None, role: str = "officer") -> int:
    values = {"name": name, "email": email, "phone": phone, "role": role, "nmls_id": "1456789", "active": True,
              "created_at": NOW}  # fmt: skip
    with engine.begin() as conn:
        return int(conn.execute(sa.insert(table(LoanOfficer)).values(**values)).inserted_primary_key[0])


@contextmanager
def loopback_twilio(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviders]:
    """The loopback Twilio, with no proxy from the environment in between."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with FakeProviders() as fake:
        yield fake


@contextmanager
def bridge_app(clock: Clock, **overrides: Any) -> Iterator[TestClient]:
    """The web app on the test database (``app_env``) with click-to-call set up against ``twilio_api_base``."""
    values: dict[str, Any] = {
        "twilio_account_sid": ACCOUNT,
        "twilio_auth_token": SecretStr(TOKEN),
        "twilio_bridge_caller_id": CALLER_ID,
        "twilio_bridge_timeout_seconds": 1.0,
        "public_base_url": BASE,
    } | overrides
    app = create_app(get_settings().model_copy(update=values), clock=clock)
    with TestClient(app, base_url="https://testserver") as client:
        yield client


def sign_in(client: TestClient, engine: Engine, officer_id: int) -> str:
    """Give ``client`` a session of ``officer_id``; returns its CSRF token."""
    with engine.begin() as conn:
        token = create_sign_in_link(conn, officer_id=officer_id, now=NOW)
    signed = use_sign_in_link(engine, token, now=NOW)
    client.cookies.set(COOKIE, signed.session_token)
    return signed.csrf_token


def click(client: TestClient, lead_id: int, csrf: str, key: str = "click-0000001", **form: str) -> Response:
    return client.post(f"/leads/{lead_id}/call", data={"csrf": csrf, "click": key, **form}, follow_redirects=False)


def twilio_post(client: TestClient, url: str, fields: dict[str, str], *, sign: bool = True) -> Response:
    """POST ``fields`` to our ``url`` (absolute, as Twilio was given it) as Twilio does, signed for that URL."""
    parts = urlsplit(url)
    headers = {"X-Twilio-Signature": signature(url, fields)} if sign else {}
    return client.post(f"{parts.path}?{parts.query}", data=fields, headers=headers)


def bridges(engine: Engine) -> list[Any]:
    t = table(BridgeCall)
    with engine.connect() as conn:
        return list(conn.execute(sa.select(t).order_by(t.c.id)))

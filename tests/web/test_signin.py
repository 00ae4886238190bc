"""Magic-link sign-in: the link shows a button (a preview spends nothing), the POST spends it once and sets an
HttpOnly cookie; a reused, expired or unknown link is refused; sign-out ends the session. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from service.settings import get_settings
from storage.models import SignInLink, WebSession, table
from storage.officers import add_officer
from storage.signin import create_sign_in_link
from web.app import create_app
from web.deps import COOKIE, Posted, SignedIn

NOW = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
_link, _session = table(SignInLink), table(WebSession)

probe = APIRouter()


@probe.get("/probe")
def whoami(session: SignedIn) -> dict[str, object]:
    return {"officer": session.officer_id, "role": session.role}


@probe.post("/probe")
def posted(session: Posted) -> dict[str, object]:
    return {"officer": session.officer_id}


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(app_env: Path, engine: Engine, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("DRIPLINE_PUBLIC_BASE_URL", "https://dripline.example.com")
    get_settings.cache_clear()
    app = create_app(get_settings(), clock=clock)
    app.include_router(probe)
    with TestClient(app, base_url="https://testserver") as c:
        yield c


@pytest.fixture
def officer_id(engine: Engine) -> int:
    officer = add_officer(engine=engine, name="Dana Reyes", email="dana@example.com", nmls_id="100200", now=NOW)
    assert officer.id is not None
    return officer.id


def _link_for(engine: Engine, officer_id: int, **kw: object) -> str:
    with engine.begin() as conn:
        return create_sign_in_link(conn, officer_id=officer_id, now=NOW, **kw)  # type: ignore[arg-type]


def test_a_preview_spends_nothing_and_the_button_signs_in_once(
    client: TestClient, engine: Engine, officer_id: int
) -> None:
    token = _link_for(engine, officer_id, next_path="/probe")
    for _ in range(2):  # a mail app's preview, then the officer
        shown = client.get(f"/signin/{token}")
        assert shown.status_code == 200 and f'action="/signin/{token}"' in shown.text
    with engine.connect() as conn:
        assert conn.execute(sa.select(_link.c.used_at)).scalar() is None
        stored = conn.execute(sa.select(_link.c.token_sha256)).scalar()
    assert stored != token and token not in str(stored)

    signed = client.post(f"/signin/{token}", follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/probe"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Secure" in cookie
    assert client.get("/probe").json() == {"officer": officer_id, "role": "officer"}

    again = TestClient(client.app, base_url="https://testserver").post(f"/signin/{token}", follow_redirects=False)
    assert again.status_code == 403 and "used already or has expired" in again.text
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(_session)).scalar() == 1


def test_an_expired_or_unknown_link_is_refused(
    client: TestClient, engine: Engine, officer_id: int, clock: Clock
) -> None:
    token = _link_for(engine, officer_id, ttl=timedelta(minutes=10))
    clock.now = NOW + timedelta(minutes=11)
    assert client.post(f"/signin/{token}", follow_redirects=False).status_code == 403
    assert client.post("/signin/not-a-token", follow_redirects=False).status_code == 403
    assert COOKIE not in client.cookies


def test_pages_need_a_session_and_posts_need_its_csrf_token(
    client: TestClient, engine: Engine, officer_id: int
) -> None:
    assert client.get("/probe").status_code == 401
    client.post(f"/signin/{_link_for(engine, officer_id)}")
    with engine.connect() as conn:
        csrf = conn.execute(sa.select(_session.c.csrf_token)).scalar()
    assert client.post("/probe", data={}).status_code == 403
    assert client.post("/probe", data={"csrf": "forged"}).status_code == 403
    assert client.post("/probe", data={"csrf": csrf}).json() == {"officer": officer_id}
    assert client.post("/probe", headers={"X-CSRF-Token": csrf}).json() == {"officer": officer_id}


def test_sign_out_ends_the_session_and_an_inactive_officer_is_out(
    client: TestClient, engine: Engine, officer_id: int
) -> None:
    client.post(f"/signin/{_link_for(engine, officer_id)}")
    assert client.get("/probe").status_code == 200
    client.post("/signout")
    assert client.get("/probe").status_code == 401

    client.post(f"/signin/{_link_for(engine, officer_id)}")
    assert client.get("/probe").status_code == 200
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE loan_officer SET active = false"))
    assert client.get("/probe").status_code == 401
    refused = client.post(f"/signin/{_link_for(engine, officer_id)}", follow_redirects=False)
    assert refused.status_code == 403 and "no longer active" in refused.text

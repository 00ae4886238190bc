"""The web app's frame: health and readiness, body and rate limits, no stack traces, access log lines."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.settings import Settings, get_settings
from web.app import create_app


@pytest.fixture
def settings(app_env: Path) -> Settings:
    return get_settings()


def test_healthz_answers_without_touching_the_database(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/missing.db"))
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_is_ready_on_a_migrated_database(settings: Settings, engine: Engine) -> None:
    with TestClient(create_app(settings)) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "ready", "problems": []}


def test_readyz_names_a_database_that_is_not_there(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(database_url=f"sqlite:///{tmp_path}/missing.db"))) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["status"] == "not ready"
    assert "does not exist; run `dripline init`" in answer.json()["problems"][0]


def _app_with(router: APIRouter, **overrides: object) -> TestClient:
    app = create_app(Settings(**overrides))  # type: ignore[arg-type]
    app.include_router(router)
    return TestClient(app, raise_server_exceptions=False)


def test_a_body_over_the_limit_is_refused_unread() -> None:
    router = APIRouter()
    seen: list[int] = []

    @router.post("/echo")
    async def echo(body: dict[str, str]) -> dict[str, int]:
        seen.append(1)
        return {"n": len(body)}

    with _app_with(router, web_max_body_bytes=2048) as client:
        assert client.post("/echo", json={"a": "b"}).status_code == 200
        big = client.post("/echo", json={"a": "x" * 4000})
        streamed = client.post("/echo", content=iter([b'{"a": "', b"x" * 4000, b'"}']))
    assert big.status_code == 413 and big.json() == {"error": "request body too large"}
    assert streamed.status_code == 413
    assert seen == [1]


def test_one_client_over_its_rate_gets_429() -> None:
    with _app_with(APIRouter(), web_rate_per_minute=5) as client:
        codes = [client.get("/healthz").status_code for _ in range(8)]
    assert codes == [200] * 5 + [429] * 3


def test_an_error_answers_500_without_a_trace(caplog: pytest.LogCaptureFixture) -> None:
    router = APIRouter()

    @router.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret detail from deep inside")

    with caplog.at_level(logging.INFO, logger="dripline.web"), _app_with(router) as client:
        answer = client.get("/boom")
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal error"}
    assert "secret detail" not in answer.text and "Traceback" not in answer.text


def test_the_access_log_has_one_line_per_request_without_the_query(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="dripline.web.access"), _app_with(APIRouter()) as client:
        client.get("/healthz?token=abc123")
        client.get("/nowhere")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "dripline.web.access"]
    assert [(line["path"], line["status"]) for line in lines] == [("/healthz", 200), ("/nowhere", 404)]
    assert all("abc123" not in json.dumps(line) for line in lines)

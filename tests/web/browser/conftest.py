"""The browser tests' Chromium (Debian's, at /usr/bin/chromium; never a downloaded build) on a phone-sized screen,
and the real app served by uvicorn on a loopback port. Without Chromium these tests fail under CI and are skipped
elsewhere."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

CHROMIUM = Path("/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-output" / "screenshots"


def require_chromium(path: Path, *, ci: bool) -> None:
    """Nothing when ``path`` exists; else a failure under CI (a browser test must not pass by being skipped
    there) and a skip elsewhere."""
    if path.exists():
        return
    why = f"{path} is missing: install Debian's chromium (apt-get install -y chromium)"
    if ci:
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    require_chromium(CHROMIUM, ci=os.environ.get("CI", "").lower() in ("1", "true", "yes"))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


def free_port() -> socket.socket:
    """A listening-ready socket on a free loopback port (handed to uvicorn, so nothing else can take the port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def served(app: FastAPI, sock: socket.socket) -> Iterator[str]:
    """``app`` served by uvicorn on ``sock`` in a thread; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()

"""A throw-away Prefect server on loopback, started without importing Prefect into this process.

``prefect server start`` in a child process answers in about 8 s here; Prefect's own
ephemeral mode takes longer because this process must import Prefect before it can
even start the server. The demo starts one first thing, so the server boots while the
demo imports its modules and generates its leads; ``dripline serve`` uses one because
the ephemeral API does not run schedules.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

PR_SET_PDEATHSIG = 1


@dataclass
class LocalServer:
    process: subprocess.Popen[bytes]
    url: str  # the API URL, http://127.0.0.1:PORT/api
    log: Path  # the server's own output, read back when it fails to start

    @property
    def ui_url(self) -> str:
        return self.url.removesuffix("/api")

    def wait_until_up(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
                raise RuntimeError(f"prefect server exited: {tail}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"prefect server at {self.url} did not answer within {timeout:.0f} s")
            time.sleep(0.2)

    def stop(self) -> None:
        """Hand Prefect's queued logs and events to the server, then stop it (otherwise Prefect's workers
        keep retrying a server that is gone when this process exits)."""
        if "prefect" in sys.modules:
            from prefect.events.worker import EventsWorker
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=10)
            EventsWorker.drain_all(timeout=10)
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.unlink(missing_ok=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent(parent: int) -> None:
    """In the child, before exec: the kernel sends SIGTERM when the thread that started it ends, even by SIGKILL,
    so a killed ``dripline`` leaves no server behind (Linux; elsewhere a no-op). The server runs in this one
    process (uvicorn in-process, one worker), so no grandchild outlives it. A parent that died before the prctl
    took effect is caught by the parent id having changed."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(1)


def start(port: int | None = None, *, ui: bool = False) -> LocalServer:
    """Start ``prefect server start`` on 127.0.0.1 (a free port unless given); return at once.

    ``ui``: serve Prefect's web UI too (``dripline serve``: marketing ops watch the runs there). Call it from the
    main thread: the server is stopped when the thread that started it ends.
    """
    port = port or free_port()
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": str(ui).lower()}
    log = Path(tempfile.mkstemp(prefix="dripline-prefect-server-", suffix=".log")[1])
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C stops our flows first; we stop the server after them
            preexec_fn=partial(_die_with_parent, os.getpid()),
        )
    return LocalServer(process, f"http://127.0.0.1:{port}/api", log)


@contextmanager
def running(port: int | None = None, *, timeout: float = 120.0, ui: bool = False) -> Iterator[LocalServer]:
    """A local server for the duration of the block, up before the block starts."""
    server = start(port, ui=ui)
    try:
        server.wait_until_up(timeout)
        yield server
    finally:
        server.stop()

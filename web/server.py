"""Serving the web app: in the foreground (``dripline web``) or on a thread beside the deployments
(``dripline serve``, where one Ctrl-C stops both)."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI


class WebServerError(RuntimeError):
    """The web app could not start (the address is taken, or not ours to listen on)."""


def log_requests() -> None:
    """One JSON line per request on stderr (``dripline.web.access``), errors with their trace (``dripline.web``)."""
    logger = logging.getLogger("dripline.web")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def worker_app() -> FastAPI:
    """The app of one of several ``dripline web --workers`` processes (uvicorn starts each and calls this)."""
    from web.app import create_app

    log_requests()
    return create_app()


def config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)


class Background:
    """The app served by uvicorn on a thread of this process, until the ``with`` block ends."""

    def __init__(self, app: FastAPI, host: str, port: int, *, start_timeout: float = 30.0) -> None:
        self.where = f"http://{host}:{port}"
        self.server = uvicorn.Server(config(app, host, port))
        self.thread = threading.Thread(target=self._run, name="dripline-web", daemon=True)
        self.start_timeout = start_timeout

    def _run(self) -> None:
        # Off the main thread uvicorn installs no signal handlers: the caller stops it. It exits when it cannot
        # bind; __enter__ reports that.
        with contextlib.suppress(SystemExit):
            self.server.run()

    def __enter__(self) -> Background:
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.server.should_exit = True
                raise WebServerError(f"the web app could not listen on {self.where} (is the port in use?)")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

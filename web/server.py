"""Serving the web app: in the foreground (``dripline web``) or on a thread beside the deployments
(``dripline serve``, where one Ctrl-C stops both)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.auto import AutoHTTPProtocol


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


class NoDelayHTTP(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP protocol with Nagle's algorithm off on every connection. asyncio turns it off itself, except
    on the sockets of ``uvicorn --workers`` processes (the listening socket they inherit does not look like a plain
    TCP socket to it): there an answer's headers and body wait on the client's delayed ACK, 40 ms each."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def worker_app() -> FastAPI:
    """The app of one of several ``dripline web --workers`` processes (uvicorn starts each and calls this)."""
    from web.app import create_app

    log_requests()
    return create_app()


def config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, http=NoDelayHTTP)


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

"""What every request handler shares: the settings, the clock and one pipeline, opened by the first request that
needs it."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

from fastapi import Request

from service.pipeline import Pipeline
from service.settings import Settings

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class WebState:
    """Built once per app. The pipeline (database engine, cadences, compliance table, sender) is opened on the
    first request that needs it, so ``/healthz`` answers even while the database is down."""

    settings: Settings
    clock: Clock = utc_now
    _pipeline: Pipeline | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def pipeline(self) -> Pipeline:
        with self._lock:
            if self._pipeline is None:
                self._pipeline = Pipeline.open(self.settings, now=self.clock())
                settle_heap()
            return self._pipeline

    def close(self) -> None:
        with self._lock:
            if self._pipeline is not None:
                self._pipeline.engine.dispose()
                self._pipeline = None


def settle_heap() -> None:
    """What is loaded so far (modules, the pipeline: cadences, rule table, templates) lives as long as the process:
    keep it out of the garbage collector's full passes, which otherwise walk all of it every few seconds under
    load, each a pause of tens of milliseconds for every request in flight."""
    gc.collect()
    gc.freeze()


def web_state(request: Request) -> WebState:
    """FastAPI dependency: the app's shared state."""
    return cast(WebState, request.app.state.web)

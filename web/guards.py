"""What every public endpoint gets before its handler runs: a body size limit, a per-client rate limit, no stack
trace in any answer, and one structured access-log line per request without tokens or message bodies."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from pyrate_limiter import (
    AbstractBucket,
    BucketFactory,
    Duration,
    InMemoryBucket,
    Limiter,
    MonotonicClock,
    Rate,
    RateItem,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("dripline.web.access")


class PerClient(BucketFactory):
    """pyrate-limiter's buckets, one per client address (its default factory shares one bucket among all names).
    The oldest bucket is dropped past ``keep`` clients, so a scan from many addresses cannot grow memory."""

    def __init__(self, rates: list[Rate], keep: int = 10_000) -> None:
        self.rates, self.keep = rates, keep
        self.clock = MonotonicClock()
        self.buckets: dict[str, AbstractBucket] = {}

    def wrap_item(self, name: str, weight: int = 1) -> RateItem:
        return RateItem(name, self.clock.now(), weight=weight)

    def get(self, item: RateItem) -> AbstractBucket:
        bucket = self.buckets.get(item.name)
        if bucket is None:
            if len(self.buckets) >= self.keep:
                self.dispose(self.buckets.pop(next(iter(self.buckets))))
            bucket = self.buckets[item.name] = self.create(InMemoryBucket, self.rates)
        return bucket


class Guards:
    """Pure ASGI middleware (it sees the body as it streams, so a large upload is refused without being read)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        per_client_per_minute: int,
        body_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_limits = dict(body_limits or {})  # path -> its own limit (e.g. Inbound Parse's attachments)
        self.limiter = (
            Limiter(PerClient([Rate(per_client_per_minute, Duration.MINUTE)]), buffer_ms=0)
            if per_client_per_minute > 0
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        client = (scope.get("client") or ("-", 0))[0]
        limit = self.body_limits.get(scope["path"], self.max_body_bytes)
        seen = {"status": 0, "bytes": 0, "over": False}

        async def answer(message: Message) -> None:
            if seen["over"]:
                return  # the 413 has gone; the app's own answer to a cut-off body is dropped
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            await send(message)

        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request" and not seen["over"]:
                seen["bytes"] += len(message.get("body", b""))
                if seen["bytes"] > limit and not seen["status"]:
                    await _answer(answer, 413, "request body too large")
                    seen["over"] = True
                    return {"type": "http.disconnect"}
            return message

        try:
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                await _answer(answer, 413, "request body too large")
            elif self.limiter is not None and not self.limiter.try_acquire(client, blocking=False):
                await _answer(answer, 429, "too many requests", headers=[(b"retry-after", b"60")])
            else:
                await self.app(scope, counted, answer)
        except Exception:  # never a stack trace in an answer; the log has it
            logging.getLogger("dripline.web").exception("unhandled error on %s %s", scope["method"], scope["path"])
            if not seen["status"]:
                await _answer(answer, 500, "internal error")
        finally:
            access_log.info(
                json.dumps(
                    {
                        "method": scope["method"],
                        "path": scope["path"],  # never the query string: unsubscribe links carry tokens there
                        "status": seen["status"] or 500,
                        "ms": round((time.perf_counter() - started) * 1000, 1),
                        "client": client,
                    }
                )
            )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _answer(send: Any, code: int, error: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": code,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            + (headers or []),
        }
    )
    await send({"type": "http.response.body", "body": body})

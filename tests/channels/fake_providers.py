"""Loopback stand-ins for Twilio and SendGrid: a threaded HTTP server on 127.0.0.1 that records every request
and answers from a queue of canned replies, so the real SDKs build, send and parse real HTTP."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def form(self) -> dict[str, str]:
        """The url-encoded body, one value per field (Twilio's API style)."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # read the request, then close the connection without answering
    hang: float = 0.0  # seconds to wait before answering

    @classmethod
    def json(cls, status: int, payload: Any, **headers: str) -> Reply:
        return cls(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **headers})


class FakeProvider:
    """A context manager. ``reply(...)`` queues answers; when the queue is empty ``default`` answers."""

    def __init__(self, default: Callable[[Recorded], Reply]) -> None:
        self.requests: list[Recorded] = []
        self._default = default
        self._queue: list[Reply] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def reply(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def __enter__(self) -> FakeProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _answer(self, request: Recorded) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._queue:
                return self._queue.pop(0)
        return self._default(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                recorded = Recorded(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                )
                reply = fake._answer(recorded)
                if reply.hang:
                    fake._stopping.wait(reply.hang)
                if reply.drop:
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


_sids = itertools.count(1)


def twilio_created(request: Recorded) -> Reply:
    """Twilio's 201 for a new Message or Call, with the fields the SDK reads."""
    prefix = "CA" if request.path.endswith("/Calls.json") else "SM"
    form = request.form()
    sid = f"{prefix}{next(_sids):032x}"
    return Reply.json(201, {"sid": sid, "status": "queued", "to": form.get("To"), "from": form.get("From")})


def twilio_error(status: int, code: int, message: str) -> Reply:
    """Twilio's error body, as the SDK turns it into ``TwilioRestException``."""
    more = f"https://www.twilio.com/docs/errors/{code}"
    return Reply.json(status, {"code": code, "message": message, "more_info": more, "status": status})


def sendgrid_accepted(request: Recorded) -> Reply:
    return Reply(202, headers={"X-Message-Id": f"sg-{next(_sids):08d}"})


def sendgrid_error(status: int, message: str, field_name: str | None = None) -> Reply:
    return Reply.json(status, {"errors": [{"message": message, "field": field_name, "help": None}]})


class LoopbackTwilioHttpClient(TwilioHttpClient):
    """The SDK's real requests-based HTTP client, with every Twilio origin swapped for ``base_url``."""

    def __init__(self, base_url: str, *, timeout: float = 2.0) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")
        if self.session is not None:
            self.session.trust_env = False  # no proxies from the environment for loopback

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        parts = urlsplit(url)
        local = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().request(method, local, *args, **kwargs)


def closed_port_url() -> str:
    """A loopback URL nothing listens on (the port is bound, then released)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    host, port = server.server_address[:2]
    server.server_close()
    return f"http://{host!s}:{port}"

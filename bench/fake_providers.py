"""Loopback stand-ins for Twilio and SendGrid, for the test suite and the benchmark alike.

One threaded HTTP server on 127.0.0.1 (a free port) speaks enough of both APIs for the real SDKs to build,
send and parse real HTTP: Twilio's ``POST /2010-04-01/Accounts/{sid}/Messages.json`` and ``Calls.json``, the
``GET`` lists of both (``To``, ``From``, ``DateSent``/``StartTime`` filters), and SendGrid's ``POST
/v3/mail/send``. Point the Twilio SDK at it with ``http_client_factory=fake.twilio_http_client`` and
SendGrid's with ``host=fake.url``.

Each create request is answered by an :class:`Answer`: accept (the default), an error status (429 with
Retry-After, 500, ...), a 200 with a non-JSON body, a hang past the client's timeout, a dropped or reset
connection; queued for the next requests, for one recipient, or for every request to one recipient, after
an optional latency. The fake keeps a ledger of every message it kept (accepted, or may have: a dropped
connection keeps it by default), recorded on arrival, before any latency or drop, and counted by touch key
(Twilio: the status callback's ``touch=`` parameter; SendGrid: the ``touch_key`` custom arg) and by
(recipient, content), so a test can assert that nothing went twice. Everything is guarded by one lock.

It lives in ``bench/`` because the benchmark starts it in-process and ships in the wheel; ``tests/`` does not.
"""

from __future__ import annotations

import email.utils
import hashlib
import itertools
import json
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from channels.twilio_channel import RedirectedHttpClient

Channel = Literal["sms", "voicemail", "email"]
_TWILIO_PREFIX = "/2010-04-01/Accounts/"
_HTML = b"<html><body><h1>200 OK</h1><p>Welcome to the portal.</p></body></html>"


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str  # without the query
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float  # time.monotonic() on arrival

    def form(self) -> dict[str, str]:
        """The url-encoded body, one value per field (Twilio's API style)."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """A raw answer to any request (see :meth:`FakeProviders.reply`)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0  # seconds to wait before answering
    then: Literal["answer", "drop", "reset"] = "answer"


@dataclass(frozen=True)
class Answer:
    """What the fake does with one create request (a text, a call or an email).

    ``keep``: the provider keeps the message (it goes into the ledger and the list endpoints) whatever the
    client hears. ``record_status`` is the status it is listed with: ``queued`` has no DateSent/StartTime yet.
    """

    status: int | None = None  # None: the provider's success (Twilio 201, SendGrid 202)
    message: str = ""
    code: int | None = None  # Twilio's error code
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None  # instead of the provider's own body
    keep: bool = True
    hang: float = 0.0
    then: Literal["answer", "drop", "reset"] = "answer"
    record_status: str = "sent"

    @classmethod
    def accept(cls, *, record_status: str = "sent") -> Answer:
        return cls(record_status=record_status)

    @classmethod
    def non_json(cls, *, keep: bool = True) -> Answer:
        """200 text/html, as a captive portal or a broken proxy answers; the provider got the message."""
        return cls(status=200, body=_HTML, headers={"Content-Type": "text/html"}, keep=keep)

    @classmethod
    def error(
        cls, status: int, message: str = "error", *, code: int | None = None, retry_after: str | None = None,
        keep: bool = False, headers: dict[str, str] | None = None,
    ) -> Answer:  # fmt: skip
        extra = dict(headers or {}) | ({"Retry-After": retry_after} if retry_after is not None else {})
        return cls(status=status, message=message, code=code, headers=extra, keep=keep)

    @classmethod
    def hang_up(cls, seconds: float, *, keep: bool = True) -> Answer:
        """Read the request, then say nothing for ``seconds`` (past the client's read timeout)."""
        return cls(hang=seconds, keep=keep)

    @classmethod
    def drop(cls, *, keep: bool = True) -> Answer:
        """Read the request, then close the connection without a word."""
        return cls(then="drop", keep=keep)

    @classmethod
    def reset(cls, *, keep: bool = True) -> Answer:
        """Read the request, then reset the connection (TCP RST)."""
        return cls(then="reset", keep=keep)


@dataclass(frozen=True)
class Kept:
    """A message the fake provider holds (it was accepted, or may have been)."""

    channel: Channel
    provider_id: str
    to: str
    sender: str
    content: str  # a text's body, a call's TwiML or Url, an email's subject and a digest of its parts
    touch: str | None
    created_at: datetime
    status: str

    def twilio_json(self) -> dict[str, Any]:
        created = email.utils.format_datetime(self.created_at, usegmt=True)
        done = None if self.status in ("queued", "accepted", "scheduled") else created
        common = {"sid": self.provider_id, "to": self.to, "from": self.sender, "status": self.status}
        common |= {"date_created": created, "date_updated": created}
        if self.channel == "sms":
            return common | {"body": self.content, "date_sent": done, "direction": "outbound-api"}
        return common | {"start_time": done, "direction": "outbound-api"}


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def _touch_from_callback(url: str | None) -> str | None:
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("touch")
    return values[-1] if values else None


def _when(value: str) -> tuple[datetime, bool]:
    """A DateSent/StartTime filter value: (moment, whether only its date counts)."""
    if len(value) == 10:
        return datetime.fromisoformat(value).replace(tzinfo=UTC), True
    return datetime.fromisoformat(value.replace("Z", "+00:00")), False


class FakeProviders:
    """Twilio and SendGrid on one loopback port. A context manager, or :meth:`start` / :meth:`stop`.

    ``latency`` delays every answer; ``keep_requests=False`` keeps no copy of each request (the benchmark's
    hundred thousand), only the ledger and arrival times.
    """

    def __init__(
        self, *, latency: float = 0.0, keep_requests: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:  # fmt: skip
        self.clock = clock  # the provider's clock: a test that travels in time gives it the same time
        self.latency = latency
        self.keep_requests = keep_requests
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._requests: list[Recorded] = []
        self._arrivals: list[tuple[str, float]] = []
        self._kept: list[Kept] = []
        self._replies: list[Reply] = []
        self._answers: list[Answer] = []
        self._answers_to: dict[str, list[Answer]] = {}
        self._always: dict[str, Answer] = {}
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class(), bind_and_activate=False)
        self._server.daemon_threads = True
        self._server.request_queue_size = 256
        self._server.server_bind()
        self._server.server_activate()
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)

    # --- life -------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeProviders:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeProviders:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def twilio_http_client(self, timeout: float = 5.0) -> RedirectedHttpClient:
        """A Twilio SDK HTTP client that talks to this fake (pass ``fake.twilio_http_client`` as the factory)."""
        return RedirectedHttpClient(self.url, timeout=timeout)

    # --- behaviour --------------------------------------------------------------------------------------
    def reply(self, *replies: Reply) -> None:
        """Answer the next requests of any kind (also the lists) with these raw replies, each once."""
        with self._lock:
            self._replies.extend(replies)

    def answer(self, *answers: Answer, to: str | None = None) -> None:
        """Answer the next create requests (to ``to`` only, when given) with these, each once."""
        with self._lock:
            (self._answers if to is None else self._answers_to.setdefault(to, [])).extend(answers)

    def always(self, answer: Answer, *, to: str) -> None:
        """Answer every create request to ``to`` (once its queued answers are used) with ``answer``."""
        with self._lock:
            self._always[to] = answer

    # --- what happened ----------------------------------------------------------------------------------
    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    @property
    def kept(self) -> list[Kept]:
        with self._lock:
            return list(self._kept)

    def arrivals(self, channel: Channel | None = None) -> list[float]:
        """When each create request arrived (time.monotonic()), kept or not, in arrival order."""
        with self._lock:
            return [at for kind, at in self._arrivals if channel is None or kind == channel]

    def count_by_touch(self) -> Counter[str]:
        with self._lock:
            return Counter(k.touch for k in self._kept if k.touch is not None)

    def count_by_content(self) -> Counter[tuple[str, str]]:
        with self._lock:
            return Counter((k.to, k.content) for k in self._kept)

    def duplicates(self) -> dict[str, int]:
        """Every touch key, and every (recipient, content), the fake kept more than once, with its count."""
        by_touch = {key: n for key, n in self.count_by_touch().items() if n > 1}
        by_content = {f"{to}: {content[:40]}": n for (to, content), n in self.count_by_content().items() if n > 1}
        return by_touch | by_content

    # --- the two APIs -----------------------------------------------------------------------------------
    def _pick(self, to: str) -> Answer:
        with self._lock:
            if queued := self._answers_to.get(to):
                return queued.pop(0)
            if to in self._always:
                return self._always[to]
            if self._answers:
                return self._answers.pop(0)
        return Answer.accept()

    def _keep(self, channel: Channel, **fields: Any) -> Kept:
        with self._lock:
            n = next(self._ids)
            pid = f"sg-{n:08d}" if channel == "email" else f"{'SM' if channel == 'sms' else 'CA'}{n:032x}"
            kept = Kept(channel=channel, provider_id=pid, created_at=self.clock(), **fields)
            self._kept.append(kept)
        return kept

    def _create(self, request: Recorded) -> tuple[Answer, Reply]:
        """Record a create request, keep its message if the answer says so, and build the reply."""
        if request.path == "/v3/mail/send":
            channel: Channel = "email"
            payload = request.json()
            personalization = payload["personalizations"][0]
            to = personalization["to"][0]["email"]
            args = payload.get("custom_args", {}) | personalization.get("custom_args", {})
            parts = [c.get("value", "") for c in payload.get("content", [])]
            fields = {
                "to": to,
                "sender": payload["from"]["email"],
                "content": f"{payload.get('subject', '')} #{_digest(*parts)}",
                "touch": args.get("touch_key"),
            }
        else:
            form = request.form()
            channel = "sms" if request.path.endswith("/Messages.json") else "voicemail"
            to = form.get("To", "")
            content = form.get("Body", "") if channel == "sms" else form.get("Twiml") or form.get("Url", "")
            fields = {
                "to": to,
                "sender": form.get("From", ""),
                "content": content,
                "touch": _touch_from_callback(form.get("StatusCallback")),
            }
        with self._lock:
            self._arrivals.append((channel, request.at))
        answer = self._pick(to)
        kept = None
        if answer.keep:
            kept = self._keep(channel, status=answer.record_status, **fields)
        return answer, self._render(channel, answer, kept)

    def _render(self, channel: Channel, answer: Answer, kept: Kept | None) -> Reply:
        headers = dict(answer.headers)
        if answer.body is not None:
            body = answer.body
        elif answer.status is not None and answer.status >= 300:
            if channel == "email":
                body = json.dumps({"errors": [{"message": answer.message, "field": None, "help": None}]}).encode()
            else:
                more = f"https://www.twilio.com/docs/errors/{answer.code}"
                error = {"code": answer.code, "message": answer.message, "more_info": more, "status": answer.status}
                body = json.dumps(error).encode()
            headers.setdefault("Content-Type", "application/json")
        elif channel == "email":
            body = b""
            if kept is not None:
                headers.setdefault("X-Message-Id", kept.provider_id)
        else:
            body = json.dumps(kept.twilio_json() if kept is not None else {"sid": None}).encode()
            headers.setdefault("Content-Type", "application/json")
        status = answer.status if answer.status is not None else (202 if channel == "email" else 201)
        return Reply(status, body, headers, hang=answer.hang, then=answer.then)

    def _list(self, request: Recorded) -> Reply:
        channel: Channel = "sms" if request.path.endswith("/Messages.json") else "voicemail"
        q = request.query
        time_field = "DateSent" if channel == "sms" else "StartTime"
        with self._lock:
            rows = [k for k in self._kept if k.channel == channel]
        rows = [k for k in rows if q.get("To", k.to) == k.to and q.get("From", k.sender) == k.sender]
        for suffix, keep_if in (("", lambda a, b: a == b), ("<", lambda a, b: a <= b), (">", lambda a, b: a >= b)):
            if value := q.get(time_field + suffix):
                moment, by_date = _when(value)
                rows = [k for k in rows if k.twilio_json().get(_snake(time_field)) is not None]
                rows = [k for k in rows if keep_if(k.created_at.date() if by_date else k.created_at,
                                                   moment.date() if by_date else moment)]  # fmt: skip
        rows.sort(key=lambda k: k.created_at, reverse=True)
        key = "messages" if channel == "sms" else "calls"
        page = {"first_page_uri": request.path, "next_page_uri": None, "previous_page_uri": None, "page": 0}
        page |= {"page_size": len(rows), "start": 0, "end": max(len(rows) - 1, 0), "uri": request.path}
        body = json.dumps(page | {key: [k.twilio_json() for k in rows]}).encode()
        return Reply(200, body, {"Content-Type": "application/json"})

    def _route(self, request: Recorded) -> Reply:
        with self._lock:
            if self.keep_requests:
                self._requests.append(request)
            if self._replies:
                return self._replies.pop(0)
        twilio = request.path.startswith(_TWILIO_PREFIX) and request.path.endswith(("/Messages.json", "/Calls.json"))
        if request.method == "POST" and (twilio or request.path == "/v3/mail/send"):
            return self._create(request)[1]
        if request.method == "GET" and twilio:
            return self._list(request)
        return Reply(404, b'{"message": "not found"}', {"Content-Type": "application/json"})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The headers and the body go out in two writes: with Nagle's algorithm the body would wait for the
            # client's delayed ACK of the headers, adding ~40 ms to every answer on a kept-alive connection.
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                recorded = Recorded(
                    method=self.command,
                    path=parts.path,
                    query={k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                    at=time.monotonic(),
                )
                try:
                    reply = fake._route(recorded)
                except Exception as exc:  # a malformed request must not kill the fake: answer 400
                    reply = Reply(400, json.dumps({"message": repr(exc)}).encode(), {"Content-Type": "text/plain"})
                if wait := fake.latency + reply.hang:
                    fake._stopping.wait(wait)
                try:
                    self._send(reply)
                except OSError:
                    self.close_connection = True

            def _send(self, reply: Reply) -> None:
                if reply.then != "answer":
                    self.close_connection = True
                    if reply.then == "reset":
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        self.connection.close()
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


def _snake(name: str) -> str:
    return {"DateSent": "date_sent", "StartTime": "start_time"}[name]


def closed_port_url() -> str:
    """A loopback URL nothing listens on (the port is bound, then released)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    host, port = server.server_address[:2]
    server.server_close()
    return f"http://{host!s}:{port}"


def max_in_window(times: Iterable[float], window: float) -> int:
    """The most of ``times`` (seconds) that fall in any half-open interval ``[t, t + window)``."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best

"""Per-channel send rates: a sender wrapper that blocks each send until its channel's limit allows it.

The limits are pyrate-limiter's sliding-window log, one limiter per bucket: texts per sending number (Twilio
counts messages per second per number), voice calls (per account) and email (SendGrid requests). Each bucket
holds two rates: never more than the rate allows in any window (one second for a whole number per second,
e.g. 30 in any second; 2.5/s is 5 in any 2 s), and sends spaced at least ``1 / (rate * SMOOTHING)`` seconds
apart, so a full pool does not fire a second's worth at once.

Threads waiting on one bucket queue on a lock and only the head of the queue waits inside the limiter: it
sleeps until its slot with the library's blocking ``try_acquire`` and takes it, then the next one waits. So
the slots are not lost to a herd of threads waking together, and another bucket never waits behind this one.
(The library counts a send at the moment its wait was due to end; a thread the scheduler wakes late sends
that much later, so a second measured at the provider may hold a send or two more, and the achieved rate
runs a percent or two over. That lateness does not add up: it shifts one send, not the window. Configure a
few percent under a provider's hard limit.)

A ``TransientSendError`` carrying ``retry_after`` (the provider said 429 or 503 with a wait) also holds the
whole bucket until then: the other threads would only collect the same refusal.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

from pyrate_limiter import Duration, Limiter, Rate

from channels.base import Sender, flush
from channels.messages import (
    EmailMessage,
    Message,
    SendResult,
    SmsMessage,
    TransientSendError,
    VoicemailMessage,
)

SMOOTHING = 1.1  # the spacing allows 10% above the rate; the one-second window holds the average to it


def rates_for(per_second: float) -> list[Rate]:
    """The pyrate-limiter rates for ``per_second`` sends a second (fractions allowed: 0.5 is one per 2 s)."""
    if not (per_second > 0 and math.isfinite(per_second)):
        raise ValueError(f"a rate must be a positive number of sends per second, not {per_second!r}")
    window = Fraction(per_second).limit_denominator(1000)  # e.g. 2.5/s -> 5 per 2 s
    per_window, window_ms = window.numerator, window.denominator * Duration.SECOND.value
    spacing_ms = max(1, math.floor(window_ms / per_window / SMOOTHING))
    if per_window == 1 or spacing_ms * per_window >= window_ms:
        return [Rate(per_window, window_ms)]
    return [Rate(1, spacing_ms), Rate(per_window, window_ms)]


@dataclass
class _Bucket:
    limiter: Limiter
    queue: threading.Lock = field(default_factory=threading.Lock)
    paused_until: float = 0.0  # time.monotonic() before which nobody sends (a provider's Retry-After)


def _no_number(message: Message) -> str:
    return ""


class RateLimitedSender:
    """Sends through ``inner`` no faster than the given rates; ``None`` leaves that channel unlimited.

    ``sending_number`` names the number a text goes out from (Twilio's limit is per number); by default all
    texts share one bucket. Safe to share between threads when ``inner`` is. ``wait_timeout`` bounds the wait
    for a slot (None: wait as long as it takes); a send that waited that long without a slot raises
    ``TransientSendError`` (nothing was sent).
    """

    def __init__(
        self,
        inner: Sender,
        *,
        sms_per_second: float | None,
        voice_per_second: float | None,
        email_per_second: float | None,
        sending_number: Callable[[Message], str] = _no_number,
        wait_timeout: float | None = None,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.sending_number = sending_number
        self.wait_timeout = wait_timeout
        self._rates = {
            kind: rates_for(rate) if rate is not None else None
            for kind, rate in (("sms", sms_per_second), ("voice", voice_per_second), ("email", email_per_second))
        }
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def send(self, message: Message, *, key: str) -> SendResult:
        bucket = self._bucket(message)
        if bucket is None:
            return self.inner.send(message, key=key)
        self._wait_for_slot(bucket)
        try:
            return self.inner.send(message, key=key)
        except TransientSendError as exc:
            if exc.retry_after:
                with self._lock:
                    bucket.paused_until = max(bucket.paused_until, time.monotonic() + exc.retry_after)
            raise

    def acquire(self, message: Message) -> None:
        """Wait for ``message``'s slot without sending it: for a caller that sends by itself right after
        (dispatch waits here before it marks a send as begun, so an opt-out is checked as late as possible)."""
        if (bucket := self._bucket(message)) is not None:
            self._wait_for_slot(bucket)

    def flush(self) -> None:
        flush(self.inner)

    def close(self) -> None:
        """Stop the limiters' background threads."""
        with self._lock:
            buckets, self._buckets = list(self._buckets.values()), {}
        for bucket in buckets:
            bucket.limiter.close()

    def bucket_name(self, message: Message) -> str | None:
        """The bucket ``message`` waits in, or None when its channel is unlimited."""
        if isinstance(message, SmsMessage):
            kind, rates = f"sms:{self.sending_number(message)}", self._rates["sms"]
        elif isinstance(message, VoicemailMessage):
            kind, rates = "voice", self._rates["voice"]
        elif isinstance(message, EmailMessage):
            kind, rates = "email", self._rates["email"]
        else:
            return None
        return kind if rates is not None else None

    def _bucket(self, message: Message) -> _Bucket | None:
        try:
            name = self.bucket_name(message)
            if name is None:
                return None
            with self._lock:
                if (bucket := self._buckets.get(name)) is None:
                    rates = self._rates[name.partition(":")[0]]
                    assert rates is not None
                    bucket = self._buckets[name] = _Bucket(Limiter(rates, buffer_ms=0))
            return bucket
        except Exception as exc:
            raise TransientSendError(f"rate limiter failed before sending: {exc!r}") from exc

    def _wait_for_slot(self, bucket: _Bucket) -> None:
        deadline = None if self.wait_timeout is None else time.monotonic() + self.wait_timeout

        def left() -> float:
            return -1.0 if deadline is None else max(0.0, deadline - time.monotonic())

        granted: object = False
        try:
            if not bucket.queue.acquire(timeout=left()):
                granted = False
            else:
                try:
                    while (pause := bucket.paused_until - time.monotonic()) > 0 and left() != 0:
                        time.sleep(min(pause, 1.0) if deadline is None else min(pause, 1.0, left()))
                    granted = left() != 0 and bucket.limiter.try_acquire(self.name, blocking=True, timeout=left())
                finally:
                    bucket.queue.release()
        except Exception as exc:
            raise TransientSendError(f"rate limiter failed before sending: {exc!r}") from exc
        if granted is not True:
            raise TransientSendError(f"no send slot within {self.wait_timeout} s; nothing sent")

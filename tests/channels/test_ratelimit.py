"""The per-channel rate limiter: its rates, what the provider sees, buckets per sending number, Retry-After.

Timing is asserted only where it cannot flake: a limiter can never be faster than its rate (a lower bound on
elapsed time), and a window a little shorter than a second absorbs the scheduler's and loopback's jitter.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from pyrate_limiter import Rate

from bench.fake_providers import FakeProviders, max_in_window
from channels.messages import EmailMessage, Message, SendResult, SmsMessage, TransientSendError, VoicemailMessage
from channels.ratelimit import RateLimitedSender, rates_for
from channels.twilio_channel import TwilioSender


@dataclass
class TimedSender:
    """Records when each send happened; the first ``fail_with`` sends raise it."""

    name: str = "timed"
    at: list[tuple[str, float]] = field(default_factory=list)
    fail_with: list[Exception] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, message: Message, *, key: str) -> SendResult:
        with self.lock:
            self.at.append((key, time.monotonic()))
            if self.fail_with:
                raise self.fail_with.pop(0)
        return SendResult(provider="timed", provider_id=key)

    def times(self, prefix: str = "") -> list[float]:
        with self.lock:
            return [t for key, t in self.at if key.startswith(prefix)]


@pytest.fixture
def limited() -> Iterator[list[RateLimitedSender]]:
    made: list[RateLimitedSender] = []
    yield made
    for sender in made:
        sender.close()


def limit(made: list[RateLimitedSender], inner: object, **rates: object) -> RateLimitedSender:
    kwargs: dict = {"sms_per_second": None, "voice_per_second": None, "email_per_second": None} | rates
    made.append(RateLimitedSender(inner, **kwargs))  # type: ignore[arg-type]
    return made[-1]


@pytest.mark.parametrize(
    ("per_second", "rates"),
    [
        (30, [(1, 30), (30, 1000)]),
        (100, [(1, 9), (100, 1000)]),
        (1, [(1, 1000)]),
        (0.5, [(1, 2000)]),
        (2.5, [(1, 363), (5, 2000)]),
    ],
)
def test_rates_for(per_second: float, rates: list[tuple[int, int]]) -> None:
    assert [(r.limit, r.interval) for r in rates_for(per_second)] == rates
    assert all(isinstance(r, Rate) for r in rates_for(per_second))


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_a_rate_must_be_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        rates_for(bad)


def test_texts_through_twilio_never_exceed_the_rate_at_the_provider(limited: list[RateLimitedSender]) -> None:
    rate, n = 10, 35
    with FakeProviders(latency=0.02) as fake:
        twilio = TwilioSender(
            account_sid="AC" + "0" * 32,
            auth_token="t",
            from_number="+15005550006",
            status_callback_url="https://hooks.example.com/s",
            http_client_factory=fake.twilio_http_client,
        )
        sender = limit(limited, twilio, sms_per_second=rate)
        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda i: sender.send(SmsMessage(f"+1555{i:07d}", "hi"), key=f"k{i}"), range(n)))
        elapsed = time.monotonic() - started
        arrivals = fake.arrivals("sms")

    assert len(results) == n and set(fake.count_by_touch().values()) == {1} and len(arrivals) == n
    assert elapsed >= (n - 1) // rate - 0.01  # the 35th text cannot go before the 3rd second
    assert max_in_window(arrivals, 0.8) <= rate  # any second, less 200 ms for loopback and scheduler jitter


def test_many_threads_get_the_whole_rate_and_never_more(limited: list[RateLimitedSender]) -> None:
    inner = TimedSender()
    sender = limit(limited, inner, email_per_second=40)
    n = 60

    started = time.monotonic()
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda i: sender.send(EmailMessage(f"a{i}@x.example", "s", "h", "t"), key=f"e{i}"), range(n)))
    elapsed = time.monotonic() - started

    times = inner.times()
    assert len(times) == n
    assert elapsed >= 1.0 - 0.01  # at 40/s the 41st cannot start before the 2nd second
    assert max_in_window(times, 0.9) <= 40
    assert elapsed < 3 * n / 40 + 2  # loose: no herd of waiting threads wasting the slots


def test_each_sending_number_has_its_own_bucket_and_each_channel_its_own(limited: list[RateLimitedSender]) -> None:
    inner = TimedSender()
    numbers = {"+15551110000": "+15005550001", "+15552220000": "+15005550002"}
    sender = limit(limited, inner, sms_per_second=5, voice_per_second=5, email_per_second=5)
    sender.sending_number = lambda m: numbers[m.to]

    def send(i: int) -> SendResult:
        to = list(numbers)[i % 2]
        if i % 3 == 2:
            return sender.send(VoicemailMessage(to, "v"), key=f"voice-{i}")
        return sender.send(SmsMessage(to, "t"), key=f"sms-{to}-{i}")

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(send, range(24)))

    per_bucket = [inner.times(f"sms-{to}") for to in numbers] + [inner.times("voice")]
    assert [len(t) for t in per_bucket] == [8, 8, 8]
    assert all(max_in_window(t, 0.9) <= 5 for t in per_bucket)
    assert max_in_window(inner.times(), 0.9) > 5  # the buckets ran side by side
    assert sender.bucket_name(SmsMessage("+15551110000", "x")) == "sms:+15005550001"
    assert sender.bucket_name(EmailMessage("a@x.example", "s", "h", "t")) == "email"


def test_an_unlimited_channel_does_not_wait(limited: list[RateLimitedSender]) -> None:
    inner = TimedSender()
    sender = limit(limited, inner, sms_per_second=1)

    for i in range(20):
        sender.send(EmailMessage(f"a{i}@x.example", "s", "h", "t"), key=f"e{i}")
    assert sender.bucket_name(EmailMessage("a@x.example", "s", "h", "t")) is None
    assert len(inner.times()) == 20


def test_a_retry_after_holds_the_whole_bucket(limited: list[RateLimitedSender]) -> None:
    inner = TimedSender(fail_with=[TransientSendError("HTTP 429", retry_after=0.6)])
    sender = limit(limited, inner, sms_per_second=100)

    with pytest.raises(TransientSendError) as caught:
        sender.send(SmsMessage("+15551230001", "a"), key="first")
    assert caught.value.retry_after == 0.6
    refused_at = inner.times("first")[0]
    sender.send(SmsMessage("+15551230002", "b"), key="second")
    assert inner.times("second")[0] - refused_at >= 0.6 - 0.01


def test_no_slot_within_the_wait_timeout_is_transient_and_sends_nothing(limited: list[RateLimitedSender]) -> None:
    inner = TimedSender()
    sender = limit(limited, inner, voice_per_second=0.2)
    sender.wait_timeout = 0.1
    sender.send(VoicemailMessage("+15551230001", "v"), key="first")

    with pytest.raises(TransientSendError, match=r"no send slot within 0\.1 s"):
        sender.send(VoicemailMessage("+15551230002", "v"), key="second")
    assert inner.times("second") == []


def test_the_wrapper_passes_flush_and_name_through(limited: list[RateLimitedSender]) -> None:
    flushed: list[bool] = []

    class Flushing(TimedSender):
        def flush(self) -> None:
            flushed.append(True)

    sender = limit(limited, Flushing(name="local"), sms_per_second=10)
    sender.flush()
    assert (flushed, sender.name) == ([True], "local")

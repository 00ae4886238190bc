"""One sender shared by a pool of threads, as the dispatch loop uses it: every message reaches the (loopback)
provider exactly once, each thread gets its own answer back, and every failure is a typed one."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from twilio.http.response import Response

from bench.fake_providers import Answer, FakeProviders
from channels.base import RoutingSender
from channels.local import LocalOutbox
from channels.messages import (
    EmailMessage,
    Message,
    OutcomeUnknownError,
    PermanentSendError,
    SendError,
    SendResult,
    SmsMessage,
    TransientSendError,
    VoicemailMessage,
)
from channels.sendgrid_channel import SendGridSender
from channels.twilio_channel import RedirectedHttpClient, TwilioSender

THREADS = 32


def live_sender(fake: FakeProviders, *, timeout: float = 5.0) -> RoutingSender:
    twilio = TwilioSender(
        account_sid="AC" + "0" * 32,
        auth_token="t",
        from_number="+15005550006",
        status_callback_url="https://hooks.example.com/twilio/status",
        http_client_factory=lambda: fake.twilio_http_client(timeout),
    )
    sendgrid = SendGridSender(api_key="SG.k", from_email="loans@acme.example", host=fake.url, timeout=timeout)
    return RoutingSender(sms=twilio, voicemail=twilio, email=sendgrid)


def message(i: int) -> Message:
    if i % 3 == 0:
        return SmsMessage(to=f"+1555{i:07d}", body=f"text {i}")
    if i % 3 == 1:
        return VoicemailMessage(to=f"+1555{i:07d}", script=f"voicemail {i}")
    return EmailMessage(to=f"lead{i}@example.com", subject=f"email {i}", html=f"<p>{i}</p>", text=str(i))


def outcome(sender: RoutingSender, i: int) -> SendResult | SendError:
    try:
        return sender.send(message(i), key=f"touch-{i}")
    except SendError as exc:  # anything else escapes and fails the test
        return exc


def test_many_threads_one_sender_every_message_counted_once_with_its_own_answer(fake: FakeProviders) -> None:
    n = 450
    fake.latency = 0.01
    sender = live_sender(fake)

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda i: outcome(sender, i), range(n)))

    assert [r for r in results if not isinstance(r, SendResult)] == []
    counts = fake.count_by_touch()
    assert len(counts) == n and set(counts.values()) == {1}
    assert fake.duplicates() == {}
    kept = {k.touch: k.provider_id for k in fake.kept}
    answers = {f"touch-{i}": r.provider_id for i, r in enumerate(results) if isinstance(r, SendResult)}
    assert answers == kept  # no thread got another thread's answer


def test_faults_mixed_into_a_concurrent_batch_are_each_that_touchs_own_outcome(fake: FakeProviders) -> None:
    n = 300
    fake.latency = 0.01
    faults = {
        0: (Answer.non_json(), OutcomeUnknownError, True),
        1: (Answer.error(500, "boom", keep=True), OutcomeUnknownError, True),
        2: (Answer.error(429, "slow", retry_after="2"), TransientSendError, False),
        3: (Answer.drop(), OutcomeUnknownError, True),
        4: (Answer.reset(), OutcomeUnknownError, True),
        5: (Answer.hang_up(5), OutcomeUnknownError, True),
        6: (Answer.error(400, "bad address", code=21211), PermanentSendError, False),
    }
    for i in range(n):
        if (i // 3) % 10 in faults and i % 3 != 1:  # texts and emails; calls all go
            fake.answer(faults[(i // 3) % 10][0], to=message(i).to)
    sender = live_sender(fake, timeout=1.0)

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda i: outcome(sender, i), range(n)))

    counts = fake.count_by_touch()
    for i, result in enumerate(results):
        fault = faults.get((i // 3) % 10) if i % 3 != 1 else None
        if fault is None:
            assert isinstance(result, SendResult), (i, result)
            assert counts[f"touch-{i}"] == 1
        else:
            _, expected, kept = fault
            assert type(result) is expected, (i, result)
            assert counts[f"touch-{i}"] == (1 if kept else 0)
    assert fake.duplicates() == {}


class _ThreadRecordingClient(RedirectedHttpClient):
    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.threads: set[int] = set()

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        self.threads.add(threading.get_ident())
        return super().request(method, url, *args, **kwargs)


def test_each_thread_has_its_own_sdk_clients(fake: FakeProviders) -> None:
    """The SDKs' clients keep per-request state on themselves (see the senders' docstrings): never shared."""
    made: list[_ThreadRecordingClient] = []

    def factory() -> _ThreadRecordingClient:
        made.append(_ThreadRecordingClient(fake.url))
        return made[-1]

    twilio = TwilioSender(account_sid="AC" + "0" * 32, auth_token="t", from_number="+1", http_client_factory=factory)
    sendgrid = SendGridSender(api_key="SG.k", from_email="a@example.com", host=fake.url)
    barrier = threading.Barrier(8)

    def work(i: int) -> object:
        barrier.wait()
        twilio.send(message(3 * i), key=f"k{i}")
        return sendgrid._client()

    with ThreadPoolExecutor(8) as pool:
        sendgrid_clients = list(pool.map(work, range(8)))

    assert len(made) == 8 and all(len(client.threads) == 1 for client in made)
    assert len({id(c) for c in sendgrid_clients}) == 8


@pytest.mark.parametrize("write_behind", [False, True], ids=["direct", "write-behind"])
def test_the_local_outbox_shared_by_threads_writes_each_message_once(tmp_path: Path, write_behind: bool) -> None:
    outbox = LocalOutbox(tmp_path, write_behind=write_behind)
    n = 600

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda i: outbox.send(message(i), key=f"touch-{i}"), range(n)))
    outbox.flush()

    assert len({r.provider_id for r in results}) == n
    assert sum(1 for _ in tmp_path.rglob("*.txt")) == n
    assert sum(outbox.resends.values()) == 0
    assert all(outbox.path_for(message(i), f"touch-{i}").read_text().startswith(f"Key: touch-{i}\n") for i in range(n))


def test_a_local_outbox_write_that_fails_is_transient(tmp_path: Path) -> None:
    (tmp_path / "sms").write_text("a file where the folder should be")

    with pytest.raises(TransientSendError, match="could not write k"):
        LocalOutbox(tmp_path).send(SmsMessage(to="+15551230001", body="hi"), key="k")

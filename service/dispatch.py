"""Dispatch: send every due touch once, fast and politely, and know what became of each.

Each channel (texts, voicemail drops, email) has a lane of its own that claims its own batches under a
lease (``storage.outbox``) and sends them, paced by the channel's rate limit and keeping up to
``dispatch_concurrency`` requests in flight on a thread pool. The lanes run side by side and never wait
for each other: a fast channel is not held to a slow one's pace at every batch. For every touch:

1. wait for a free request slot, then for the channel's rate limit;
2. on the thread that then sends it, ``begin_send`` under the lead's lock: still ours? opted out
   meanwhile? then stamp the send as begun and store the rendered content (what a person or the
   reconciler will compare with the provider);
3. the provider request, whose every error the adapter maps to one of three outcomes;
4. the answer is recorded as soon as it comes (a lane's recorder thread stores whatever finished every
   ``RECORD_EVERY`` seconds, in one transaction).

A crash strands only the requests in flight; their leases run out and they become ``unknown``
(``service.reconcile`` settles them from the provider's records). Nothing is ever resent blindly.
"""

from __future__ import annotations

import contextvars
import os
import queue
import socket
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from channels.base import OptedOutError, OutcomeUnknownError, Sender, flush
from channels.messages import EmailMessage, Message, PermanentSendError, SmsMessage, TransientSendError
from channels.render import RenderContext, render
from nurture.actions import Channel, TouchStatus
from nurture.states import Event
from service.pacing import Pace
from service.pipeline import Pipeline, render_contexts
from service.reconcile import reconcile
from service.steps import Runner, inline
from storage.lead_events import apply_event
from storage.leases import begin_send, expire_leases
from storage.locks import write_transaction
from storage.outbox import (
    MAX_ATTEMPTS,
    ClaimedTouch,
    Content,
    Delivery,
    claim_due_touches,
    due_channels,
    record_deliveries,
)

MAX_PAUSE = 60.0  # the longest a lane waits on a provider's Retry-After before going on
RECORD_EVERY = 0.1  # seconds: how long a finished answer may wait to be recorded with the next ones


def worker_id() -> str:
    """A name no other dispatcher has: host, process and a random part (a pid can be reused)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class DispatchStats:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    unknown: int = 0  # the send began and the provider's answer is unknown: reconciled, never resent blindly
    lost: int = 0  # claimed, then the lease ran out before the send began: planned again by the next run
    cancelled: int = 0
    deferred: int = 0  # moved later or held by the compliance gate
    blocked: int = 0  # refused by the compliance gate, at the claim or right before sending
    expired: int = 0  # leases of dead workers found run out at the start of this run
    reconciled: int = 0  # unknown touches the providers' records settled at the start of this run
    batches: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int | dict[str, int]]:
        return vars(self) | {"by_channel": dict(self.by_channel)}

    def add(self, other: DispatchStats) -> None:
        for name in ("claimed", "sent", "failed", "retried", "unknown", "lost", "cancelled", "deferred", "blocked"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.by_channel.items():
            self.by_channel[k] = self.by_channel.get(k, 0) + v

    def count(self, d: Delivery, channel: str) -> None:
        if d.status is TouchStatus.SENT:
            self.sent += 1
            self.by_channel[channel] = self.by_channel.get(channel, 0) + 1
        elif d.status is TouchStatus.FAILED:
            self.failed += 1
        elif d.status is TouchStatus.BLOCKED:
            self.blocked += 1
        elif d.status is TouchStatus.UNKNOWN:
            self.unknown += 1
        else:
            self.retried += 1


@dataclass(frozen=True, slots=True)
class Outcome:
    delivery: Delivery
    pause: float = 0.0  # seconds the provider asked us to wait before the next request (Retry-After)


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What one provider request came to, whatever the message: the status to record and why."""

    status: TouchStatus  # SENT, FAILED, UNKNOWN (may have been sent), or PLANNED again for a retry at ``retry_at``
    reason: str = ""
    provider: str | None = None
    provider_id: str | None = None
    retry_at: datetime | None = None
    pause: float = 0.0  # seconds the provider asked us to wait before the next request (Retry-After)


def send_once(sender: Sender, message: Message, *, key: str, attempts: int, now: datetime) -> SendOutcome:
    """Send ``message`` under ``key`` (its ``attempts``-th try) and map whatever happens to an outcome (never
    raises): the one table of send errors for the borrowers' touches and the officers' alerts alike."""
    try:
        result = sender.send(message, key=key)
    except OptedOutError as exc:
        return SendOutcome(TouchStatus.FAILED, f"opted out at the provider: {exc}")
    except OutcomeUnknownError as exc:
        return SendOutcome(TouchStatus.UNKNOWN, f"unknown: {exc}")
    except PermanentSendError as exc:
        return SendOutcome(TouchStatus.FAILED, f"refused: {exc}")
    except TransientSendError as exc:
        after = float(getattr(exc, "retry_after", None) or 0.0)
        if attempts >= MAX_ATTEMPTS:
            return SendOutcome(TouchStatus.FAILED, f"gave up after {attempts}: {exc}", pause=after)
        wait = max(timedelta(minutes=5 * 2 ** (attempts - 1)), timedelta(seconds=after))
        return SendOutcome(TouchStatus.PLANNED, f"retry: {exc}", retry_at=now + wait, pause=after)
    except Exception as exc:  # an adapter bug must be this message's outcome, not the batch's end
        return SendOutcome(TouchStatus.UNKNOWN, f"unknown: the sender raised {type(exc).__name__}: {exc}")
    return SendOutcome(TouchStatus.SENT, provider=result.provider, provider_id=result.provider_id)


def deliver(p: Pipeline, touch: ClaimedTouch, message: Message, now: datetime) -> Outcome:
    """Send one rendered message and turn whatever happens into this touch's outcome (never raises)."""
    o = send_once(p.sender, message, key=touch.key, attempts=touch.attempts, now=now)
    delivery = Delivery(touch.id, o.status, reason=o.reason, provider=o.provider, provider_id=o.provider_id,
                        retry_at=o.retry_at, **content_of(message))  # fmt: skip
    return Outcome(delivery, o.pause)


def content_of(message: Message) -> Content:
    if isinstance(message, EmailMessage):
        return {"to_address": message.to, "subject": message.subject, "body_text": message.text,
                "body_html": message.html}  # fmt: skip
    body = message.body if isinstance(message, SmsMessage) else message.script
    return {"to_address": message.to, "subject": None, "body_text": body, "body_html": None}


class _Lane:
    """One channel's sends: paced, up to ``in_flight`` at once, each answer recorded as it comes."""

    def __init__(self, p: Pipeline, channel: str, *, now: datetime, worker: str, pace: Pace) -> None:
        self.p, self.channel, self.now, self.worker, self.pace = p, channel, now, worker, pace
        self.stats = DispatchStats()
        self.done: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        self.slots = threading.BoundedSemaphore(max(1, p.settings.dispatch_concurrency))
        self.opted_out_at_provider: set[int] = set()
        self.pause_until = 0.0
        self.lock = threading.Lock()
        self.error: BaseException | None = None  # begin_send failed (the database): the lane stops with it

    def run(self, touches: list[ClaimedTouch], contexts: dict[int, RenderContext]) -> DispatchStats:
        stop = threading.Event()
        recorder = threading.Thread(target=self._record_often, args=(stop,), name=f"record-{self.channel}")
        recorder.start()
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.p.settings.dispatch_concurrency)) as pool:
                for touch in touches:
                    self._one(pool, touch, contexts[touch.lead_id])
        finally:
            stop.set()
            recorder.join()
        self.record()
        if self.error is not None:
            raise self.error
        return self.stats

    def _record_often(self, stop: threading.Event) -> None:
        """Record what finished every ``RECORD_EVERY`` seconds until ``stop`` (then the lane records the rest).
        A failure stops it: what it could not store waits for the lane's last ``record``, which raises if that
        fails too."""
        try:
            while not stop.wait(RECORD_EVERY):
                self.record()
        except Exception:
            return

    def _one(self, pool: ThreadPoolExecutor, touch: ClaimedTouch, ctx: RenderContext) -> None:
        if self.error is not None:
            raise self.error
        try:
            message = render(touch.channel, touch.template, ctx, templates_dir=self.p.settings.templates_dir)
        except Exception as exc:  # a template bug fails this touch, not the batch
            self._finish(touch, Delivery(touch.id, TouchStatus.FAILED, f"render error: {type(exc).__name__}: {exc}"))
            return
        # A free slot first, the rate limit last: a send leaves as soon as its turn comes (waiting for a slot
        # after the turn would bunch sends up at the provider).
        self.slots.acquire()
        try:
            if (wait := self.pause_until - time.monotonic()) > 0:
                time.sleep(wait)
            self.pace.acquire(message)
            pool.submit(self._send, touch, message)
        except BaseException:
            self.slots.release()
            raise

    def _send(self, touch: ClaimedTouch, message: Message) -> None:
        """Begin the send (under the lead's lock, right before the request, on this thread) and make it."""
        try:
            try:
                why = begin_send(
                    self.p.engine, touch_id=touch.id, lead_id=touch.lead_id, channel=touch.channel,
                    worker=self.worker, now=self.now, content=content_of(message),
                    rules_table=self.p.policy.table.label,
                )  # fmt: skip
            except BaseException as exc:  # nothing was sent; the lane ends with this error, as the batch did
                with self.lock:
                    self.error = self.error or exc
                return
            if why:
                with self.lock:
                    if why.startswith(("opted out", "blocked")):
                        self.stats.blocked += 1
                    else:
                        self.stats.lost += 1
                return
            outcome = deliver(self.p, touch, message, self.now)
            if outcome.delivery.reason.startswith("opted out"):
                with self.lock:
                    self.opted_out_at_provider.add(touch.lead_id)
            if outcome.pause:  # the provider asked this lane to slow down
                with self.lock:
                    self.pause_until = max(self.pause_until, time.monotonic() + min(MAX_PAUSE, outcome.pause))
            self._finish(touch, outcome.delivery)
        finally:
            self.slots.release()

    def _finish(self, touch: ClaimedTouch, d: Delivery) -> None:
        with self.lock:
            self.stats.count(d, touch.channel)
        self.done.put(d)

    def record(self) -> None:
        """Store every answer that came since the last call, in one transaction (one caller at a time: the
        lane's recorder thread while it sends, then the lane)."""
        batch: list[Delivery] = []
        while True:
            try:
                batch.append(self.done.get_nowait())
            except queue.Empty:
                break
        if not batch:
            return
        try:
            flush(self.p.sender)  # a channel that writes behind: stored before it is recorded as sent
            record_deliveries(engine=self.p.engine, deliveries=batch, now=self.now, worker=self.worker)
        except BaseException:
            for d in batch:  # not stored: the next call tries again
                self.done.put(d)
            raise


def dispatch_batch(
    p: Pipeline,
    *,
    now: datetime,
    batch_size: int,
    worker: str | None = None,
    pace: Pace | None = None,
    channel: str | None = None,
) -> DispatchStats:
    """Claim up to ``batch_size`` due touches (of ``channel`` only, when given) and send them, one lane per
    channel.

    The claim checks every touch against the compliance gate; right before each send ``begin_send``
    looks at the lead's opt-outs again under the lead's lock, so an opt-out committed while the batch
    runs stops every later message to that person.
    """
    worker = worker or worker_id()
    claim = claim_due_touches(
        engine=p.engine, registry=p.registry, policy=p.policy, now=now, limit=batch_size, worker=worker,
        lease=timedelta(seconds=p.settings.lease_seconds), channel=channel,
    )  # fmt: skip
    stats = DispatchStats(
        claimed=len(claim.touches), cancelled=claim.cancelled, deferred=claim.deferred, blocked=claim.blocked
    )
    if not claim.touches:
        return stats
    emailed = {t.lead_id for t in claim.touches if t.channel == Channel.EMAIL.value}
    contexts = render_contexts(p, {t.lead_id for t in claim.touches}, now=now, numbers_for=emailed)
    by_channel: dict[str, list[ClaimedTouch]] = defaultdict(list)
    for t in claim.touches:
        by_channel[t.channel].append(t)
    pace = pace or p.pace
    lanes = [_Lane(p, channel, now=now, worker=worker, pace=pace) for channel in by_channel]
    try:
        with ThreadPoolExecutor(max_workers=len(lanes)) as pool:
            for lane_stats in pool.map(lambda lane: lane.run(by_channel[lane.channel], contexts), lanes):
                stats.add(lane_stats)
    finally:
        for lane in lanes:
            lane.record()
    for lead_id in sorted(set().union(*(lane.opted_out_at_provider for lane in lanes))):
        with write_transaction(p.engine) as conn:
            apply_event(
                conn, lead_id=lead_id, event=Event.DO_NOT_CONTACT, at=now, strict=False, actor="provider",
                reason="the carrier reports the number unsubscribed (Twilio 21610): every channel stops",
            )  # fmt: skip
    return stats


def dispatch(
    p: Pipeline,
    *,
    now: datetime,
    batch_size: int | None = None,
    worker: str | None = None,
    run: Runner = inline,
    pace: Pace | None = None,
) -> DispatchStats:
    """Send every touch due at ``now``: each channel's lane claims and sends its own batches, side by side
    with the others. A batch is never retried: it may have sent messages.

    First the leases of dead dispatchers that ran out are settled (planned again when their send never
    began, ``unknown`` when it did), and the ``unknown`` touches whose time has come are reconciled with the
    providers' records (``service.reconcile``)."""
    size = batch_size or p.settings.batch_size
    worker = worker or worker_id()
    total = DispatchStats()
    expired = run("expire-leases", expire_leases, p.engine, now=now, retry=True)
    total.expired = expired.planned_again + expired.unknown
    settled = run("reconcile-unknown", reconcile, p, now=now)
    total.reconciled = settled.sent + settled.not_sent

    def lane(channel: str) -> DispatchStats:
        stats = DispatchStats()
        while True:
            batch = run(
                f"dispatch-due-{channel}", dispatch_batch, p, now=now, batch_size=size, worker=worker, pace=pace,
                channel=channel,
            )  # fmt: skip
            stats.add(batch)
            stats.batches += 1
            if batch.claimed + batch.cancelled + batch.deferred + batch.blocked < size:
                return stats

    channels = run("due-channels", due_channels, p.engine, now=now, retry=True)
    if not channels:
        return total
    with ThreadPoolExecutor(max_workers=len(channels)) as pool:
        # Each lane's thread runs in a copy of this context (a flow's runner finds its flow run there).
        lanes = [pool.submit(contextvars.copy_context().run, lane, channel) for channel in channels]
        for future in lanes:
            stats = future.result()
            total.add(stats)
            total.batches += stats.batches
    return total

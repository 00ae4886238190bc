"""Settle ``unknown`` touches from the provider's own records, never by guessing.

A touch is ``unknown`` when its send began and no answer was recorded (the dispatcher died, the provider
timed out or answered nonsense). Neither Twilio nor SendGrid takes an idempotency key, so resending
could reach the person twice. Instead, once ``reconcile_after_seconds`` have passed since the send
began, the provider is asked what it sent to that address around then:

- a record with the same address and the same words: ``sent`` (with the provider's id);
- no record to that address at all: not sent, so ``planned`` again (the gate checks it once more);
- records to that address whose words differ (a provider may rewrite a body), no look-up for the channel
  (SendGrid has none), or a failed look-up: still ``unknown``.

After ``reconcile_for_hours`` the reconciler stops asking; the touch stays ``unknown``, counted in
``dripline report`` and listed by ``dripline outbox --status unknown``, until a person settles it with
``dripline outbox settle KEY --sent|--not-sent``. A provider's delivery callback settles it too
(:func:`settle_from_provider`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from channels.base import RoutingSender, Sender
from channels.delivery import DeliveryOutcome
from channels.messages import EmailMessage, SmsMessage, TransientSendError, VoicemailMessage
from service.pipeline import Pipeline
from storage.leases import NotUnknownError, UnknownTouch, settle, unknown_touches

SLACK = timedelta(minutes=5)  # provider clocks and our own differ a little
_KIND = {"sms": SmsMessage, "voicemail": VoicemailMessage, "email": EmailMessage}


@dataclass
class ReconcileStats:
    sent: int = 0
    not_sent: int = 0
    unknown: int = 0  # asked, and the provider could not say
    waiting: int = 0  # too soon to ask
    no_lookup: int = 0  # the channel has no look-up: waits for its callback or a person
    left_to_person: int = 0  # asked for too long

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


def provider_for(sender: Sender, channel: str) -> Sender | None:
    """The sender that handles ``channel`` (through a routing sender), or None."""
    if isinstance(sender, RoutingSender):
        kind = _KIND.get(channel)
        return sender.routes.get(kind) if kind else None
    return sender


def reconcile(p: Pipeline, *, now: datetime) -> ReconcileStats:
    """Ask the providers about every ``unknown`` touch whose time has come; settle what they can say."""
    stats = ReconcileStats()
    after = timedelta(seconds=p.settings.reconcile_after_seconds)
    give_up = timedelta(hours=p.settings.reconcile_for_hours)
    last = 0
    while batch := unknown_touches(p.engine, limit=500, after_id=last):
        last = batch[-1].id
        for touch in batch:
            started = touch.send_started_at or now
            if now - started < after:
                stats.waiting += 1
            elif now - started > give_up:
                stats.left_to_person += 1
            else:
                _ask(p, touch, started, now, stats)
    return stats


def _ask(p: Pipeline, touch: UnknownTouch, started: datetime, now: datetime, stats: ReconcileStats) -> None:
    provider = provider_for(p.sender, touch.channel)
    lookup = getattr(provider, "sent_between", None)
    if lookup is None or not touch.to_address:
        stats.no_lookup += 1
        return
    try:
        records = lookup(touch.to_address, started - SLACK, now + SLACK, touch.channel)
    except TransientSendError:
        stats.unknown += 1
        return
    name = str(getattr(provider, "name", "the provider"))
    mine = [r for r in records if getattr(r, "to", None) == touch.to_address]
    match = next((r for r in mine if _same(r, touch)), None)
    if match is not None:
        at = getattr(match, "created_at", None) or started
        why = f"reconciled: {name} has it as {getattr(match, 'status', 'sent')}"
        pid = str(getattr(match, "provider_id", "") or "")
        settle(p.engine, key=touch.key, sent=True, now=now, reason=why, provider=name, provider_id=pid, sent_at=at)
        stats.sent += 1
    elif not mine:
        why = f"reconciled: {name} has no record of it; planned again"
        settle(p.engine, key=touch.key, sent=False, now=now, reason=why)
        stats.not_sent += 1
    else:  # something went to that address then, but not these words (the provider may rewrite a body)
        stats.unknown += 1


def _same(record: Any, touch: UnknownTouch) -> bool:
    """The provider's record (already to the same address) is this touch: the same words where it keeps them."""
    if touch.channel != "sms":
        return True  # a call to that number in the window is the voicemail drop
    body = getattr(record, "body", None)
    return body is None or body.startswith(touch.body_text or "")


def settle_from_provider(
    p: Pipeline, *, key: str, outcome: DeliveryOutcome, provider_id: str | None, now: datetime
) -> bool:
    """A provider's delivery callback for ``key`` (Twilio status callback, SendGrid event): an ``unknown``
    touch it proves reached the provider is ``sent`` (``failed`` when the provider gave up on it). Returns
    whether it settled one.

    PENDING proves nothing, and a touch that is not ``unknown`` is left as it is (a late answer for a
    sending touch is recorded by its own dispatcher)."""
    if outcome is DeliveryOutcome.PENDING:
        return False
    provider = provider_for(p.sender, _channel_of(key))
    name = str(getattr(provider, "name", "provider"))
    why = f"settled by {name}'s callback: {outcome.value}"
    try:
        settle(p.engine, key=key, sent=True, now=now, reason=why, provider=name, provider_id=provider_id,
               failed=outcome is DeliveryOutcome.FAILED)  # fmt: skip
    except NotUnknownError:
        return False
    return True


def _channel_of(key: str) -> str:
    return key.rsplit(":", 1)[-1]

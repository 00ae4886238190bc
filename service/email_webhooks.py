"""What SendGrid tells us after a send: Event Webhook batches and Inbound Parse replies (the web routes check the
signature or secret first, then call these).

Events. An unsubscribe, group unsubscribe, spam report, bounce or drop stops email to the address (and every lead
with it) through :func:`~service.email_events.handle_email_event`, once per ``sg_event_id``: SendGrid's retried
batch finds the first delivery's row and does nothing again. A bounce of type ``blocked`` (the receiving server
refused for now, e.g. over the sending IP's reputation) says nothing about the address and does not suppress it.
Every event whose type proves the message reached SendGrid settles an ``unknown`` touch named by the ``touch_key``
custom arg (:func:`~service.reconcile.settle_from_provider`); a touch that is not ``unknown`` is left alone, so a
repeated event changes nothing. Event types we do not act on are counted and ignored.

Replies. An email from a lead's address stops the lead's automation and puts a reply task with the new words
(quoted history removed: ``nurture.email_reply``) on its officer's list, once per Message-ID. A reply that asks to
stop (the same words a text would use) opts the address and its leads out of every channel instead.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from typing import Any

from sqlalchemy.engine import Connection

from channels.delivery import TOUCH_KEY_ARG, DeliveryOutcome, sendgrid_event_outcome
from channels.plaintext import html_to_text
from nurture.actions import InboundKind
from nurture.email_reply import reply_text
from nurture.inbound import classify
from service.email_events import handle_email_event
from service.inbound import hand_reply_to_officer
from service.pipeline import Pipeline
from service.reconcile import settle_from_provider
from storage.compliance import ALL_CHANNELS
from storage.leases import unknown_keys
from storage.optouts import record_opt_out, with_people_locked
from storage.provider_log import email_event_by_provider_id, set_email_event_outcome, store_email_event

# SendGrid event type -> the email event stored (service.email_events.EMAIL_EVENTS)
SUPPRESSING = {
    "bounce": "bounce",
    "dropped": "dropped",
    "spamreport": "spam_report",
    "unsubscribe": "unsubscribe",
    "group_unsubscribe": "unsubscribe",
}
MAX_ADDRESS = 254


@dataclass
class EventsResult:
    """What one Event Webhook batch did, counted by event."""

    received: int = 0
    suppressed: int = 0  # suppression events that newly stopped email somewhere
    already_stopped: int = 0  # suppression events for addresses already stopped
    settled: int = 0  # unknown touches the events settled
    duplicates: int = 0  # events seen before (by sg_event_id): nothing done again
    ignored: int = 0  # event types we do not act on, and blocked bounces
    invalid: int = 0  # not an event object, or a suppression event without a usable address
    lead_ids: set[int] = field(default_factory=set)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in vars(self).items() if isinstance(v, int)}


def handle_sendgrid_events(p: Pipeline, *, events: list[Any], at: datetime) -> EventsResult:
    """Act on one Event Webhook batch (already verified), each event at most once."""
    result = EventsResult(received=len(events))
    seen: set[str] = set()
    # most events name a touch already settled by its dispatcher: one read finds the few worth a settle
    unknown = unknown_keys(p.engine, {str(e.get(TOUCH_KEY_ARG) or "").strip() for e in events if isinstance(e, dict)})
    for event in events:
        if not isinstance(event, dict):
            result.invalid += 1
            continue
        kind = str(event.get("event") or "").strip().lower()
        event_id = str(event.get("sg_event_id") or "").strip()[:100] or None
        if event_id is not None:
            if event_id in seen:
                result.duplicates += 1
                continue
            seen.add(event_id)
        if kind in SUPPRESSING and str(event.get("type") or "").lower() != "blocked":
            address = str(event.get("email") or "").strip()
            if "@" not in address or len(address) > MAX_ADDRESS:
                result.invalid += 1
                continue
            done = handle_email_event(engine=p.engine, event=SUPPRESSING[kind], address=address, at=at,
                                      provider_id=event_id)  # fmt: skip
            if done.duplicate:
                result.duplicates += 1
                continue
            result.lead_ids.update(done.lead_ids)
            if done.stopped:
                result.suppressed += 1
            else:
                result.already_stopped += 1
        outcome = sendgrid_event_outcome(kind)
        if outcome is DeliveryOutcome.PENDING:
            result.ignored += 1
            continue
        if kind in SUPPRESSING and str(event.get("type") or "").lower() == "blocked":
            result.ignored += 1  # counted as not acted on, yet it still settles the touch below
        key = str(event.get(TOUCH_KEY_ARG) or "").strip()
        if key in unknown:
            message_id = str(event.get("sg_message_id") or "").split(".", 1)[0] or None
            if settle_from_provider(p, key=key, outcome=outcome, provider_id=message_id, now=at):
                result.settled += 1
                unknown.discard(key)
    return result


class NoSender(ValueError):
    """The email's From header holds no address: there is nobody to act for."""


@dataclass(frozen=True, slots=True)
class EmailReplyResult:
    """What one email reply did: the leads with the sender's address, and the tasks or the opt-out."""

    event_id: int
    lead_ids: tuple[int, ...]
    address: str
    kind: InboundKind
    task_ids: tuple[int, ...] = ()
    duplicate: bool = False  # this Message-ID was handled before; nothing was done again
    text: str = ""


def handle_email_reply(
    p: Pipeline, *, sender: str, subject: str, text: str, html: str, message_id: str, at: datetime, spf: str = ""
) -> EmailReplyResult:
    """Act on one email a person sent to the Reply-To address. ``sender`` is the From header; ``spf`` the receiving
    server's SPF verdict on it (a verdict other than ``pass`` is put on the task: the sender may be someone else).
    Raises :class:`NoSender` when it holds no email address."""
    address = parseaddr(sender)[1].strip().lower()
    if "@" not in address or len(address) > MAX_ADDRESS:
        raise NoSender("the email has no sender address")
    words = reply_text(text if text.strip() else html_to_text(html).text if html.strip() else "")
    identity = message_id.strip() or f"{address}\n{subject}\n{text}\n{html}"
    provider_id = "reply:" + hashlib.sha256(identity.encode()).hexdigest()[:40]
    verdict = classify(words, opted_out=False)
    kind = verdict.kind if verdict.kind in (InboundKind.OPT_OUT, InboundKind.AMBIGUOUS) else InboundKind.REPLY
    said = f"(email, subject {subject.strip()[:120]!r}) {words}" if subject.strip() else f"(email) {words}"
    if spf.strip() and spf.strip().lower() != "pass":
        said = f"[sender not verified: SPF {spf.strip()[:20]}; it may not be them] {said}"

    def work(conn: Connection, lead_ids: list[int]) -> EmailReplyResult:
        event_id = store_email_event(conn, provider_id=provider_id, event="reply", address=address, received_at=at,
                                     lead_ids=",".join(map(str, lead_ids)), outcome="", created_at=at)  # fmt: skip
        if event_id is None:
            seen = email_event_by_provider_id(conn, provider_id)
            ids = tuple(int(x) for x in seen.lead_ids.split(",") if x)
            return EmailReplyResult(seen.id, ids, address, kind, duplicate=True, text=words)
        tasks: list[int] = []
        if not lead_ids:
            outcome = "no lead has this address: nobody to hand it to"
        elif kind is InboundKind.OPT_OUT:
            done = record_opt_out(conn, lead_ids=lead_ids, address=address, channels=ALL_CHANNELS,
                                  source="email_reply", reason=f"emailed: {verdict.reason}"[:200], at=at,
                                  actor="borrower by email")  # fmt: skip
            outcome = f"opt-out ({verdict.reason}); {done.cancelled_touches} planned messages cancelled"
        else:
            tasks = [hand_reply_to_officer(conn, i, kind, said, at, provider_id, by="email") for i in lead_ids]
            outcome = f"handed to the loan officer ({len(tasks)} tasks)"
        set_email_event_outcome(conn, event_id, outcome)
        return EmailReplyResult(event_id, tuple(lead_ids), address, kind, tuple(tasks), text=words)

    return with_people_locked(p.engine, address, work)

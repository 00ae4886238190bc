"""Email events: an unsubscribe, bounce, spam report or drop stops email to that address, for every lead with it.

One handler for the CLI and the SendGrid webhook. It runs in one write transaction that locks the address's
leads first (``storage.optouts.lock_people``), stores the event once per provider event id (a retried
webhook changes nothing), records the opt-out only when it changes something and cancels the planned email
of those leads. A send already begun before it committed is listed; none begins after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection, Engine

from nurture.actions import Channel
from storage.optouts import record_opt_out, with_people_locked
from storage.provider_log import email_event_by_provider_id, set_email_event_outcome, store_email_event

# the event as stored -> the suppression log's source; "dropped": SendGrid refused to send to the address
EMAIL_EVENTS = {
    "unsubscribe": "email_unsubscribe",
    "bounce": "bounce",
    "spam_report": "spam_report",
    "dropped": "email_dropped",
}


@dataclass(frozen=True, slots=True)
class EmailEventResult:
    event_id: int
    address: str
    lead_ids: tuple[int, ...]
    stopped: bool  # email to the address or one of its leads was still allowed until now
    cancelled_touches: int
    begun: tuple[str, ...] = ()  # email touches whose send had begun before the event was recorded
    duplicate: bool = False  # the provider reported this event before; nothing was done again


def handle_email_event(
    *, engine: Engine, event: str, address: str, at: datetime, provider_id: str | None = None
) -> EmailEventResult:
    """Record one email event and stop email to ``address``. Raises ``ValueError`` for an unknown ``event``."""
    if event not in EMAIL_EVENTS:
        raise ValueError(f"{event!r} is not one of {', '.join(EMAIL_EVENTS)}")
    email = address.strip().lower()

    def work(conn: Connection, lead_ids: list[int]) -> EmailEventResult:
        event_id = store_email_event(conn, provider_id=provider_id, event=event, address=email, received_at=at,
                                     lead_ids=",".join(map(str, lead_ids)), outcome="", created_at=at)  # fmt: skip
        if event_id is None:
            assert provider_id is not None
            seen = email_event_by_provider_id(conn, provider_id)
            ids = tuple(int(x) for x in seen.lead_ids.split(",") if x)
            return EmailEventResult(seen.id, seen.address, ids, False, 0, (), duplicate=True)
        done = record_opt_out(conn, lead_ids=lead_ids, address=email, channels=[Channel.EMAIL],
                              source=EMAIL_EVENTS[event], reason=f"email {event}", at=at,
                              actor="email provider")  # fmt: skip
        outcome = "email stopped" if done.changed else "email was already stopped"
        set_email_event_outcome(conn, event_id, f"{outcome}; {done.cancelled_touches} planned emails cancelled")
        return EmailEventResult(event_id, email, tuple(lead_ids), bool(done.changed), done.cancelled_touches,
                                done.begun)  # fmt: skip

    return with_people_locked(engine, email, work)

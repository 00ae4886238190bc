"""A claimed touch's life after the claim: the send begins, the lease runs out, a person or the provider
settles what became of it.

``begin_send`` is the last word before the provider request. Under the lead's lock (the same lock the
STOP handler takes first) it checks the touch is still leased to this worker and that the lead has not
opted out of the channel, then stamps ``send_started_at``. An opt-out that commits before that stamp
stops the send; one that commits after it finds the send already begun (and says so in its record).

A lease that runs out returns a touch to ``planned`` only when its send never began (provably unsent);
otherwise the touch becomes ``unknown`` and stays so until the provider's records, its delivery callback
or a person settle it. Nothing resends an ``unknown`` touch on its own.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nurture.actions import Channel, TouchStatus
from nurture.gate import Decision, Ruling, Verdict
from nurture.gate_plan import decision_line, verdict_reason
from storage.compliance import opted_out_now
from storage.locks import lock_leads, write_transaction
from storage.models import Lead, PhoneFact, Touch, table
from storage.outbox import Content

_touch, _lead, _fact = table(Touch), table(Lead), table(PhoneFact)

SENDING, UNKNOWN, PLANNED = TouchStatus.SENDING.value, TouchStatus.UNKNOWN.value, TouchStatus.PLANNED.value


class NotUnknownError(LookupError):
    """``settle`` was asked about a touch that is not ``unknown`` (or does not exist)."""


@dataclass(frozen=True, slots=True)
class Expired:
    planned_again: int  # leases that ran out before their send began
    unknown: int  # leases that ran out after it began


def begin_send(
    engine: Engine,
    *,
    touch_id: int,
    lead_id: int,
    channel: str,
    worker: str,
    now: datetime,
    content: Content | None = None,
    rules_table: str = "",
) -> str:
    """Mark the send of one claimed touch as begun, or say why it must not begin.

    ``content`` (to_address, subject, body_text, body_html) is stored with the mark: what may reach the
    person from now on, and what reconciliation compares with the provider's records.

    Returns ``""`` when the send may go now, else the reason it may not: ``"lost: ..."`` (the lease is no
    longer this worker's; nothing written), ``"opted out: ..."`` or, for a text to a number a carrier has since
    said cannot take texts, ``"blocked: ..."`` (the touch is now ``blocked``, and its decision log says so under
    ``rules_table``, the compliance table's label).
    """
    # Each write below requires the touch to be still ours (sending, claimed by this worker): one that is not
    # is left as it is, and its send must not begin.
    mine = sa.and_(_touch.c.id == touch_id, _touch.c.status == SENDING, _touch.c.claimed_by == worker)
    lost = "lost: the claim ran out or was settled elsewhere"
    with write_transaction(engine) as conn:
        lock_leads(conn, [lead_id])
        why = opted_out_now(conn, [lead_id]).get(lead_id, {}).get(Channel(channel))
        if why:
            decision = Decision("suppression", Ruling.BLOCK, f"opted out of {channel} after the claim: {why}")
            return _block(conn, mine, decision, now, rules_table, "opted out") or lost
        cannot = _not_textable(conn, lead_id) if channel == Channel.SMS.value else None
        if cannot is not None:  # a carrier said so (30006, repeated 30003/30005) after the claim
            decision = Decision("textable", Ruling.BLOCK, f"the number cannot take texts: {cannot}")
            return _block(conn, mine, decision, now, rules_table, "blocked") or lost
        begun = conn.execute(
            _touch.update().where(mine).values(send_started_at=now, updated_at=now, **dict(content or {}))
        ).rowcount
    return "" if begun == 1 else lost


def _block(conn: Connection, mine: Any, decision: Decision, now: datetime, rules_table: str, label: str) -> str:
    """Block the claimed touch ``mine`` for ``decision`` (logged); ``"{label}: reason"``, or "" when it is no
    longer ours."""
    verdict = Verdict(Ruling.BLOCK, now, (decision,), rules_table)
    reason = verdict_reason(verdict)
    blocked = conn.execute(
        _touch.update()
        .where(mine)
        .values(
            status=TouchStatus.BLOCKED.value,
            reason=reason,
            lease_until=None,
            decisions=_touch.c.decisions + "\n" + decision_line("send", verdict, now),
            updated_at=now,
        )
    ).rowcount
    return f"{label}: {reason}" if blocked == 1 else ""


def _not_textable(conn: Connection, lead_id: int) -> str | None:
    """Why the lead's phone cannot take texts (what the carrier said), or None."""
    row = conn.execute(
        sa.select(_fact.c.reason)
        .select_from(_fact.join(_lead, _lead.c.phone == _fact.c.number))
        .where(_lead.c.id == lead_id, _fact.c.textable.is_(False))
    ).first()
    return None if row is None else (row.reason or "the carrier says it cannot")


def expire_leases(engine: Engine, *, now: datetime) -> Expired:
    """Settle every ``sending`` touch whose lease ran out before ``now`` (its worker died or hung)."""
    late = sa.and_(_touch.c.status == SENDING, _touch.c.lease_until < now)
    with write_transaction(engine) as conn:
        again = conn.execute(
            _touch.update()
            .where(late, _touch.c.send_started_at.is_(None))
            .values(
                status=PLANNED,
                claimed_by=None,
                lease_until=None,
                reason="planned again: the claim ran out before its send began",
                updated_at=now,
            )
        ).rowcount
        unknown = conn.execute(
            _touch.update()
            .where(late, _touch.c.send_started_at.is_not(None))
            .values(
                status=UNKNOWN,
                lease_until=None,
                reason="unknown: the send began but no answer was recorded before the claim ran out",
                updated_at=now,
            )
        ).rowcount
    return Expired(again, unknown)


@dataclass(frozen=True, slots=True)
class UnknownTouch:
    id: int
    key: str
    lead_id: int
    channel: str
    to_address: str | None
    subject: str | None
    body_text: str | None
    send_started_at: datetime | None


def unknown_touches(engine: Engine, *, limit: int = 1000, after_id: int = 0) -> list[UnknownTouch]:
    """``unknown`` touches in id order, ``limit`` at a time."""
    query = (
        sa.select(
            _touch.c.id,
            _touch.c.key,
            _touch.c.lead_id,
            _touch.c.channel,
            _touch.c.to_address,
            _touch.c.subject,
            _touch.c.body_text,
            _touch.c.send_started_at,
        )
        .where(_touch.c.status == UNKNOWN, _touch.c.id > after_id)
        .order_by(_touch.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [UnknownTouch(*row) for row in conn.execute(query)]


def unknown_keys(engine: Engine, keys: Collection[str]) -> set[str]:
    """Which of ``keys`` name a touch that is ``unknown`` now (a provider's callbacks mostly name settled ones)."""
    wanted = sorted(k for k in keys if k and len(k) <= 200)
    found: set[str] = set()
    with engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            query = sa.select(_touch.c.key).where(_touch.c.key.in_(chunk), _touch.c.status == UNKNOWN)
            found.update(conn.execute(query).scalars())
    return found


def settle(
    engine: Engine,
    *,
    key: str,
    sent: bool,
    now: datetime,
    reason: str,
    provider: str | None = None,
    provider_id: str | None = None,
    sent_at: datetime | None = None,
    failed: bool = False,
) -> None:
    """Settle an ``unknown`` touch: ``sent`` (with the provider's id when known; ``failed`` when the provider
    had it and gave up), or not sent, which makes it ``planned`` again to be sent at the next dispatch (the
    gate checks it again then)."""
    values: dict[str, object] = {"reason": reason[:500], "updated_at": now, "lease_until": None}
    if sent:
        values |= {"status": (TouchStatus.FAILED if failed else TouchStatus.SENT).value, "sent_at": sent_at or now}
        if provider_id:
            values |= {"provider": provider, "provider_id": provider_id}
    else:
        values |= {"status": PLANNED, "scheduled_for": now, "send_started_at": None, "claimed_by": None}
    with write_transaction(engine) as conn:
        done = conn.execute(
            _touch.update().where(_touch.c.key == key, _touch.c.status == UNKNOWN).values(**values)
        ).rowcount
        if done != 1:
            now_is = conn.execute(sa.select(_touch.c.status).where(_touch.c.key == key)).scalar_one_or_none()
            what = "no touch has that key" if now_is is None else f"it is {now_is}, not unknown"
            raise NotUnknownError(f"cannot settle {key!r}: {what}; `dripline outbox --status unknown` lists them")

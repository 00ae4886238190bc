"""The outbox side of dispatch: claim due touches, record what happened to them.

Exactly-once is our job (neither Twilio nor SendGrid takes an idempotency key). A touch moves
``planned`` -> ``sending`` only through an update that requires ``planned``, inside a transaction that
locked the rows it read (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: ``BEGIN IMMEDIATE``), so two
dispatchers never claim the same touch. A claim is a lease: ``claimed_by`` and ``lease_until``. What
happens after the claim (the send, its answer, a lease that runs out) is in ``storage/leases.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypedDict

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nurture.actions import Channel, TouchStatus
from nurture.gate import ContactFacts, ContactRequest, Policy, Ruling, allowed_until, check
from nurture.gate_plan import decision_line, verdict_reason
from nurture.states import AUTOMATED
from storage.cadences import CadenceRegistry
from storage.compliance import contacts_since, load_facts, suppression_watermark
from storage.locks import write_transaction
from storage.models import CadencePosition, Lead, Touch, table
from storage.sql import among, for_update

_touch = table(Touch)
_pos = table(CadencePosition)
_lead = table(Lead)

MAX_ATTEMPTS = 3
DEFAULT_LEASE = timedelta(minutes=10)
MAX_HOLD = timedelta(days=7)  # a touch held this long after it was planned is blocked rather than sent late


@dataclass(frozen=True, slots=True)
class ClaimedTouch:
    id: int
    key: str
    lead_id: int
    channel: str
    template: str
    step_id: str
    attempts: int
    decision: str  # the decision-log line of the check that let it go


@dataclass(frozen=True, slots=True)
class Claim:
    touches: list[ClaimedTouch]
    cancelled: int
    deferred: int  # moved later or held by the gate
    blocked: int
    watermark: int  # the suppression log's newest id when the claim was checked


class Content(TypedDict):
    """What a message says and to whom: stored when its send begins."""

    to_address: str | None
    subject: str | None
    body_text: str | None
    body_html: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """What happened when one claimed touch was sent."""

    touch_id: int
    status: TouchStatus  # SENT, FAILED, BLOCKED, UNKNOWN (may have been sent), or PLANNED again for a retry
    reason: str = ""
    to_address: str | None = None
    subject: str | None = None
    body_text: str | None = None
    body_html: str | None = None
    provider: str | None = None
    provider_id: str | None = None
    retry_at: datetime | None = None
    decision: str = ""  # a decision-log line to append (a block found right before sending)


def claim_due_touches(
    *,
    engine: Engine,
    registry: CadenceRegistry,
    policy: Policy,
    now: datetime,
    limit: int,
    worker: str,
    lease: timedelta = DEFAULT_LEASE,
    channel: str | None = None,
) -> Claim:
    """Claim up to ``limit`` planned touches due at ``now`` (of ``channel`` only, when given) that the
    compliance gate allows now.

    Touches of leads that left automation are cancelled. Every other due touch is
    checked again: one that may not go now is moved to the time the gate names
    (deferred or held) or blocked for good; each check is appended to its
    decision log. Claimed touches are leased to ``worker`` until ``now + lease``.

    The frequency caps count every touch of the lead that is planned, sending, sent or unknown, in this
    claim or another (another channel's lane claims the same leads at the same time): one in flight
    counts from when its send began (or from now, when it has not yet), however long ago it was due.
    """
    due = [_touch.c.status == TouchStatus.PLANNED.value, _touch.c.scheduled_for <= now]
    if channel is not None:
        due.append(_touch.c.channel == channel)
    with write_transaction(engine) as conn:
        query = (
            sa.select(
                _touch.c.id,
                _touch.c.key,
                _touch.c.lead_id,
                _touch.c.channel,
                _touch.c.template,
                _touch.c.step_id,
                _touch.c.attempts,
                _touch.c.created_at,
                _pos.c.status.label("cadence_status"),
                _pos.c.cadence_name,
                _pos.c.cadence_version,
                _lead.c.email,
            )
            .join(_pos, _pos.c.lead_id == _touch.c.lead_id)
            .join(_lead, _lead.c.id == _touch.c.lead_id)
            .where(*due)
            .order_by(_touch.c.scheduled_for, _touch.c.id)
            .limit(limit)
        )
        rows = conn.execute(for_update(query, conn, of=_touch)).all()
        automated = {s.value for s in AUTOMATED}
        live = [r for r in rows if r.cadence_status in automated]
        facts = load_facts(conn, {r.lead_id for r in live}, since=contacts_since(now))
        _count_in_flight(conn, facts, now)
        watermark = suppression_watermark(conn)
        claimed: list[ClaimedTouch] = []
        cancel: list[dict[str, Any]] = []
        moves: list[dict[str, Any]] = []
        blocks: list[dict[str, Any]] = []
        for r in rows:
            if r.cadence_status not in automated:
                cancel.append({"b_id": r.id, "b_reason": f"cancelled: lead is {r.cadence_status}"})
                continue
            cadence = registry.get(r.cadence_name, r.cadence_version)
            channel = Channel(r.channel)
            lead = facts[r.lead_id]
            req = ContactRequest(
                channel,
                now,
                window=cadence.steps[cadence.index_of(r.step_id.split("#")[0])].window,
                to=r.email if channel is Channel.EMAIL else lead.phone,
                key=r.key,
            )
            verdict = check(req, lead, policy)
            if verdict.ruling is Ruling.HOLD and now - r.created_at > MAX_HOLD:
                verdict = replace(verdict, ruling=Ruling.BLOCK)
            line = "\n" + decision_line("dispatch", verdict, now)
            if verdict.ruling is Ruling.ALLOW:
                claimed.append(
                    ClaimedTouch(r.id, r.key, r.lead_id, r.channel, r.template, r.step_id, r.attempts + 1, line)
                )
                facts[r.lead_id] = lead.with_contact(now, channel, r.key)
            elif verdict.ruling is Ruling.BLOCK:
                blocks.append({"b_id": r.id, "b_reason": verdict_reason(verdict), "b_line": line})
            else:
                moves.append(
                    {
                        "b_id": r.id,
                        "b_at": verdict.at,
                        "b_until": allowed_until(req, lead, policy, verdict.at),
                        "b_reason": verdict_reason(verdict),
                        "b_line": line,
                    }
                )
        if cancel:
            conn.execute(
                _touch.update()
                .where(_touch.c.id == sa.bindparam("b_id"), _touch.c.status == TouchStatus.PLANNED.value)
                .values(status=TouchStatus.CANCELLED.value, reason=sa.bindparam("b_reason"), updated_at=now),
                cancel,
            )
        if blocks:
            conn.execute(
                _touch.update()
                .where(_touch.c.id == sa.bindparam("b_id"), _touch.c.status == TouchStatus.PLANNED.value)
                .values(
                    status=TouchStatus.BLOCKED.value,
                    reason=sa.bindparam("b_reason"),
                    decisions=_touch.c.decisions + sa.bindparam("b_line"),
                    updated_at=now,
                ),
                blocks,
            )
        if moves:
            conn.execute(
                _touch.update()
                .where(_touch.c.id == sa.bindparam("b_id"), _touch.c.status == TouchStatus.PLANNED.value)
                .values(
                    scheduled_for=sa.bindparam("b_at"),
                    not_after=sa.bindparam("b_until"),
                    reason=sa.bindparam("b_reason"),
                    decisions=_touch.c.decisions + sa.bindparam("b_line"),
                    updated_at=now,
                ),
                moves,
            )
        if claimed:
            planned = TouchStatus.PLANNED.value
            conn.execute(
                _touch.update()
                .where(_touch.c.id == sa.bindparam("b_id"), _touch.c.status == planned)
                .values(
                    status=TouchStatus.SENDING.value,
                    claimed_by=worker,
                    lease_until=now + lease,
                    send_started_at=None,
                    attempts=sa.bindparam("b_attempts"),
                    decisions=_touch.c.decisions + sa.bindparam("b_line"),
                    updated_at=now,
                ),
                [{"b_id": c.id, "b_attempts": c.attempts, "b_line": c.decision} for c in claimed],
            )
            # Belt and braces: the rows were locked when read, so every one is still ours; count, never assume.
            ours = set(
                conn.execute(
                    sa.select(_touch.c.id).where(
                        _touch.c.id.in_([c.id for c in claimed]),
                        _touch.c.claimed_by == worker,
                        _touch.c.status == TouchStatus.SENDING.value,
                    )
                ).scalars()
            )
            claimed = [c for c in claimed if c.id in ours]
    return Claim(claimed, len(cancel), len(moves), len(blocks), watermark)


def _count_in_flight(conn: Connection, facts: dict[int, ContactFacts], now: datetime) -> None:
    """Add to ``facts`` the touches in flight (``sending``, ``unknown``) that ``load_facts`` left out because
    they were due before the caps' look-back: they go (or may have gone) now, not when they were due."""
    if not facts:
        return
    since = contacts_since(now)
    rows = conn.execute(
        sa.select(_touch.c.lead_id, _touch.c.channel, _touch.c.key, _touch.c.send_started_at).where(
            among(conn, _touch.c.lead_id, sorted(facts)),
            _touch.c.status.in_([TouchStatus.SENDING.value, TouchStatus.UNKNOWN.value]),
            sa.func.coalesce(_touch.c.sent_at, _touch.c.scheduled_for) <= since,
        )
    )
    for lead_id, channel, key, began in rows:
        if (when := began or now) > since:
            facts[lead_id] = facts[lead_id].with_contact(when, Channel(channel), key)


def due_channels(engine: Engine, *, now: datetime) -> list[str]:
    """The channels that have planned touches due at ``now`` (each gets a lane of its own)."""
    query = (
        sa.select(_touch.c.channel)
        .where(_touch.c.status == TouchStatus.PLANNED.value, _touch.c.scheduled_for <= now)
        .distinct()
        .order_by(_touch.c.channel)
    )
    with engine.connect() as conn:
        return [str(getattr(c, "value", c)) for c in conn.execute(query).scalars()]


def record_deliveries(*, engine: Engine, deliveries: list[Delivery], now: datetime, worker: str) -> int:
    """Store each claimed touch's result: sent, failed, blocked, unknown, or planned again for a retry.

    Only touches still leased to ``worker`` are written (``sending``, or ``unknown`` when the lease ran out
    while the provider took its time: the late answer is the truth and settles it). Returns how many.
    """
    if not deliveries:
        return 0
    rows = [
        {
            "b_id": d.touch_id,
            "b_status": d.status.value,
            "b_reason": d.reason[:500],
            "b_to": d.to_address,
            "b_subject": d.subject,
            "b_text": d.body_text,
            "b_html": d.body_html,
            "b_provider": d.provider,
            "b_pid": d.provider_id,
            "b_sent": now if d.status is TouchStatus.SENT else None,
            "b_sched": d.retry_at,
            "b_line": d.decision,
        }
        for d in deliveries
    ]
    again = [d.touch_id for d in deliveries if d.status is TouchStatus.PLANNED]
    with write_transaction(engine) as conn:
        result = conn.execute(
            _touch.update()
            .where(
                _touch.c.id == sa.bindparam("b_id"),
                _touch.c.claimed_by == worker,
                sa.or_(_touch.c.status == TouchStatus.SENDING.value, _touch.c.status == TouchStatus.UNKNOWN.value),
            )
            .values(
                status=sa.bindparam("b_status"),
                reason=sa.bindparam("b_reason"),
                to_address=sa.bindparam("b_to"),
                subject=sa.bindparam("b_subject"),
                body_text=sa.bindparam("b_text"),
                body_html=sa.bindparam("b_html"),
                provider=sa.bindparam("b_provider"),
                provider_id=sa.bindparam("b_pid"),
                sent_at=sa.bindparam("b_sent"),
                decisions=_touch.c.decisions + sa.bindparam("b_line"),
                scheduled_for=sa.func.coalesce(
                    sa.bindparam("b_sched", type_=_touch.c.scheduled_for.type), _touch.c.scheduled_for
                ),
                lease_until=None,
                updated_at=now,
            ),
            rows,
        )
        written = result.rowcount if result.rowcount >= 0 else len(rows)
        if again:  # a retry is a fresh attempt later: its send has not begun
            conn.execute(
                _touch.update()
                .where(_touch.c.id.in_(again), _touch.c.status == TouchStatus.PLANNED.value)
                .values(send_started_at=None, claimed_by=None)
            )
    return written

"""The outbox side of dispatch: claim due touches, record what happened to them.

Exactly-once is our job (neither Twilio nor SendGrid takes an idempotency
key). A touch is claimed (``planned`` -> ``sending``) and committed before any
provider call, so two workers can never both send it; a crash after the send
leaves it ``sending`` for a person to reconcile instead of sending it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.actions import TouchStatus
from nurture.planner import next_opening, window_close
from nurture.states import AUTOMATED
from storage.cadences import CadenceRegistry
from storage.models import CadencePosition, Lead, Touch, table
from storage.sql import for_update

_touch = table(Touch)
_pos = table(CadencePosition)
_lead = table(Lead)

MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class ClaimedTouch:
    id: int
    key: str
    lead_id: int
    channel: str
    template: str
    step_id: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Claim:
    touches: list[ClaimedTouch]
    cancelled: int
    deferred: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """What happened when one claimed touch was sent."""

    touch_id: int
    status: TouchStatus  # SENT, FAILED, or PLANNED again after a transient error
    reason: str = ""
    to_address: str | None = None
    subject: str | None = None
    body_text: str | None = None
    body_html: str | None = None
    provider: str | None = None
    provider_id: str | None = None
    retry_at: datetime | None = None


def claim_due_touches(*, engine: Engine, registry: CadenceRegistry, now: datetime, limit: int, worker: str) -> Claim:
    """Claim up to ``limit`` planned touches due at ``now``.

    Touches of leads that left automation are cancelled; touches whose window
    closed before they went out wait for the next opening instead of going late.
    """
    with engine.begin() as conn:
        query = (
            sa.select(
                _touch.c.id,
                _touch.c.key,
                _touch.c.lead_id,
                _touch.c.channel,
                _touch.c.template,
                _touch.c.step_id,
                _touch.c.attempts,
                _touch.c.not_after,
                _pos.c.status.label("cadence_status"),
                _pos.c.cadence_name,
                _pos.c.cadence_version,
                _lead.c.timezone,
            )
            .join(_pos, _pos.c.lead_id == _touch.c.lead_id)
            .join(_lead, _lead.c.id == _touch.c.lead_id)
            .where(_touch.c.status == TouchStatus.PLANNED.value, _touch.c.scheduled_for <= now)
            .order_by(_touch.c.scheduled_for, _touch.c.id)
            .limit(limit)
        )
        rows = conn.execute(for_update(query, conn, of=_touch)).all()
        claimed: list[ClaimedTouch] = []
        cancel: list[dict[str, Any]] = []
        defer: list[dict[str, Any]] = []
        automated = {s.value for s in AUTOMATED}
        for r in rows:
            if r.cadence_status not in automated:
                cancel.append({"b_id": r.id, "b_reason": f"cancelled: lead is {r.cadence_status}"})
            elif now >= r.not_after:
                cadence = registry.get(r.cadence_name, r.cadence_version)
                step = cadence.steps[cadence.index_of(r.step_id.split("#")[0])]
                opening = next_opening(now, step.window, r.timezone)
                defer.append(
                    {
                        "b_id": r.id,
                        "b_at": opening,
                        "b_until": window_close(opening, step.window, r.timezone),
                        "b_reason": "deferred: its window closed before dispatch",
                    }
                )
            else:
                claimed.append(ClaimedTouch(r.id, r.key, r.lead_id, r.channel, r.template, r.step_id, r.attempts + 1))
        if cancel:
            conn.execute(
                _touch.update()
                .where(_touch.c.id == sa.bindparam("b_id"))
                .values(status=TouchStatus.CANCELLED.value, reason=sa.bindparam("b_reason"), updated_at=now),
                cancel,
            )
        if defer:
            conn.execute(
                _touch.update()
                .where(_touch.c.id == sa.bindparam("b_id"))
                .values(
                    scheduled_for=sa.bindparam("b_at"),
                    not_after=sa.bindparam("b_until"),
                    reason=sa.bindparam("b_reason"),
                    updated_at=now,
                ),
                defer,
            )
        if claimed:
            conn.execute(
                _touch.update()
                .where(_touch.c.id == sa.bindparam("b_id"))
                .values(
                    status=TouchStatus.SENDING.value,
                    claimed_by=worker,
                    attempts=sa.bindparam("b_attempts"),
                    updated_at=now,
                ),
                [{"b_id": c.id, "b_attempts": c.attempts} for c in claimed],
            )
    return Claim(claimed, len(cancel), len(defer))


def record_deliveries(*, engine: Engine, deliveries: list[Delivery], now: datetime) -> None:
    """Store each claimed touch's result: sent, failed, or planned again for a retry."""
    if not deliveries:
        return
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
        }
        for d in deliveries
    ]
    with engine.begin() as conn:
        conn.execute(
            _touch.update()
            .where(_touch.c.id == sa.bindparam("b_id"), _touch.c.status == TouchStatus.SENDING.value)
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
                scheduled_for=sa.func.coalesce(
                    sa.bindparam("b_sched", type_=_touch.c.scheduled_for.type), _touch.c.scheduled_for
                ),
                updated_at=now,
            ),
            rows,
        )

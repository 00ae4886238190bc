"""The officers' outbox: claim due alerts under a lease, begin each send, record what became of it.

The same ledger as the borrowers' outbox (``storage/outbox.py``, ``storage/leases.py``): an alert moves
``planned`` -> ``sending`` -> ``sent`` | ``failed`` | ``unknown`` (or ``planned`` again for a retry), each move
one conditional update naming the state it leaves. Claims lock what they read (PostgreSQL ``FOR UPDATE SKIP
LOCKED``, SQLite ``BEGIN IMMEDIATE``), so two senders never hold the same alert. ``begin_alert_send`` stamps
the send as begun before the provider request; a lease that runs out before that stamp makes the alert
``planned`` again (provably unsent), after it ``unknown`` (never resent on its own).

An alert's words are written when its send begins, from the tasks still open then; its sign-in link is made
in that same transaction, and only a placeholder of it is stored: no usable token rests in the database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nurture.actions import Channel, TaskStatus, TouchStatus
from nurture.alerts import AlertKind, QuietHours, Reach, TaskLine, compose, placeholder_link, route, sign_in_url
from nurture.states import Stage
from storage.locks import write_transaction
from storage.models import CallTask, Lead, LoanOfficer, OfficerAlert, table
from storage.officers import OfficerNotFound
from storage.signin import create_sign_in_link
from storage.sql import among, for_update

_alert, _officer, _task, _lead = table(OfficerAlert), table(LoanOfficer), table(CallTask), table(Lead)
PLANNED, SENDING, UNKNOWN = TouchStatus.PLANNED.value, TouchStatus.SENDING.value, TouchStatus.UNKNOWN.value
CLOSED = (Stage.CLOSED_FUNDED.value, Stage.LOST.value)
DEFAULT_LEASE = timedelta(minutes=10)


def quiet_hours(officer: Any) -> QuietHours:
    return QuietHours(officer.timezone, officer.quiet_start, officer.quiet_end)


def reach(officer: Any) -> Reach:
    return Reach(officer.active, officer.phone, officer.email, officer.alert_sms, officer.alert_email)


OFFICER_COLUMNS = (
    _officer.c.timezone,
    _officer.c.quiet_start,
    _officer.c.quiet_end,
    _officer.c.active,
    _officer.c.phone,
    _officer.c.email,
    _officer.c.alert_sms,
    _officer.c.alert_email,
)


@dataclass(frozen=True, slots=True)
class ClaimedAlert:
    id: int
    key: str
    officer_id: int
    kind: str
    channel: str
    to_address: str
    attempts: int


@dataclass(frozen=True, slots=True)
class AlertClaim:
    alerts: list[ClaimedAlert]
    deferred: int  # due inside the officer's quiet hours: moved to their end
    skipped: int  # the officer cannot be reached on the channel (inactive, alerts off, no address)


def claim_alerts(
    engine: Engine, *, now: datetime, limit: int, worker: str, lease: timedelta = DEFAULT_LEASE
) -> AlertClaim:
    """Claim up to ``limit`` planned alerts due at ``now`` for ``worker`` until ``now + lease``.

    Each is checked against its officer as they are now: one inside the officer's quiet hours is moved to their
    end, one the officer cannot get on its channel is skipped with the reason, and the address is the current one.
    """
    with write_transaction(engine) as conn:
        query = (
            sa.select(
                _alert.c.id,
                _alert.c.key,
                _alert.c.loan_officer_id,
                _alert.c.kind,
                _alert.c.channel,
                _alert.c.attempts,
                *OFFICER_COLUMNS,
            )
            .join(_officer, _officer.c.id == _alert.c.loan_officer_id)
            .where(_alert.c.status == PLANNED, _alert.c.scheduled_for <= now)
            .order_by(_alert.c.scheduled_for, _alert.c.id)
            .limit(limit)
        )
        rows = conn.execute(for_update(query, conn, of=_alert)).all()
        claimed: list[ClaimedAlert] = []
        moves: list[dict[str, Any]] = []
        skips: list[dict[str, Any]] = []
        for r in rows:
            address, why = route(reach(r), Channel(r.channel))
            opens = quiet_hours(r).next_open(now)
            if why:
                skips.append({"b_id": r.id, "b_reason": why})
            elif opens > now:
                moves.append(
                    {"b_id": r.id, "b_at": opens, "b_reason": "waits for the end of the officer's quiet hours"}
                )
            else:
                claimed.append(ClaimedAlert(r.id, r.key, r.loan_officer_id, r.kind, r.channel, address, r.attempts + 1))
        planned = sa.and_(_alert.c.id == sa.bindparam("b_id"), _alert.c.status == PLANNED)
        if skips:
            conn.execute(
                _alert.update()
                .where(planned)
                .values(status=TouchStatus.SKIPPED.value, reason=sa.bindparam("b_reason")),
                skips,
            )
        if moves:
            conn.execute(
                _alert.update()
                .where(planned)
                .values(scheduled_for=sa.bindparam("b_at"), reason=sa.bindparam("b_reason")),
                moves,
            )
        if claimed:
            conn.execute(
                _alert.update()
                .where(planned)
                .values(
                    status=SENDING,
                    claimed_by=worker,
                    lease_until=now + lease,
                    send_started_at=None,
                    attempts=sa.bindparam("b_attempts"),
                    to_address=sa.bindparam("b_to"),
                ),
                [{"b_id": c.id, "b_attempts": c.attempts, "b_to": c.to_address} for c in claimed],
            )
            ours = set(
                conn.execute(
                    sa.select(_alert.c.id).where(
                        _alert.c.id.in_([c.id for c in claimed]),
                        _alert.c.claimed_by == worker,
                        _alert.c.status == SENDING,
                    )
                ).scalars()
            )
            claimed = [c for c in claimed if c.id in ours]
    return AlertClaim(claimed, len(moves), len(skips))


@dataclass(frozen=True, slots=True)
class Began:
    """An alert whose send has begun: its words with the real sign-in link (never stored)."""

    subject: str | None
    text: str
    link: str


def begin_alert_send(
    engine: Engine,
    *,
    alert: ClaimedAlert,
    worker: str,
    now: datetime,
    base_url: str,
    brand: str,
    next_path: str = "/calls",
) -> Began | str:
    """Write the alert's words, stamp its send as begun and make its sign-in link, in one transaction.

    Returns the words to send, or why the send must not begin: ``"lost: ..."`` (no longer this worker's;
    nothing written) or ``"skipped: ..."`` (every task it is about was worked meanwhile; now ``skipped``).
    """
    mine = sa.and_(
        _alert.c.id == alert.id,
        _alert.c.status == SENDING,
        _alert.c.claimed_by == worker,
        _alert.c.send_started_at.is_(None),
    )
    with write_transaction(engine) as conn:
        row = conn.execute(
            sa.select(_alert.c.task_ids, *OFFICER_COLUMNS)
            .join(_officer, _officer.c.id == _alert.c.loan_officer_id)
            .where(mine)
        ).first()
        if row is None:
            return "lost: the claim ran out or was settled elsewhere"
        kind = AlertKind(alert.kind)
        lines = open_lines(conn, json.loads(row.task_ids or "[]"), officer_id=alert.officer_id)
        counts = unassigned_counts(conn, now=now) if kind is AlertKind.UNASSIGNED else (0, 0)
        if (kind is AlertKind.UNASSIGNED and not any(counts)) or (kind is not AlertKind.UNASSIGNED and not lines):
            why = "skipped: nothing left to say, every task it was about was worked, closed or reassigned meanwhile"
            conn.execute(
                _alert.update().where(mine).values(status=TouchStatus.SKIPPED.value, reason=why, lease_until=None)
            )
            return why
        stored = placeholder_link(base_url)
        words = compose(
            kind,
            Channel(alert.channel),
            lines=lines,
            link=stored,
            timezone=row.timezone,
            brand=brand,
            unassigned=counts,
        )
        begun = conn.execute(
            _alert.update().where(mine).values(send_started_at=now, subject=words.subject, body_text=words.text)
        ).rowcount
        if begun != 1:
            return "lost: the claim ran out or was settled elsewhere"
        token = create_sign_in_link(conn, officer_id=alert.officer_id, now=now, next_path=next_path)
    link = sign_in_url(base_url, token)
    return Began(words.subject, words.text.replace(stored, link), link)


def open_lines(conn: Connection, task_ids: list[int], *, officer_id: int) -> list[TaskLine]:
    """The tasks of ``task_ids`` still open and still ``officer_id``'s, oldest due first, with their borrowers'
    first names."""
    if not task_ids:
        return []
    rows = conn.execute(
        sa.select(_task.c.id, _task.c.kind, _task.c.key, _task.c.due_at, _lead.c.first_name)
        .join(_lead, _lead.c.id == _task.c.lead_id)
        .where(
            among(conn, _task.c.id, task_ids),
            _task.c.status == TaskStatus.OPEN.value,
            _task.c.loan_officer_id == officer_id,
        )
        .order_by(_task.c.due_at, _task.c.id)
    )
    return [TaskLine(r.id, r.kind, r.key, r.first_name, r.due_at) for r in rows]


def unassigned_counts(conn: Connection, *, now: datetime | None = None) -> tuple[int, int]:
    """(open call tasks, leads still being worked) that have no loan officer; tasks due by ``now`` when given."""
    tasks = sa.select(sa.func.count()).where(_task.c.loan_officer_id.is_(None), _task.c.status == TaskStatus.OPEN.value)
    if now is not None:
        tasks = tasks.where(_task.c.due_at <= now)
    leads = sa.select(sa.func.count()).where(_lead.c.loan_officer_id.is_(None), _lead.c.stage.not_in(CLOSED))
    return int(conn.execute(tasks).scalar_one()), int(conn.execute(leads).scalar_one())


@dataclass(frozen=True, slots=True)
class AlertResult:
    """What happened when one claimed alert was sent."""

    alert_id: int
    status: TouchStatus  # SENT, FAILED, UNKNOWN, or PLANNED again for a retry at ``retry_at``
    reason: str = ""
    provider_id: str | None = None
    retry_at: datetime | None = None


def record_alert_results(engine: Engine, *, results: list[AlertResult], now: datetime, worker: str) -> int:
    """Store each claimed alert's result. Only alerts still leased to ``worker`` are written (``sending``, or
    ``unknown`` when the lease ran out while the provider took its time: the late answer settles it)."""
    if not results:
        return 0
    rows = [
        {
            "b_id": r.alert_id,
            "b_status": r.status.value,
            "b_reason": r.reason[:500],
            "b_pid": r.provider_id,
            "b_sent": now if r.status is TouchStatus.SENT else None,
            "b_sched": r.retry_at,
        }
        for r in results
    ]
    again = [r.alert_id for r in results if r.status is TouchStatus.PLANNED]
    with write_transaction(engine) as conn:
        written = conn.execute(
            _alert.update()
            .where(
                _alert.c.id == sa.bindparam("b_id"),
                _alert.c.claimed_by == worker,
                sa.or_(_alert.c.status == SENDING, _alert.c.status == UNKNOWN),
            )
            .values(
                status=sa.bindparam("b_status"),
                reason=sa.bindparam("b_reason"),
                provider_id=sa.bindparam("b_pid"),
                sent_at=sa.bindparam("b_sent"),
                lease_until=None,
                scheduled_for=sa.func.coalesce(
                    sa.bindparam("b_sched", type_=_alert.c.scheduled_for.type), _alert.c.scheduled_for
                ),
            ),
            rows,
        ).rowcount
        if again:  # a retry is a fresh attempt later: its send has not begun
            conn.execute(
                _alert.update()
                .where(_alert.c.id.in_(again), _alert.c.status == PLANNED)
                .values(send_started_at=None, claimed_by=None)
            )
    return written if written >= 0 else len(rows)


def expire_alert_leases(engine: Engine, *, now: datetime) -> tuple[int, int]:
    """Settle every ``sending`` alert whose lease ran out before ``now``: (planned again, because its send
    never began; unknown, because it did)."""
    late = sa.and_(_alert.c.status == SENDING, _alert.c.lease_until < now)
    with write_transaction(engine) as conn:
        again = conn.execute(
            _alert.update()
            .where(late, _alert.c.send_started_at.is_(None))
            .values(
                status=PLANNED,
                claimed_by=None,
                lease_until=None,
                reason="planned again: the claim ran out before its send began",
            )
        ).rowcount
        unknown = conn.execute(
            _alert.update()
            .where(late, _alert.c.send_started_at.is_not(None))
            .values(
                status=UNKNOWN,
                lease_until=None,
                reason="unknown: the send began but no answer was recorded before the claim ran out",
            )
        ).rowcount
    return again, unknown


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: int
    key: str
    officer: str  # email
    kind: str
    channel: str
    to_address: str
    status: str
    scheduled_for: datetime
    sent_at: datetime | None
    reason: str
    subject: str | None
    body_text: str


def list_alerts(engine: Engine, *, officer_email: str | None = None, limit: int = 200) -> list[AlertRow]:
    """The newest alerts first (of the officer with ``officer_email`` when given: ``OfficerNotFound`` when none
    has it)."""
    query = (
        sa.select(
            _alert.c.id, _alert.c.key, _officer.c.email, _alert.c.kind, _alert.c.channel, _alert.c.to_address,
            _alert.c.status, _alert.c.scheduled_for, _alert.c.sent_at, _alert.c.reason, _alert.c.subject,
            _alert.c.body_text,
        )
        .join(_officer, _officer.c.id == _alert.c.loan_officer_id)
        .order_by(_alert.c.scheduled_for.desc(), _alert.c.id.desc())
        .limit(limit)
    )  # fmt: skip
    with engine.connect() as conn:
        if officer_email is not None:
            email = officer_email.strip().lower()
            found = conn.execute(sa.select(_officer.c.id).where(sa.func.lower(_officer.c.email) == email)).scalar()
            if found is None:
                raise OfficerNotFound(f"no loan officer has the email {officer_email.strip()!r}")
            query = query.where(_alert.c.loan_officer_id == found)
        return [AlertRow(*(getattr(v, "value", v) for v in r)) for r in conn.execute(query)]

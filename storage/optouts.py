"""Opt-outs decided under the lead's lock, and inbound messages and email events stored once per provider id.

Every opt-out path (a STOP text, an email unsubscribe, bounce or spam report, a do-not-call outcome) runs in
one ``write_transaction`` that locks the leads first: :func:`lock_people` takes every lead with the address
(ascending id), then the address itself. Inside it :func:`record_opt_out` decides what this opt-out changes,
records it only then, cancels what was planned on those channels and lists the sends that had already
begun. A second STOP racing the first waits for the first to commit, finds its record and changes nothing.
Dispatch's ``begin_send`` takes the same lead lock, so a send either began before the opt-out committed (and
is among its ``begun``) or never begins.

A STOP text reads what it decides from once, under those locks (:func:`read_people`: the leads' states and every
suppression row that may bear on them), and writes in one round trip on PostgreSQL (``lead_events.stop_all``):
five statements in all.

START re-subscribes texts; :func:`resume_cadences` then puts a lead that a do-not-contact stopped mid-cadence
back where its cadence stands, for its texts (the other channels stay opted out).

A provider's retry of a webhook (the same Twilio MessageSid or SendGrid sg_event_id) inserts nothing:
:mod:`storage.provider_log` inserts or ignores on that id, under the same locks, so
the retry finds the first delivery's row and does nothing again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nurture.actions import Channel, SuppressionAction, TaskKind, TaskStatus, TouchStatus
from nurture.planner import LeadSnapshot, fast_forward
from nurture.states import CadenceStatus, Event, Stage, allowed, restores
from storage.cadences import CadenceRegistry
from storage.compliance import (
    ALL_CHANNELS,
    latest_opt_outs,
    leads_with_address,
    opted_out_among,
    opted_out_now,
    record_suppression,
    sms_opted_out_among,
    suppression_rows,
)
from storage.lead_events import apply_event, history_rows, stop_all
from storage.locks import address_lock, lock_address, write_transaction
from storage.models import (
    CadencePosition,
    CallTask,
    Lead,
    LeadHistory,
    Suppression,
    Touch,
    table,
)

_touch = table(Touch)
_task = table(CallTask)
_sup = table(Suppression)
_pos = table(CadencePosition)
_lead = table(Lead)
_hist = table(LeadHistory)

T = TypeVar("T")
LOCK_ATTEMPTS = 5


class AddressMoved(RuntimeError):
    """A lead gained or lost the address while the leads with it were being locked: run the work again."""


def _has_address(address: str | sa.BindParameter[str]) -> sa.ColumnElement[bool]:
    return sa.or_(_lead.c.phone == address, _lead.c.alt_phone == address, _lead.c.email == address)


# The statements a STOP runs, built once (building and keying them costs more Python than running them).
_ADDRESS = sa.bindparam("address", type_=sa.String())
_LOCK_LEADS = sa.select(_lead.c.id).where(_has_address(_ADDRESS)).order_by(_lead.c.id).with_for_update()


def _people_query(*, lock_address: bool) -> sa.Select[Any]:
    """The leads with the address and their states (ascending id); ``lock_address``: in one row that takes the
    address's lock (PostgreSQL), joined to the leads (none: one row of nulls)."""

    def exists(*where: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
        return sa.exists().where(_touch.c.lead_id == _lead.c.id, *where)

    tasks = sa.exists().where(
        _task.c.lead_id == _lead.c.id,
        _task.c.status.in_([TaskStatus.OPEN.value, TaskStatus.HELD.value]),
        _task.c.kind == TaskKind.CADENCE.value,
    )
    columns = (_lead.c.id, _lead.c.phone, _lead.c.alt_phone, _lead.c.email, _lead.c.stage, _pos.c.status)
    flags = (exists(_touch.c.status == TouchStatus.PLANNED.value).label("planned"), tasks.label("tasks"),
             exists(_touch.c.send_started_at.is_not(None)).label("begun"))  # fmt: skip
    query = sa.select(*columns, *flags).order_by(_lead.c.id)
    leads_and_positions = _lead.outerjoin(_pos, _pos.c.lead_id == _lead.c.id)
    if not lock_address:
        return query.select_from(leads_and_positions).where(_has_address(_ADDRESS))
    held = sa.select(address_lock(_ADDRESS).label("held")).subquery("held")
    return query.select_from(held.outerjoin(leads_and_positions, _has_address(_ADDRESS)))


_PEOPLE = {False: _people_query(lock_address=False), True: _people_query(lock_address=True)}
_SUPPRESSIONS = (
    sa.select(_sup)
    .where(
        sa.or_(
            _sup.c.address.in_(sa.bindparam("addresses", expanding=True)),
            _sup.c.lead_id.in_(sa.bindparam("lead_ids", expanding=True)),
        )
    )
    .order_by(_sup.c.at, _sup.c.id)
)


def _lock_leads_with(conn: Connection, address: str) -> list[int] | None:
    """PostgreSQL: lock every lead with ``address`` (ascending id: the locks are taken in the sorted order) and
    return them. SQLite: None (``write_transaction`` holds the only write lock already)."""
    if conn.dialect.name != "postgresql":
        return None
    return list(conn.execute(_LOCK_LEADS, {"address": address}).scalars())


def lock_people(conn: Connection, address: str) -> list[int]:
    """Lock every lead whose phone, second phone or email is ``address`` (ascending id), then the address; return
    the leads. Raises :class:`AddressMoved` when the leads with the address changed meanwhile."""
    locked = _lock_leads_with(conn, address)
    if locked is not None:
        lock_address(conn, address)
    lead_ids = leads_with_address(conn, address)
    if locked is not None and lead_ids != locked:
        raise AddressMoved(address)
    return lead_ids


@dataclass(frozen=True, slots=True)
class People:
    """The leads with one address, read under :func:`lock_people`'s locks, and what an opt-out decides from."""

    address: str
    leads: tuple[Any, ...]  # ascending id: id, phone, alt_phone, email, stage, the position's status, and flags
    suppressions: tuple[Any, ...]  # oldest first: every row naming the address, one of the leads or their addresses

    @property
    def lead_ids(self) -> list[int]:
        return [r.id for r in self.leads]

    @property
    def planned(self) -> bool:
        """Whether one of the leads has a planned touch."""
        return any(r.planned for r in self.leads)

    @property
    def tasks(self) -> bool:
        """Whether one of the leads has an open or held cadence call task."""
        return any(r.tasks for r in self.leads)

    @property
    def begun(self) -> bool:
        """Whether one of the leads has a touch whose send began."""
        return any(r.begun for r in self.leads)

    def sms_opted_out(self) -> bool:
        """:func:`storage.compliance.sms_opted_out` for the address and its leads."""
        return sms_opted_out_among(self.suppressions, self.address, self.lead_ids)


def read_people(conn: Connection, address: str) -> People:
    """:func:`lock_people`, and the leads' states and suppression rows read under its locks: the leads are locked,
    then (PostgreSQL) the query that reads their states takes the address's lock, and the suppressions are read
    once both are held."""
    locked = _lock_leads_with(conn, address)
    found = conn.execute(_PEOPLE[locked is not None], {"address": address}).all()
    leads = tuple(r for r in found if r.id is not None)
    if locked is not None and [r.id for r in leads] != locked:
        raise AddressMoved(address)
    addresses = sorted({address} | {a for r in leads for a in (r.phone, r.alt_phone, r.email) if a is not None})
    rows = conn.execute(_SUPPRESSIONS, {"addresses": addresses, "lead_ids": [r.id for r in leads]}).all()
    return People(address, leads, tuple(rows))


def _attempts(engine: Engine, address: str, work: Callable[[Connection], T]) -> T:
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        try:
            with write_transaction(engine) as conn:
                return work(conn)
        except AddressMoved:
            if attempt == LOCK_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def with_people_locked(engine: Engine, address: str, work: Callable[[Connection, list[int]], T]) -> T:
    """Run ``work(conn, lead_ids)`` in a write transaction holding :func:`lock_people` for ``address``, and
    commit. Runs it again (a few times) when the leads with the address changed while they were being locked."""
    return _attempts(engine, address, lambda conn: work(conn, lock_people(conn, address)))


def with_people_read(engine: Engine, address: str, work: Callable[[Connection, People], T]) -> T:
    """:func:`with_people_locked`, handing ``work`` the :class:`People` read under the locks."""
    return _attempts(engine, address, lambda conn: work(conn, read_people(conn, address)))


@dataclass(frozen=True, slots=True)
class OptOut:
    changed: tuple[Channel, ...]  # channels this opt-out newly stopped, for the address or one of its leads
    cancelled_touches: int  # planned messages on those channels that will not go
    cancelled_tasks: int  # open cadence call tasks that will not be worked (when calls are among the channels)
    begun: tuple[str, ...]  # keys of the leads' touches on those channels whose send began before this committed


def address_opt_outs(conn: Connection, address: str) -> dict[Channel, str]:
    """The channels ``address`` itself is opted out of (rows naming it apply to every lead that has it)."""
    rows = conn.execute(sa.select(_sup).where(_sup.c.address == address).order_by(_sup.c.at, _sup.c.id)).all()
    return latest_opt_outs(rows)


def record_opt_out(
    conn: Connection,
    *,
    lead_ids: Collection[int],
    address: str | None,
    channels: Iterable[Channel],
    source: str,
    reason: str,
    at: datetime,
    actor: str,
    people: People | None = None,
) -> OptOut:
    """Opt ``lead_ids`` and ``address`` out of ``channels``, inside a transaction that holds their locks.

    Suppression rows are written only when the opt-out changes something (a repeat adds nothing to the
    log). Opting out of every channel moves each lead to do-not-contact; in any case every planned touch
    on those channels is cancelled, and so are open cadence call tasks when calls are among them.
    ``people``: what :func:`read_people` read for ``address`` under these locks (then ``lead_ids`` are its
    leads); the opt-out is decided from it instead of reading it again.
    """
    wanted = tuple(dict.fromkeys(channels))
    ids = sorted(set(lead_ids))
    if people is not None:
        if address != people.address or ids != people.lead_ids:
            raise ValueError("people were read for another address or other leads")
        per_lead = opted_out_among(people.leads, people.suppressions)
        at_address = latest_opt_outs(r for r in people.suppressions if r.address == address)
    else:
        per_lead = opted_out_now(conn, ids) if ids else {}
        at_address = address_opt_outs(conn, address) if address else {}
    changed = tuple(
        c
        for c in wanted
        if (address is not None and c not in at_address) or any(c not in per_lead.get(i, {}) for i in ids)
    )
    every_channel = set(wanted) >= set(ALL_CHANNELS)
    together = every_channel and people is not None  # the suppressions go with the leads' do-not-contact below
    if changed and not together:
        record_suppression(conn, action=SuppressionAction.OPT_OUT, channels=wanted, lead_ids=ids, address=address,
                           source=source, reason=reason, at=at)  # fmt: skip
    begun: tuple[str, ...] = ()
    if ids and (people is None or people.begun):
        begun = tuple(
            conn.execute(
                sa.select(_touch.c.key)
                .where(
                    _touch.c.lead_id.in_(ids),
                    _touch.c.channel.in_([c.value for c in wanted]),
                    _touch.c.send_started_at.is_not(None),
                )
                .order_by(_touch.c.id)
            ).scalars()
        )
    touches = tasks = 0
    if together:
        assert people is not None
        # every lead is stopped (do-not-contact is allowed from anywhere), cancelling all it had planned and
        # its open or held cadence tasks: the cancellations below would find nothing left
        rows = suppression_rows(action=SuppressionAction.OPT_OUT, channels=wanted, lead_ids=ids, address=address,
                                source=source, reason=reason, at=at) if changed else []  # fmt: skip
        touches, tasks = stop_all(conn, people.leads, at=at, reason=f"opted out: {reason}", actor=actor,
                                  planned=people.planned, tasks=people.tasks, suppressions=rows)  # fmt: skip
        return OptOut(changed, touches, tasks, begun)
    if every_channel:
        for lead_id in ids:
            result = apply_event(conn, lead_id=lead_id, event=Event.DO_NOT_CONTACT, at=at,
                                 reason=f"opted out: {reason}", actor=actor, strict=False, suppress=False)  # fmt: skip
            if result is not None:
                touches += result.cancelled_touches
                tasks += result.cancelled_tasks
    if people is None or people.planned:
        touches += cancel_planned(conn, ids, wanted, at=at, reason=f"cancelled: opted out ({source})")
    if Channel.CALL in wanted and ids and (people is None or people.tasks):
        tasks += (
            conn.execute(
                _task.update()
                .where(
                    _task.c.lead_id.in_(ids),
                    _task.c.status == TaskStatus.OPEN.value,
                    _task.c.kind == TaskKind.CADENCE.value,
                )
                .values(status=TaskStatus.CANCELLED.value)
            ).rowcount
            or 0
        )
    return OptOut(changed, touches, tasks, begun)


def cancel_planned(conn: Connection, lead_ids: Collection[int], channels: Iterable[Channel], *, at: datetime,
                   reason: str) -> int:  # fmt: skip
    """Cancel the planned touches of ``lead_ids`` on ``channels``; returns how many."""
    if not lead_ids:
        return 0
    result = conn.execute(
        _touch.update()
        .where(
            _touch.c.lead_id.in_(list(lead_ids)),
            _touch.c.channel.in_([c.value for c in channels]),
            _touch.c.status == TouchStatus.PLANNED.value,
        )
        .values(status=TouchStatus.CANCELLED.value, reason=reason[:500], updated_at=at)
    )
    return result.rowcount or 0


@dataclass(frozen=True, slots=True)
class Resumed:
    """A lead whose cadence goes on after it texted START: where it stands, and the next text still ahead."""

    lead_id: int
    status: CadenceStatus
    next_step: str | None  # the step the next tick plans (None: no step left; the cadence ends)
    next_due_at: datetime | None
    next_text: str | None  # the next text step of the cadence from here on (None: no text is left in it)


def resume_cadences(
    conn: Connection, *, lead_ids: Collection[int], registry: CadenceRegistry, at: datetime, actor: str
) -> tuple[Resumed, ...]:
    """Put back into automation, inside the caller's transaction (holding their locks), each of ``lead_ids``
    that a do-not-contact stopped while its cadence was running; call it once texts are re-subscribed (START).

    The cadence goes on from where it stood: the steps that fell due while the lead was opted out are passed
    over, not sent late, and the next tick plans the next one. Calls, voicemail and email stay opted out, so
    only its texts go. A lead stopped otherwise (lost), or stopped while a loan officer had it, stays stopped.
    """
    ids = sorted(set(lead_ids))
    if not ids:
        return ()
    rows = conn.execute(
        sa.select(_pos, _lead.c.stage, _lead.c.timezone)
        .join(_lead, _lead.c.id == _pos.c.lead_id)
        .where(_pos.c.lead_id.in_(ids), _pos.c.status == CadenceStatus.STOPPED.value)
        .order_by(_pos.c.lead_id)
    ).all()
    stopping = {  # the row that stopped each lead: the latest that moved it to stopped from elsewhere
        lead_id: (event, before)
        for lead_id, event, before in conn.execute(
            sa.select(_hist.c.lead_id, _hist.c.event, _hist.c.cadence_from)
            .where(
                _hist.c.lead_id.in_([r.lead_id for r in rows]),
                _hist.c.cadence_to == CadenceStatus.STOPPED.value,
                _hist.c.cadence_from != CadenceStatus.STOPPED.value,
            )
            .order_by(_hist.c.id)
        )
    }
    resumed = []
    for r in rows:
        event, before = stopping.get(r.lead_id, (None, None))
        stage = Stage(r.stage)
        if event != Event.DO_NOT_CONTACT.value or before not in restores(Event.RESUBSCRIBED):
            continue
        if not allowed(Event.RESUBSCRIBED, stage=stage, cadence=CadenceStatus.STOPPED):
            continue
        cadence = registry.get(r.cadence_name, r.cadence_version)
        snap = LeadSnapshot(r.lead_id, r.timezone, r.anchor_date, r.enrolled_at, r.step_index, r.repeat,
                            CadenceStatus(before), True, True)  # fmt: skip
        here = fast_forward(snap, cadence, at)
        history, stage_to, _ = history_rows(r.lead_id, stage, CadenceStatus.STOPPED,
                                            [Event.RESUBSCRIBED, *here.events], at=at, actor=actor,
                                            restore=CadenceStatus(before))  # fmt: skip
        conn.execute(
            _pos.update()
            .where(_pos.c.lead_id == r.lead_id, _pos.c.status == CadenceStatus.STOPPED.value)
            .values(status=here.status.value, step_index=here.step_index, repeat=here.repeat,
                    next_due_at=here.next_due_at, updated_at=at)
        )  # fmt: skip
        if stage_to != stage:
            conn.execute(_lead.update().where(_lead.c.id == r.lead_id).values(stage=stage_to.value, updated_at=at))
        conn.execute(_hist.insert(), history)
        ahead = cadence.steps[here.step_index :]
        texts = [s.id for s in ahead if s.channel is Channel.SMS]
        resumed.append(
            Resumed(r.lead_id, here.status, ahead[0].id if ahead else None, here.next_due_at, next(iter(texts), None))
        )
    return tuple(resumed)

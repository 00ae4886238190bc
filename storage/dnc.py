"""DNC re-scrub: the numbers whose phone contact waits on a scrub, and a scrub's results applied.

The gate's ``dnc_scrub`` rule holds phone contact while a lead's scrub is missing or older than the rule
table allows: a held touch stays ``planned`` with a ``held: dnc_scrub`` reason (dispatch looks at it again
a day later), a held call task is ``held`` and off the officer's list. :func:`apply_scrub` records a scrub
and, in the same transaction, runs the gate again on every held item of the leads it touched: each is
released (due now, or when the gate next allows), blocked (a listed number) or left held (still stale).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nurture.actions import Channel, TaskKind, TaskStatus, TouchStatus
from nurture.cadence import Window
from nurture.dnc_scrub import ScrubResult
from nurture.gate import ContactFacts, ContactRequest, Policy, Ruling, Verdict, allowed_until, check
from nurture.gate_plan import SCRUB_HELD, decision_line, verdict_reason
from nurture.states import AUTOMATED
from storage.cadences import CadenceRegistry
from storage.compliance import contacts_since, load_facts
from storage.locks import lock_leads, write_transaction
from storage.models import CadencePosition, CallTask, Lead, Touch, table
from storage.sql import among

_lead = table(Lead)
_touch = table(Touch)
_task = table(CallTask)
_pos = table(CadencePosition)
_PHONE = [Channel.CALL.value, Channel.SMS.value, Channel.VOICEMAIL.value]
_AUTOMATED = {s.value for s in AUTOMATED}


@dataclass(frozen=True, slots=True)
class DueNumber:
    """A phone number whose touches or call tasks wait on a DNC scrub."""

    number: str
    leads: int
    touches: int  # automated texts and voicemails held
    tasks: int  # call tasks held
    scrubbed_on: date | None  # the oldest last scrub among its leads (None: one was never scrubbed)
    held_since: datetime  # when the oldest of its held items was created

    @property
    def items(self) -> int:
        return self.touches + self.tasks


def _held_touches() -> Any:
    return sa.and_(
        _touch.c.status == TouchStatus.PLANNED.value,
        _touch.c.channel.in_(_PHONE),
        _touch.c.reason.startswith(SCRUB_HELD, autoescape=True),
    )


def due_numbers(*, engine: Engine) -> list[DueNumber]:
    """Every phone number with a touch or call task held for a DNC scrub, most items first."""
    touches = (
        sa.select(_touch.c.lead_id, sa.func.count().label("n"), sa.func.min(_touch.c.created_at).label("since"))
        .where(_held_touches())
        .group_by(_touch.c.lead_id)
    )
    tasks = (
        sa.select(_task.c.lead_id, sa.func.count().label("n"), sa.func.min(_task.c.created_at).label("since"))
        .where(_task.c.status == TaskStatus.HELD.value)
        .group_by(_task.c.lead_id)
    )
    held: dict[int, list[Any]] = defaultdict(lambda: [0, 0, None])
    with engine.connect() as conn:
        for i, query in enumerate((touches, tasks)):
            for r in conn.execute(query):
                entry = held[r.lead_id]
                entry[i] += r.n
                entry[2] = r.since if entry[2] is None else min(entry[2], r.since)
        if not held:
            return []
        leads = conn.execute(
            sa.select(_lead.c.id, _lead.c.phone, _lead.c.dnc_scrubbed_on).where(
                among(conn, _lead.c.id, sorted(held)), _lead.c.phone.is_not(None)
            )
        ).all()
    by_number: dict[str, list[Any]] = {}
    for lead in leads:
        touches_n, tasks_n, since = held[lead.id]
        entry = by_number.setdefault(lead.phone, [0, 0, 0, lead.dnc_scrubbed_on, since, False])
        entry[0] += 1
        entry[1] += touches_n
        entry[2] += tasks_n
        entry[5] = entry[5] or lead.dnc_scrubbed_on is None
        if lead.dnc_scrubbed_on is not None and entry[3] is not None:
            entry[3] = min(entry[3], lead.dnc_scrubbed_on)
        entry[4] = min(entry[4], since)
    out = [DueNumber(number, e[0], e[1], e[2], None if e[5] else e[3], e[4]) for number, e in by_number.items()]
    return sorted(out, key=lambda d: (-d.items, d.held_since, d.number))


@dataclass
class ScrubOutcome:
    numbers: int = 0  # distinct numbers in the file
    unknown: list[str] = field(default_factory=list)  # numbers no lead has
    leads_updated: int = 0
    older_than_on_file: int = 0  # leads whose scrub on file was newer than the file's: kept as it was
    released_touches: int = 0
    released_tasks: int = 0
    blocked_touches: int = 0
    blocked_tasks: int = 0
    cancelled_tasks: int = 0  # held cadence calls of leads no longer in an automated cadence
    still_held: int = 0  # items the gate still holds (a scrub too old to count)


def apply_scrub(
    *,
    engine: Engine,
    registry: CadenceRegistry,
    policy: Policy,
    results: Sequence[ScrubResult],
    now: datetime,
) -> ScrubOutcome:
    """Record ``results`` on the leads with each number (a scrub older than the one on file changes nothing)
    and release or block what was held for them, all in one transaction."""
    out = ScrubOutcome(numbers=len(results))
    by_number = {r.number: r for r in results}
    with write_transaction(engine) as conn:
        numbers = sorted(by_number)
        ids = conn.execute(sa.select(_lead.c.id).where(among(conn, _lead.c.phone, numbers))).scalars().all()
        lock_leads(conn, ids)
        leads = (
            conn.execute(
                sa.select(_lead.c.id, _lead.c.phone, _lead.c.dnc_scrubbed_on).where(among(conn, _lead.c.id, ids))
            ).all()
            if ids
            else []
        )
        known = {lead.phone for lead in leads}
        out.unknown = [n for n in numbers if n not in known]
        updates = []
        for lead in leads:
            result = by_number[lead.phone]
            if lead.dnc_scrubbed_on is not None and lead.dnc_scrubbed_on > result.scrubbed_on:
                out.older_than_on_file += 1
                continue
            updates.append({"b_id": lead.id, "b_listed": result.listed, "b_on": result.scrubbed_on})
        if updates:
            conn.execute(
                _lead.update()
                .where(_lead.c.id == sa.bindparam("b_id"))
                .values(dnc_listed=sa.bindparam("b_listed"), dnc_scrubbed_on=sa.bindparam("b_on"), updated_at=now),
                updates,
            )
        out.leads_updated = len(updates)
        if updates:
            _recheck_held(conn, sorted(u["b_id"] for u in updates), registry, policy, now, out)
    return out


def _window(registry: CadenceRegistry, name: str | None, version: int | None, step_id: str | None) -> Window | None:
    if name is None or version is None or step_id is None:
        return None
    try:
        cadence = registry.get(name, version)
        return cadence.steps[cadence.index_of(step_id.split("#")[0])].window
    except KeyError:
        return None  # a step of another cadence (the lead has moved on since): quiet hours still apply


def _recheck_held(
    conn: Connection, ids: list[int], registry: CadenceRegistry, policy: Policy, now: datetime, out: ScrubOutcome
) -> None:
    facts = load_facts(conn, ids, since=contacts_since(now))
    pos = sa.select(
        _pos.c.lead_id, _pos.c.cadence_name, _pos.c.cadence_version, _pos.c.status.label("cadence_status")
    ).subquery()
    touches = conn.execute(
        sa.select(
            _touch.c.id,
            _touch.c.key,
            _touch.c.lead_id,
            _touch.c.channel,
            _touch.c.step_id,
            pos.c.cadence_name,
            pos.c.cadence_version,
        )
        .outerjoin(pos, pos.c.lead_id == _touch.c.lead_id)
        .where(among(conn, _touch.c.lead_id, ids), _held_touches())
        .order_by(_touch.c.lead_id, _touch.c.scheduled_for, _touch.c.id)
    ).all()
    tasks = conn.execute(
        sa.select(
            _task.c.id,
            _task.c.key,
            _task.c.lead_id,
            _task.c.kind,
            _task.c.step_id,
            _task.c.due_at,
            _task.c.note,
            pos.c.cadence_name,
            pos.c.cadence_version,
            pos.c.cadence_status,
        )
        .outerjoin(pos, pos.c.lead_id == _task.c.lead_id)
        .where(among(conn, _task.c.lead_id, ids), _task.c.status == TaskStatus.HELD.value)
        .order_by(_task.c.lead_id, _task.c.due_at, _task.c.id)
    ).all()
    touch_rows: list[dict[str, Any]] = []
    task_rows: list[dict[str, Any]] = []
    for t in touches:
        lead = facts[t.lead_id]
        req, verdict, line = _recheck(t, Channel(t.channel), now, False, lead, registry, policy, now)
        if verdict.ruling is Ruling.HOLD:
            out.still_held += 1
            continue
        blocked = verdict.ruling is Ruling.BLOCK
        out.blocked_touches += blocked
        out.released_touches += not blocked
        touch_rows.append(
            {
                "b_id": t.id,
                "b_status": (TouchStatus.BLOCKED if blocked else TouchStatus.PLANNED).value,
                "b_at": verdict.at if not blocked else now,
                "b_until": allowed_until(req, lead, policy, verdict.at) if not blocked else now,
                "b_reason": verdict_reason(verdict),
                "b_line": line,
            }
        )
        if not blocked:
            facts[t.lead_id] = lead.with_contact(verdict.at, req.channel, t.key)
    for k in tasks:
        lead = facts[k.lead_id]
        note = _without_hold(k.note)
        if k.kind == TaskKind.CADENCE.value and k.cadence_status not in _AUTOMATED:
            out.cancelled_tasks += 1
            reason = f"cancelled on release: lead is {k.cadence_status or 'in no cadence'}"
            task_rows.append(_task_row(k, TaskStatus.CANCELLED, k.due_at, None, note, reason, ""))
            continue
        req, verdict, line = _recheck(k, Channel.CALL, max(now, k.due_at), True, lead, registry, policy, now)
        if verdict.ruling is Ruling.HOLD:
            out.still_held += 1
            continue
        if verdict.ruling is Ruling.BLOCK:
            out.blocked_tasks += 1
            task_rows.append(_task_row(k, TaskStatus.BLOCKED, k.due_at, None, note, verdict_reason(verdict), line))
            continue
        out.released_tasks += 1
        until = max(allowed_until(req, lead, policy, verdict.at), verdict.at)
        scrubbed = f"released by the DNC scrub of {lead.dnc_scrubbed_on}"
        task_rows.append(_task_row(k, TaskStatus.OPEN, verdict.at, until, note, scrubbed, line))
        facts[k.lead_id] = lead.with_contact(verdict.at, Channel.CALL, k.key)
    if touch_rows:
        conn.execute(
            _touch.update()
            .where(_touch.c.id == sa.bindparam("b_id"), _touch.c.status == TouchStatus.PLANNED.value)
            .values(
                status=sa.bindparam("b_status"),
                scheduled_for=sa.bindparam("b_at"),
                not_after=sa.bindparam("b_until"),
                reason=sa.bindparam("b_reason"),
                decisions=_touch.c.decisions + sa.bindparam("b_line"),
                updated_at=now,
            ),
            touch_rows,
        )
    if task_rows:
        conn.execute(
            _task.update()
            .where(_task.c.id == sa.bindparam("b_id"), _task.c.status == TaskStatus.HELD.value)
            .values(
                status=sa.bindparam("b_status"),
                due_at=sa.bindparam("b_due"),
                expires_at=sa.func.coalesce(sa.bindparam("b_until", type_=_task.c.expires_at.type), _task.c.expires_at),
                note=sa.bindparam("b_note"),
                decisions=_task.c.decisions + sa.bindparam("b_line"),
            ),
            task_rows,
        )


def _recheck(
    row: Any,
    channel: Channel,
    at: datetime,
    human: bool,
    lead: ContactFacts,
    registry: CadenceRegistry,
    policy: Policy,
    now: datetime,
) -> tuple[ContactRequest, Verdict, str]:
    """The gate's verdict on a held touch or task (``row``) at ``at``, and its decision-log line."""
    window = _window(registry, row.cadence_name, row.cadence_version, row.step_id)
    req = ContactRequest(channel, at, human=human, window=window, to=lead.phone, key=row.key)
    verdict = check(req, lead, policy)
    return req, verdict, "\n" + decision_line("rescrub", verdict, now)


def _without_hold(note: str) -> str:
    """A held task's note without the hold's reason (the gate appended it after the original note)."""
    cut = note.find(SCRUB_HELD)
    return (note[:cut] if cut >= 0 else note).rstrip("; ")


def _task_row(
    k: Any, status: TaskStatus, due: datetime, until: datetime | None, note: str, why: str, line: str
) -> dict[str, Any]:
    return {
        "b_id": k.id,
        "b_status": status.value,
        "b_due": due,
        "b_until": until,
        "b_note": "; ".join(filter(None, [note, why]))[:1000],
        "b_line": line,
    }


def held_counts(*, engine: Engine) -> dict[str, int]:
    """What waits on a DNC scrub: held touches, held call tasks and the distinct phone numbers they go to."""
    with engine.connect() as conn:
        touches = conn.execute(sa.select(sa.func.count()).where(_held_touches())).scalar_one()
        tasks = conn.execute(sa.select(sa.func.count()).where(_task.c.status == TaskStatus.HELD.value)).scalar_one()
        lead_ids = sa.union(
            sa.select(_touch.c.lead_id).where(_held_touches()),
            sa.select(_task.c.lead_id).where(_task.c.status == TaskStatus.HELD.value),
        ).subquery()
        numbers = conn.execute(
            sa.select(sa.func.count(sa.distinct(_lead.c.phone))).where(_lead.c.id.in_(sa.select(lead_ids.c.lead_id)))
        ).scalar_one()
    return {"touches": touches, "call_tasks": tasks, "numbers": numbers}

"""Apply a lead event (a logged call outcome, a reply, a pipeline step) and its side effects.

Every change goes through :func:`nurture.states.apply` and leaves a
``lead_history`` row. Leaving automation cancels what was planned but not sent,
in the same transaction, so nothing goes out after a live contact. A
do-not-contact event also writes the person's opt-out on every channel to the
suppression log, so it outlives the lead row (a re-imported copy stays quiet).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nurture.actions import Channel, Outcome, SuppressionAction, TaskKind, TaskStatus, TouchStatus
from nurture.documents import CADENCE as DOCUMENTS_CADENCE
from nurture.states import AUTOMATED, CadenceStatus, Event, Stage, StateChange, allowed, apply, restores
from storage.compliance import ALL_CHANNELS, record_suppression
from storage.locks import lock_leads, write_transaction
from storage.models import CadencePosition, CallTask, Lead, LeadHistory, Suppression, Touch, table
from storage.sql import Write, write_all

_pos = table(CadencePosition)
_lead = table(Lead)
_touch = table(Touch)
_task = table(CallTask)
_hist = table(LeadHistory)
_sup = table(Suppression)

OUTCOME_EVENTS: dict[Outcome, Event | None] = {
    Outcome.NO_ANSWER: None,
    Outcome.VOICEMAIL: None,
    Outcome.REACHED: Event.LIVE_CONTACT,
    Outcome.EDUCATED: Event.EDUCATED,
    Outcome.DOCS_REQUESTED: Event.DOCS_REQUESTED,
    Outcome.NOT_INTERESTED: Event.NOT_INTERESTED,
    Outcome.WRONG_NUMBER: Event.WRONG_NUMBER,
    Outcome.DO_NOT_CALL: Event.DO_NOT_CONTACT,
}


# A position's home enrollment (``storage.tick.HOME_COLUMNS``) and the columns it goes back into.
_HOME = (_pos.c.home_cadence_name, _pos.c.home_cadence_version, _pos.c.home_anchor_date, _pos.c.home_enrolled_at,
         _pos.c.home_step_index, _pos.c.home_repeat)  # fmt: skip


def _back_home(row: Any) -> dict[str, object]:
    """The position's values that put it back on its home enrollment, the home cleared."""
    back: dict[str, object] = {c.name.removeprefix("home_"): getattr(row, c.name) for c in _HOME}
    return back | dict.fromkeys((c.name for c in _HOME), None) | {"reason": ""}


class LeadNotFound(LookupError):
    pass


class TaskNotOpen(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class EventResult:
    change: StateChange
    cancelled_touches: int
    cancelled_tasks: int
    handoff_task_id: int | None


def apply_event(
    conn: Connection,
    *,
    lead_id: int,
    event: Event,
    at: datetime,
    reason: str = "",
    actor: str = "system",
    note: str = "",
    strict: bool = True,
    suppress: bool = True,
    task_key: str | None = None,
) -> EventResult | None:
    """Apply ``event`` to the lead inside the caller's transaction (which should hold the lead's lock:
    ``storage.locks``; on PostgreSQL the lead row is locked here too).

    ``suppress=False`` leaves the suppression log to the caller (who wrote it with more detail).
    ``task_key`` names the hand-off task, when the event creates one (default: from the event and ``at``).

    With ``strict=False`` an event the lead's states do not allow is ignored
    (returns None) instead of raising: a late "reached" on a lead that has
    moved on is not an error.
    """
    query = (
        sa.select(_lead.c.stage, _lead.c.loan_officer_id, _pos.c.status, _pos.c.cadence_name, *_HOME)
        .select_from(_lead.outerjoin(_pos, _pos.c.lead_id == _lead.c.id))
        .where(_lead.c.id == lead_id)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=_lead)
    row = conn.execute(query).first()
    if row is None:
        raise LeadNotFound(f"no lead with id {lead_id}")
    stage = Stage(row.stage)
    cadence = CadenceStatus(row.status) if row.status else CadenceStatus.HANDED_OFF
    if not strict and not allowed(event, stage=stage, cadence=cadence):
        return None
    change = apply(event, stage=stage, cadence=cadence)

    if change.stage_to != stage or event is Event.WRONG_NUMBER:
        values: dict[str, object] = {"stage": change.stage_to.value, "updated_at": at}
        if event is Event.WRONG_NUMBER:
            values["phone_ok"] = False
        conn.execute(_lead.update().where(_lead.c.id == lead_id).values(**values))
    left_documents = False
    if row.status and change.cadence_to != cadence:
        pos_values: dict[str, object] = {"status": change.cadence_to.value, "updated_at": at}
        if change.cadence_to is CadenceStatus.NURTURING:
            pos_values["next_due_at"] = at  # the next tick moves it to the nurture steps
            if row.cadence_name == DOCUMENTS_CADENCE and row.home_cadence_name is not None:
                pos_values |= _back_home(row)  # the documents sequence has none: the enrollment it came from
                left_documents = True
        conn.execute(_pos.update().where(_pos.c.lead_id == lead_id).values(**pos_values))
    conn.execute(
        _hist.insert().values(
            lead_id=lead_id,
            at=at,
            event=event.value,
            stage_from=stage.value,
            stage_to=change.stage_to.value,
            cadence_from=cadence.value,
            cadence_to=change.cadence_to.value,
            reason=(reason or change.note)[:500],
            actor=actor[:120],
        )
    )

    if event is Event.DO_NOT_CONTACT and suppress:
        phone = conn.execute(sa.select(_lead.c.phone).where(_lead.c.id == lead_id)).scalar()
        record_suppression(
            conn,
            action=SuppressionAction.OPT_OUT,
            channels=ALL_CHANNELS,
            lead_ids=[lead_id],
            address=phone,
            source=actor[:64],
            reason=(reason or change.note)[:500],
            at=at,
        )
    cancelled_touches = cancelled_tasks = 0
    handoff_id = None
    if change.cadence_to not in AUTOMATED:
        cancelled_touches = _cancel_touches(conn, lead_id, at, f"cancelled: {event.value}", None)
        cancelled_tasks = _cancel_cadence_tasks(conn, lead_id)
    elif event in (Event.NOT_INTERESTED, Event.WRONG_NUMBER):
        phone = [Channel.SMS.value, Channel.VOICEMAIL.value]
        cancelled_touches = _cancel_touches(conn, lead_id, at, f"cancelled: {event.value}", phone)
        cancelled_tasks = _cancel_cadence_tasks(conn, lead_id)
    if left_documents:  # its emails name the sequence's deadlines: none goes once the lead has left it
        cancelled_touches += _cancel_touches(conn, lead_id, at, f"cancelled: {event.value}", None,
                                             key_like=f"{lead_id}:{DOCUMENTS_CADENCE}:%")  # fmt: skip
    # documents in: the loan officer who logged it needs no task telling them so (their reminders stop above)
    hands_over = event is not Event.DOCS_RECEIVED
    if change.cadence_to is CadenceStatus.HANDED_OFF and cadence is not CadenceStatus.HANDED_OFF and hands_over:
        kind = TaskKind.REPLY if event is Event.INBOUND_REPLY else TaskKind.HANDOFF
        handoff_id = conn.execute(
            _task.insert()
            .values(
                key=task_key or f"{lead_id}:{kind.value}:{event.value}:{at.isoformat()}",
                lead_id=lead_id,
                loan_officer_id=row.loan_officer_id,
                kind=kind.value,
                step_id=None,
                template=kind.value,
                due_at=at,
                expires_at=None,
                priority=20 if kind is TaskKind.REPLY else 10,
                status=TaskStatus.OPEN.value,
                note=note[:1000],
                created_at=at,
            )
            .returning(_task.c.id)
        ).scalar_one()
    return EventResult(change, cancelled_touches, cancelled_tasks, handoff_id)


def stop_all(
    conn: Connection,
    leads: Sequence[Any],
    *,
    at: datetime,
    reason: str,
    actor: str,
    planned: bool,
    tasks: bool,
    suppressions: Sequence[dict[str, Any]] = (),
) -> tuple[int, int]:
    """``Event.DO_NOT_CONTACT`` for every lead of ``leads`` as :func:`apply_event` (``strict=False``,
    ``suppress=False``) applies it to each, in a few set-based statements (one round trip on PostgreSQL:
    ``storage.sql.write_all``). ``leads``: rows read under the leads' locks with ``id``, ``stage`` and the
    position's ``status`` (None: no position). ``planned`` and ``tasks``: whether any of them has a planned touch
    or an open or held cadence call task (read under the same locks); False leaves out the update that would
    change nothing. ``suppressions``: rows for the suppression log written along. Returns the touches and tasks
    cancelled."""
    event = Event.DO_NOT_CONTACT
    history: list[dict[str, Any]] = []
    statuses: dict[CadenceStatus, list[int]] = defaultdict(list)
    for r in leads:
        stage = Stage(r.stage)
        cadence = CadenceStatus(r.status) if r.status else CadenceStatus.HANDED_OFF
        change = apply(event, stage=stage, cadence=cadence)  # allowed from every stage and cadence status
        # the do-not-contact transition keeps the stage and neither nurtures nor hands over: nothing per lead
        assert change.stage_to is stage and change.cadence_to not in AUTOMATED
        assert change.cadence_to is not CadenceStatus.HANDED_OFF
        if r.status and change.cadence_to != cadence:
            statuses[change.cadence_to].append(r.id)
        history.append({"lead_id": r.id, "at": at, "event": event.value, "stage_from": stage.value,
                        "stage_to": change.stage_to.value, "cadence_from": cadence.value,
                        "cadence_to": change.cadence_to.value, "reason": (reason or change.note)[:500],
                        "actor": actor[:120]})  # fmt: skip
    ids = [r.id for r in leads]
    writes: list[Write] = [(_sup, suppressions), (_hist, history)]
    params: dict[str, Any] = {"stop_at": at, "stop_ids": ids, "stop_reason": f"cancelled: {event.value}"}
    for status, changed in statuses.items():  # one status (stopped)
        writes.append(_STOP_POSITIONS)
        params |= {"stop_status": status.value, "stop_positions": changed}
    touches = tasks_at = -1
    if ids and planned:
        touches = len(writes)
        writes.append(_STOP_TOUCHES)
    if ids and tasks:
        tasks_at = len(writes)
        writes.append(_STOP_TASKS)
    counts = write_all(conn, writes, params)
    return (counts[touches] if touches >= 0 else 0), (counts[tasks_at] if tasks_at >= 0 else 0)


# stop_all's updates, built once (bound: stop_at, stop_ids, stop_reason, stop_status, stop_positions)
_STOP_POSITIONS = (
    _pos.update()
    .where(_pos.c.lead_id.in_(sa.bindparam("stop_positions", expanding=True)))
    .values(
        status=sa.bindparam("stop_status", type_=_pos.c.status.type),
        updated_at=sa.bindparam("stop_at", type_=_pos.c.updated_at.type),
    )
)
_STOP_TOUCHES = (
    _touch.update()
    .where(_touch.c.lead_id.in_(sa.bindparam("stop_ids", expanding=True)), _touch.c.status == TouchStatus.PLANNED.value)
    .values(
        status=TouchStatus.CANCELLED.value,
        reason=sa.bindparam("stop_reason", type_=_touch.c.reason.type),
        updated_at=sa.bindparam("stop_at", type_=_touch.c.updated_at.type),
    )
)
_STOP_TASKS = (
    _task.update()
    .where(
        _task.c.lead_id.in_(sa.bindparam("stop_ids", expanding=True)),
        _task.c.status.in_([TaskStatus.OPEN.value, TaskStatus.HELD.value]),
        _task.c.kind == TaskKind.CADENCE.value,
    )
    .values(status=TaskStatus.CANCELLED.value)
)


def history_rows(
    lead_id: int,
    stage: Stage,
    status: CadenceStatus,
    events: Iterable[Event],
    *,
    at: datetime,
    actor: str,
    restore: CadenceStatus | None = None,
) -> tuple[list[dict[str, Any]], Stage, CadenceStatus]:
    """The ``lead_history`` rows of ``events`` applied in turn from ``stage`` and ``status``, and the states they
    leave the lead in. ``restore``: the status an event that restores one (``resubscribed``) puts back."""
    rows = []
    for event in events:
        change = apply(event, stage=stage, cadence=status, restore=restore if restores(event) else None)
        rows.append(
            {
                "lead_id": lead_id,
                "at": at,
                "event": event.value,
                "stage_from": stage.value,
                "stage_to": change.stage_to.value,
                "cadence_from": status.value,
                "cadence_to": change.cadence_to.value,
                "reason": change.note,
                "actor": actor,
            }
        )
        stage, status = change.stage_to, change.cadence_to
    return rows, stage, status


def _cancel_touches(
    conn: Connection, lead_id: int, at: datetime, reason: str, channels: list[str] | None, *, key_like: str = ""
) -> int:
    where = [_touch.c.lead_id == lead_id, _touch.c.status == TouchStatus.PLANNED.value]
    if channels is not None:
        where.append(_touch.c.channel.in_(channels))
    if key_like:
        where.append(_touch.c.key.like(key_like))
    result = conn.execute(
        _touch.update().where(*where).values(status=TouchStatus.CANCELLED.value, reason=reason, updated_at=at)
    )
    return result.rowcount or 0


def _cancel_cadence_tasks(conn: Connection, lead_id: int) -> int:
    result = conn.execute(
        _task.update()
        .where(
            _task.c.lead_id == lead_id,
            _task.c.status.in_([TaskStatus.OPEN.value, TaskStatus.HELD.value]),
            _task.c.kind == TaskKind.CADENCE.value,
        )
        .values(status=TaskStatus.CANCELLED.value)
    )
    return result.rowcount or 0


def record_event(
    *,
    engine: Engine,
    lead_id: int,
    event: Event,
    at: datetime,
    reason: str = "",
    actor: str = "system",
    note: str = "",
) -> EventResult:
    with write_transaction(engine) as conn:
        lock_leads(conn, [lead_id])
        result = apply_event(conn, lead_id=lead_id, event=event, at=at, reason=reason, actor=actor, note=note)
        assert result is not None
        return result


def complete_task(
    *, engine: Engine, task_id: int, outcome: Outcome, at: datetime, note: str = "", actor: str = "loan officer"
) -> EventResult | None:
    """Log a call outcome on a task and move the lead accordingly. Returns the event result, if any.

    The lead is locked before its task is read again and written (the lock order of ``storage.locks``)."""
    with write_transaction(engine) as conn:
        lead_id = conn.execute(sa.select(_task.c.lead_id).where(_task.c.id == task_id)).scalar()
        if lead_id is None:
            raise TaskNotOpen(f"no call task with id {task_id}")
        lock_leads(conn, [lead_id])
        task = conn.execute(sa.select(_task.c.lead_id, _task.c.status).where(_task.c.id == task_id)).one()
        if task.status not in (TaskStatus.OPEN.value, TaskStatus.EXPIRED.value):
            raise TaskNotOpen(f"call task {task_id} is already {task.status}")
        conn.execute(
            _task.update()
            .where(_task.c.id == task_id)
            .values(status=TaskStatus.DONE.value, outcome=outcome.value, completed_at=at, note=note[:1000])
        )
        event = OUTCOME_EVENTS[outcome]
        if event is None:
            return None
        return apply_event(
            conn,
            lead_id=task.lead_id,
            event=event,
            at=at,
            reason=f"call outcome: {outcome.value}",
            actor=actor,
            note=note,
            strict=False,
        )

"""The officer's desk: what "My calls" and a lead page show, and what their buttons do.

Every use case takes ``officer_id``: the signed-in officer, who sees only their own leads and tasks, or None for a
manager, who sees the team's. A lead or task the officer may not see is reported exactly like one that does not
exist (:class:`NotFound`), so an id in a URL tells nothing. Whether a call is allowed right now is the compliance
gate's ruling for a hand-dialled call at ``now`` (``nurture.gate``), the same rules the tick applies to call tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from channels.render import render_call_script
from nurture.actions import Channel, Outcome
from nurture.gate import ContactFacts, ContactRequest, Policy, Ruling, check
from nurture.products import Product
from nurture.states import Event
from service.inputs import CallNote, problems
from service.pipeline import Pipeline, render_contexts
from storage.compliance import contacts_since, load_facts
from storage.desk import (
    add_note,
    edits_of,
    latest_text_from,
    lead_open_tasks,
    lead_record,
    lead_visible,
    notes_of,
    open_call_count,
    open_calls,
    task_lead,
)
from storage.explain import explain_lead
from storage.lead_events import EventResult, complete_task, record_event
from storage.locks import write_transaction

CALLS_SHOWN = 30  # the list is cut here: an officer works from the top
TIMELINE_SHOWN = 40


class NotFound(LookupError):
    """No such lead or task, or not one this officer may see."""


class NoteRefused(ValueError):
    """A note that cannot be stored; the message says why in one line."""


def checked_note(text: str, *, required: bool = False) -> str:
    """The officer's note as stored (checked as ``dripline tasks complete --note`` checks it), or
    :class:`NoteRefused`."""
    try:
        note = CallNote(note=text).note.strip()
    except ValidationError as exc:
        raise NoteRefused(f"Note: {problems(exc, {'note': 'Note'})[0][1]}") from None
    if required and not note:
        raise NoteRefused("Note: write something first")
    return note


@dataclass(frozen=True, slots=True)
class CallGate:
    state: str  # now | later | no
    text: str


@dataclass(frozen=True, slots=True)
class CallRow:
    task_id: int
    lead_id: int
    name: str
    product: str
    kind: str
    due: str  # on the borrower's clock
    overdue: bool
    local_time: str  # the borrower's clock now
    gate: CallGate
    officer: str
    note: str
    phone: str | None = None  # only while a call is allowed now: the card's call button and tel: link


@dataclass(frozen=True, slots=True)
class CallsPage:
    rows: list[CallRow]
    total: int  # open tasks in the list's scope; rows holds at most CALLS_SHOWN
    team: bool


def local(at: datetime, timezone: str) -> str:
    """``at`` on the clock of ``timezone``, as a phone shows it: "Tue 2:05 PM EST"."""
    moment = at.astimezone(ZoneInfo(timezone))
    return f"{moment:%a} {moment:%I:%M %p}".replace(" 0", " ") + f" {moment.tzname()}"


def call_gate(
    facts: ContactFacts | None, *, phone: str | None, key: str, policy: Policy, now: datetime, phone_ok: bool = True
) -> CallGate:
    """Whether the officer may dial the lead at ``now``, and if not, why and from when."""
    if not phone or facts is None:
        return CallGate("no", "No phone number on file.")
    if not phone_ok:
        return CallGate("no", "The number was logged as a wrong number.")
    verdict = check(ContactRequest(Channel.CALL, now, human=True, to=phone, key=key), facts, policy)
    if verdict.ruling is Ruling.ALLOW:
        return CallGate("now", "OK to call now.")
    if verdict.ruling is Ruling.DEFER:
        return CallGate("later", f"Wait until {local(verdict.at, facts.timezone)} ({verdict.reason}).")
    return CallGate("no", f"Do not call: {verdict.reason}.")


def _name(row: Any) -> str:
    return f"{row.first_name} {row.last_name}".strip()


def my_calls(p: Pipeline, *, officer_id: int | None, now: datetime, limit: int = CALLS_SHOWN) -> CallsPage:
    """Open call tasks, most urgent first (priority, then due time): the officer's, or with ``officer_id=None`` the
    team's. Each with the borrower's clock and whether a call is allowed right now."""
    with p.engine.connect() as conn:
        rows = open_calls(conn, officer_id=officer_id, limit=limit)
        total = open_call_count(conn, officer_id=officer_id) if len(rows) >= limit else len(rows)
        facts = load_facts(conn, {r.lead_id for r in rows}, since=contacts_since(now))
    out = [
        CallRow(
            task_id=r.id,
            lead_id=r.lead_id,
            name=_name(r),
            product=Product(r.product).label,
            kind=r.kind,
            due=local(r.due_at, r.timezone),
            overdue=r.due_at < now,
            local_time=local(now, r.timezone),
            gate=(gate := call_gate(facts.get(r.lead_id), phone=r.phone, key=r.key, policy=p.policy, now=now)),
            officer=r.officer or "",
            note=r.note,
            phone=r.phone if gate.state == "now" else None,
        )
        for r in rows
    ]
    return CallsPage(out, total, officer_id is None)


@dataclass
class LeadPage:
    lead: Any  # the lead's row (storage.desk.lead_record)
    product: str
    local_time: str
    reason: str  # why it was re-engaged, when it was
    script: str
    eligibility: dict[str, Any]  # storage.eligibility_report.lead_eligibility
    story: dict[str, Any]  # storage.explain.explain_lead: consents, DNC, opt-outs
    timeline: list[dict[str, Any]]  # newest first, at most TIMELINE_SHOWN
    tasks: list[tuple[Any, str, CallGate]]  # each open task, due on the borrower's clock, and calling now
    notes: list[Any]
    edits: list[Any]
    fits: list[str] = field(default_factory=list)


def lead_page(p: Pipeline, *, lead_id: int, officer_id: int | None, now: datetime) -> LeadPage:
    """Everything the lead page shows, or :class:`NotFound`."""
    with p.engine.connect() as conn:
        if not lead_visible(conn, lead_id, officer_id=officer_id):
            raise NotFound(lead_id)
        lead = lead_record(conn, lead_id)
        tasks = lead_open_tasks(conn, lead_id)
        notes, edits = notes_of(conn, lead_id), edits_of(conn, lead_id)
        facts = load_facts(conn, [lead_id], since=contacts_since(now)).get(lead_id)
        replied = bool(tasks) and tasks[0].template == "reply"
        reply = latest_text_from(conn, [n for n in (lead.phone, lead.alt_phone) if n]) if replied else ""
    story = explain_lead(engine=p.engine, lead_id=lead_id, policy=p.policy, now=now, facts=facts)
    if story is None:
        raise NotFound(lead_id)
    eligibility = story["eligibility"] or {"programs": [], "seasons_on": None, "reengagements": []}
    enrolled = [r["reason"] for r in eligibility["reengagements"] if r["status"] == "enrolled"]
    reason = lead.why or (enrolled[-1] if enrolled else "")
    template = tasks[0].template if tasks else "handoff"
    gates = [
        (t, local(t.due_at, lead.timezone),
         call_gate(facts, phone=lead.phone, key=t.key, policy=p.policy, now=now, phone_ok=lead.phone_ok))
        for t in tasks
    ]  # fmt: skip
    return LeadPage(
        lead=lead,
        product=Product(lead.product).label,
        local_time=local(now, lead.timezone),
        reason=reason,
        script=call_script(p, lead_id, template, now=now, reason=reason, reply_text=reply),
        eligibility=eligibility,
        story=story,
        timeline=[
            e | {"when": local(datetime.fromisoformat(e["at"]), lead.timezone) if e["at"] else ""}
            for e in reversed(story["timeline"][-TIMELINE_SHOWN:])
        ],
        tasks=gates,
        notes=notes,
        edits=edits,
        fits=[f"{x['lender']}: {Product(x['program']).label}" for x in eligibility["programs"] if x["eligible"]],
    )


def call_script(p: Pipeline, lead_id: int, template: str, *, now: datetime, reason: str, reply_text: str) -> str:
    """The call script for the lead's product (the template of its most urgent task), with its numbers today; a
    re-engagement script without a reason to name falls back to the hand-off script."""
    ctx = render_contexts(p, {lead_id}, now=now)[lead_id]
    if reason and not ctx.reason:
        ctx = replace(ctx, reason=reason)
    templates = p.settings.templates_dir
    try:
        return render_call_script(template, ctx, reply_text=reply_text, templates_dir=templates)
    except ValueError:
        return render_call_script("handoff", ctx, templates_dir=templates)


def visible_task(p: Pipeline, task_id: int, officer_id: int | None) -> int:
    """The task's lead, or :class:`NotFound` when the officer may not see it."""
    with p.engine.connect() as conn:
        lead_id = task_lead(conn, task_id, officer_id=officer_id)
    if lead_id is None:
        raise NotFound(task_id)
    return lead_id


def visible_lead(p: Pipeline, lead_id: int, officer_id: int | None) -> None:
    with p.engine.connect() as conn:
        if not lead_visible(conn, lead_id, officer_id=officer_id):
            raise NotFound(lead_id)


def log_outcome(
    p: Pipeline, *, task_id: int, outcome: Outcome, officer_id: int | None, actor: str, now: datetime, note: str = ""
) -> tuple[int, EventResult | None]:
    """The call outcome, logged exactly as ``dripline tasks complete`` logs it (``storage.lead_events.complete_task``):
    returns the lead and the stage move. Raises :class:`NotFound`, :class:`NoteRefused`, or ``TaskNotOpen`` when it
    was logged already."""
    lead_id = visible_task(p, task_id, officer_id)
    note = checked_note(note)
    return lead_id, complete_task(engine=p.engine, task_id=task_id, outcome=outcome, at=now, note=note, actor=actor)


def send_checklist(p: Pipeline, *, lead_id: int, officer_id: int | None, actor: str, now: datetime) -> EventResult:
    """Log ``docs_requested`` for the lead, as ``dripline leads advance --event docs_requested`` does: the next tick
    moves it onto the documents sequence, whose first step is the product's checklist. Raises :class:`NotFound` or
    ``InvalidTransition`` (a stage the checklist does not fit)."""
    visible_lead(p, lead_id, officer_id)
    reason = "the loan officer sent the document checklist"
    return record_event(
        engine=p.engine, lead_id=lead_id, event=Event.DOCS_REQUESTED, at=now, reason=reason, actor=actor
    )


def write_note(
    p: Pipeline, *, lead_id: int, officer_id: int, scope: int | None, body: str, actor: str, now: datetime
) -> None:
    """Add a note to the lead (``scope``: the officer's own leads, None for a manager). Raises :class:`NotFound` or
    :class:`NoteRefused`."""
    visible_lead(p, lead_id, scope)
    body = checked_note(body, required=True)
    with write_transaction(p.engine) as conn:
        add_note(conn, lead_id=lead_id, officer_id=officer_id, actor=actor, body=body, at=now)

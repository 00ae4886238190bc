"""Inbound texts: the one handler the CLI and the Twilio webhook share.

An opt-out is honoured at once, on every channel, for every lead with the
sender's number, and answered with at most one confirmation (never marketing).
START, UNSTOP or YES from an opted-out number re-subscribes texts only. HELP
gets the brand, support contact, opt-out instructions, rates and frequency.
Anything else stops the automated attempts and puts an urgent call task with
the message in front of the lead's loan officer; a message that might be an
opt-out says so on that task. A provider's retry (same message id) is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from channels.base import flush
from channels.messages import OutcomeUnknownError, SendError
from channels.render import LeadView, RenderContext, render_sms
from nurture.actions import Channel, InboundKind, SuppressionAction, TaskKind, TaskStatus
from nurture.geo import normalize_phone
from nurture.inbound import classify
from nurture.products import Product
from nurture.states import Event
from service.pipeline import Pipeline, render_contexts, team_officer
from service.senders import brand
from storage.compliance import ALL_CHANNELS, leads_with_address, record_suppression, sms_opted_out
from storage.lead_events import apply_event
from storage.models import CallTask, InboundMessage, Lead, table

_inbound = table(InboundMessage)
_task = table(CallTask)
_lead = table(Lead)

REPLY_TEMPLATES = {
    InboundKind.OPT_OUT: "opt_out_confirmation",
    InboundKind.OPT_IN: "opt_in_confirmation",
    InboundKind.HELP: "help",
}
MAY_BE_OPT_OUT = "May be an opt-out: read it and confirm before any further contact."


@dataclass(frozen=True, slots=True)
class InboundResult:
    message_id: int
    kind: InboundKind
    reason: str
    lead_ids: tuple[int, ...]
    reply: str | None  # what we texted back, if anything
    reply_status: str
    task_ids: tuple[int, ...] = ()
    duplicate: bool = False  # the provider sent this message before; nothing was done again


def handle_inbound_sms(
    p: Pipeline, *, from_number: str, to_number: str, body: str, at: datetime, provider_id: str | None = None
) -> InboundResult:
    """Record and act on one inbound text. Raises ``ValueError`` when ``from_number`` is not a phone number."""
    number = normalize_phone(from_number)
    with p.engine.begin() as conn:
        if provider_id:
            seen = conn.execute(sa.select(_inbound).where(_inbound.c.provider_id == provider_id)).first()
            if seen is not None:
                return _result(seen, duplicate=True)
        lead_ids = leads_with_address(conn, number)
        was_opted_out = sms_opted_out(conn, number, lead_ids)
        verdict = classify(body, opted_out=was_opted_out)
        kind, template, tasks = verdict.kind, REPLY_TEMPLATES.get(verdict.kind), []
        if kind is InboundKind.OPT_OUT:
            if was_opted_out:
                template = None  # one confirmation per opt-out, never a second
            _opt_out(conn, number, lead_ids, body, at)
        elif kind is InboundKind.OPT_IN:
            if not was_opted_out:
                template = None  # nothing to resume
            else:
                record_suppression(
                    conn,
                    action=SuppressionAction.OPT_IN,
                    channels=[Channel.SMS],
                    lead_ids=lead_ids,
                    address=number,
                    source="inbound_sms",
                    reason=f"texted {body.strip()[:60]!r}",
                    at=at,
                )
        elif kind in (InboundKind.REPLY, InboundKind.AMBIGUOUS):
            tasks = [_hand_to_officer(conn, lead_id, kind, body, at) for lead_id in lead_ids]
        message_id = conn.execute(
            _inbound.insert()
            .values(
                provider_id=provider_id,
                from_address=number,
                to_address=to_number,
                body=body,
                received_at=at,
                kind=kind.value,
                lead_ids=",".join(map(str, lead_ids)),
                reply_status="" if template else "no reply needed",
                created_at=at,
            )
            .returning(_inbound.c.id)
        ).scalar_one()
    reply, status = _reply(p, template, number, lead_ids, message_id) if template else (None, "no reply needed")
    if not lead_ids and kind in (InboundKind.REPLY, InboundKind.AMBIGUOUS):
        status = "no lead has this number: nobody to hand it to"
    with p.engine.begin() as conn:
        conn.execute(
            _inbound.update().where(_inbound.c.id == message_id).values(reply_body=reply, reply_status=status[:300])
        )
    return InboundResult(message_id, kind, verdict.reason, tuple(lead_ids), reply, status, tuple(tasks))


def _opt_out(conn: Connection, number: str, lead_ids: list[int], body: str, at: datetime) -> None:
    why = f"texted {body.strip()[:60]!r} from {number}"
    record_suppression(
        conn,
        action=SuppressionAction.OPT_OUT,
        channels=ALL_CHANNELS,
        lead_ids=lead_ids,
        address=number,
        source="inbound_sms",
        reason=why,
        at=at,
    )
    for lead_id in lead_ids:
        apply_event(
            conn,
            lead_id=lead_id,
            event=Event.DO_NOT_CONTACT,
            at=at,
            reason=f"opted out: {why}",
            actor="borrower by text",
            strict=False,
            suppress=False,  # recorded above, with the number they wrote from
        )


def _hand_to_officer(conn: Connection, lead_id: int, kind: InboundKind, body: str, at: datetime) -> int:
    note = (f"{MAY_BE_OPT_OUT} " if kind is InboundKind.AMBIGUOUS else "") + f"They wrote: {body.strip()}"
    result = apply_event(
        conn,
        lead_id=lead_id,
        event=Event.INBOUND_REPLY,
        at=at,
        reason="texted back",
        actor="borrower by text",
        note=note,
        strict=False,
    )
    if result is not None and result.handoff_task_id is not None:
        if kind is InboundKind.AMBIGUOUS:
            conn.execute(_task.update().where(_task.c.id == result.handoff_task_id).values(priority=30))
        return result.handoff_task_id
    # the lead is already with a person (or closed): still put the message in front of them
    officer = conn.execute(sa.select(_lead.c.loan_officer_id).where(_lead.c.id == lead_id)).scalar()
    return conn.execute(
        _task.insert()
        .values(
            key=f"{lead_id}:reply:{at.isoformat()}",
            lead_id=lead_id,
            loan_officer_id=officer,
            kind=TaskKind.REPLY.value,
            step_id=None,
            template=TaskKind.REPLY.value,
            due_at=at,
            expires_at=None,
            priority=30 if kind is InboundKind.AMBIGUOUS else 20,
            status=TaskStatus.OPEN.value,
            note=note[:1000],
            decisions="",
            created_at=at,
        )
        .returning(_task.c.id)
    ).scalar_one()


def _reply(p: Pipeline, template: str, number: str, lead_ids: list[int], message_id: int) -> tuple[str | None, str]:
    ctx = _context(p, number, lead_ids)
    message = render_sms(template, ctx, templates_dir=p.settings.templates_dir)
    try:
        result = p.sender.send(message, key=f"inbound:{message_id}:{template}")
        flush(p.sender)
    except OutcomeUnknownError as exc:
        return message.body, f"unknown: {exc}"
    except SendError as exc:
        return message.body, f"failed: {exc}"
    return message.body, f"sent {result.provider} {result.provider_id}"


def _context(p: Pipeline, number: str, lead_ids: list[int]) -> RenderContext:
    """The lead's own context when we know them (the reply goes to the number they wrote from), else the brand's."""
    if lead_ids:
        ctx = render_contexts(p, {lead_ids[0]})[lead_ids[0]]
        return replace(ctx, lead=replace(ctx.lead, phone=number))
    anonymous = LeadView(id=None, first_name="", last_name="", email=None, phone=number, product=Product.GENERAL)
    return RenderContext(anonymous, team_officer(p.settings), brand(p.settings), "")


def _result(row: sa.Row, *, duplicate: bool) -> InboundResult:  # type: ignore[type-arg]
    lead_ids = tuple(int(x) for x in row.lead_ids.split(",") if x)
    return InboundResult(row.id, InboundKind(row.kind), "already handled", lead_ids, row.reply_body,
                         row.reply_status, (), duplicate)  # fmt: skip

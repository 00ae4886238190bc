"""Inbound texts: the one handler the CLI and the Twilio webhook share.

An opt-out is honoured at once, on every channel, for every lead with the
sender's number, and answered with at most one confirmation (never marketing).
START, UNSTOP or YES from an opted-out number re-subscribes texts only, and
a lead that the opt-out stopped mid-cadence goes on from where its cadence
stands: its next text goes when it falls due, the ones it missed meanwhile are
not sent late, and calls, voicemail and email stay off (the confirmation says
so). HELP
gets the brand, support contact, opt-out instructions, rates and frequency.
Anything else stops the automated attempts and puts an urgent call task with
the message in front of the lead's loan officer; a message that might be an
opt-out says so on that task. A provider's retry (same message id) is a no-op.

Everything is decided in one write transaction that locks the sender's leads
first, then their number (``storage.optouts.lock_people``): two STOPs from one
number racing are strictly ordered, the second finds the first's opt-out and is
not answered. The reply goes out after the commit, at most once per stored
message (``claim_reply``), under a key derived from that message.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from channels.base import flush
from channels.messages import OutcomeUnknownError, SendError
from channels.render import LeadView, RenderContext, render_sms
from nurture.actions import Channel, InboundKind, SuppressionAction, TaskKind, TaskStatus
from nurture.geo import normalize_phone
from nurture.inbound import Classification, classify
from nurture.products import Product
from nurture.states import Event
from service.pipeline import Pipeline, render_contexts, team_officer
from service.senders import brand
from storage.compliance import ALL_CHANNELS, record_suppression
from storage.lead_events import apply_event
from storage.models import CallTask, Lead, table
from storage.optouts import People, Resumed, record_opt_out, resume_cadences, with_people_read
from storage.provider_log import REPLY_PENDING, claim_reply, inbound_by_provider_id, record_reply, store_inbound

_task = table(CallTask)
_lead = table(Lead)

REPLY_TEMPLATES = {
    InboundKind.OPT_OUT: "opt_out_confirmation",
    InboundKind.OPT_IN: "opt_in_confirmation",
    InboundKind.HELP: "help",
}
ReplyVia = Literal["sender", "caller"]
ANSWERED_BY_CALLER = "answered in the webhook's response (TwiML)"
PROVIDER_ANSWERED = "answered by the provider itself (its own keyword handling); not by us"
MAY_BE_OPT_OUT = "May be an opt-out: read it and confirm before any further contact."
NO_REPLY = "no reply needed"


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
    begun: tuple[str, ...] = ()  # an opt-out's: touches whose send had begun before it committed (none begin after)
    resumed: tuple[Resumed, ...] = ()  # an opt-in's: the leads whose cadence goes on, and their next text


@dataclass(frozen=True, slots=True)
class _Handled:
    message_id: int
    kind: InboundKind
    reason: str
    lead_ids: tuple[int, ...]
    template: str | None
    task_ids: tuple[int, ...]
    begun: tuple[str, ...]
    resumed: tuple[Resumed, ...] = ()


def handle_inbound_sms(
    p: Pipeline, *, from_number: str, to_number: str, body: str, at: datetime, provider_id: str | None = None,
    reply_via: ReplyVia = "sender", provider_answered: bool = False, provider_kind: InboundKind | None = None,
) -> InboundResult:  # fmt: skip
    """Record and act on one inbound text. Raises ``ValueError`` when ``from_number`` is not a phone number.

    ``reply_via="sender"`` texts the reply through the pipeline's sender; ``"caller"`` only renders it, into
    ``InboundResult.reply``, for the caller to answer with (the Twilio webhook's TwiML ``<Message>``): either
    way at most once per stored message. ``provider_answered``: the provider has answered this message itself
    (Twilio's own STOP/START/HELP handling), so it is recorded and acted on but not answered by us.
    ``provider_kind``: what that handling took the message for (Twilio's ``OptOutType``, which knows the account's
    own keywords); it decides, except that a message we read as an opt-out stays one.
    """
    number = normalize_phone(from_number)

    def decide(conn: Connection, people: People) -> _Handled | InboundResult:
        lead_ids = people.lead_ids
        was_opted_out = people.sms_opted_out()
        verdict = classify(body, opted_out=was_opted_out)
        if provider_kind is not None and verdict.kind is not InboundKind.OPT_OUT:
            verdict = Classification(provider_kind, f"the provider's {provider_kind.value} keyword")
        kind, template = verdict.kind, REPLY_TEMPLATES.get(verdict.kind)
        if kind is InboundKind.OPT_OUT and was_opted_out:
            template = None  # one confirmation per opt-out, never a second
        if kind is InboundKind.OPT_IN and not was_opted_out:
            template = None  # nothing to resume
        if provider_answered and template:
            template = None  # the provider's own answer is the one confirmation
        message_id = store_inbound(
            conn,
            provider_id=provider_id,
            from_address=number,
            to_address=to_number,
            body=body,
            received_at=at,
            kind=kind.value,
            lead_ids=",".join(map(str, lead_ids)),
            reply_status=REPLY_PENDING if template else (PROVIDER_ANSWERED if provider_answered else NO_REPLY),
            created_at=at,
        )
        if message_id is None:  # the provider's retry of a message handled before
            assert provider_id is not None
            return _result(inbound_by_provider_id(conn, provider_id), duplicate=True)
        tasks: list[int] = []
        begun: tuple[str, ...] = ()
        resumed: tuple[Resumed, ...] = ()
        if kind is InboundKind.OPT_OUT:
            why = f"texted {body.strip()[:60]!r} from {number}"
            done = record_opt_out(conn, lead_ids=lead_ids, address=number, channels=ALL_CHANNELS, source="inbound_sms",
                                  reason=why, at=at, actor="borrower by text", people=people)  # fmt: skip
            begun = done.begun
        elif kind is InboundKind.OPT_IN and was_opted_out:
            record_suppression(conn, action=SuppressionAction.OPT_IN, channels=[Channel.SMS], lead_ids=lead_ids,
                               address=number, source="inbound_sms", reason=f"texted {body.strip()[:60]!r}",
                               at=at)  # fmt: skip
            resumed = resume_cadences(conn, lead_ids=lead_ids, registry=p.registry, at=at, actor="borrower by text")
        elif kind in (InboundKind.REPLY, InboundKind.AMBIGUOUS):
            key = provider_id or f"inbound-{message_id}"
            tasks = [hand_reply_to_officer(conn, lead_id, kind, body, at, key) for lead_id in lead_ids]
        return _Handled(message_id, kind, verdict.reason, tuple(lead_ids), template, tuple(tasks), begun, resumed)

    done = with_people_read(p.engine, number, decide)
    if isinstance(done, InboundResult):
        return done
    reply, status = None, NO_REPLY
    if done.template and claim_reply(p.engine, done.message_id):
        reply, status = _reply(p, done.template, number, list(done.lead_ids), done.message_id, reply_via)
        record_reply(p.engine, done.message_id, body=reply, status=status)
    elif not done.lead_ids and done.kind in (InboundKind.REPLY, InboundKind.AMBIGUOUS):
        status = "no lead has this number: nobody to hand it to"
        record_reply(p.engine, done.message_id, body=None, status=status)
    return InboundResult(done.message_id, done.kind, done.reason, done.lead_ids, reply, status, done.task_ids,
                         begun=done.begun, resumed=done.resumed)  # fmt: skip


def hand_reply_to_officer(
    conn: Connection, lead_id: int, kind: InboundKind, body: str, at: datetime, message: str, *, by: str = "text"
) -> int:
    """An urgent call task with the message for the lead's officer, keyed by the message (``message``: the
    provider's id, else our own), so any number of texts in one second each get their task. ``by``: how it came
    (``text``, ``email``). Automation stops (the lead's INBOUND_REPLY event)."""
    note = (f"{MAY_BE_OPT_OUT} " if kind is InboundKind.AMBIGUOUS else "") + f"They wrote: {body.strip()}"
    return hand_to_officer(conn, lead_id=lead_id, event=Event.INBOUND_REPLY, at=at,
                           reason="texted back" if by == "text" else f"replied by {by}", actor=f"borrower by {by}",
                           note=note, key=f"{lead_id}:reply:{message}", kind=TaskKind.REPLY,
                           priority=30 if kind is InboundKind.AMBIGUOUS else 20)  # fmt: skip


def hand_to_officer(
    conn: Connection,
    *,
    lead_id: int,
    event: Event,
    at: datetime,
    reason: str,
    actor: str,
    note: str,
    key: str,
    kind: TaskKind,
    priority: int,
) -> int:
    """Apply ``event`` (which hands the lead to its officer: automation stops) and return the officer's call task
    ``key``, with ``note`` and ``priority``. When the lead is already with a person (or closed) the event changes
    nothing and the task is still put in front of them. Inside a transaction holding the lead's lock."""
    result = apply_event(conn, lead_id=lead_id, event=event, at=at, reason=reason, actor=actor, note=note,
                         strict=False, task_key=key)  # fmt: skip
    if result is not None and result.handoff_task_id is not None:
        conn.execute(_task.update().where(_task.c.id == result.handoff_task_id).values(priority=priority))
        return result.handoff_task_id
    officer = conn.execute(sa.select(_lead.c.loan_officer_id).where(_lead.c.id == lead_id)).scalar()
    return conn.execute(
        _task.insert()
        .values(
            key=key,
            lead_id=lead_id,
            loan_officer_id=officer,
            kind=kind.value,
            step_id=None,
            template=kind.value,
            due_at=at,
            expires_at=None,
            priority=priority,
            status=TaskStatus.OPEN.value,
            note=note[:1000],
            decisions="",
            created_at=at,
        )
        .returning(_task.c.id)
    ).scalar_one()


def _reply(
    p: Pipeline, template: str, number: str, lead_ids: list[int], message_id: int, via: ReplyVia
) -> tuple[str | None, str]:
    ctx = _context(p, number, lead_ids)
    message = render_sms(template, ctx, templates_dir=p.settings.templates_dir)
    if via == "caller":
        return message.body, ANSWERED_BY_CALLER
    try:
        result = p.sender.send(message, key=f"inbound:{message_id}:{template}")
        flush(p.sender)
    except OutcomeUnknownError as exc:
        return message.body, f"unknown: {exc}"
    except SendError as exc:
        return message.body, f"failed: {exc}"
    except Exception as exc:  # the opt-out is committed whatever the channel does: its answer is only recorded
        return message.body, f"unknown: the sender raised {type(exc).__name__}: {exc}"
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

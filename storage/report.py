"""Funnel and activity counts, computed in SQL so they scale with the lead table."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.actions import LIVE_OUTCOMES
from nurture.economics import AGE_BANDS, revenue_per_close
from nurture.products import LoanPurpose, Product, PropertyType
from nurture.states import CadenceStatus, Event, Stage
from storage.models import CallTask, InboundMessage, Lead, LeadHistory, LoanOfficer, Reengagement, TaskLog, Touch, table
from storage.rescore import REENGAGE_CADENCE

_lead = table(Lead)
_hist = table(LeadHistory)
_touch = table(Touch)
_task = table(CallTask)
_inbound = table(InboundMessage)
_re = table(Reengagement)
_log = table(TaskLog)
_officer = table(LoanOfficer)

# What dispatch writes on a planned touch whose lead's cadence has completed (storage/outbox.py): a message lost
# because its cadence ended. A cadence completes only once its messages are settled, so this stays 0.
CADENCE_ENDED = f"cancelled: lead is {CadenceStatus.COMPLETED.value}"

# How far down the pipeline each stage is; a lead's furthest stage ever decides its funnel row.
RANK = {
    Stage.CONTACTED: 1,
    Stage.EDUCATED: 2,
    Stage.DOCS_REQUESTED: 3,
    Stage.DOCS_RECEIVED: 4,
    Stage.PRE_QUALIFIED: 5,
    Stage.APPLICATION: 6,
    Stage.PROCESSING: 7,
    Stage.CLEAR_TO_CLOSE: 8,
    Stage.CLOSED_FUNDED: 9,
}


@dataclass
class FunnelRow:
    product: str
    leads: int = 0
    contacted: int = 0
    educated: int = 0
    docs_received: int = 0
    closed: int = 0
    revenue: float = 0.0
    lead_cost: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _furthest_rank() -> sa.Subquery:
    rank = sa.case({s.value: r for s, r in RANK.items()}, value=_hist.c.stage_to, else_=0)
    return sa.select(_hist.c.lead_id, sa.func.max(rank).label("rank")).group_by(_hist.c.lead_id).subquery("furthest")


def _literal(value: int | str) -> sa.ColumnElement[Any]:
    """``value`` written into the statement: an expression grouped by must read the same in SELECT and GROUP BY,
    which bound parameters ($1 there, $5 here) do not on PostgreSQL."""
    return sa.literal_column(str(value) if isinstance(value, int) else f"'{value}'")


def age_at_import(dialect: str) -> sa.ColumnElement[int]:
    """Days from the lead's inquiry date to the (UTC) day it was imported."""
    if dialect == "postgresql":
        imported = sa.cast(sa.func.timezone(_literal("UTC"), _lead.c.created_at), sa.Date)
        return sa.type_coerce(imported - _lead.c.inquiry_date, sa.Integer)
    days = sa.func.julianday(sa.func.date(_lead.c.created_at)) - sa.func.julianday(_lead.c.inquiry_date)
    return sa.cast(days, sa.Integer)


def age_band_of(dialect: str) -> sa.ColumnElement[str]:
    """The key of the lead's band in ``nurture.economics.AGE_BANDS``, as SQL."""
    age = age_at_import(dialect)
    *bounded, last = AGE_BANDS
    return sa.case(*((age <= _literal(b.high), _literal(b.key)) for b in bounded if b.high is not None),
                   else_=_literal(last.key))  # fmt: skip


def _funnel(engine: Engine, group: sa.ColumnElement[str], cost_per_lead: float | None) -> dict[str, FunnelRow]:
    """The funnel counts, revenue and lead cost of each value of ``group`` (a lead column or expression)."""
    furthest = _furthest_rank()
    rank = sa.func.coalesce(furthest.c.rank, 0)
    counts = (
        sa.select(
            group.label("grp"),
            sa.func.count().label("leads"),
            sa.func.sum(sa.case((rank >= 1, 1), else_=0)).label("contacted"),
            sa.func.sum(sa.case((rank >= 2, 1), else_=0)).label("educated"),
            sa.func.sum(sa.case((rank >= 4, 1), else_=0)).label("docs_received"),
            sa.func.sum(sa.case((rank >= 9, 1), else_=0)).label("closed"),
            sa.func.coalesce(sa.func.sum(_lead.c.cost_cents), 0).label("cost_cents"),
        )
        .select_from(_lead.outerjoin(furthest, furthest.c.lead_id == _lead.c.id))
        .group_by(group)
    )
    closed = sa.select(
        group.label("grp"), _lead.c.product, _lead.c.loan_purpose, _lead.c.property_type, _lead.c.loan_amount
    ).where(_lead.c.stage == Stage.CLOSED_FUNDED.value)
    with engine.connect() as conn:
        rows = {
            r.grp: FunnelRow(
                product=r.grp,
                leads=r.leads,
                contacted=int(r.contacted or 0),
                educated=int(r.educated or 0),
                docs_received=int(r.docs_received or 0),
                closed=int(r.closed or 0),
                lead_cost=(r.leads * cost_per_lead) if cost_per_lead is not None else int(r.cost_cents) / 100,
            )
            for r in conn.execute(counts)
        }
        for r in conn.execute(closed):
            rows[r.grp].revenue += revenue_per_close(
                Product(r.product),
                purpose=LoanPurpose(r.loan_purpose) if r.loan_purpose else None,
                property_type=PropertyType(r.property_type) if r.property_type else None,
                loan_amount=r.loan_amount,
            )
    return rows


def funnel(*, engine: Engine, cost_per_lead: float | None = None) -> list[FunnelRow]:
    """Leads, contacts, educated, docs received and closes by product, with revenue and lead cost."""
    rows = _funnel(engine, _lead.c.product, cost_per_lead)
    return [rows[p.value] for p in Product if p.value in rows]


def funnel_by_age(*, engine: Engine, cost_per_lead: float | None = None) -> list[FunnelRow]:
    """The same funnel by the lead's age at import (``nurture.economics.AGE_BANDS``); ``product`` holds the band
    key. Every band is listed, also an empty one."""
    rows = _funnel(engine, age_band_of(engine.dialect.name), cost_per_lead)
    return [rows.get(b.key) or FunnelRow(product=b.key) for b in AGE_BANDS]


_WORKING = [s.value for s, r in RANK.items() if 1 <= r < RANK[Stage.CLOSED_FUNDED]]
_SPOKE = [Event.LIVE_CONTACT.value, Event.INBOUND_REPLY.value]


def days_to_close(*, engine: Engine) -> dict[str, list[float]]:
    """For every funded lead, the days from its first contact (a live conversation, a reply, or its first move
    into a working stage) to its funding, by age band; a funded lead with no contact on record is left out."""
    spoke = sa.or_(_hist.c.event.in_(_SPOKE), _hist.c.stage_to.in_(_WORKING))
    first = sa.select(sa.func.min(_hist.c.at)).where(_hist.c.lead_id == _lead.c.id, spoke).scalar_subquery()
    funded = (
        sa.select(sa.func.max(_hist.c.at))
        .where(_hist.c.lead_id == _lead.c.id, _hist.c.event == Event.FUNDED.value)
        .scalar_subquery()
    )
    query = sa.select(age_band_of(engine.dialect.name).label("band"), first.label("first"), funded.label("funded"))
    query = query.where(_lead.c.stage == Stage.CLOSED_FUNDED.value)
    out: dict[str, list[float]] = {b.key: [] for b in AGE_BANDS}
    with engine.connect() as conn:
        for band, began, ended in conn.execute(query):
            if began is not None and ended is not None:
                out[band].append((_utc(ended) - _utc(began)).total_seconds() / 86_400)
    return out


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)  # a correlated MIN() on SQLite comes back naive


def touch_counts(*, engine: Engine) -> dict[str, dict[str, int]]:
    """Outbox rows by channel and status."""
    query = sa.select(_touch.c.channel, _touch.c.status, sa.func.count()).group_by(_touch.c.channel, _touch.c.status)
    out: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for channel, status, n in conn.execute(query):
            out.setdefault(channel, {})[status] = n
    return out


def inbound_counts(*, engine: Engine) -> dict[str, int]:
    """Texts borrowers sent us, by what they asked for (opt_out, opt_in, help, reply, ambiguous)."""
    query = sa.select(sa.cast(_inbound.c.kind, sa.String), sa.func.count()).group_by(_inbound.c.kind)
    with engine.connect() as conn:
        return {kind: n for kind, n in conn.execute(query)}


def reason_counts(*, engine: Engine) -> dict[str, int]:
    """Why touches did not go as planned (skipped, blocked, cancelled, failed), by kind of reason."""
    query = (
        sa.select(_touch.c.status, _touch.c.reason, sa.func.count())
        .where(_touch.c.reason != "", _touch.c.status != "sent")
        .group_by(_touch.c.status, _touch.c.reason)
    )
    counts: Counter[str] = Counter()
    with engine.connect() as conn:
        for status, why, n in conn.execute(query):
            counts[f"{status}: {reason_kind(why)}"] += n
    return dict(counts)


def reason_kind(reason: str) -> str:
    """A reason without its particulars: ``blocked: consent: no written consent on file for +1...`` ->
    ``consent: no written consent on file``; ``cancelled: lead is handed_off`` stays whole."""
    parts = reason.split(": ")
    if parts[0] in ("blocked", "deferred", "held", "cancelled") and len(parts) > 1:
        parts = parts[1:]
    detail = re.sub(r"\s*\(.*$|\s*(?:for|from|to|at)?\s*\+\d{8,15}.*$|^\d{1,2}:\d{2}.*$", "", ": ".join(parts[1:2]))
    return (f"{parts[0]}: {detail}" if detail else parts[0])[:80]


def gate_counts(*, engine: Engine) -> dict[str, dict[str, int]]:
    """How often each compliance rule deferred, held or blocked a touch or call task (each counted once per rule).

    Read from the decision logs, so a touch deferred by quiet hours and sent later counts as deferred.
    """
    counts: dict[str, Counter[str]] = {"touches": Counter(), "call tasks": Counter()}
    with engine.connect() as conn:
        for what, t in (("touches", _touch), ("call tasks", _task)):
            rows = conn.execution_options(yield_per=2000).execute(sa.select(t.c.decisions).where(t.c.decisions != ""))
            for (text,) in rows:
                seen = set()
                for line in text.splitlines():
                    if line.strip():
                        for rule in json.loads(line)["rules"]:
                            if rule[1] != "allow":
                                seen.add(f"{rule[1]}: {rule[0]}")
                counts[what].update(seen)
    return {what: dict(c) for what, c in counts.items()}


def task_counts(*, engine: Engine) -> dict[str, dict[str, int]]:
    """Call tasks by kind and status or outcome."""
    label = sa.func.coalesce(sa.cast(_task.c.outcome, sa.String), sa.cast(_task.c.status, sa.String))
    query = sa.select(_task.c.kind, label, sa.func.count()).group_by(_task.c.kind, label)
    out: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for kind, what, n in conn.execute(query):
            out.setdefault(kind, {})[what] = n
    return out


def reengagement_counts(*, engine: Engine) -> dict[str, Any]:
    """Aged leads re-engaged because guidelines changed in their favour (or their credit event seasoned).

    ``reengaged``: one row per reason (lender, program, the change in plain words) with how many leads it
    re-engaged and how many of those have since spoken with us (a live contact or a reply after it);
    ``other``: re-engagements skipped (opted out of every channel), still scheduled for a seasoning date,
    or superseded; ``messages`` and ``call_tasks``: the re-engagement sequences' touches and call tasks by
    status, and ``cadence_ended``: how many of those touches were cancelled because a cadence ended;
    ``leads_called_by_product``: the re-engaged leads whose sequence calls a loan officer logged, and how many of
    them were spoken with on one of those calls (the benchmarks' contact rate is per lead, not per dial).
    """
    spoke = (
        sa.exists()
        .where(
            _hist.c.lead_id == _re.c.lead_id,
            _hist.c.at >= _re.c.created_at,
            _hist.c.event.in_([Event.LIVE_CONTACT.value, Event.INBOUND_REPLY.value]),
        )
        .correlate(_re)
    )
    rows = (
        sa.select(
            _re.c.lender,
            _re.c.program,
            _re.c.reason,
            sa.func.count().label("leads"),
            sa.func.sum(sa.case((spoke, 1), else_=0)).label("contacted"),
        )
        .where(_re.c.status == "enrolled")
        .group_by(_re.c.lender, _re.c.program, _re.c.reason)
        .order_by(sa.func.count().desc(), _re.c.lender, _re.c.reason)
    )
    others = sa.select(_re.c.status, sa.func.count()).where(_re.c.status != "enrolled").group_by(_re.c.status)
    with engine.connect() as conn:
        reengaged = [
            {
                "lender": r.lender,
                "program": r.program,
                "reason": r.reason,
                "leads": r.leads,
                "contacted": int(r.contacted or 0),
            }
            for r in conn.execute(rows)
        ]
        other = {status: n for status, n in conn.execute(others)}
        ours = f"%:{REENGAGE_CADENCE}:v%"
        messages = conn.execute(
            sa.select(_touch.c.status, sa.func.count()).where(_touch.c.key.like(ours)).group_by(_touch.c.status)
        )
        messages_by_status = {str(status): n for status, n in messages}
        calls = conn.execute(
            sa.select(_task.c.status, sa.func.count()).where(_task.c.key.like(ours)).group_by(_task.c.status)
        )
        calls_by_status = {str(status): n for status, n in calls}
        ended = conn.execute(
            sa.select(sa.func.count()).where(_touch.c.key.like(ours), _touch.c.reason == CADENCE_ENDED)
        ).scalar_one()
        reached = _task.c.outcome.in_([o.value for o in LIVE_OUTCOMES])
        dialled = conn.execute(
            sa.select(_lead.c.product, sa.func.max(sa.case((reached, 1), else_=0)))
            .join(_lead, _lead.c.id == _task.c.lead_id)
            .where(_task.c.key.like(ours), _task.c.outcome.is_not(None))
            .group_by(_task.c.lead_id, _lead.c.product)
        )
        leads_by_product: dict[str, dict[str, int]] = {}
        for product, hit in dialled:
            counts = leads_by_product.setdefault(str(product), {"leads": 0, "reached": 0})
            counts["leads"] += 1
            counts["reached"] += int(hit or 0)
    return {
        "reengaged": reengaged,
        "other": other,
        "messages": messages_by_status,
        "call_tasks": calls_by_status,
        "cadence_ended": ended,
        "leads_called_by_product": leads_by_product,
    }


def expirations_by_officer(*, engine: Engine) -> dict[str, dict[str, int]]:
    """Per officer (by email; "unassigned" for tasks nobody held): cadence call tasks that expired unworked in
    their hands (``expired``) and those handed on from them shortly before their window closed (``handed_over``)."""
    label = {"expired": "expired", "expiring": "handed_over"}
    query = (
        sa.select(_officer.c.email, _log.c.action, sa.func.count())
        .select_from(_log.outerjoin(_officer, _officer.c.id == _log.c.from_officer_id))
        .where(_log.c.action.in_(list(label)))
        .group_by(_officer.c.email, _log.c.action)
    )
    counts: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for email, action, n in conn.execute(query):
            counts.setdefault(email or "unassigned", {"expired": 0, "handed_over": 0})[label[action]] = n
    return dict(sorted(counts.items()))

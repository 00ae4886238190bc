"""``dripline explain``: everything that decides whether and when a lead is contacted, and what happened.

One read-only document per lead: the facts the compliance gate works from
(zones, states, the strictest quiet hours and cap, consent, DNC, opt-outs),
the lender programs it qualifies for or what blocks it (and when its credit
event seasons), then a timeline of every touch, call task, inbound text and state change, each
touch and task with the rulings that sent, moved, held or blocked it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.compliance import exposure
from nurture.gate import ContactFacts, Policy
from storage.compliance import contacts_since, load_facts
from storage.eligibility_report import lead_eligibility
from storage.models import CallTask, Consent, InboundMessage, Lead, LeadHistory, LoanOfficer, Suppression, Touch, table
from storage.queries import parse_decisions

_lead = table(Lead)
_touch = table(Touch)
_task = table(CallTask)
_hist = table(LeadHistory)
_consent = table(Consent)
_sup = table(Suppression)
_inbound = table(InboundMessage)
_officer = table(LoanOfficer)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def explain_lead(
    *, engine: Engine, lead_id: int, policy: Policy, now: datetime, facts: ContactFacts | None = None
) -> dict[str, Any] | None:
    """The lead's compliance facts and timeline, or None when there is no such lead. ``facts``: the lead's gate
    facts already loaded at ``now`` by the caller (else they are loaded here)."""
    with engine.connect() as conn:
        lead = conn.execute(sa.select(_lead).where(_lead.c.id == lead_id)).first()
        if lead is None:
            return None
        officer = conn.execute(sa.select(_officer).where(_officer.c.id == lead.loan_officer_id)).first()
        if facts is None:
            facts = load_facts(conn, [lead_id], since=contacts_since(now))[lead_id]
        addresses = [a for a in (lead.phone, lead.alt_phone, lead.email) if a]
        consents = conn.execute(sa.select(_consent).where(_consent.c.lead_id == lead_id).order_by(_consent.c.id)).all()
        suppressions = conn.execute(
            sa.select(_sup)
            .where(sa.or_(_sup.c.lead_id == lead_id, _sup.c.address.in_(addresses)))
            .order_by(_sup.c.at, _sup.c.id)
        ).all()
        touches = conn.execute(sa.select(_touch).where(_touch.c.lead_id == lead_id)).all()
        tasks = conn.execute(sa.select(_task).where(_task.c.lead_id == lead_id)).all()
        history = conn.execute(sa.select(_hist).where(_hist.c.lead_id == lead_id)).all()
        eligibility = lead_eligibility(conn, lead_id, now.date())
        inbound = conn.execute(
            sa.select(_inbound).where(_inbound.c.from_address.in_([a for a in (lead.phone, lead.alt_phone) if a]))
        ).all()
    table_ = policy.table
    exp = exposure(lead.timezone, lead.address_state, lead.phone)
    window = table_.window_for(exp.states)
    cap = table_.state_cap(exp.states)
    timeline = (
        [_touch_entry(t) for t in touches]
        + [_task_entry(t) for t in tasks]
        + [_inbound_entry(m) for m in inbound]
        + [_history_entry(h) for h in history]
    )
    timeline.sort(key=lambda e: (e["at"] or "", e["order"]))
    for entry in timeline:
        del entry["order"]
    return {
        "lead": {
            "id": lead.id,
            "name": f"{lead.first_name} {lead.last_name}".strip(),
            "phone": lead.phone,
            "alt_phone": lead.alt_phone,
            "email": lead.email,
            "address_state": lead.address_state,
            "zip": lead.zip,
            "timezone": lead.timezone,
            "stage": lead.stage,
            "product": lead.product,
            "inquiry_date": lead.inquiry_date.isoformat(),
            "loan_officer": officer.name if officer else None,
        },
        "rules": {
            "table": table_.label,
            "zones": list(exp.timezones),
            "states": sorted(exp.states),
            "quiet_hours": f"{window.start:%H:%M}-{window.end:%H:%M}",
            "state_cap": f"{cap[0]} per 24 h ({cap[1]})" if cap else None,
            "global_cap": f"{table_.max_per_24h} per 24 h",
            "sms_registration_needed": sorted(
                s for s in exp.states if (r := table_.states.get(s)) and r.sms_needs_registration
            ),
        },
        "dnc": {
            "listed": lead.dnc_listed,
            "scrubbed_on": lead.dnc_scrubbed_on.isoformat() if lead.dnc_scrubbed_on else None,
        },
        "consents": [
            {
                "phone": c.phone,
                "seller": c.seller,
                "consented_at": _iso(c.consented_at),
                "source": c.source,
                "disclosure": c.disclosure,
                "recorded_by": c.recorded_by,
            }
            for c in consents
        ],
        "opted_out_now": {channel.value: why for channel, why in facts.opted_out.items()},
        "not_textable": dict(facts.not_textable),  # numbers the carriers said cannot take texts, and why
        "suppression_log": [
            {
                "at": _iso(s.at),
                "channel": s.channel,
                "action": s.action,
                "address": s.address,
                "source": s.source,
                "reason": s.reason,
            }
            for s in suppressions
        ],
        "eligibility": eligibility,
        "timeline": timeline,
    }


def _touch_entry(t: Any) -> dict[str, Any]:
    return {
        "at": _iso(t.sent_at or t.scheduled_for),
        "order": 1,
        "kind": "touch",
        "id": t.id,
        "what": f"{t.channel} {t.template} ({t.step_id})",
        "status": t.status,
        "reason": t.reason,
        "planned_at": _iso(t.created_at),
        "scheduled_for": _iso(t.scheduled_for),
        "sent_at": _iso(t.sent_at),
        "decisions": parse_decisions(t.decisions),
    }


def _task_entry(t: Any) -> dict[str, Any]:
    return {
        "at": _iso(t.completed_at or t.due_at),
        "order": 0,
        "kind": "call task",
        "id": t.id,
        "what": f"{t.kind} call {t.template}" + (f" ({t.step_id})" if t.step_id else ""),
        "status": t.status + (f" ({t.outcome})" if t.outcome else ""),
        "reason": t.note,
        "due_at": _iso(t.due_at),
        "expires_at": _iso(t.expires_at),
        "decisions": parse_decisions(t.decisions),
    }


def _inbound_entry(m: Any) -> dict[str, Any]:
    return {
        "at": _iso(m.received_at),
        "order": 2,
        "kind": "inbound text",
        "id": m.id,
        "what": f"from {m.from_address}: {m.body}",
        "status": m.kind,
        "reason": m.reply_status + (f": {m.reply_body}" if m.reply_body else ""),
        "decisions": [],
    }


def _history_entry(h: Any) -> dict[str, Any]:
    return {
        "at": _iso(h.at),
        "order": 3,
        "kind": "state",
        "id": h.id,
        "what": h.event,
        "status": f"{h.stage_from} -> {h.stage_to}; cadence {h.cadence_from} -> {h.cadence_to}",
        "reason": f"{h.reason} ({h.actor})",
        "decisions": [],
    }

"""The book the page-speed benchmark serves: 20 loan officers and 10,000 leads with one open call task each (so 500
on every officer's list), by plain SQL.

Each lead looks like a purchased aged non-QM lead that has been worked for a few days: a product in the shares
the re-score benchmark uses, its state and time zone, a FICO around 700, a loan amount, the product's own numbers
(deposits, rent and value, assets, a credit event), written consent for most, a recent DNC scrub, a position in
the default cadence and two messages sent; a third of them were reached on a logged call (in their history).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bench.seed import RESCORE_PRODUCTS, RESCORE_STATES, RESCORE_ZONES, cadence
from service.settings import Settings
from storage.cadences import register_cadence
from storage.models import CadencePosition, CallTask, Consent, Lead, LeadHistory, LoanOfficer, Touch, table

OFFICERS = 20
CHUNK = 2000
AREA = {"FL": "305", "GA": "404", "TX": "214", "NY": "212", "CA": "310"}


def phone(i: int, state: str) -> str:
    return f"+1{AREA[state]}{3_000_000 + i:07d}"


def add_officers(engine: Engine, now: datetime) -> list[int]:
    """The 20 officers, each with a phone and NMLS ID; the first is a manager."""
    rows = [{"name": f"Officer {k:02d}", "email": f"lo{k:02d}@bench.test", "phone": f"+1212555{k:04d}",
             "nmls_id": f"{1_500_000 + k}", "active": True, "created_at": now,
             "role": "manager" if k == 1 else "officer"} for k in range(1, OFFICERS + 1)]  # fmt: skip
    officers = table(LoanOfficer)
    with engine.begin() as conn:
        return [r[0] for r in conn.execute(sa.insert(officers).returning(officers.c.id, sort_by_parameter_order=True),
                                           rows)]  # fmt: skip


def _facts(rng: random.Random, product: str, now: datetime) -> dict[str, Any]:
    """The product's own numbers, as a lead vendor's form or the first call would have them."""
    amount = rng.choice((225_000, 300_000, 375_000, 450_000, 600_000, 750_000))
    facts: dict[str, Any] = {"loan_amount": amount, "loan_purpose": rng.choice(("purchase", "refinance")),
                             "property_value": round(amount / rng.uniform(0.6, 0.85), -3),
                             "monthly_debts": rng.choice((0, 450, 900, 1_800))}  # fmt: skip
    if product == "bank_statement":
        facts |= {"self_employed": True, "monthly_deposits": rng.randrange(9_000, 45_000, 500),
                  "statement_type": "business", "statement_months": rng.choice((12, 24))}  # fmt: skip
    elif product == "dscr":
        facts |= {"investment_property": True, "monthly_rent": rng.randrange(1_800, 5_500, 50),
                  "property_type": rng.choice(("single_family", "multi_unit"))}  # fmt: skip
    elif product == "credit_event":
        facts |= {"credit_event_type": rng.choice(("chapter_7", "foreclosure", "short_sale")),
                  "credit_event_date": (now - timedelta(days=rng.randrange(400, 1500))).date()}  # fmt: skip
    elif product == "asset_depletion":
        facts |= {"liquid_assets": rng.randrange(900_000, 4_000_000, 10_000)}
    elif product == "foreign_national":
        facts |= {"foreign_national": True}
    return facts


def _leads(n: int, officers: list[int], now: datetime) -> Iterator[dict[str, Any]]:
    rng = random.Random(12)
    for i in range(n):
        state = rng.choice(RESCORE_STATES)
        product = rng.choice(RESCORE_PRODUCTS)
        yield {
            "external_id": f"PG-{i:06d}", "first_name": rng.choice(("Maria", "James", "Ana", "Wei", "Omar", "Lena")),
            "last_name": f"Bench{i}", "phone": phone(i, state), "email": f"lead{i}@bench.test",
            "address_state": state, "zip": "33101", "timezone": RESCORE_ZONES[state], "product": product,
            "product_matched": True, "fico": min(850, max(500, round(rng.gauss(700, 50)))),
            "inquiry_date": (now - timedelta(days=rng.randrange(30, 91))).date(), "source": "Harbor Lead Co",
            "cost_cents": 500, "stage": "contacted" if i % 3 == 0 else "new_lead",
            "loan_officer_id": officers[i % len(officers)], "phone_ok": True,
            "dnc_scrubbed_on": (now - timedelta(days=rng.randrange(0, 20))).date(), "row_digest": f"pages-{i}",
            "created_at": now - timedelta(days=6), "updated_at": now - timedelta(days=1), "self_employed": False,
            "investment_property": False, "foreign_national": False, "high_dti": False,
            **_facts(rng, product, now),
        }  # fmt: skip


def _related(stored: list[Any], now: datetime, seller: str) -> dict[str, list[dict[str, Any]]]:
    """Per lead (id, phone, email, officer, stage): its open task, cadence position, two sent messages and consent
    for most; a contacted one also its logged call and that contact in its history."""
    c = cadence()
    days = lambda n: now - timedelta(days=n)  # noqa: E731
    out: dict[str, list[dict[str, Any]]] = {"task": [], "position": [], "touch": [], "history": [], "consent": []}
    for lead_id, number, email, officer, stage in stored:
        due = now + timedelta(minutes=(lead_id * 37) % 5760 - 2880)  # spread over two days either side of now
        task = {"lead_id": lead_id, "loan_officer_id": officer, "kind": "cadence", "priority": 0, "created_at": days(1)}
        out["task"].append(
            task | {"key": f"{lead_id}:default:v1:d6-call:call", "step_id": "d6-call", "template": "final",
                    "due_at": due, "expires_at": due + timedelta(hours=4), "priority": lead_id % 30, "status": "open"}
        )  # fmt: skip
        if stage == "contacted":
            reached = days(6) + timedelta(hours=1)
            out["task"].append(
                task | {"key": f"{lead_id}:default:v1:d0-call:call", "step_id": "d0-call", "template": "intro",
                        "due_at": days(6), "status": "done", "outcome": "reached", "completed_at": reached}
            )  # fmt: skip
            out["history"].append(
                {"lead_id": lead_id, "at": reached, "event": "live_contact", "stage_from": "new_lead",
                 "stage_to": "contacted", "reason": "call outcome: reached", "actor": "loan officer"}
            )  # fmt: skip
        out["position"].append(
            {"lead_id": lead_id, "cadence_name": c.name, "cadence_version": c.version, "anchor_date": days(6).date(),
             "step_index": 6, "repeat": 0, "status": "active", "next_due_at": due, "enrolled_at": days(6),
             "updated_at": days(1)}
        )  # fmt: skip
        for step, channel, template, ago in (("d0-sms", "sms", "intro", 6), ("d1-email", "email", "education", 5)):
            out["touch"].append(
                {"key": f"{lead_id}:default:v1:{step}:{channel}", "lead_id": lead_id, "step_id": step,
                 "channel": channel, "template": template, "scheduled_for": days(ago), "not_after": days(ago),
                 "status": "sent", "to_address": number if channel == "sms" else email, "sent_at": days(ago),
                 "body_text": "Hi, following up on your loan.", "provider": "twilio",
                 "provider_id": f"SM{lead_id:08d}{ago}", "created_at": days(ago), "updated_at": days(ago)}
            )  # fmt: skip
        if lead_id % 4:
            out["consent"].append(
                {"lead_id": lead_id, "phone": number, "seller": seller, "source": "https://form.test",
                 "disclosure": f"I agree that {seller} may text me.", "consented_at": days(60),
                 "recorded_at": days(6), "recorded_by": "bench"}
            )  # fmt: skip
    return out


def seed(engine: Engine, *, leads: int, now: datetime | None = None) -> list[int]:
    """Store the officers and ``leads`` leads with everything around them; returns the officers' ids."""
    now = now or datetime.now(UTC)
    register_cadence(engine=engine, cadence=cadence(), now=now - timedelta(days=30))
    officers = add_officers(engine, now)
    tables = {"task": table(CallTask), "position": table(CadencePosition), "touch": table(Touch),
              "history": table(LeadHistory), "consent": table(Consent)}  # fmt: skip
    lead_table, seller = table(Lead), Settings().company_name
    returned = [lead_table.c[name] for name in ("id", "phone", "email", "loan_officer_id", "stage")]
    rows = list(_leads(leads, officers, now))
    names = set().union(*rows)
    rows = [dict.fromkeys(names) | r for r in rows]
    for start in range(0, len(rows), CHUNK):
        with engine.begin() as conn:
            stored = conn.execute(
                sa.insert(lead_table).returning(*returned, sort_by_parameter_order=True),
                rows[start : start + CHUNK],
            ).all()  # fmt: skip
            for name, related in _related(list(stored), now, seller).items():
                if related:  # every row with the same columns (executemany binds the first row's names)
                    names = set().union(*related)
                    conn.execute(sa.insert(tables[name]), [dict.fromkeys(names) | r for r in related])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))
    return officers

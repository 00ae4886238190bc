"""The world the dispatch benchmarks and the fault tests share: a cadence whose first day texts and emails at
once, Miami leads stored by plain SQL (with written consent for the texted ones), and settings.

A lead inserted here enrolls at the next tick and its day-0 steps are due at ``DUE``: ``tick(p, now=DUE)``
plans one text (when the lead has a phone and consent) and one email per lead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.cadence import load_cadence
from service.settings import Settings
from storage.models import Consent, Lead, LoanOfficer, table

START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 09:00 in Miami
DUE = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # every first-day step is due, inside its window
CHUNK = 5000

CADENCE = load_cadence(
    """
name: faults
version: 1
stale_after: 24h
contact_phase_ends_after: d0-email
steps:
  - {id: d0-sms, day: 0, channel: sms, template: intro, at: "10:00", window: ["09:00", "20:00"]}
  - {id: d0-email, day: 0, channel: email, template: education, at: "10:00", window: ["08:00", "20:00"]}
  - {id: monthly, day: 30, every_days: 30, channel: email, templates: [check_in], at: "10:00",
     window: ["08:00", "20:00"]}
"""
)

# Settings the live channel accepts (service.settings.live_problems): no shipped placeholder left, nothing real
# either (the test suite's too).
LIVE: dict[str, Any] = {
    "channel": "live",
    "signing_key": "unit-test-signing-key-0123456789abcdef",
    "company_nmls_id": "1234567",
    "company_address": "200 Harbor Way, Suite 400, Tampa, FL 33602",
    "support_email": "help@harborlending.test",
    "unsubscribe_base_url": "https://harborlending.test/unsubscribe",
    "twilio_account_sid": "AC" + "1" * 32,
    "twilio_auth_token": "token",
    "twilio_from_number": "+15005550006",
    "sendgrid_api_key": "SG.key",
    "sendgrid_from_email": "loans@harborlending.test",
}


def settings(url: str, **overrides: Any) -> Settings:
    """The fault tests' settings (the local channel); ``overrides`` as ``Settings`` fields."""
    values: dict[str, Any] = {
        "database_url": url,
        "dispatch_concurrency": 8,
        "lease_seconds": 600,
        "reconcile_after_seconds": 60,
    }
    return Settings(**(values | overrides))


def phone(i: int) -> str:
    """Lead ``i``'s Miami number (unique for i < 8,000,000)."""
    return f"+1305{2_000_000 + i:07d}"


def add_leads(engine: Engine, n: int, *, first: int = 0, texted: Callable[[int], bool] = lambda i: True) -> list[int]:
    """Store leads ``first`` .. ``first + n - 1`` by plain SQL, in batches; return their ids.

    Each is a Miami bank-statement lead with an email, DNC-scrubbed on ``START``'s day. A lead ``texted(i)``
    holds true for also has a phone and written consent naming us for it; the others are email only.
    """
    officers, leads, consents = table(LoanOfficer), table(Lead), table(Consent)
    seller = Settings().company_name
    ids: list[int] = []
    with engine.begin() as conn:
        officer = conn.execute(sa.select(officers.c.id).order_by(officers.c.id)).scalar()
        if officer is None:
            values = {"name": "Dana Whitfield", "email": "dana@harborlending.test", "nmls_id": "1456789",
                      "active": True, "created_at": START, "licensed_states": "FL"}  # fmt: skip
            officer = conn.execute(sa.insert(officers).values(**values).returning(officers.c.id)).scalar_one()
    for start in range(first, first + n, CHUNK):
        numbers = range(start, min(first + n, start + CHUNK))
        rows = [_lead(i, officer, phone(i) if texted(i) else None) for i in numbers]
        with engine.begin() as conn:
            stored = conn.execute(
                sa.insert(leads).returning(leads.c.id, leads.c.phone, sort_by_parameter_order=True), rows
            ).all()
            consent_rows = [
                {
                    "lead_id": lead_id,
                    "phone": number,
                    "seller": seller,
                    "disclosure": f"I agree that {seller} may text me and leave prerecorded messages.",
                    "source": "https://apply.harborlending.test/form",
                    "consented_at": START - timedelta(days=40),
                    "recorded_at": START,
                    "recorded_by": "bench",
                }
                for lead_id, number in stored
                if number
            ]
            if consent_rows:
                conn.execute(sa.insert(consents), consent_rows)
        ids.extend(lead_id for lead_id, _ in stored)
    return ids


def _lead(i: int, officer: int, number: str | None) -> dict[str, Any]:
    return {
        "first_name": "Maria",
        "last_name": f"Lopez{i}",
        "phone": number,
        "email": f"lead{i}@example.com",
        "address_state": "FL",
        "zip": "33101",
        "timezone": "America/New_York",
        "product": "bank_statement",
        "self_employed": True,
        "inquiry_date": date(2026, 2, 1),
        "stage": "new_lead",
        "loan_officer_id": officer,
        "phone_ok": True,
        "dnc_scrubbed_on": START.date(),
        "created_at": START,
        "updated_at": START,
        "row_digest": f"bench-{i}",
    }

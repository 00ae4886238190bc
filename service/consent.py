"""Written consent recorded by a person (``dripline consent add``): for one of the lead's numbers, under its lock."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.geo import normalize_phone
from storage.compliance import add_consent
from storage.lead_events import LeadNotFound
from storage.locks import lock_leads, write_transaction
from storage.models import Lead, table

_lead = table(Lead)


def record_consent(
    *,
    engine: Engine,
    lead_id: int,
    phone: str | None,
    seller: str,
    disclosure: str,
    source: str,
    consented_at: datetime,
    now: datetime,
    recorded_by: str,
) -> tuple[str, bool]:
    """Store a written-consent record for ``phone`` (default: the lead's phone). Returns the number and whether
    the record was new. Raises :class:`LeadNotFound`, or ``ValueError`` when ``phone`` is not a phone number or
    not one of the lead's."""
    with write_transaction(engine) as conn:
        lock_leads(conn, [lead_id])
        lead = conn.execute(sa.select(_lead.c.phone, _lead.c.alt_phone).where(_lead.c.id == lead_id)).first()
        if lead is None:
            raise LeadNotFound(f"no lead with id {lead_id}")
        number = normalize_phone(phone) if phone else lead.phone
        if number is None or number not in (lead.phone, lead.alt_phone):
            raise ValueError(f"{number or 'no phone'} is not one of lead {lead_id}'s numbers")
        new = add_consent(conn, lead_id=lead_id, phone=number, seller=seller, disclosure=disclosure, source=source,
                          consented_at=consented_at, now=now, recorded_by=recorded_by)  # fmt: skip
    return number, new

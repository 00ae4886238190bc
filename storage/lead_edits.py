"""A person's changes to a lead's facts: stored under the lead's lock, each changed field logged in ``lead_edit``
with who and when, in the same transaction. Values are checked before they get here (``service.lead_edits``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.lead_events import LeadNotFound
from storage.locks import lock_leads, write_transaction
from storage.models import Lead, LeadEdit, table

_lead = table(Lead)
_edit = table(LeadEdit)

# The facts an officer may correct from the lead page: what eligibility, the worksheet and the scripts read.
EDITABLE = (
    "fico",
    "product",
    "property_value",
    "monthly_rent",
    "loan_amount",
    "credit_event_type",
    "credit_event_date",
    "monthly_deposits",
    "statement_type",
    "statement_months",
    "expense_ratio_bp",
    "gross_1099",
    "gross_1099_months",
    "pl_net",
    "monthly_debts",
    "liquid_assets",
)


@dataclass(frozen=True, slots=True)
class FactChange:
    field: str
    old: str | None
    new: str | None


def as_text(value: object) -> str | None:
    """A fact as the edit log keeps it."""
    if value is None:
        return None
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def current_facts(engine: Engine, lead_id: int) -> dict[str, object] | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(*(_lead.c[f] for f in EDITABLE)).where(_lead.c.id == lead_id)).first()
    return None if row is None else dict(row._mapping)


def edit_facts(
    *, engine: Engine, lead_id: int, values: Mapping[str, object], actor: str, at: datetime
) -> list[FactChange]:
    """Store the values of ``values`` that differ from the lead's, log each, and return what changed."""
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not an editable fact: {', '.join(sorted(unknown))}")
    with write_transaction(engine) as conn:
        lock_leads(conn, [lead_id])
        row = conn.execute(sa.select(*(_lead.c[f] for f in values)).where(_lead.c.id == lead_id)).first()
        if row is None:
            raise LeadNotFound(f"no lead with id {lead_id}")
        old = dict(row._mapping)
        changes = [
            FactChange(field, as_text(old[field]), as_text(value))
            for field, value in values.items()
            if as_text(old[field]) != as_text(value)
        ]
        if not changes:
            return []
        update: dict[str, object] = {c.field: values[c.field] for c in changes} | {"updated_at": at}
        if "product" in update:
            update["product_matched"] = False  # a person chose it
        conn.execute(_lead.update().where(_lead.c.id == lead_id).values(**update))
        conn.execute(
            _edit.insert(),
            [
                {"lead_id": lead_id, "field": c.field, "old_value": c.old, "new_value": c.new, "actor": actor[:120],
                 "at": at}
                for c in changes
            ],
        )  # fmt: skip
    return changes

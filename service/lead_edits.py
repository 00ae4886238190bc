"""An officer corrects a lead's facts from the lead page: each value is checked as the lead CSV checks it, the
changed ones are stored and logged with who and when, and the lead's eligibility is worked out again at once.

The form sends text. A blank field clears the fact (the product cannot be cleared). A bad value refuses the whole
edit with one line naming the field, and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, ValidationError

from nurture.eligibility import assessments
from nurture.income import StatementType
from service.inputs import problems
from service.pipeline import Pipeline
from storage.guidelines import current_set
from storage.import_fields import CreditEvent, Day, Dollars, Fico, ProductName
from storage.import_income import ExpenseRatio, Monthly, StatementKind, StatementMonths
from storage.lead_edits import FactChange, current_facts, edit_facts
from storage.lead_events import LeadNotFound
from storage.models import CadencePosition, Lead, table
from storage.rescore import LEAD_COLUMNS, lead_facts
from storage.seasoning import redate_seasoning

# Each editable fact: its form field, as the page labels it.
LABELS = {
    "fico": "FICO",
    "product": "Product",
    "property_value": "Property value",
    "monthly_rent": "Monthly rent",
    "loan_amount": "Loan amount",
    "credit_event_type": "Credit event",
    "credit_event_date": "Credit event date",
    "monthly_deposits": "Monthly deposits",
    "statement_type": "Statement type",
    "statement_months": "Statement months",
    "expense_ratio": "Expense ratio (%)",
    "gross_1099": "1099 income",
    "gross_1099_months": "1099 months",
    "pl_net": "P&L net profit",
    "monthly_debts": "Monthly debts",
    "liquid_assets": "Liquid assets",
}
_STORED_AS = {"expense_ratio": "expense_ratio_bp"}


class FactEdits(BaseModel):
    """The lead page's facts form, each field the text the officer typed (blank fields are left out)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fico: Fico = None
    product: ProductName = None
    property_value: Dollars = None
    monthly_rent: Dollars = None
    loan_amount: Dollars = None
    credit_event_type: CreditEvent = None
    credit_event_date: Day = None
    monthly_deposits: Monthly = None
    statement_type: StatementKind = None
    statement_months: StatementMonths = None
    expense_ratio: ExpenseRatio = None
    gross_1099: Monthly = None
    gross_1099_months: StatementMonths = None
    pl_net: Monthly = None
    monthly_debts: Monthly = None
    liquid_assets: Dollars = None


class EditRefused(ValueError):
    """A value the lead cannot take: the message names the field and what to do."""


@dataclass(frozen=True, slots=True)
class EditResult:
    changes: list[FactChange]
    fits_before: list[str]  # "Lender: Program" the lead fitted before the edit
    fits_after: list[str]

    @property
    def newly_fits(self) -> list[str]:
        return [p for p in self.fits_after if p not in self.fits_before]


def checked_edits(form: Mapping[str, str], *, on: date) -> dict[str, Any]:
    """The lead columns the form sets (a blank field sets its column to None), or :class:`EditRefused`."""
    given = {k: v.strip() for k, v in form.items() if k in LABELS}
    try:
        parsed = FactEdits(**{k: v for k, v in given.items() if v})
    except ValidationError as exc:
        field, why = problems(exc, LABELS)[0]
        raise EditRefused(f"{field}: {why}") from None
    if "product" in given and parsed.product is None:
        raise EditRefused(f"{LABELS['product']}: choose the product; a lead always has one")
    if parsed.credit_event_date is not None and parsed.credit_event_date > on:
        raise EditRefused(f"{LABELS['credit_event_date']}: {parsed.credit_event_date} is in the future")
    return {_STORED_AS.get(k, k): getattr(parsed, k) for k in given}


def _income_rules(values: Mapping[str, Any]) -> None:
    """The rules between the income facts, on the lead as it would be after the edit."""
    if values.get("monthly_deposits") is not None:
        missing = [LABELS[f].lower() for f in ("statement_type", "statement_months") if values.get(f) is None]
        if missing:
            raise EditRefused(f"{LABELS['monthly_deposits']}: count only with their {' and '.join(missing)}; add them")
    if values.get("expense_ratio_bp") is not None and values.get("statement_type") == StatementType.PERSONAL:
        raise EditRefused(f"{LABELS['expense_ratio']}: applies to business statements; personal deposits count in full")
    if values.get("gross_1099_months") is not None and values.get("gross_1099") is None:
        raise EditRefused(f"{LABELS['gross_1099_months']}: give the 1099 income too, or clear the months")


def fitting_programs(p: Pipeline, lead_id: int, *, on: date) -> list[str]:
    """The programs in force on ``on`` that take the lead, as "Lender: Program"."""
    lead, pos = table(Lead), table(CadencePosition)
    with p.engine.connect() as conn:
        row = conn.execute(
            sa.select(*LEAD_COLUMNS).outerjoin(pos, pos.c.lead_id == lead.c.id).where(lead.c.id == lead_id)
        ).first()
        if row is None:
            return []
        rules = current_set(conn, on=on)
    return [f"{a.rules.lender}: {a.rules.program.label}" for a in assessments(lead_facts(row), rules, on) if a.eligible]


def edit_lead_facts(p: Pipeline, *, lead_id: int, form: Mapping[str, str], actor: str, now: datetime) -> EditResult:
    """Check the form, store and log what changed, and re-score the lead: its programs today and its seasoning date.
    Raises :class:`EditRefused` (nothing stored) or ``storage.lead_events.LeadNotFound``."""
    values = checked_edits(form, on=now.date())
    current = current_facts(p.engine, lead_id)
    if current is None:
        raise LeadNotFound(f"no lead with id {lead_id}")
    _income_rules(current | values)
    before = fitting_programs(p, lead_id, on=now.date())
    changes = edit_facts(engine=p.engine, lead_id=lead_id, values=values, actor=actor, at=now)
    if not changes:
        return EditResult([], before, before)
    redate_seasoning(engine=p.engine, lead_ids=[lead_id], now=now)
    return EditResult(changes, before, fitting_programs(p, lead_id, on=now.date()))

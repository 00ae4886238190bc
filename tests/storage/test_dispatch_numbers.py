"""Dispatch sends the borrower's own estimate in the emails that show one, worked out on the day it sends under
the lender programs in force that day; texts carry none. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from channels.messages import EmailMessage, SmsMessage
from nurture.cadence import load_cadence
from nurture.guidelines import ProgramRules
from nurture.products import Product
from service.pipeline import Pipeline
from service.replay import replay
from service.settings import Settings
from storage.cadences import register_cadence
from storage.guidelines import load_snapshot
from tests.factories import insert_lead
from tests.fakes import RecordingSender

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
DENVER = {"phone": "+13035550147", "address_state": "CO", "zip": "80202", "timezone": "America/Denver"}
INCOME = {"monthly_deposits": 20_000, "statement_type": "business", "statement_months": 12, "loan_amount": 400_000}


def test_the_education_email_carries_the_leads_estimate_and_the_text_does_not(engine: Engine):
    cadence = load_cadence((ROOT / "cadences" / "default.yaml").read_text())
    sender = RecordingSender()
    p = Pipeline(Settings(), engine, register_cadence(engine=engine, cadence=cadence, now=START), sender)
    forty = ProgramRules("Harbor Capital", Product.BANK_STATEMENT, date(2026, 2, 1), expense_ratio=40.0)
    load_snapshot(engine=engine, programs=[forty], source="test", loaded_by="test", now=START)
    with_income = insert_lead(engine, at=START, inquiry_date=date(2026, 1, 10), **DENVER | INCOME)
    denver_2 = DENVER | {"phone": "+13035550148", "email": "sam@example.com"}
    without = insert_lead(engine, at=START, inquiry_date=date(2026, 1, 10), **denver_2)

    replay(p, start=START, until=START + timedelta(days=2), every=timedelta(hours=1))

    emails = {m.to: " ".join(m.text.split()) for _, m in sender.sent if isinstance(m, EmailMessage)}
    texts = [m.body for _, m in sender.sent if isinstance(m, SmsMessage)]
    assert set(emails) == {"maria@example.com", "sam@example.com"} and texts, (with_income, without)
    estimate = (
        "Income a lender may count each month: $10,000 a month (12 months of business deposits averaging $20,000"
        " a month at the standard 50% expense ratio)"
    )
    assert estimate in emails["maria@example.com"]
    assert "not an approval or a commitment to lend" in emails["maria@example.com"]
    assert "Harbor Capital" not in emails["maria@example.com"]  # the lender's own ratio is for the officer
    assert "Your own numbers" not in emails["sam@example.com"]
    assert not any("$10,000 a month" in body for body in texts)

"""Fact edits from the lead page, on SQLite and PostgreSQL: only changed facts are stored and logged, a chosen product
is no longer a matched one, a bad value stores nothing, and the lead is re-scored at once: its programs today and
the date its credit event seasons (a re-engagement scheduled for a date that no longer holds is superseded)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from service.lead_edits import EditRefused, checked_edits, edit_lead_facts
from service.pipeline import Pipeline
from service.settings import get_settings
from storage.lead_edits import edit_facts
from storage.lead_events import LeadNotFound
from storage.models import Lead, LeadEdit, Reengagement, table
from storage.seasoning import schedule_seasoning
from tests.factories import insert_nurture_lead
from tests.web.desk_world import NOW, PROGRAM, SHORT_OF_IT, load_program, one

_lead, _edit, _re = table(Lead), table(LeadEdit), table(Reengagement)


@pytest.fixture
def p(app_env: Path, engine: Engine) -> Iterator[Pipeline]:
    pipeline = Pipeline.open(get_settings(), now=NOW)
    yield pipeline
    pipeline.engine.dispose()


def schedules(engine: Engine, lead_id: int) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        query = sa.select(_re.c.change_key, _re.c.status).where(_re.c.lead_id == lead_id).order_by(_re.c.id)
        return [tuple(r) for r in conn.execute(query)]


def test_only_changed_facts_are_stored_and_logged(engine: Engine, p: Pipeline) -> None:
    lead_id = insert_nurture_lead(engine, now=NOW, n=1, product_matched=True, **SHORT_OF_IT)
    values = {"fico": 590, "product": "dscr", "monthly_rent": 2400, "property_value": 400_000}
    changes = edit_facts(engine=engine, lead_id=lead_id, values=values, actor="Dana", at=NOW)
    assert [(c.field, c.old, c.new) for c in changes] == [("product", "bank_statement", "dscr"),
                                                          ("monthly_rent", None, "2400")]  # fmt: skip
    row = one(engine, sa.select(_lead).where(_lead.c.id == lead_id))
    assert (row.product, row.product_matched, row.monthly_rent, row.updated_at) == ("dscr", False, 2400, NOW)
    with engine.connect() as conn:
        logged = conn.execute(sa.select(_edit.c.field, _edit.c.actor, _edit.c.at).order_by(_edit.c.id)).all()
    assert [tuple(r) for r in logged] == [("product", "Dana", NOW), ("monthly_rent", "Dana", NOW)]
    with pytest.raises(ValueError, match="not an editable fact: first_name"):
        edit_facts(engine=engine, lead_id=lead_id, values={"first_name": "X"}, actor="Dana", at=NOW)
    with pytest.raises(LeadNotFound):
        edit_facts(engine=engine, lead_id=lead_id + 99, values={"fico": 700}, actor="Dana", at=NOW)


def test_the_form_text_becomes_column_values_and_blank_clears() -> None:
    assert checked_edits({"fico": " 640 ", "expense_ratio": "35%", "liquid_assets": "$1,500,000", "loan_amount": "",
                          "credit_event_type": "Chapter 7", "csrf": "x"}, on=NOW.date()) == {
        "fico": 640, "expense_ratio_bp": 3500, "liquid_assets": 1_500_000, "loan_amount": None,
        "credit_event_type": "chapter_7"}  # fmt: skip
    with pytest.raises(EditRefused, match=r"^Expense ratio \(%\): '0.35' looks like a fraction"):
        checked_edits({"expense_ratio": "0.35"}, on=NOW.date())


def test_a_credit_event_date_edit_re_dates_its_seasoning_at_once(engine: Engine, p: Pipeline) -> None:
    load_program(engine)  # chapter 7 seasons after 24 months
    lead_id = insert_nurture_lead(engine, now=NOW, n=1, fico=700, loan_amount=300_000, property_value=400_000,
                                  credit_event_type="chapter_7", credit_event_date=date(2025, 1, 10))  # fmt: skip
    schedule_seasoning(engine=engine, now=NOW)
    assert schedules(engine, lead_id) == [("seasoning:2027-01-10", "scheduled")]

    later = edit_lead_facts(p, lead_id=lead_id, form={"credit_event_date": "2025-03-05"}, actor="Dana", now=NOW)
    assert later.fits_after == [] and schedules(engine, lead_id) == [
        ("seasoning:2027-01-10", "superseded"), ("seasoning:2027-03-05", "scheduled")]  # fmt: skip

    seasoned = edit_lead_facts(p, lead_id=lead_id, form={"credit_event_date": "3/1/2024"}, actor="Dana", now=NOW)
    assert seasoned.newly_fits == [PROGRAM]
    assert schedules(engine, lead_id)[-1] == ("seasoning:2027-03-05", "superseded"), "it is eligible today"


def test_a_refused_edit_stores_nothing(engine: Engine, p: Pipeline) -> None:
    lead_id = insert_nurture_lead(engine, now=NOW, n=1, **SHORT_OF_IT)
    form = {"fico": "640", "monthly_deposits": "20000", "statement_type": "business"}
    with pytest.raises(EditRefused, match=r"^Monthly deposits: count only with their statement months; add them$"):
        edit_lead_facts(p, lead_id=lead_id, form=form, actor="Dana", now=NOW)
    assert one(engine, sa.select(_lead.c.fico).where(_lead.c.id == lead_id))[0] == 590
    assert one(engine, sa.select(sa.func.count()).select_from(_edit))[0] == 0

"""The documents sequence's data: checklists, business days, deadlines, its cadence file and its state moves."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nurture.cadence import CadenceError, business_day, load_cadence
from nurture.documents import ALL_DAYS, CHECKLISTS, FIRST_PART_DAYS, deadlines
from nurture.planner import LeadSnapshot, due_at, local_time, plan
from nurture.products import Product
from nurture.states import CadenceStatus, Event, InvalidTransition, Stage, apply

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = load_cadence((ROOT / "cadences" / "documents.yaml").read_text())
THURSDAY = date(2026, 3, 5)


def test_business_days_skip_weekends_and_day_0_is_the_start_itself():
    assert [business_day(THURSDAY, n) for n in range(5)] == [
        THURSDAY,
        date(2026, 3, 6),  # Friday
        date(2026, 3, 9),  # Monday
        date(2026, 3, 10),
        date(2026, 3, 11),
    ]
    saturday = date(2026, 3, 7)
    assert business_day(saturday, 0) == saturday
    assert business_day(saturday, 1) == date(2026, 3, 9)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.integers(min_value=1, max_value=60))
def test_the_nth_business_day_is_a_weekday_with_n_weekdays_since_the_start(start, n):
    day = business_day(start, n)
    assert day.weekday() < 5
    between = [start + timedelta(days=i) for i in range(1, (day - start).days + 1)]
    assert sum(d.weekday() < 5 for d in between) == n


def test_deadlines_count_business_days_from_day_0():
    due = deadlines(THURSDAY)
    assert (due.start, due.first_due, due.all_due) == (THURSDAY, date(2026, 3, 10), date(2026, 3, 16))
    assert due.first_due == business_day(THURSDAY, FIRST_PART_DAYS) and due.all_due == business_day(THURSDAY, ALL_DAYS)


@pytest.mark.parametrize("product", list(Product))
def test_every_product_has_a_checklist_in_two_parts(product):
    checklist = CHECKLISTS[product]
    assert checklist.first and checklist.rest and checklist.first_part
    assert len(set(checklist.items)) == len(checklist.items), "no item twice"


def test_the_income_products_ask_for_their_own_income_documents():
    assert any("1099" in item for item in CHECKLISTS[Product.TEN99].first)
    assert any("profit and loss" in item for item in CHECKLISTS[Product.PNL].first)
    assert not any("1099" in item for item in CHECKLISTS[Product.PNL].items)


def test_the_documents_cadence_counts_business_days_and_may_run_again():
    assert DOCUMENTS.name == "documents" and DOCUMENTS.business_days and DOCUMENTS.restarts
    assert DOCUMENTS.date_of(THURSDAY, 2) == date(2026, 3, 9)


def test_each_reminder_comes_before_the_deadline_it_names_and_the_check_in_after_the_last():
    days = {s.id: s.day for s in DOCUMENTS.steps if s.day is not None}
    templates = {s.id: s.templates[0] for s in DOCUMENTS.steps}
    assert templates["d0-email"] == "documents_checklist" and days["d0-email"] == 0
    assert templates["d2-email"] == "documents_reminder" and days["d2-email"] < FIRST_PART_DAYS
    assert templates["d5-email"] == "documents_rest" and FIRST_PART_DAYS < days["d5-email"] < ALL_DAYS
    assert DOCUMENTS.steps[-1].id == "d8-call" and days["d8-call"] > ALL_DAYS


def test_the_sequences_texts_are_not_replaced_by_calls_without_consent():
    texts = [s for s in DOCUMENTS.steps if s.channel.value == "sms"]
    assert texts and not any(s.call_instead for s in texts)


def test_the_planner_places_the_steps_on_business_days_in_the_borrowers_calendar():
    called = datetime(2026, 3, 5, 19, 0, tzinfo=UTC)  # Thursday 14:00 in New York
    snap = LeadSnapshot(1, "America/New_York", THURSDAY, called, 0, 0, CadenceStatus.ACTIVE, True, True)
    local = [local_time(due_at(s, 0, snap, DOCUMENTS), "America/New_York") for s in DOCUMENTS.steps]
    assert [(m.date().isoformat(), f"{m:%H:%M}") for m in local] == [
        ("2026-03-05", "14:00"),  # at once
        ("2026-03-05", "14:10"),
        ("2026-03-09", "09:30"),  # Monday: the weekend is skipped
        ("2026-03-09", "12:30"),
        ("2026-03-12", "09:30"),
        ("2026-03-17", "10:00"),
    ]
    keys = [t.key for t in plan(snap, DOCUMENTS, called + timedelta(minutes=30)).touches]
    assert keys == ["1:documents:v1@2026-03-05:d0-email:email", "1:documents:v1@2026-03-05:d0-sms:sms"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("days: weekly", "x.yaml: days: 'weekly': Input should be 'calendar' or 'business'"),
        ("restarts: 1", "x.yaml: restarts: 1: Input should be a valid boolean"),
    ],
)
def test_the_cadence_file_refuses_an_unknown_calendar_or_restart_flag(text, problem):
    step = "{id: a, day: 0, channel: email, template: t, window: ['08:00', '20:00']}"
    body = f"name: x\nversion: 1\n{text}\nsteps:\n  - {step}\n"
    with pytest.raises(CadenceError) as exc:
        load_cadence(body, source="x.yaml")
    assert str(exc.value) == problem


def test_without_consent_applies_only_to_texts_and_voicemail():
    body = (
        "name: x\nversion: 1\nsteps:\n"
        "  - {id: a, day: 0, channel: email, template: t, window: ['08:00', '20:00'], without_consent: skip}\n"
    )
    with pytest.raises(CadenceError, match="without_consent only applies to sms and voicemail steps"):
        load_cadence(body, source="x.yaml")


def test_the_call_outcomes_start_the_sequence_and_docs_received_ends_it():
    for stage in (Stage.EDUCATED, Stage.DOCS_REQUESTED):
        change = apply(Event.DOCS_SEQUENCE, stage=stage, cadence=CadenceStatus.HANDED_OFF)
        assert (change.stage_to, change.cadence_to) == (Stage.DOCS_REQUESTED, CadenceStatus.ACTIVE)
    with pytest.raises(InvalidTransition):
        apply(Event.DOCS_SEQUENCE, stage=Stage.DOCS_REQUESTED, cadence=CadenceStatus.STOPPED)
    with pytest.raises(InvalidTransition):
        apply(Event.DOCS_SEQUENCE, stage=Stage.DOCS_RECEIVED, cadence=CadenceStatus.HANDED_OFF)

    received = {
        status: apply(Event.DOCS_RECEIVED, stage=Stage.DOCS_REQUESTED, cadence=status).cadence_to
        for status in CadenceStatus
    }
    assert received == {
        CadenceStatus.ACTIVE: CadenceStatus.HANDED_OFF,  # the reminders stop
        CadenceStatus.NURTURING: CadenceStatus.HANDED_OFF,
        CadenceStatus.HANDED_OFF: CadenceStatus.HANDED_OFF,
        CadenceStatus.STOPPED: CadenceStatus.STOPPED,  # an opt-out stays one
        CadenceStatus.COMPLETED: CadenceStatus.HANDED_OFF,  # documents in after the sequence ran out
    }

"""The report's funnel by lead age at import and its days from first contact to close, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from nurture.states import Event
from service.report import funnel_markdown, report_payload
from storage.lead_events import record_event
from storage.report import days_to_close, funnel_by_age
from tests.factories import NOW, insert_lead

WORKING = (
    Event.DOCS_REQUESTED,
    Event.DOCS_RECEIVED,
    Event.PRE_QUALIFIED,
    Event.APPLICATION,
    Event.PROCESSING,
    Event.CLEAR_TO_CLOSE,
)


def _lead(engine: Engine, n: int, *, age: int, imported: datetime = NOW) -> int:
    return insert_lead(
        engine,
        at=imported,
        inquiry_date=imported.date() - timedelta(days=age),
        phone=f"+1305555{n:04d}",
        email=f"lead{n}@example.com",
        cost_cents=450,
    )


def _fund(engine: Engine, lead_id: int, *, first: Event, at: datetime, days: float) -> None:
    """Walk the lead from ``first`` (its first contact) to funded ``days`` later."""
    record_event(engine=engine, lead_id=lead_id, event=first, at=at)
    if first is not Event.EDUCATED:
        record_event(engine=engine, lead_id=lead_id, event=Event.EDUCATED, at=at + timedelta(hours=1))
    for i, event in enumerate(WORKING, start=2):
        record_event(engine=engine, lead_id=lead_id, event=event, at=at + timedelta(hours=i))
    record_event(engine=engine, lead_id=lead_id, event=Event.FUNDED, at=at + timedelta(days=days))


def test_every_band_is_listed_on_an_empty_database(engine: Engine):
    rows = funnel_by_age(engine=engine)
    assert [(r.product, r.leads, r.closed) for r in rows] == [("under_30", 0, 0), ("30_90", 0, 0), ("over_90", 0, 0)]
    assert report_payload(engine)["totals"]["days_to_close"] == {"closed": 0, "median": None, "p75": None}


def test_leads_fall_in_their_band_at_its_edges(engine: Engine):
    late = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # 18:30 in Miami: still the import's UTC day
    ages = {1: 29, 2: 30, 3: 90, 4: 91, 5: -3, 6: 0}
    ids = {n: _lead(engine, n, age=age) for n, age in ages.items()}
    ids[7] = _lead(engine, 7, age=30, imported=late)
    record_event(engine=engine, lead_id=ids[2], event=Event.LIVE_CONTACT, at=NOW + timedelta(days=1))

    rows = {r.product: r for r in funnel_by_age(engine=engine)}
    assert {band: r.leads for band, r in rows.items()} == {"under_30": 3, "30_90": 3, "over_90": 1}
    assert rows["30_90"].contacted == 1 and rows["under_30"].contacted == 0
    assert rows["30_90"].lead_cost == pytest.approx(13.5)  # 3 x $4.50 as imported
    by_override = {r.product: r.lead_cost for r in funnel_by_age(engine=engine, cost_per_lead=5)}
    assert by_override == {"under_30": 15, "30_90": 15, "over_90": 5}


def test_days_from_first_contact_to_close_by_band(engine: Engine):
    fresh, middle, old, replied = (_lead(engine, n, age=a) for n, a in ((1, 10), (2, 45), (3, 120), (4, 60)))
    _lead(engine, 5, age=60)  # never funded: not counted
    start = NOW + timedelta(days=3)
    _fund(engine, fresh, first=Event.LIVE_CONTACT, at=start, days=40)
    _fund(engine, middle, first=Event.EDUCATED, at=start, days=61.5)  # educated on the first call: that is contact
    _fund(engine, old, first=Event.LIVE_CONTACT, at=start + timedelta(days=5), days=80)
    record_event(engine=engine, lead_id=replied, event=Event.INBOUND_REPLY, at=start)  # the reply is first contact
    _fund(engine, replied, first=Event.LIVE_CONTACT, at=start + timedelta(days=2), days=48)

    days = days_to_close(engine=engine)
    assert {band: sorted(v) for band, v in days.items()} == {
        "under_30": [40.0],
        "30_90": [50.0, 61.5],
        "over_90": [80.0],
    }
    payload = report_payload(engine)
    assert payload["totals"]["days_to_close"] == {"closed": 4, "median": 55.8, "p75": 66.1}
    middle_band = next(b for b in payload["by_age"] if b["band"] == "30_90")
    assert middle_band["benchmarked"] and middle_band["closed"] == 2 and middle_band["leads"] == 3
    assert middle_band["days_to_close"] == {"closed": 2, "median": 55.8, "p75": 58.6}
    assert middle_band["overall_close"] == pytest.approx(2 / 3) and middle_band["revenue"] == 18_000
    daily = funnel_markdown(engine)  # the daily flow's artifact carries the split too
    assert "| 30-90 days | 3 | 2 | 2 | 2 | 66.7% | median 55.8 days, p75 58.6 (2 loans) |" in daily

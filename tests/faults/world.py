"""The world of the fault tests: a cadence whose first day texts and emails at once, leads that may get
both, and a pipeline whose channel is the ledger provider."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from nurture.cadence import load_cadence
from service.pipeline import Pipeline
from service.settings import Settings
from storage.cadences import register_cadence
from storage.db import make_engine
from tests.factories import insert_lead
from tests.faults.ledger import LedgerSender

START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 09:00 in Miami
DUE = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # every first-day step is due, inside its window

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


def settings(url: str) -> Settings:
    return Settings(database_url=url, dispatch_concurrency=8, lease_seconds=600, reconcile_after_seconds=60)


def pipeline(url: str, ledger: Path, *, now: datetime, latency: float = 0.0, engine: Engine | None = None) -> Pipeline:
    engine = engine or make_engine(url)
    registry = register_cadence(engine=engine, cadence=CADENCE, now=now)
    return Pipeline(settings(url), engine, registry, LedgerSender(ledger, latency=latency))


def add_leads(engine: Engine, n: int, *, first: int = 0) -> None:
    for i in range(first, first + n):
        insert_lead(engine, at=START, phone=f"+1305555{i:04d}", email=f"lead{i}@example.com")

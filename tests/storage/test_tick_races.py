"""Two, three and four ticks started together right after an import, each in its own process, then again two
hours later: no error, and exactly what one tick alone makes of the same import in a twin database
(positions, touches, call tasks, history), so nothing is enrolled, planned or recorded twice."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from service.pipeline import Pipeline, tick
from service.settings import Settings
from service.synthetic import generate_leads, write_csv
from storage.importer import import_leads
from storage.models import CadencePosition, CallTask, LeadHistory, Touch, table
from storage.officers import OfficerSettings, add_officer
from tests.fakes import RecordingSender
from tests.storage.race_workers import run_together, tick_worker

AT = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)  # Monday afternoon across the US: most new leads' first step is due
TIMES = [AT, AT + timedelta(hours=2, minutes=15)]  # enroll and plan the first calls; then the texts after them
LEADS = 2000
BATCH = 250  # several batches per tick, so the processes meet batch after batch
TIMEOUT = 240.0


@pytest.fixture(scope="module")
def leads_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("leads") / "leads.csv"
    write_csv(generate_leads(LEADS, seed=9, as_of=AT.date()), path)
    return path


def _imported(engine: Engine, path: Path) -> int:
    for n in range(1, 4):
        add_officer(engine=engine, name=f"Officer {n}", email=f"lo{n}@example.com", now=AT, nmls_id=f"14567{n:02d}",
                    settings=OfficerSettings(licensed_states="all"))  # fmt: skip
    return import_leads(engine=engine, path=path, now=AT).created


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _rows(engine: Engine) -> dict[str, Counter[tuple[object, ...]]]:
    pos, touch, task, hist = table(CadencePosition), table(Touch), table(CallTask), table(LeadHistory)
    queries = {
        "positions": sa.select(pos.c.lead_id, pos.c.cadence_name, pos.c.cadence_version, pos.c.anchor_date,
                               pos.c.step_index, pos.c.repeat, pos.c.status, pos.c.next_due_at),
        "touches": sa.select(touch.c.key, touch.c.lead_id, touch.c.status, touch.c.scheduled_for, touch.c.reason),
        "tasks": sa.select(task.c.key, task.c.lead_id, task.c.kind, task.c.status, task.c.due_at, task.c.priority),
        "history": sa.select(hist.c.lead_id, hist.c.event, hist.c.cadence_to, hist.c.at),
    }  # fmt: skip
    with engine.connect() as conn:
        return {name: Counter(tuple(r) for r in conn.execute(q)) for name, q in queries.items()}


def _per_lead(rows: Counter[tuple[object, ...]], column: int) -> Counter[object]:
    return Counter(key[column] for key, n in rows.items() for _ in range(n))


@pytest.mark.parametrize("processes", [2, 3, 4])
def test_ticks_started_together_after_an_import_neither_crash_nor_duplicate(
    engine: Engine, twin_engine: Engine, leads_csv: Path, processes: int
):
    inserted = _imported(twin_engine, leads_csv)
    alone = Pipeline.open(Settings(database_url=_url(twin_engine), batch_size=BATCH), now=AT, sender=RecordingSender())
    single = [tick(alone, now=at).as_dict() for at in TIMES]
    want = _rows(twin_engine)
    assert _imported(engine, leads_csv) == inserted >= LEADS * 0.9

    reports = run_together(tick_worker, [(_url(engine), TIMES, BATCH)] * processes, parties=processes, timeout=TIMEOUT)

    errors = [detail for status, detail in reports if status != "ok"]
    assert errors == [], errors[0] if errors else ""
    got = _rows(engine)
    summaries = [s for _, detail in reports for s in detail]
    counts = {name: sum(rows.values()) for name, rows in got.items()}
    shares = [[(s["enrolled"], s["leads"]) for s in detail] for _, detail in reports]
    print(f"\n{engine.dialect.name}, {processes} ticks at once: {counts}; one tick alone: "
          f"{ {name: sum(rows.values()) for name, rows in want.items()} }; "
          f"(enrolled, planned) by each process in each round: {shares}")  # fmt: skip
    assert single[0]["enrolled"] == inserted and single[0]["tasks"] > 0 and single[1]["touches"] > 0
    for name in ("positions", "touches", "tasks"):
        duplicates = sum(_per_lead(got[name], 0 if name == "positions" else 1).values()) - sum(
            _per_lead(want[name], 0 if name == "positions" else 1).values()
        )
        assert duplicates == 0, f"{duplicates} extra {name}"
    assert all(n == 1 for n in got["history"].values()), "a state change recorded twice"
    assert got == want, "the racing ticks made something other than one tick alone"
    for key in ("enrolled", "touches", "tasks", "leads"):
        assert sum(s[key] for s in summaries) == sum(s[key] for s in single), key

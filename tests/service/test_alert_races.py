"""Two processes running the alerts at once, on SQLite and PostgreSQL: every alert planned once and sent once,
counted at a provider both processes share (``bench/ledger.py``)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bench.ledger import entries
from storage.models import OfficerAlert, table
from tests.factories import NOW
from tests.service.alert_support import add_officer, add_task
from tests.service.alert_workers import alerts_worker
from tests.storage.race_workers import run_together

OFFICERS = 12


def test_two_processes_running_the_alerts_at_once_send_each_alert_exactly_once(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    add_officer(engine, 999, role="manager")
    for n in range(OFFICERS):
        officer = add_officer(engine, n)
        for i in range(2):
            add_task(engine, officer=officer, kind="reply", key=f"{n}:reply:{i}")
        for i in range(3):
            add_task(engine, officer=officer, kind="cadence", key=f"{n}:aged-nonqm:v1:d{i}-call:call")
    add_task(engine, officer=None)
    ledger = tmp_path / "ledger.jsonl"
    times = [NOW + timedelta(minutes=1), NOW + timedelta(minutes=40)]  # the alerts, then the reminders

    reports = run_together(alerts_worker, [(database_url, times, str(ledger))] * 2, parties=2, timeout=300)

    assert [r[0] for r in reports] == ["ok", "ok"], [r[1] for r in reports if r[0] != "ok"]
    sent = Counter(e["key"] for e in entries(ledger))
    assert sent and max(sent.values()) == 1, f"sent twice: {[k for k, n in sent.items() if n > 1]}"
    alerts = table(OfficerAlert)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(alerts.c.key, alerts.c.status)).all()
    assert Counter(status for _, status in rows) == Counter({"sent": len(rows)})
    assert set(sent) == {key for key, _ in rows}
    kinds = Counter(
        key.split(":")[0] + ":" + key.split(":")[2] if key.startswith("task") else key.split(":")[0] for key in sent
    )
    per_officer = 2 * 2  # two replies, by text and email
    assert kinds == Counter(
        {
            "task:due": OFFICERS * per_officer,
            "task:reminder": OFFICERS * per_officer,
            "digest": OFFICERS * 2,
            "unassigned": 2,  # by text and email, once in the hour both runs fall in
        }
    )
    by_process = Counter(e["pid"] for e in entries(ledger))
    assert len(by_process) == 2, "both processes sent alerts: they really raced"
    print(f"\n{engine.dialect.name}: {len(sent)} alerts, by process {sorted(by_process.values())}")

"""What the alert race test runs in separate processes (spawned: a fresh interpreter, its own engine): open the
pipeline as a command does, wait at the barrier with the others, run the alerts at each time, report."""

from __future__ import annotations

import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.ledger import LedgerSender
from service.alerts import run_alerts
from service.pipeline import Pipeline
from service.settings import Settings
from tests.storage.race_workers import BARRIER_SECONDS


def alerts_worker(url: str, times: list[datetime], ledger: str, barrier: Any, out: Any) -> None:
    """``run_alerts`` at each of ``times``, each begun together with the other processes; reports ("ok", the
    stats) or ("error", the traceback)."""
    try:
        settings = Settings(database_url=url, public_base_url="https://calls.dripline.test", batch_size=7)
        p = Pipeline.open(settings, now=times[0], sender=LedgerSender(Path(ledger), latency=0.002))
        stats = []
        for at in times:
            barrier.wait(BARRIER_SECONDS)
            stats.append(run_alerts(p, now=at).as_dict())
        out.put(("ok", stats))
    except BaseException:
        out.put(("error", traceback.format_exc()))

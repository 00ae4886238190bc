"""``dripline serve`` and the demo's temporary Prefect server."""

from __future__ import annotations

import urllib.request

import pytest

from dripline.local_prefect import running
from dripline.settings import Settings
from flows.serve import deployments


def test_serve_runs_the_tick_dispatch_and_the_daily_guideline_sweep():
    served = {d.name: d for d in deployments(Settings(), every="15m")}
    assert list(served) == ["cadence-tick", "dispatch", "guideline-daily"]
    assert [s.schedule.cron for s in served["guideline-daily"].schedules] == ["0 11 * * *"]
    assert all(d.concurrency_limit == 1 for d in served.values())


@pytest.mark.prefect
def test_a_temporary_local_server_answers_then_is_gone():
    with running() as server:
        with urllib.request.urlopen(f"{server.url}/health", timeout=5) as answer:
            assert answer.status == 200
        process = server.process
    assert process.poll() is not None, "the server process has exited"

"""``dripline serve`` and the demo's temporary Prefect server."""

from __future__ import annotations

import urllib.request
from datetime import timedelta

import pytest

from flows.local_server import running
from flows.serve import deployments, prefect_yaml


def test_serve_runs_exactly_the_deployments_of_prefect_yaml():
    declared = {d["name"]: d for d in prefect_yaml()["deployments"]}
    served = {d.name: d for d in deployments()}
    assert list(served) == list(declared) == [
        "cadence-tick", "dispatch", "import-leads", "guideline-rescore", "guideline-daily", "dnc-scrub-check"
    ]  # fmt: skip
    for name, spec in declared.items():
        d = served[name]
        assert d.entrypoint.endswith(spec["entrypoint"].split(":")[1]), name
        assert d.concurrency_limit == spec["concurrency_limit"]["limit"] == 1, name
        assert d.concurrency_options.collision_strategy.value == spec["concurrency_limit"]["collision_strategy"]
        assert d.parameters == (spec.get("parameters") or {}), name
        intervals = [s["interval"] for s in spec.get("schedules", []) if "interval" in s]
        crons = [s["cron"] for s in spec.get("schedules", []) if "cron" in s]
        seconds = [s.schedule.interval.total_seconds() for s in d.schedules if hasattr(s.schedule, "interval")]
        assert seconds == intervals
        assert [s.schedule.cron for s in d.schedules if hasattr(s.schedule, "cron")] == crons
        assert [t.expect for t in d.triggers] == [set(t["expect"]) for t in spec.get("triggers", [])], name
    [trigger] = served["guideline-rescore"].triggers
    assert trigger.parameters == {"snapshot_id": "{{ event.payload.snapshot_id }}"}


def test_serve_can_run_the_interval_schedules_faster_for_a_trial():
    served = {d.name: d for d in deployments(every=timedelta(minutes=1))}
    assert [s.schedule.interval for s in served["dispatch"].schedules] == [timedelta(minutes=1)]
    assert [s.schedule.cron for s in served["guideline-daily"].schedules] == ["0 11 * * *"]


@pytest.mark.prefect
def test_a_temporary_local_server_answers_then_is_gone():
    with running() as server:
        with urllib.request.urlopen(f"{server.url}/health", timeout=5) as answer:
            assert answer.status == 200
        process = server.process
    assert process.poll() is not None, "the server process has exited"

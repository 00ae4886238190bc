"""prefect.yaml declares the deployments the code provides, with schedules and no overlap."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml
from prefect.flows import Flow

ROOT = Path(__file__).resolve().parents[2]


def _deployments() -> dict[str, dict]:
    data = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    return {d["name"]: d for d in data["deployments"]}


def _flow(entrypoint: str) -> Flow:
    path, name = entrypoint.split(":")
    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def test_every_entrypoint_is_a_prefect_flow():
    names = {name: _flow(d["entrypoint"]).name for name, d in _deployments().items()}
    assert names == {
        "cadence-tick": "cadence-tick",
        "dispatch": "dispatch",
        "import-leads": "import-leads",
        "guideline-rescore": "guideline-rescore",
        "guideline-daily": "guideline-daily",
        "dnc-scrub-check": "dnc-scrub-check",
    }


def test_scheduled_deployments_never_overlap():
    deployments = _deployments()
    for name in ("cadence-tick", "dispatch"):
        d = deployments[name]
        assert d["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}
        assert [s["interval"] for s in d["schedules"]] in ([900], [300])
        assert d["work_pool"]["name"] == "dripline-process"
    assert "schedules" not in deployments["import-leads"]


def test_the_rescore_deployment_is_started_by_the_loosening_event():
    d = _deployments()["guideline-rescore"]
    [trigger] = d["triggers"]
    assert trigger["type"] == "event" and trigger["expect"] == ["lender.guideline.loosened"]
    assert trigger["parameters"] == {"snapshot_id": "{{ event.payload.snapshot_id }}"}
    assert "schedules" not in d and d["concurrency_limit"]["limit"] == 1


def test_the_daily_guideline_sweep_runs_each_morning_one_at_a_time():
    d = _deployments()["guideline-daily"]
    assert [s["cron"] for s in d["schedules"]] == ["0 11 * * *"]
    assert d["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}


def test_the_dnc_scrub_check_runs_each_morning_one_at_a_time():
    d = _deployments()["dnc-scrub-check"]
    assert d["entrypoint"] == "flows/dnc.py:dnc_check_flow"
    assert [s["cron"] for s in d["schedules"]] == ["0 11 * * *"]
    assert d["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}

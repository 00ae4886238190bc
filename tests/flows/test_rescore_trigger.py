"""A guideline loosening, announced as a Prefect event, starts the guideline-rescore deployment on a real server.

The trigger is the one declared in prefect.yaml. The test server is Prefect's local test
server (its event and trigger services run in-process); the flow run it creates is then
executed the way a worker would, in a subprocess, against the test database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.events import DeploymentEventTrigger
from prefect.settings import PREFECT_API_URL

from flows.common import pipeline
from flows.events import emit_loosened
from flows.rescore import rescore_flow
from nurture.guidelines import ProgramRules
from nurture.products import Product
from service.guideline_load import load_programs
from storage.models import Reengagement, table
from tests.factories import insert_nurture_lead

pytestmark = pytest.mark.prefect
ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 6, 15, 14, 0, tzinfo=UTC)


def _trigger_from_prefect_yaml() -> DeploymentEventTrigger:
    deployments = {d["name"]: d for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]}
    [spec] = deployments["guideline-rescore"]["triggers"]
    assert spec.pop("type") == "event"
    return DeploymentEventTrigger(**spec)


def _nurture_lead(engine, n: int, fico: int) -> int:
    return insert_nurture_lead(engine, now=NOW, n=n, fico=fico)


def _program(min_fico: int) -> ProgramRules:
    return ProgramRules("Harbor Capital", Product.BANK_STATEMENT, date(2026, 1, 1), min_fico=min_fico)


def test_a_loosening_event_starts_the_rescore_flow_with_the_snapshot(engine, app_env, prefect_server):
    deployment_id = rescore_flow.to_deployment(
        name="guideline-rescore", triggers=[_trigger_from_prefect_yaml()]
    ).apply()
    by_deployment = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
    with get_client(sync_client=True) as client:
        earlier = {r.id for r in client.read_flow_runs(deployment_filter=by_deployment)}  # the other database's run
    eligible_now, still_short = _nurture_lead(engine, 1, 610), _nurture_lead(engine, 2, 590)
    p = pipeline(NOW)
    load_programs(
        p, programs=[_program(640)], source="may", now=NOW - timedelta(days=1), loaded_by="test", rescore=None
    )
    outcome = load_programs(p, programs=[_program(600)], source="june", now=NOW, loaded_by="test",
                            rescore=lambda load: emit_loosened(load, NOW))  # fmt: skip
    [loaded] = outcome.result.stored
    assert outcome.events, "with a Prefect server configured the load announces itself instead of re-scoring"

    with get_client(sync_client=True) as client:
        deadline, runs = time.monotonic() + 90, []
        while not runs and time.monotonic() < deadline:
            time.sleep(1)
            runs = [r for r in client.read_flow_runs(deployment_filter=by_deployment) if r.id not in earlier]
    assert len(runs) == 1, "the event started exactly one run of the deployment"
    assert str(runs[0].parameters["snapshot_id"]) == str(loaded.snapshot_id)

    # what a worker does with the run it picks up: execute it in a fresh process, from the project folder
    env = os.environ | {"PREFECT_API_URL": PREFECT_API_URL.value()}
    executed = subprocess.run([sys.executable, "-m", "prefect", "flow-run", "execute", str(runs[0].id)], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=240)  # fmt: skip
    assert executed.returncode == 0, executed.stderr[-3000:]
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(runs[0].id).state
    assert state is not None and state.is_completed(), state
    with engine.connect() as conn:
        done = dict(conn.execute(sa.select(table(Reengagement).c.lead_id, table(Reengagement).c.status)).all())
    assert done == {eligible_now: "enrolled"} and still_short not in done

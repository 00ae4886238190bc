"""The dispatch flow sends the loan officers' alerts right after the borrowers' messages, as Prefect tasks."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from sqlalchemy.engine import Engine

from flows.cadence import dispatch_touches
from tests.factories import NOW
from tests.flows.test_flows import _task_run_names
from tests.service.alert_support import add_officer, add_task
from tests.waiting import wait_for

pytestmark = pytest.mark.prefect


def test_the_dispatch_flow_alerts_the_officer_of_a_reply_once(engine: Engine, app_env: Path, prefect_server) -> None:
    officer = add_officer(engine, phone="+13055550999")
    reply = add_task(engine, officer=officer)

    state = dispatch_touches(at=NOW + timedelta(minutes=1), return_state=True)
    result = state.result()

    assert result["alerts"]["sent"] == 2 and result["sent"] == 0
    assert [p.name for p in (app_env / "sms").iterdir()] and [p.name for p in (app_env / "email").iterdir()]
    steps = {"expire-alert-leases", "plan-alerts", "send-alerts"}
    run_id = state.state_details.flow_run_id  # task runs reach the API a little after the flow returns
    wait_for("the alert steps as task runs", lambda: steps <= set(_task_run_names(run_id)), timeout=30)
    again = dispatch_touches(at=NOW + timedelta(minutes=6))
    assert again["alerts"]["sent"] == 0, f"task {reply}'s alert goes once"
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(state.state_details.flow_run_id).state.is_completed()

"""The daily DNC re-scrub check on a real (temporary) Prefect server: an artifact, and an event only when due."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from sqlalchemy.engine import Engine

from flows.common import pipeline
from flows.dnc import dnc_check_flow
from service.replay import replay
from tests.factories import insert_lead

pytestmark = pytest.mark.prefect
START = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # 08:00 in New York


def test_the_check_publishes_the_due_numbers_and_emits_an_event_only_when_some_are_due(
    engine: Engine, app_env, prefect_server
):
    assert dnc_check_flow(at=START) == {"numbers": 0, "touches": 0, "call_tasks": 0, "event_id": None}

    insert_lead(engine, at=START, dnc_scrubbed_on=date(2026, 1, 1))
    replay(pipeline(START), start=START, until=START + timedelta(hours=3), every=timedelta(hours=1))
    state = dnc_check_flow(at=START + timedelta(hours=4), return_state=True)
    result = state.result()
    assert (result["numbers"], result["call_tasks"]) == (1, 1) and result["event_id"]
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
        [artifact] = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])), limit=5)
    assert run.name == "dnc scrub check 2026-03-02"
    assert artifact.key == "dnc-scrub-due" and "+13055550147" in str(artifact.data)

"""The Prefect flows on a real (temporary) Prefect server: batches, not one task per lead."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from sqlalchemy.engine import Engine

from dripline.synthetic import generate_leads, write_csv
from flows.cadence import cadence_tick, dispatch_touches
from flows.leads import import_leads_flow
from flows.replay import replay_range
from storage.models import CallTask, Touch
from storage.officers import add_officer

pytestmark = pytest.mark.prefect
START = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)


def _import(engine: Engine, tmp_path: Path, n: int = 5) -> dict:
    add_officer(
        engine=engine, name="Dana Whitfield", email="dana@example.com", phone=None, nmls_id="1456789", now=START
    )
    path = tmp_path / "leads.csv"
    rows = generate_leads(n, seed=3, as_of=date(2026, 3, 2))
    for i, row in enumerate(rows):  # every lead reachable by phone and email, in New York, texts allowed
        row.update(phone=f"+1212555{1000 + i:04d}", email=f"lead{i}@example.com", address_state="NY", zip="10001")
        row.update(
            alt_phone="",
            dnc="no",
            dnc_scrubbed_on="2026-02-25",
            consent_phone="",
            consent_at="2026-01-05",
            consent_source="https://apply.example.com/form",
            consent_seller="Dripline Demo Mortgage",
            consent_text="I agree to automated texts and prerecorded calls from Dripline Demo Mortgage.",
        )
    write_csv(rows, path)
    return import_leads_flow(path=str(path), at=START.isoformat())


def _task_run_names(flow_run_id) -> list[str]:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return sorted(r.name.rsplit("-", 1)[0] for r in runs)


def test_import_tick_and_dispatch_run_one_task_per_batch(engine, app_env, prefect_server, tmp_path):
    summary = _import(engine, tmp_path)
    assert (summary["created"], summary["rejected"], summary["enrolled"]) == (5, 0, 5)

    state = cadence_tick(now=(START + timedelta(hours=2)).isoformat(), return_state=True)  # 10:00 New York
    totals = state.result()
    assert (totals["leads"], totals["tasks"], totals["batches"]) == (5, 5, 3)  # batches of 2, 2 and 1
    names = _task_run_names(state.state_details.flow_run_id)
    assert names.count("plan-due-leads") == 3 and names.count("enroll-new-leads") == 1

    cadence_tick(now=(START + timedelta(hours=4)).isoformat())  # 12:00: the intro texts fall due
    sent = dispatch_touches(now=(START + timedelta(hours=4)).isoformat())
    assert sent["sent"] == 5 and sent["failed"] == 0
    assert len(list((app_env / "sms").glob("*.txt"))) == 5
    again = dispatch_touches(now=(START + timedelta(hours=5)).isoformat())
    assert again["sent"] == 0, "a touch is sent once"


def test_replay_runs_a_week_in_one_flow_run(engine, app_env, prefect_server, tmp_path):
    _import(engine, tmp_path, n=3)
    state = replay_range(
        start=START.isoformat(), until=(START + timedelta(days=7)).isoformat(), every="1h", return_state=True
    )
    result = state.result()
    assert result["steps"] + result["idle_steps_skipped"] == 7 * 24 + 1
    with engine.connect() as conn:
        tasks = conn.execute(sa.select(sa.func.count()).select_from(CallTask.__table__)).scalar()
        sent = conn.execute(
            sa.select(Touch.__table__.c.channel, sa.func.count())
            .where(Touch.__table__.c.status == "sent")
            .group_by(Touch.__table__.c.channel)
        ).all()
    assert tasks == 3 * 3
    assert dict(sent) == {"sms": 6, "email": 6, "voicemail": 3}
    assert _task_run_names(state.state_details.flow_run_id) == [], "replay calls the batch functions directly"

"""The Prefect flows on a real (temporary) Prefect server: batches, not one task per lead."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from sqlalchemy.engine import Engine

from flows.cadence import cadence_tick, dispatch_touches
from flows.leads import import_leads_flow
from flows.replay import replay_range
from service.synthetic import generate_leads, write_csv
from storage.models import CallTask, Touch
from storage.officers import OfficerSettings, add_officer

pytestmark = pytest.mark.prefect
START = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)


def _import(engine: Engine, tmp_path: Path, n: int = 5) -> dict:
    add_officer(
        engine=engine,
        name="Dana Whitfield",
        email="dana@example.com",
        phone=None,
        nmls_id="1456789",
        now=START,
        settings=OfficerSettings(licensed_states="NY"),
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
    return import_leads_flow(path=str(path), at=START)


def _task_run_names(flow_run_id) -> list[str]:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return sorted(r.name.rsplit("-", 1)[0] for r in runs)


def test_import_tick_and_dispatch_run_one_task_per_batch(engine, app_env, prefect_server, tmp_path):
    summary = _import(engine, tmp_path)
    assert (summary["created"], summary["rejected"], summary["enrolled"]) == (5, 0, 5)

    state = cadence_tick(at=START + timedelta(hours=2), return_state=True)  # 10:00 New York
    totals = state.result()
    assert (totals["leads"], totals["tasks"], totals["batches"]) == (5, 5, 3)  # batches of 2, 2 and 1
    names = _task_run_names(state.state_details.flow_run_id)
    assert names.count("plan-due-leads") == 3 and names.count("enroll-new-leads") == 1
    assert {"enroll-seasoned-leads", "expire-call-tasks"} <= set(names), "no work outside a task"
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
        [artifact] = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])), limit=5)
    assert run.name == f"tick {START + timedelta(hours=2):%Y-%m-%d %H:%M}Z"
    assert artifact.key == "tick-summary" and "| leads | 5 |" in str(artifact.data)

    cadence_tick(at=START + timedelta(hours=4))  # 12:00: the intro texts fall due
    sent = dispatch_touches(at=START + timedelta(hours=4))
    assert sent["sent"] == 5 and sent["failed"] == 0
    assert len(list((app_env / "sms").glob("*.txt"))) == 5
    again = dispatch_touches(at=START + timedelta(hours=5))
    assert again["sent"] == 0, "a touch is sent once"


def test_replay_runs_a_week_in_one_flow_run(engine, app_env, prefect_server, tmp_path):
    _import(engine, tmp_path, n=3)
    state = replay_range(start=START, until=START + timedelta(days=7), every="1h", return_state=True)
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


def test_the_demo_flow_loads_a_guideline_feed_on_its_day_and_re_engages_the_newly_eligible(
    engine, app_env, prefect_server, tmp_path
):
    from flows.demo import simulate_days
    from nurture.guidelines import parse_feed
    from storage.guidelines import load_snapshot
    from storage.models import Lead, LeadHistory, Reengagement

    _import(engine, tmp_path, n=6)
    lead = Lead.__table__
    ficos = [610, 625, 639, 640, 599, 700]
    with engine.begin() as conn:
        ids = conn.execute(sa.select(lead.c.id).order_by(lead.c.id)).scalars().all()
        for lead_id, fico in zip(ids, ficos, strict=True):
            conn.execute(
                lead.update()
                .where(lead.c.id == lead_id)
                .values(
                    product="bank_statement",
                    fico=fico,
                    credit_event_type=None,
                    credit_event_date=None,
                    loan_amount=300_000,
                    address_state="NY",
                )
            )
    program = {"program": "bank_statement", "effective_date": "2026-01-01", "min_fico": 640, "seasoning_months": {}}
    program |= dict.fromkeys(("min_dscr", "asset_divisor", "max_ltv", "min_loan_amount", "states"))
    feed = {"lender": "Harbor Capital", "programs": [program]}
    load_snapshot(engine=engine, programs=parse_feed(json.dumps({"lenders": [feed]}), format="json"),
                  source="baseline", loaded_by="test", now=START)  # fmt: skip
    program["min_fico"] = 600
    lowered = tmp_path / "lowered.json"
    lowered.write_text(json.dumps({"lenders": [feed]}))
    on_day_20 = START + timedelta(days=20)

    result = simulate_days(
        start=START, days=21, seed=5, guideline_feeds=[(on_day_20, str(lowered))],
    )  # fmt: skip
    history = LeadHistory.__table__
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Reengagement.__table__)).all()
        moves = conn.execute(  # the stage each lead had when the feed loaded: its last move before then
            sa.select(history.c.lead_id, history.c.stage_to).where(history.c.at < on_day_20).order_by(history.c.id)
        ).all()
    stages = {i: "new_lead" for i in ids} | dict(moves)
    [load] = result["guideline_loads"]
    assert load["file"] == "lowered.json" and load["reengaged"] == len(rows) > 0
    by_fico = dict(zip(ids, ficos, strict=True))
    assert all(600 <= by_fico[r.lead_id] < 640 for r in rows), "only the leads the lower minimum made eligible"
    resting_then = {i for i in ids if 600 <= by_fico[i] < 640 and stages[i] in ("nurture", "new_lead")}
    assert {r.lead_id for r in rows} == resting_then
    assert all("640 to 600" in r.reason and r.created_at == on_day_20 for r in rows)

"""DNC re-scrub end to end: held work listed by number, a scrub import releasing or blocking it, bad files refused."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.actions import TaskStatus, TouchStatus
from nurture.cadence import load_cadence
from nurture.dnc_scrub import ScrubFileError
from nurture.guidelines import ProgramRules
from nurture.products import CreditEventType, Product
from service.dnc import due, import_scrub, write_due_csv
from service.guideline_load import load_programs
from service.pipeline import Pipeline, tick
from service.report import report_payload
from service.settings import Settings
from storage.cadences import register_cadence
from storage.models import CallTask, Lead, Touch, table
from storage.queries import list_tasks
from storage.rescore import rescore_snapshot
from tests.factories import insert_nurture_lead
from tests.fakes import RecordingSender

ROOT = Path(__file__).resolve().parents[2]
CADENCE = load_cadence((ROOT / "cadences" / "default.yaml").read_text())
REENGAGE = load_cadence((ROOT / "cadences" / "reengage.yaml").read_text())
NOW = datetime(2026, 6, 15, 14, 0, tzinfo=UTC)  # a Monday, 10:00 in New York
STALE = NOW.date() - timedelta(days=60)
_task, _touch, _lead = table(CallTask), table(Touch), table(Lead)


def _pipeline(engine: Engine) -> Pipeline:
    registry = register_cadence(engine=engine, cadence=CADENCE, now=NOW, others=(REENGAGE,))
    return Pipeline(Settings(), engine, registry, RecordingSender())


def _bank_statement(min_fico: int) -> ProgramRules:
    return ProgramRules(lender="Harbor Capital", program=Product.BANK_STATEMENT, effective_date=date(2026, 1, 1),
                        min_fico=min_fico, seasoning_months={CreditEventType.CHAPTER_7: 48})  # fmt: skip


def _reengaged_with_stale_scrub(engine: Engine, p: Pipeline, n: int = 1, consent: bool = True) -> list[int]:
    """Leads re-engaged by a 640 -> 600 change whose scrub is 60 days old (inquiry in January: past the registry's
    3 months for human calls); ticked through the day's first steps, so their phone work is held."""
    kw = {"fico": 610, "product": Product.BANK_STATEMENT.value, "dnc_scrubbed_on": STALE, "consent": consent}
    leads = [insert_nurture_lead(engine, now=NOW, n=i, **kw) for i in range(1, n + 1)]
    load_programs(p, programs=[_bank_statement(640)], source="t", now=NOW - timedelta(days=1), loaded_by="t",
                  rescore=None)  # fmt: skip
    outcome = load_programs(p, programs=[_bank_statement(600)], source="t", now=NOW, loaded_by="t", rescore=None)
    [snapshot] = [x.snapshot_id for x in outcome.result.stored]
    rescore_snapshot(engine=engine, registry=p.registry, snapshot_id=snapshot, now=NOW)
    tick(p, now=NOW)
    tick(p, now=NOW + timedelta(hours=1, minutes=15))  # the text and the email fall due an hour after the call
    return leads


def _scrub_file(tmp_path: Path, rows: list[str], name: str = "scrub.csv") -> Path:
    path = tmp_path / name
    path.write_text("number,listed,scrubbed_on\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def _tasks(engine: Engine, lead_id: int) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(_task).where(_task.c.lead_id == lead_id).order_by(_task.c.id)))


def _touches(engine: Engine, lead_id: int) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(_touch).where(_touch.c.lead_id == lead_id).order_by(_touch.c.id)))


def test_a_held_reengagement_call_is_listed_by_number_and_on_the_officers_list_after_a_clean_scrub(
    engine: Engine, tmp_path: Path
):
    p = _pipeline(engine)
    [lead] = _reengaged_with_stale_scrub(engine, p)
    [call] = _tasks(engine, lead)
    assert call.status == TaskStatus.HELD.value and "dnc_scrub" in call.note
    assert list_tasks(engine=engine) == [], "a held call is not on anyone's list"
    sms = next(t for t in _touches(engine, lead) if t.channel == "sms")
    assert sms.status == TouchStatus.PLANNED.value and sms.reason.startswith("held: dnc_scrub")

    [number] = due(p)
    assert (number.number, number.leads, number.touches, number.tasks, number.scrubbed_on) == (
        "+13055550001",
        1,
        1,
        1,
        STALE,
    )
    write_due_csv(tmp_path / "due.csv", [number])
    assert (tmp_path / "due.csv").read_text().splitlines()[1].startswith("+13055550001,1,")
    assert report_payload(engine)["dnc_scrub_due"]["numbers"] == 1

    at = NOW + timedelta(hours=3)
    out = import_scrub(p, path=_scrub_file(tmp_path, ["(305) 555-0001,no,2026-06-15"]), now=at)
    assert out["leads_updated"] == 1 and out["released_tasks"] == 1 and out["still_held"] == 0
    tick(p, now=at + timedelta(minutes=15))
    [listed] = list_tasks(engine=engine, officer_email="dana@example.com")
    assert listed["id"] == call.id and listed["template"] == "reengage"
    assert NOW <= datetime.fromisoformat(listed["due_at"]) <= at
    assert "released by the DNC scrub of 2026-06-15" in listed["note"] and "held:" not in listed["note"]
    assert listed["decisions"][-1]["phase"] == "rescrub"
    released = next(t for t in _touches(engine, lead) if t.id == sms.id)
    assert released.status == TouchStatus.PLANNED.value and released.scheduled_for == at and released.reason == ""
    assert due(p) == [] and report_payload(engine)["dnc_scrub_due"]["numbers"] == 0
    with engine.connect() as conn:
        row = conn.execute(sa.select(_lead.c.dnc_listed, _lead.c.dnc_scrubbed_on).where(_lead.c.id == lead)).one()
    assert tuple(row) == (False, date(2026, 6, 15))


def test_a_listed_number_blocks_what_was_held(engine: Engine, tmp_path: Path):
    p = _pipeline(engine)
    [lead] = _reengaged_with_stale_scrub(engine, p, consent=False)
    held = _tasks(engine, lead)
    assert len(held) == 2 and {t.status for t in held} == {TaskStatus.HELD.value}  # the call, the text's substitute
    out = import_scrub(p, path=_scrub_file(tmp_path, ["+13055550001,yes,2026-06-14"]), now=NOW + timedelta(hours=3))
    assert out["blocked_tasks"] == 2 and out["released_tasks"] == out["released_touches"] == 0
    assert all(t.status == TaskStatus.BLOCKED.value and "DNC registry" in t.note for t in _tasks(engine, lead))
    assert list_tasks(engine=engine) == [] and due(p) == []


def test_a_scrub_that_is_itself_too_old_leaves_the_work_held(engine: Engine, tmp_path: Path):
    p = _pipeline(engine)
    [lead] = _reengaged_with_stale_scrub(engine, p)
    old = (NOW.date() - timedelta(days=40)).isoformat()
    out = import_scrub(p, path=_scrub_file(tmp_path, [f"+13055550001,no,{old}"]), now=NOW + timedelta(hours=1))
    assert out["leads_updated"] == 1 and out["released_tasks"] == 0 and out["still_held"] >= 1
    assert [t.status for t in _tasks(engine, lead)] == [TaskStatus.HELD.value]
    assert len(due(p)) == 1


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (["+13055550001,maybe,2026-06-14"], "line 2, listed: 'maybe' is not yes or no"),
        (["+13055550001,no,2026-06-14", "555-0001,no,2026-06-14"], "line 3, number: '555-0001' is not a US phone"),
        (["+13055550001,no,14/06/2026"], "line 2, scrubbed_on: '14/06/2026' is not a date"),
        (["+13055550001,no,2026-07-01"], "line 2, scrubbed_on: 2026-07-01 is after today"),
        (["+13055550001,no,2026-06-14", "3055550001,yes,2026-06-14"], "line 3, number: +13055550001 is also on line 2"),
    ],
)
def test_a_bad_scrub_file_is_refused_whole(engine: Engine, tmp_path: Path, rows: list[str], expected: str):
    p = _pipeline(engine)
    [lead] = _reengaged_with_stale_scrub(engine, p)
    other = insert_nurture_lead(engine, now=NOW, n=2, dnc_scrubbed_on=STALE)
    good = "+13055550002,no,2026-06-14"
    with pytest.raises(ScrubFileError) as caught:
        import_scrub(p, path=_scrub_file(tmp_path, [*rows, good]), now=NOW + timedelta(hours=1))
    assert caught.value.total == 1 and expected in caught.value.problems[0], caught.value.problems
    with engine.connect() as conn:
        scrubbed = dict(conn.execute(sa.select(_lead.c.id, _lead.c.dnc_scrubbed_on)).all())
    assert scrubbed == {lead: STALE, other: STALE}, "nothing recorded, not even the good row"
    assert [t.status for t in _tasks(engine, lead)] == [TaskStatus.HELD.value]


def test_a_file_without_the_columns_is_refused_on_its_header(engine: Engine, tmp_path: Path):
    p = _pipeline(engine)
    path = tmp_path / "wrong.csv"
    path.write_text("phone,dnc\n+13055550001,no\n", encoding="utf-8")
    with pytest.raises(ScrubFileError, match="line 1: the header needs the columns number, listed, scrubbed_on"):
        import_scrub(p, path=path, now=NOW)


def test_the_simulations_weekly_scrub_puts_held_reengagement_calls_in_front_of_officers(engine: Engine, tmp_path: Path):
    """The demo's weekly re-scrub: the due numbers go out as a file, the answer comes back through `dnc import`,
    the released re-engagement calls are dialled, and the report counts them against the benchmark."""
    from service.replay import replay
    from service.simulate import Simulation

    p = _pipeline(engine)
    leads = _reengaged_with_stale_scrub(engine, p, n=6)
    assert {t.status for lead in leads for t in _tasks(engine, lead)} == {TaskStatus.HELD.value}
    sim = Simulation(engine=engine, seed=3, start=NOW, pipeline=p, scrub_every=timedelta(days=7),
                     scrub_folder=tmp_path / "dnc")  # fmt: skip
    replay(p, start=NOW + timedelta(hours=2), until=NOW + timedelta(days=8), every=timedelta(hours=1), hook=sim)

    first, *later = sim.scrubs
    assert first["numbers"] == 6 and first["released_tasks"] == 6 and first["still_held"] == 0
    assert all(s["numbers"] == 0 for s in later), "nothing is held again once scrubbed"
    assert sorted(f.name for f in (tmp_path / "dnc").iterdir()) == ["due-2026-06-15.csv", "scrubbed-2026-06-15.csv"]
    calls = [t for lead in leads for t in _tasks(engine, lead) if t.template == "reengage"]
    assert calls and all(t.status != TaskStatus.HELD.value for t in calls)
    logged = [t for t in calls if t.outcome is not None]
    contact = report_payload(engine)["reengagement"]["contact"]
    assert contact["leads"] == len({t.lead_id for t in logged}) == 6
    assert contact["reached"] == len({t.lead_id for t in logged if t.outcome == "reached"})
    low, high = contact["benchmark"]
    assert 0 < low < high < 1
    least, most = contact["interval"]
    assert least <= contact["rate"] <= most

    from rich.console import Console

    from dripline.report_view import print_reengagement

    shown = Console(record=True, width=200)
    print_reengagement(report_payload(engine)["reengagement"], shown)
    assert (
        f"Re-engaged leads called: 6, spoken with on a re-engagement call: {contact['reached']} ("
        in shown.export_text()
    )

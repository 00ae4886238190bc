"""Assignment by licensing and capacity: the import, deactivation, tasks about to expire, and the expiry log."""

from __future__ import annotations

from datetime import timedelta
from itertools import count
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from nurture.roster import licensed_states
from service.pipeline import Pipeline, tick
from service.settings import Settings
from storage.assignment import (
    assign_queue,
    deactivate_officer,
    reassign_expiring_tasks,
    reassign_task,
    unassigned_counts,
)
from storage.cadences import register_cadence
from storage.importer import import_leads
from storage.models import CallTask, Lead, LeadEdit, LoanOfficer, TaskLog, table
from storage.officers import OfficerNotFound, OfficerSettings, add_officer
from storage.report import expirations_by_officer
from storage.tick import expire_call_tasks, next_work_at
from tests.factories import NOW, clear_database, lead_row, write_rows
from tests.fakes import RecordingSender
from tests.storage.test_pipeline import CADENCE

_officer, _lead, _task, _log, _edit = (table(m) for m in (LoanOfficer, Lead, CallTask, TaskLog, LeadEdit))
_keys = count(1)


def officer(engine: Engine, name: str, states: str, **settings: Any) -> int:
    added = add_officer(engine=engine, name=name, email=f"{name}@example.com", now=NOW,
                        settings=OfficerSettings(licensed_states=states, **settings))  # fmt: skip
    assert added.id is not None
    return added.id


def lead(engine: Engine, state: str | None, owner: int | None, *, stage: str = "new_lead") -> int:
    values = {"first_name": "Maria", "address_state": state, "timezone": "America/New_York", "product": "dscr",
              "inquiry_date": NOW.date(), "stage": stage, "loan_officer_id": owner, "created_at": NOW,
              "updated_at": NOW}  # fmt: skip
    with engine.begin() as conn:
        return conn.execute(sa.insert(_lead).values(**values)).inserted_primary_key[0]


def task(engine: Engine, lead_id: int, owner: int | None, *, status: str = "open", expires_in: timedelta | None = None,
         kind: str = "cadence") -> int:  # fmt: skip
    values = {"key": f"task-{next(_keys)}", "lead_id": lead_id, "loan_officer_id": owner, "kind": kind,
              "template": "day0", "due_at": NOW, "status": status, "created_at": NOW,
              "expires_at": None if expires_in is None else NOW + expires_in}  # fmt: skip
    with engine.begin() as conn:
        return conn.execute(sa.insert(_task).values(**values)).inserted_primary_key[0]


def owners(engine: Engine, table_: sa.Table) -> dict[int, int | None]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(table_.c.id, table_.c.loan_officer_id)).all())


def log(engine: Engine) -> list[tuple[Any, ...]]:
    columns = (_log.c.task_id, _log.c.action, _log.c.from_officer_id, _log.c.to_officer_id)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(*columns).order_by(_log.c.id))]


# The import: licensing and capacity, property-tested over random rosters.

POOL = ["TX", "FL", "NY"]
rosters = st.lists(
    st.tuples(
        st.one_of(st.just("all"), st.sets(st.sampled_from(POOL)).map(",".join)),  # licensed states
        st.booleans(),  # active
        st.integers(0, 4),  # max open tasks
        st.integers(0, 3),  # open tasks already
    ),
    min_size=1,
    max_size=4,
)
lead_states = st.lists(st.sampled_from([*POOL, ""]), min_size=1, max_size=12)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(roster=rosters, states=lead_states, leaving=st.integers(0, 3))
def test_a_lead_goes_only_to_an_active_officer_licensed_in_its_state_with_room(engine, tmp_path, roster, states,
                                                                               leaving):  # fmt: skip
    clear_database(engine)
    seeded: dict[int, int] = {}  # a lead per officer, held before the import, with its open tasks
    for n, (licensed, active, cap, busy) in enumerate(roster):
        officer_id = officer(engine, f"lo{n}", licensed, max_open_tasks=cap)
        if not active:
            with engine.begin() as conn:
                conn.execute(_officer.update().where(_officer.c.id == officer_id).values(active=False))
        held = lead(engine, "NY", officer_id)
        seeded[held] = officer_id
        for _ in range(busy):
            task(engine, held, officer_id)
    rows = [lead_row(address_state=s, zip="", phone=f"(212) 456-{1000 + i}") for i, s in enumerate(states)]
    summary = import_leads(engine=engine, path=write_rows(tmp_path / "leads.csv", rows), now=NOW)

    assert summary.created == len(states) and summary.rejected == 0
    assert summary.unassigned == sum(summary.unassigned_by_state.values())
    _assert_by_the_rule(engine, seeded, capacity=True)

    leaving_id = list(seeded.values())[leaving % len(roster)]
    deactivate_officer(engine, email=f"lo{leaving % len(roster)}@example.com", now=NOW, actor="test")
    _assert_by_the_rule(engine, seeded, capacity=False)
    with engine.connect() as conn:
        kept = conn.execute(sa.select(sa.func.count()).where(_lead.c.loan_officer_id == leaving_id)).scalar_one()
        tasks = conn.execute(sa.select(sa.func.count()).where(_task.c.loan_officer_id == leaving_id)).scalar_one()
    assert (kept, tasks) == (0, 0)


def _assert_by_the_rule(engine: Engine, seeded: dict[int, int], *, capacity: bool) -> None:
    """Every lead given out has an active officer licensed in its state (the seeded ones only once moved), and with
    ``capacity`` nobody was given more than room for: the seeded open tasks (beyond which nothing was given) plus
    each new lead's first call stay within the maximum."""
    with engine.connect() as conn:
        staff = {r.id: r for r in conn.execute(sa.select(_officer))}
        leads = conn.execute(sa.select(_lead.c.id, _lead.c.address_state, _lead.c.loan_officer_id)).all()
        tasks = dict(
            conn.execute(sa.select(_task.c.loan_officer_id, sa.func.count()).group_by(_task.c.loan_officer_id)).all()
        )
    given: dict[int, int] = {}
    for lead_id, state, owner in leads:
        if owner is None or seeded.get(lead_id) == owner:
            continue
        o = staff[owner]
        assert o.active and state in licensed_states(o.licensed_states), (state, o.licensed_states, o.active)
        given[owner] = given.get(owner, 0) + 1
    if capacity:
        for officer_id, n in given.items():
            assert tasks.get(officer_id, 0) + n <= max(staff[officer_id].max_open_tasks, tasks.get(officer_id, 0))


def test_a_named_officer_not_licensed_in_the_leads_state_is_refused(engine, tmp_path):
    officer(engine, "dana", "FL")
    rows = [lead_row(address_state="TX", zip="", loan_officer_email="dana@example.com"),
            lead_row(address_state="", zip="", loan_officer_email="dana@example.com"),
            lead_row(address_state="FL", loan_officer_email="dana@example.com")]  # fmt: skip
    summary = import_leads(engine=engine, path=write_rows(tmp_path / "a.csv", rows), now=NOW)

    assert (summary.created, summary.rejected) == (1, 2)
    assert summary.errors == [
        "line 2: loan_officer_email: dana@example.com is not licensed in TX "
        "('dripline officers set dana@example.com --states')",
        "line 3: loan_officer_email: dana@example.com is not licensed for a lead without an address_state "
        "('dripline officers set dana@example.com --states')",
    ]


def test_leads_nobody_licensed_can_take_are_counted_by_state(engine, tmp_path):
    officer(engine, "dana", "FL", max_open_tasks=1)
    rows = [lead_row(address_state=s, zip="") for s in ("FL", "FL", "TX", "")]
    summary = import_leads(engine=engine, path=write_rows(tmp_path / "a.csv", rows), now=NOW)

    assert summary.unassigned == 3 and summary.unassigned_by_state == {"FL": 1, "TX": 1, "": 1}
    with engine.connect() as conn:
        assert unassigned_counts(conn) == {"leads": 3, "call_tasks": 0}


# Deactivation.


def test_deactivating_moves_open_leads_with_their_tasks_by_the_same_rule(engine):
    gone = officer(engine, "gone", "FL,TX")
    florida = officer(engine, "florida", "FL")
    texas = officer(engine, "texas", "TX", max_open_tasks=1)
    idle = officer(engine, "idle", "FL")
    with engine.begin() as conn:
        conn.execute(_officer.update().where(_officer.c.id == idle).values(active=False))
    fl, tx1, tx2 = lead(engine, "FL", gone), lead(engine, "TX", gone), lead(engine, "TX", gone)
    nowhere, lost = lead(engine, None, gone), lead(engine, "FL", gone, stage="lost")
    others = lead(engine, "FL", florida)
    t_fl, t_tx1 = task(engine, fl, gone), task(engine, tx1, gone)
    t_held = task(engine, tx2, gone, status="held")
    t_done = task(engine, fl, gone, status="done")
    t_other = task(engine, others, gone)

    moved = deactivate_officer(engine, email="GONE@example.com", now=NOW, actor="manager@example.com")

    assert (moved.leads_moved, moved.leads_unassigned, moved.tasks_moved, moved.tasks_unassigned) == (2, 2, 3, 1)
    assert owners(engine, _lead) == {fl: florida, tx1: texas, tx2: None, nowhere: None, lost: gone, others: florida}
    tasks = owners(engine, _task)
    assert (tasks[t_fl], tasks[t_tx1], tasks[t_held], tasks[t_done], tasks[t_other]) == (
        florida, texas, None, gone, florida,
    )  # fmt: skip
    assert sorted(log(engine)) == sorted([
        (t_fl, "reassigned", gone, florida), (t_tx1, "reassigned", gone, texas), (t_held, "unassigned", gone, None),
        (t_other, "reassigned", gone, florida),
    ])  # fmt: skip
    with engine.connect() as conn:
        edits = conn.execute(sa.select(_edit.c.lead_id, _edit.c.new_value, _edit.c.actor)).all()
        assert conn.execute(sa.select(_officer.c.active).where(_officer.c.id == gone)).scalar_one() is False
    by = "manager@example.com"
    assert sorted(edits, key=str) == sorted([(fl, str(florida), by), (tx1, str(texas), by), (tx2, None, by),
                                             (nowhere, None, by)], key=str)  # fmt: skip

    again = deactivate_officer(engine, email="gone@example.com", now=NOW, actor="manager@example.com")
    assert (again.leads_moved, again.leads_unassigned, again.tasks_moved, again.tasks_unassigned) == (0, 0, 0, 0)
    with pytest.raises(OfficerNotFound):
        deactivate_officer(engine, email="nobody@example.com", now=NOW, actor="x")


# One task by hand, and tasks about to expire unworked.


def test_reassigning_a_task_moves_it_alone_to_someone_else_or_the_queue(engine):
    first, second = officer(engine, "first", "FL"), officer(engine, "second", "FL")
    mine = lead(engine, "FL", first)
    open_, done = task(engine, mine, first), task(engine, mine, first, status="done")
    with engine.begin() as conn:  # its first officer was alerted and reminded already
        conn.execute(_task.update().where(_task.c.id == open_).values(alerted_at=NOW, reminded_at=NOW))
    with engine.begin() as conn:
        assert reassign_task(conn, task_id=open_, now=NOW, reason="sick", actor="boss") == second
        marks = conn.execute(sa.select(_task.c.alerted_at, _task.c.reminded_at).where(_task.c.id == open_)).one()
        assert tuple(marks) == (None, None), "the new officer is alerted afresh"
        assert reassign_task(conn, task_id=open_, now=NOW, reason="back", actor="boss") == first
        with pytest.raises(ValueError, match="done"):
            reassign_task(conn, task_id=done, now=NOW, reason="", actor="boss")
        with pytest.raises(LookupError):
            reassign_task(conn, task_id=done + 100, now=NOW, reason="", actor="boss")
        conn.execute(_officer.update().where(_officer.c.id == second).values(active=False))
        assert reassign_task(conn, task_id=open_, now=NOW, reason="again", actor="boss") is None
    assert owners(engine, _lead)[mine] == first  # the lead stays with its officer
    assert log(engine) == [(open_, "reassigned", first, second), (open_, "reassigned", second, first),
                           (open_, "unassigned", first, None)]  # fmt: skip


def test_a_task_about_to_expire_unworked_goes_once_to_an_officer_at_work_or_the_queue(engine):
    # NOW is Monday 08:00 in New York and 05:00 in Los Angeles.
    holder = officer(engine, "holder", "FL,TX")
    officer(engine, "west", "FL", timezone="America/Los_Angeles")
    east = officer(engine, "east", "FL", timezone="America/New_York", hours=(7 * 60, 16 * 60))
    lead(engine, "FL", east)  # east has more leads than west, but is at work
    fl, tx = lead(engine, "FL", holder), lead(engine, "TX", holder)
    soon = task(engine, fl, holder, expires_in=timedelta(minutes=30))
    nobody = task(engine, tx, holder, expires_in=timedelta(minutes=59))
    later = task(engine, fl, holder, expires_in=timedelta(hours=3))
    worked = task(engine, fl, holder, status="done", expires_in=timedelta(minutes=30))
    by_hand = task(engine, fl, holder, kind="reply", expires_in=timedelta(minutes=30))

    counts = reassign_expiring_tasks(engine, now=NOW, margin=timedelta(hours=1))

    assert (counts.reassigned, counts.unassigned) == (1, 1)
    tasks = owners(engine, _task)
    assert (tasks[soon], tasks[nobody], tasks[later], tasks[worked], tasks[by_hand]) == (east, None, holder, holder,
                                                                                         holder)  # fmt: skip
    assert log(engine) == [(soon, "expiring", holder, east), (nobody, "expiring", holder, None)]
    assert owners(engine, _lead)[fl] == holder
    again = reassign_expiring_tasks(engine, now=NOW + timedelta(minutes=10), margin=timedelta(hours=1))
    assert (again.reassigned, again.unassigned) == (0, 0)  # each task is handed on once


def test_expiry_is_logged_per_officer_and_reported(engine):
    dana, sam = officer(engine, "dana", "FL"), officer(engine, "sam", "FL")
    mine = lead(engine, "FL", dana)
    for owner in (dana, dana, sam, None):
        task(engine, mine, owner, expires_in=timedelta(minutes=-1))
    kept = task(engine, mine, dana, expires_in=timedelta(minutes=30))
    task(engine, mine, dana, kind="reply", expires_in=timedelta(minutes=-1))  # not a cadence task: never expires
    reassign_expiring_tasks(engine, now=NOW, margin=timedelta(hours=1))  # kept: dana -> sam

    assert expire_call_tasks(engine=engine, now=NOW) == 4
    assert expire_call_tasks(engine=engine, now=NOW) == 0
    assert expirations_by_officer(engine=engine) == {
        "dana@example.com": {"expired": 2, "handed_over": 1},
        "sam@example.com": {"expired": 1, "handed_over": 0},
        "unassigned": {"expired": 1, "handed_over": 0},
    }
    assert owners(engine, _task)[kept] == sam


def test_the_tick_hands_tasks_over_before_expiring_them_and_a_replay_stops_there(engine):
    holder, other = officer(engine, "holder", "FL"), officer(engine, "other", "FL")
    mine = lead(engine, "FL", holder, stage="nurture")
    soon, later = (
        task(engine, mine, holder, expires_in=timedelta(hours=3)),
        task(engine, mine, holder, expires_in=timedelta(hours=5)),
    )
    assert next_work_at(engine=engine, handover=timedelta(hours=1)) == NOW + timedelta(hours=2)
    assert next_work_at(engine=engine) == NOW + timedelta(hours=3)

    p = Pipeline(Settings(task_handover_minutes=90), engine, register_cadence(engine=engine, cadence=CADENCE, now=NOW),
                 RecordingSender())  # fmt: skip
    summary = tick(p, now=NOW + timedelta(hours=2))
    assert (summary.handed_over, summary.unassigned_tasks, summary.expired_tasks) == (1, 0, 0)
    assert owners(engine, _task) == {soon: other, later: holder}
    assert next_work_at(engine=engine, handover=timedelta(minutes=90)) == NOW + timedelta(hours=3)  # soon's expiry

    summary = tick(p, now=NOW + timedelta(hours=3, minutes=1))
    assert (summary.handed_over, summary.expired_tasks) == (0, 1)
    assert expirations_by_officer(engine=engine) == {
        "holder@example.com": {"expired": 0, "handed_over": 1},
        "other@example.com": {"expired": 1, "handed_over": 0},
    }


def test_the_queue_is_handed_out_once_officers_are_licensed_or_have_room(engine):
    dana = officer(engine, "dana", "FL", max_open_tasks=2)
    fl1, fl2, tx, fl3 = (
        lead(engine, "FL", None),
        lead(engine, "FL", None),
        lead(engine, "TX", None),
        lead(engine, "FL", None),
    )
    lost = lead(engine, "FL", None, stage="lost")
    with_lead = task(engine, fl1, None), task(engine, fl1, None, status="held"), task(engine, fl3, None)
    lone = task(engine, lead(engine, "FL", dana), None)

    moved = assign_queue(engine, now=NOW, actor="boss")

    # fl1 and fl3 bring an open task each; fl2 none, but room for one is still needed; then dana is full
    assert (moved.leads_moved, moved.leads_unassigned, moved.tasks_moved, moved.tasks_unassigned) == (3, 1, 3, 1)
    leads = owners(engine, _lead)
    assert (leads[fl1], leads[fl2], leads[fl3], leads[tx], leads[lost]) == (dana, dana, dana, None, None)
    tasks = owners(engine, _task)
    assert [tasks[t] for t in with_lead] == [dana, dana, dana] and tasks[lone] is None
    assert len(log(engine)) == 3  # nothing logged for what stayed in the queue
    with engine.connect() as conn:
        assert unassigned_counts(conn) == {"leads": 1, "call_tasks": 1}

    officer(engine, "lee", "TX")
    again = assign_queue(engine, now=NOW, actor="boss")
    assert (again.leads_moved, again.leads_unassigned, again.tasks_moved, again.tasks_unassigned) == (1, 0, 0, 1)
    assert owners(engine, _lead)[tx] is not None

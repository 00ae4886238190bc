"""The roster's rules: licensed states, working hours, and who gets the next lead."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nurture import roster
from nurture.roster import Hours, Officer, Picker

MONDAY = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 09:00 in Chicago (CST), 10:00 in New York


@pytest.mark.parametrize(
    ("text", "stored"),
    [("tx, fl", "FL,TX"), ("TX TX", "TX"), ("all", "all"), ("ALL", "all"), ("none", ""), ("", ""), ("pr", "PR")],
)
def test_states_are_stored_sorted_and_checked(text, stored):
    assert roster.parse_states(text) == stored
    assert roster.parse_states(stored) == stored  # the stored form reads back as itself


def test_a_code_that_is_not_a_state_is_named():
    with pytest.raises(ValueError, match="not a state: XX, TEXAS"):
        roster.parse_states("TX,XX,Texas")


def test_all_covers_every_state_and_territory_and_none_covers_nothing():
    assert {"TX", "FL", "DC", "PR", "GU"} <= roster.licensed_states("all")
    assert roster.licensed_states("") == frozenset()
    assert roster.is_licensed("FL,TX", "tx") and not roster.is_licensed("FL,TX", "NY")
    assert not roster.is_licensed("all", None)  # a lead without a state cannot be checked
    assert roster.describe_states("") == "none"


@pytest.mark.parametrize(("text", "minutes"), [("09:00-18:00", (540, 1080)), ("22:00-06:30", (1320, 390)),
                                               ("0:00-24:00", (0, 1440))])  # fmt: skip
def test_hours(text, minutes):
    assert roster.parse_hours(text) == minutes
    assert roster.parse_hours(roster.format_hours(*minutes)) == minutes


@pytest.mark.parametrize("text", ["9-5", "09:00", "25:00-26:00", "09:60-10:00", "09:00-09:00", "24:30-01:00"])
def test_bad_hours_are_refused(text):
    with pytest.raises(ValueError, match=r"09:00-18:00|same time"):
        roster.parse_hours(text)


@pytest.mark.parametrize(("text", "days", "shown"), [("1-5", "12345", "1-5"), ("1,3,5", "135", "1,3,5"),
                                                     ("6-7,1", "167", "1,6,7"), ("246", "246", "2,4,6")])  # fmt: skip
def test_days(text, days, shown):
    assert roster.parse_days(text) == days
    assert roster.format_days(days) == shown


@pytest.mark.parametrize("text", ["0", "8", "5-1", "mon-fri", ""])
def test_bad_days_are_refused(text):
    with pytest.raises(ValueError):
        roster.parse_days(text)


def test_alerts_role_and_zone():
    assert roster.parse_alerts("email,sms") == (True, True)
    assert roster.parse_alerts("sms") == (True, False)
    assert roster.parse_alerts("none") == (False, False)
    assert roster.format_alerts(False, True) == "email"
    assert roster.parse_role(" Manager ") == "manager"
    assert roster.parse_timezone("America/Chicago") == "America/Chicago"
    for parse, text in (
        (roster.parse_alerts, "fax"),
        (roster.parse_role, "boss"),
        (roster.parse_timezone, "Mars/Base"),
    ):
        with pytest.raises(ValueError, match=re.escape(repr(text))):
            parse(text)


def test_working_hours_are_read_on_the_officers_own_clock():
    chicago = Hours(timezone="America/Chicago", start=9 * 60, end=17 * 60, days="12345")
    assert chicago.at_work(MONDAY)
    assert not chicago.at_work(MONDAY.replace(hour=14, minute=59))  # 08:59 there
    assert not chicago.at_work(datetime(2026, 3, 7, 15, 0, tzinfo=UTC))  # a Saturday
    los_angeles = Hours(timezone="America/Los_Angeles", start=9 * 60, end=17 * 60)
    assert not los_angeles.at_work(MONDAY)  # 07:00 there


def test_a_shift_past_midnight_counts_on_the_day_it_began():
    night = {"start": 22 * 60, "end": 6 * 60, "days": "5"}  # Friday nights
    assert roster.within_hours(time(23, 0), 5, **night)
    assert roster.within_hours(time(5, 59), 6, **night)  # Saturday morning, Friday's shift
    assert not roster.within_hours(time(5, 59), 5, **night)  # Friday morning is Thursday's shift
    assert not roster.within_hours(time(12, 0), 5, **night)


def test_new_leads_rotate_fewest_leads_first_ties_to_the_lowest_id():
    picker = Picker([Officer(1, frozenset({"FL"}), leads=3), Officer(2, frozenset({"FL"})),
                     Officer(3, frozenset({"FL"}), active=False), Officer(4, frozenset({"FL", "TX"}))])  # fmt: skip
    assert [picker.pick("FL") for _ in range(6)] == [2, 4, 2, 4, 2, 4]
    assert picker.pick("TX") == 4
    assert picker.pick("NY") is None and picker.pick(None) is None


def test_an_officer_at_capacity_gets_nothing_more():
    picker = Picker(
        [Officer(1, frozenset({"TX"}), max_open_tasks=2, open_tasks=1), Officer(2, frozenset({"TX"}), leads=5)]
    )
    assert [picker.pick("TX") for _ in range(3)] == [1, 2, 2]
    assert picker.officers[1].open_tasks == 2
    full = Picker([Officer(1, frozenset({"TX"}), max_open_tasks=0)])
    assert full.pick("TX") is None


def test_a_lead_bringing_several_open_tasks_needs_room_for_all_of_them():
    picker = Picker(
        [Officer(1, frozenset({"TX"}), max_open_tasks=3, open_tasks=1), Officer(2, frozenset({"TX"}), leads=9)]
    )
    assert picker.pick("TX", tasks=3) == 2
    assert picker.pick("TX", tasks=2) == 1
    assert picker.pick("TX", tasks=0) == 2  # no room left at 1, even for a lead with no open task


def test_a_task_moves_to_someone_else_at_work_first():
    hours_ny = Hours(timezone="America/New_York")
    hours_la = Hours(timezone="America/Los_Angeles")
    picker = Picker([Officer(1, frozenset({"TX"}), hours=hours_ny), Officer(2, frozenset({"TX"}), hours=hours_la),
                     Officer(3, frozenset({"TX"}), leads=50, hours=hours_ny)])  # fmt: skip
    assert picker.pick_other("TX", exclude=1, now=MONDAY, leads=0) == 3  # 2 has fewer leads but is not at work
    assert picker.pick_other("TX", exclude=1, now=MONDAY.replace(hour=20), leads=0) == 2  # now both are
    assert picker.pick_other("TX", exclude=1, now=MONDAY, tasks=1) == 3
    assert picker.pick_other("FL", exclude=None, now=MONDAY) is None


POOL = ["TX", "FL", "NY", "CA"]
officers = st.lists(
    st.builds(
        lambda states, active, cap, open_, leads: (states, active, cap, open_, leads),
        st.one_of(st.just("all"), st.sets(st.sampled_from(POOL)).map(lambda s: ",".join(sorted(s)))),
        st.booleans(),
        st.integers(0, 6),
        st.integers(0, 8),
        st.integers(0, 10),
    ),
    max_size=6,
)
leads = st.lists(st.tuples(st.one_of(st.none(), st.sampled_from(POOL)), st.integers(0, 3)), max_size=40)


@given(officers, leads)
def test_a_lead_goes_only_to_an_active_officer_licensed_in_its_state_with_room_fewest_leads_first(roster_, leads_):
    picker = Picker(
        Officer(i + 1, roster.licensed_states(s), active=a, max_open_tasks=cap, open_tasks=o, leads=n)
        for i, (s, a, cap, o, n) in enumerate(roster_)
    )
    start_open = {o.id: o.open_tasks for o in picker.officers.values()}
    for state, tasks in leads_:
        room = max(tasks, 1)
        eligible = [
            o
            for o in picker.officers.values()
            if state and o.active and state in o.states and o.open_tasks + room <= o.max_open_tasks
        ]
        expected = min(eligible, key=lambda o: (o.leads, o.id)).id if eligible else None
        chosen = picker.pick(state, tasks=tasks)
        assert chosen == expected
        if chosen is not None:
            officer = picker.officers[chosen]
            assert officer.active and state in officer.states
            assert officer.open_tasks <= officer.max_open_tasks
    for officer in picker.officers.values():
        assert officer.open_tasks == start_open[officer.id] or officer.open_tasks <= officer.max_open_tasks

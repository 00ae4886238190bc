"""The roster's settings as stored: checked again below the CLI, kept unless changed."""

from __future__ import annotations

import pytest

from storage.officers import OfficerNotFound, OfficerSettings, add_officer, update_officer
from tests.factories import NOW


def test_settings_are_stored_and_kept_unless_changed(engine):
    added = add_officer(engine=engine, name="Dana", email="dana@example.com", now=NOW, settings=OfficerSettings(
        licensed_states="tx,fl", timezone="America/Chicago", hours=(8 * 60, 17 * 60), work_days="1-4",
        quiet_hours=(20 * 60, 7 * 60), max_open_tasks=40, alerts=(False, True), role="Manager"))  # fmt: skip
    assert (added.licensed_states, added.timezone, added.work_start, added.work_end, added.work_days) == (
        "FL,TX", "America/Chicago", 480, 1020, "1234",
    )  # fmt: skip
    assert (added.quiet_start, added.quiet_end, added.max_open_tasks, added.alert_sms, added.alert_email,
            added.role) == (1200, 420, 40, False, True, "manager")  # fmt: skip

    changed = update_officer(engine=engine, email="DANA@example.com", name="Dana W.",
                             settings=OfficerSettings(licensed_states="all"))  # fmt: skip
    assert (changed.name, changed.licensed_states, changed.timezone, changed.max_open_tasks) == (
        "Dana W.", "all", "America/Chicago", 40,
    )  # fmt: skip
    again = add_officer(engine=engine, name="Dana", email="dana@example.com", now=NOW)  # re-adding keeps settings
    assert (again.licensed_states, again.work_days) == ("all", "1234")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (OfficerSettings(licensed_states="TX,ZZ"), "licensed_states: not a state: ZZ"),
        (OfficerSettings(timezone="Nowhere/City"), "timezone: 'Nowhere/City' is not an IANA time zone"),
        (OfficerSettings(work_days="9"), "work_days: '9' is not a list of ISO weekdays"),
        (OfficerSettings(role="owner"), "role: 'owner' is not one of officer, manager"),
        (OfficerSettings(hours=(600, 600)), "work hours: (600, 600) is not a time range"),
        (OfficerSettings(quiet_hours=(-1, 60)), "quiet hours: (-1, 60) is not a time range"),
        (OfficerSettings(max_open_tasks=-5), "max_open_tasks: -5 is not between 0 and 100000"),
    ],
)
def test_a_bad_setting_is_refused_naming_it(engine, settings, message):
    with pytest.raises(ValueError) as refused:
        add_officer(engine=engine, name="Dana", email="dana@example.com", now=NOW, settings=settings)
    assert str(refused.value).startswith(message)
    add_officer(engine=engine, name="Dana", email="dana@example.com", now=NOW)
    with pytest.raises(ValueError) as refused:
        update_officer(engine=engine, email="dana@example.com", settings=settings)
    assert str(refused.value).startswith(message)


def test_updating_an_unknown_officer(engine):
    with pytest.raises(OfficerNotFound, match=r"no loan officer with email nobody@example\.com"):
        update_officer(engine=engine, email="nobody@example.com", settings=OfficerSettings(role="manager"))

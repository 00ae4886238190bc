"""``dripline officers``: licensing, hours, capacity and alerts; deactivation; one-line errors for bad input."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_cli import AT, GOOD, _csv, invoke


def officers(database_url: str, *args: str):
    return invoke("--db", database_url, "officers", *args)


def roster(database_url: str) -> dict[str, dict]:
    listed = officers(database_url, "list", "--json")
    assert listed.exit_code == 0, listed.output
    return {row["email"]: row for row in map(json.loads, listed.stdout.splitlines())}


def test_add_with_every_setting_then_change_some(database_url):
    added = officers(
        database_url, "add", "--name", "Dana Whitfield", "--email", "dana@example.com", "--nmls-id", "1456789",
        "--states", "tx, fl", "--timezone", "America/Chicago", "--hours", "08:30-17:00", "--days", "1-4",
        "--quiet", "20:00-07:00", "--max-open", "40", "--alerts", "email", "--role", "manager", "--at", AT,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "licensed in FL,TX, 08:30-17:00 America/Chicago days 1-4, at most 40 open tasks, alerts email" in (
        added.stdout.replace("\n", " ")
    )
    changed = officers(database_url, "set", "dana@example.com", "--states", "all", "--alerts", "sms,email")
    assert changed.exit_code == 0, changed.output

    dana = roster(database_url)["dana@example.com"]
    assert {k: dana[k] for k in ("role", "states", "timezone", "hours", "days", "quiet", "max_open", "alerts")} == {
        "role": "manager", "states": "all", "timezone": "America/Chicago", "hours": "08:30-17:00", "days": "1-4",
        "quiet": "20:00-07:00", "max_open": 40, "alerts": "sms,email",
    }  # fmt: skip


def test_an_officer_licensed_nowhere_is_shown_with_a_warning(database_url):
    added = officers(database_url, "add", "--name", "Sam", "--email", "sam@example.com", "--at", AT)
    assert added.exit_code == 0
    assert "licensed in none" in added.stdout
    assert "sam@example.com is licensed in no state and gets no leads" in added.stderr
    listed = officers(database_url, "list")
    assert "gets no leads: 'dripline officers set sam@example.com --states TX,FL'" in listed.stderr.replace("\n", "")
    licensed = officers(database_url, "set", "sam@example.com", "--states", "NY")
    assert licensed.exit_code == 0 and "gets no leads" not in licensed.stderr
    assert "gets no leads" not in officers(database_url, "list").stderr


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--states", "TX,XX", "--states: not a state: XX"),
        ("--timezone", "Mars/Base", "--timezone: 'Mars/Base' is not an IANA time zone"),
        ("--hours", "9-5", "--hours: '9-5' is not a time range like 09:00-18:00"),
        ("--days", "0-4", "--days: '0-4' is not a list of ISO weekdays"),
        ("--quiet", "21:00-21:00", "--quiet: '21:00-21:00' starts and ends at the same time"),
        ("--max-open", "-1", "--max-open: -1 is not between 0 and 100000"),
        ("--alerts", "fax", "--alerts: 'fax' is not one of sms,email, sms, email, none"),
        ("--role", "boss", "--role: 'boss' is not one of officer, manager"),
    ],
)
def test_bad_input_gets_one_line_naming_the_option(database_url, option, value, message):
    added = officers(database_url, "add", "--name", "Dana", "--email", "dana@example.com", option, value)
    assert added.exit_code == 2
    assert added.stderr.startswith(message) and len(added.stderr.strip().splitlines()) <= 2, added.stderr
    assert "Traceback" not in added.output
    assert roster(database_url) == {}  # nothing was added
    officers(database_url, "add", "--name", "Dana", "--email", "dana@example.com", "--states", "FL")
    changed = officers(database_url, "set", "dana@example.com", option, value)
    assert changed.exit_code == 2 and changed.stderr.startswith(message)


def test_unknown_officer(database_url):
    for args in (("set", "nobody@example.com", "--states", "TX"), ("deactivate", "nobody@example.com"),
                 ("activate", "nobody@example.com")):  # fmt: skip
        result = officers(database_url, *args)
        assert result.exit_code == 1
        assert result.stderr.startswith("no loan officer with email nobody@example.com"), result.stderr


def test_deactivate_moves_leads_to_officers_licensed_in_their_state_and_activate_brings_back_new_ones(
    database_url, tmp_path
):
    for n, (name, states) in enumerate((("dana", "FL"), ("sam", "FL,NY"), ("lee", "TX"))):
        added = officers(database_url, "add", "--name", name, "--email", f"{name}@example.com", "--states", states,
                         "--nmls-id", f"145678{n}")  # fmt: skip
        assert added.exit_code == 0, added.output
    imported = invoke("--db", database_url, "leads", "import", str(_csv(tmp_path / "a.csv", GOOD)), "--at", AT)
    assert imported.exit_code == 0, imported.output
    assert {e: r["leads"] for e, r in roster(database_url).items()} == {
        "dana@example.com": 1,
        "sam@example.com": 1,
        "lee@example.com": 0,
    }  # fmt: skip (one Florida lead, one New York lead; Lee is licensed in neither state)

    gone = officers(database_url, "deactivate", "sam@example.com", "--by", "boss@example.com", "--at", AT)
    assert gone.exit_code == 0, gone.output
    assert (
        "sam@example.com inactive: 0 leads and 0 call tasks moved to other officers; 1 leads and 0 call tasks "
        "left unassigned" in gone.stdout.replace("\n", " ")
    )
    assert "nobody licensed in their state had room" in gone.stderr
    after = roster(database_url)
    assert (after["sam@example.com"]["active"], after["sam@example.com"]["leads"]) == (False, 0)

    back = officers(database_url, "activate", "sam@example.com")
    assert back.exit_code == 0 and " active," in back.stdout


def test_the_import_says_how_many_leads_nobody_licensed_could_take(database_url, tmp_path):
    officers(database_url, "add", "--name", "Lee", "--email", "lee@example.com", "--states", "TX", "--nmls-id", "1")
    imported = invoke("--db", database_url, "leads", "import", str(_csv(tmp_path / "a.csv", GOOD)), "--at", AT)
    assert imported.exit_code == 0, imported.output
    assert "2 new leads unassigned: nobody licensed in their state had room (FL 1, NY 1)" in (
        imported.stderr.replace("\n", " ")
    )


def test_the_report_counts_expired_tasks_per_officer_and_the_unassigned_queue(engine, database_url):
    from datetime import timedelta

    from storage.tick import expire_call_tasks
    from tests.factories import NOW
    from tests.storage.test_assignment import lead, officer, task

    dana = officer(engine, "dana", "FL")
    mine, waiting = lead(engine, "FL", dana), lead(engine, "TX", None)
    for owner in (dana, dana, None):
        task(engine, mine, owner, expires_in=timedelta(minutes=-5))
    task(engine, waiting, None, expires_in=timedelta(hours=5))
    assert expire_call_tasks(engine=engine, now=NOW) == 3

    payload = json.loads(invoke("--db", database_url, "report", "--json").output)
    assert payload["expirations_by_officer"] == {
        "dana@example.com": {"expired": 2, "handed_over": 0},
        "unassigned": {"expired": 1, "handed_over": 0},
    }
    assert payload["unassigned"] == {"leads": 1, "call_tasks": 1}
    text = invoke("--db", database_url, "report").output
    assert "Call tasks left unworked, by the officer who held them" in text
    assert "unassigned queue: 1 lead(s) and 1 call task(s) without a loan officer" in text.replace("\n", " ")


def test_a_task_is_reassigned_by_hand_and_the_queue_is_shown(engine, database_url):
    from tests.storage.test_assignment import lead, officer, task

    dana, sam = officer(engine, "dana", "FL"), officer(engine, "sam", "FL")
    mine = lead(engine, "FL", dana)
    open_, done = task(engine, mine, dana), task(engine, mine, dana, status="done")

    moved = invoke("--db", database_url, "tasks", "reassign", str(open_), "--reason", "out sick", "--at", AT)
    assert moved.exit_code == 0, moved.output
    assert f"call task {open_} handed to loan officer {sam}" in moved.stdout
    refused = invoke("--db", database_url, "tasks", "reassign", str(done))
    assert refused.exit_code == 2 and refused.stderr.startswith(
        f"call task {done} is done: only open or held tasks move"
    )
    missing = invoke("--db", database_url, "tasks", "reassign", "999")
    assert missing.exit_code == 1 and "no call task 999" in missing.stderr

    officers(database_url, "deactivate", "dana@example.com")
    officers(database_url, "deactivate", "sam@example.com")
    queue = officers(database_url, "queue", "--json")
    assert json.loads(queue.stdout) == {"leads": 1, "call_tasks": 1}
    assert "unassigned: 1 open leads, 1 open or held call tasks" in officers(database_url, "queue").stdout
    officers(database_url, "activate", "sam@example.com")
    handed = officers(database_url, "queue", "--assign", "--by", "boss@example.com", "--at", AT)
    assert handed.exit_code == 0, handed.output
    assert "assigned 1 leads and 1 call tasks from the queue" in handed.stdout
    assert "unassigned: 0 open leads, 0 open or held call tasks" in handed.stdout

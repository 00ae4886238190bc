"""Input that would corrupt storage is refused at the command line in one or two lines naming the option, and an
import cut short says which lines are in; on SQLite and PostgreSQL (the ``database_url`` fixture)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from service.settings import shipped
from storage import importer
from storage.models import CallTask, GuidelineSnapshot, InboundMessage, Lead, LoanOfficer, table
from tests.cli.test_errors import AT, assert_fails, lead_count, run
from tests.factories import lead_row, write_rows

OURS = "+18005550100"


@pytest.fixture
def db(database_url: str, app_env) -> str:
    result = run("--db", database_url, "init", "--at", AT)
    assert result.exit_code == 0, result.output
    return database_url


def rows(database_url: str, model: type[SQLModel], *columns: str) -> list[tuple]:
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    t = table(model)
    with engine.connect() as conn:
        found = [tuple(r) for r in conn.execute(sa.select(*(t.c[c] for c in columns)).order_by(t.c.id))]
    engine.dispose()
    return found


def a_lead(db: str, tmp_path) -> None:
    run("--db", db, "officers", "add", "--name", "Dana Whitfield", "--email", "dana@lender.com", "--nmls-id", "1456789")
    row = lead_row(phone="(305) 555-0147", first_name="Maria", dnc_scrubbed_on="2026-03-01")
    path = write_rows(tmp_path / "one.csv", [row])
    assert run("--db", db, "leads", "import", str(path), "--at", AT).exit_code == 0


def sms(db: str, *args: str):
    return run("--db", db, "inbound", "sms", "--from", "+13055550147", "--at", AT, *args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "+1800555010012345678901"], "Invalid value for --to: is longer than 20 characters"),
        (["--to", "+1800\x005550100"], "Invalid value for --to: has a control character (NUL) at character 6"),
        (["--to", OURS, "--sid", "SM" + "0" * 99], "Invalid value for --sid: is longer than 100 characters"),
        (
            ["--to", "1\n2", "--sid", "S\x1bM"],
            "Invalid value: --to: has a line break at character 2: this field "
            "takes one line; --sid: has a control character (escape)",
        ),
    ],
)
def test_inbound_sms_fields_that_cannot_be_stored_are_refused_naming_the_option(db, args, message):
    assert_fails(sms(db, "--body", "hi", *args), 2, message)

    assert rows(db, InboundMessage, "id") == []


def test_an_inbound_stop_with_control_characters_is_still_honoured_and_stored_clean(db, tmp_path):
    a_lead(db, tmp_path)

    result = sms(db, "--to", OURS, "--body", "STOP\x00\x1b[0m", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["kind"] == "opt_out"
    assert "--body: 2 control characters removed" in result.stderr
    reply = sms(db, "--to", OURS, "--body", "START\n\tthanks\x07", "--sid", "SM2")
    assert reply.exit_code == 0, reply.output
    assert rows(db, InboundMessage, "body") == [("STOP[0m",), ("START\n\tthanks",)]


def test_an_import_the_database_fails_under_says_which_lines_are_in_and_how_to_finish(db, tmp_path, monkeypatch):
    path = write_rows(tmp_path / "leads.csv", [lead_row(phone=f"305-456-{n:04d}") for n in range(5)])
    flush, batches = importer._Import.flush, []

    def second_batch_fails(self, rows, through):  # the failure a dropped connection raises, at the storage boundary
        batches.append(through)
        if len(batches) == 2:
            raise sa.exc.OperationalError("INSERT INTO lead ...", {}, Exception("server closed the connection"))
        flush(self, rows, through)

    monkeypatch.setattr(importer._Import, "flush", second_batch_fails)
    monkeypatch.setitem(importer.import_leads.__kwdefaults__, "batch_size", 2)

    assert_fails(
        run("--db", db, "leads", "import", str(path), "--at", AT),
        1,
        "leads.csv: import stopped at line 4: database: server closed the connection\n",
        "lines 2-3 are imported (2 new, 0 updated); nothing from line 4 on is. Run the same import again to finish",
    )
    assert lead_count(db) == 2

    monkeypatch.undo()
    result = run("--db", db, "leads", "import", str(path), "--at", AT)
    assert "5 rows: 3 new, 0 updated, 2 unchanged, 0 rejected" in result.output
    assert lead_count(db) == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["consent", "add", "1", "--seller", "Acme\x00", "--text", "I agree", "--source", "form"],
         "Invalid value for --seller: has a control character (NUL) at character 5: remove it"),
        (["consent", "add", "1", "--seller", "Acme", "--text", "I agree\x1b[8m", "--source", "form"],
         "Invalid value for --text: has a control character (escape) at character 8: remove it"),
        (["consent", "add", "1", "--seller", "Acme", "--text", "I agree", "--source", "f" * 301],
         "Invalid value for --source: is longer than 300 characters"),
        (["consent", "add", "1", "--seller", "A" * 201, "--text", "x" * 10_001, "--source", "form"],
         "Invalid value: --seller: is longer than 200 characters; --text: is longer than 10,000 characters"),
        (["email-event", "bounce", "maria\x00@example.com"],
         "Invalid value for ADDRESS: The email address contains invalid characters before the @-sign: U+0000"),
        (["tasks", "complete", "1", "--outcome", "reached", "--note", "call back \x00"],
         "Invalid value for --note: has a control character (NUL) at character 11: remove it"),
        (["tasks", "complete", "1", "--outcome", "reached", "--note", "x" * 1001],
         "Invalid value for --note: is longer than 1,000 characters"),
        (["leads", "advance", "1", "--event", "funded", "--note", "\x7f"],
         "Invalid value for --note: has a control character (DEL) at character 1: remove it"),
        (["officers", "add", "--name", "Dana\x00", "--email", "dana@lender.com"],
         "loan officer dana@lender.com: name: has a control character (NUL) at character 5: remove it"),
        (["officers", "add", "--name", "Dana", "--email", "dana@lender.com", "--nmls-id", "1" * 21],
         "loan officer dana@lender.com: nmls_id: is longer than 20 characters"),
    ],
)  # fmt: skip
def test_text_a_person_types_that_cannot_be_stored_is_refused_before_anything_is_written(db, tmp_path, args, message):
    a_lead(db, tmp_path)
    before = [rows(db, model, "id") for model in (Lead, LoanOfficer, CallTask)]

    assert_fails(run("--db", db, *args, "--at", AT), 2, message)

    assert [rows(db, model, "id") for model in (Lead, LoanOfficer, CallTask)] == before


def test_a_note_with_line_breaks_and_tabs_is_kept(db, tmp_path):
    a_lead(db, tmp_path)
    note = "Reached her.\n\tWants the DSCR checklist."

    for at in (AT, "2026-03-02T18:00:00+00:00"):  # enrolls, then plans the day-0 call task
        assert run("--db", db, "tick", "--at", at).exit_code == 0

    result = run("--db", db, "tasks", "complete", "1", "--outcome", "no_answer", "--note", note, "--at", AT)

    assert result.exit_code == 0, result.output
    assert rows(db, CallTask, "note")[0] == (note,)


@pytest.mark.parametrize(
    ("lender", "message"),
    [
        ("Har\x00bor", "refused, nothing loaded: not a text file (it holds NUL bytes)"),
        ("Har\x1bbor", 'line 3: lender: "Har\\u001bbor" has a control character'),
    ],
)
def test_a_guideline_feed_with_a_control_character_is_refused_whole(db, tmp_path, lender, message):
    example = (shipped("guidelines") / "examples" / "harbor-2026-06.csv").read_text()
    feed = tmp_path / "harbor.csv"
    feed.write_text(example.replace("\nHarbor Capital,dscr,", f"\n{lender},dscr,", 1))

    assert_fails(run("--db", db, "guidelines", "load", str(feed), "--at", AT), 2, message)

    assert rows(db, GuidelineSnapshot, "id") == []

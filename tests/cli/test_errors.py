"""Every failure a person can cause prints one or two lines, exits 2 (bad usage or input) or 1 (operational) and
never shows a traceback; on SQLite and PostgreSQL (the ``database_url`` and ``blank_engine`` fixtures)."""

from __future__ import annotations

import codecs
import csv
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from dripline.cli import app
from service.settings import get_settings
from storage.db import upgrade
from storage.models import Lead, table
from tests.factories import lead_row, write_rows

runner = CliRunner()
AT = "2026-03-02T13:00:00+00:00"
HUGE_ID = "99999999999999999999"
HEADER = "first_name,phone,email,inquiry_date"


def run(*args: str):
    return runner.invoke(app, list(args))


def assert_fails(result, code: int, *needles: str) -> str:
    """Exit ``code``, a message of one or two lines containing each needle, and no traceback."""
    out = result.output
    assert result.exit_code == code, out
    assert "Traceback" not in out and not isinstance(result.exception, AssertionError | TypeError | KeyError), out
    lines = [line for line in out.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, out
    for needle in needles:
        assert needle in out, out
    return out


def _ok(*args: str) -> None:
    result = run(*args)
    assert result.exit_code == 0, result.output


def lead_count(database_url: str) -> int:
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(table(Lead))).scalar_one()
    engine.dispose()
    return count


@pytest.fixture
def initialised(database_url: str) -> str:
    _ok("--db", database_url, "init", "--at", AT)
    return database_url


def _bytes(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.csv", b"", "the file is empty"),
        ("noheader.csv", b"Maria,305-456-7890,2026-01-05\n", "line 1 is not a header row"),
        ("unknown.csv", b"first_name,phone,inquiry_date,fcio\n", "unknown columns: fcio"),
        ("twice.csv", b"first_name,phone,Phone,inquiry_date\n", "columns given twice: phone"),
        ("binary.csv", bytes(range(256)) * 8, "not a CSV text file"),
        ("latin1.csv", f"{HEADER}\nJos\u00e9,305-456-7890,,2026-01-05\n".encode("latin-1"), "line 2 is not UTF-8"),
        ("utf16.csv", codecs.BOM_UTF16_LE + f"{HEADER}\n".encode("utf-16-le"), "UTF-16"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole_in_one_line(initialised, tmp_path, name, data, message):
    path = _bytes(tmp_path, name, data)

    out = assert_fails(run("--db", initialised, "leads", "import", str(path), "--at", AT), 2, message, name)

    assert "nothing imported" in out
    assert lead_count(initialised) == 0
    assert not (tmp_path / f"{path.stem}.rejects.csv").exists()


def test_a_bad_byte_late_in_the_file_writes_nothing(initialised, tmp_path):
    rows = [lead_row(external_id=f"E{n}", phone=f"305-456-{n:04d}") for n in range(30)]
    path = write_rows(tmp_path / "late.csv", rows)
    path.write_bytes(path.read_bytes() + b"Jos\xe9,,x@example.com,2026-01-05\n")

    assert_fails(run("--db", initialised, "leads", "import", str(path), "--at", AT), 2, "line 32 is not UTF-8")

    assert lead_count(initialised) == 0


def test_a_huge_field_or_amount_rejects_only_its_row(initialised, tmp_path):
    rows = [
        lead_row(external_id="G1", phone="305-456-0001"),
        lead_row(external_id="B1", phone="305-456-0002", first_name="x" * 1_000_000),
        lead_row(external_id="B2", phone="305-456-0003", loan_amount="1e400"),
        lead_row(external_id="G2", phone="305-456-0004"),
    ]
    path = write_rows(tmp_path / "big.csv", rows)

    result = run("--db", initialised, "leads", "import", str(path), "--at", AT)

    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert "line 3: row: a field is longer than 131,072 characters" in result.output
    assert "line 4: loan_amount: '1e400' is more than $1,000,000,000,000" in result.output
    assert lead_count(initialised) == 2
    with (tmp_path / "big.rejects.csv").open(newline="") as handle:
        assert [(r["line"], r["external_id"]) for r in csv.DictReader(handle)] == [("3", ""), ("4", "B2")]


@pytest.mark.parametrize(
    "args",
    [
        ["leads", "show", HUGE_ID],
        ["leads", "advance", HUGE_ID, "--event", "funded"],
        ["tasks", "complete", HUGE_ID, "--outcome", "reached"],
        ["consent", "add", HUGE_ID, "--seller", "Acme", "--text", "I agree", "--source", "form"],
        ["guidelines", "diff", HUGE_ID],
        ["explain", HUGE_ID],
        ["outbox", "--lead", HUGE_ID],
    ],
)
def test_an_id_too_large_to_exist_is_bad_input(initialised, args):
    assert_fails(run("--db", initialised, *args), 2, "there is no", "ids run from 1 to 2147483647")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tasks", "script", "424242"], "no call task with id 424242"),
        (["tasks", "complete", "424242", "--outcome", "reached"], "no call task with id 424242"),
        (["leads", "show", "424242"], "no lead with id 424242"),
        (["leads", "advance", "424242", "--event", "funded"], "no lead with id 424242"),
        (["explain", "424242"], "no lead with id 424242"),
        (["consent", "add", "424242", "--seller", "Acme", "--text", "I agree", "--source", "f"], "no lead with id"),
        (["guidelines", "diff", "424242"], "no guideline snapshot 424242"),
    ],
)
def test_a_missing_record_is_named(initialised, args, message):
    assert_fails(run("--db", initialised, *args), 1, message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tick", "--at", "yesterday-ish"], "is not an ISO 8601 time"),
        (["tasks", "--status", "lost"], "'lost' is not one of open"),
        (["tasks", "complete", "1", "--outcome", "maybe"], "is not one of no_answer"),
        (["officers", "add", "--name", "X", "--email", "not-an-email"], "loan officer not-an-email"),
        (["report", "--cost-per-lead", "-1"], "--cost-per-lead"),
        (["email-event", "bounced", "a@example.com"], "'bounced' is not one of unsubscribe"),
        (["leads", "import", "/no/such/leads.csv"], "does not exist"),
        (["no-such-command"], "No such command"),
    ],
)
def test_bad_usage_is_one_or_two_lines(initialised, args, message):
    assert_fails(run("--db", initialised, *args), 2, message)


def test_guideline_files_that_cannot_be_read_are_refused_in_one_line(initialised, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    cases = [
        ([str(tmp_path / "missing.json")], "does not exist"),
        ([str(tmp_path)], "is a directory"),
        ([str(_bytes(tmp_path, "binary.json", bytes(range(256))))], "not a text file"),
        (
            [str(_bytes(tmp_path, "latin1.csv", "lender,caf\u00e9\n".encode("latin-1")))],
            "line 1: not UTF-8 text (byte 0xe9)",
        ),
        ([str(_bytes(tmp_path, "utf16.json", codecs.BOM_UTF16_LE + "{}".encode("utf-16-le")))], "UTF-16"),
        ([str(deep)], "nested too deeply"),
    ]
    for args, message in cases:
        assert_fails(run("--db", initialised, "guidelines", "load", *args, "--at", AT), 2, message)
    assert "no guidelines loaded" in run("--db", initialised, "guidelines", "show").output


@pytest.mark.parametrize(
    "args",
    [
        ["report"],
        ["tasks"],
        ["leads", "show", "1"],
        ["officers", "list"],
        ["outbox"],
        ["tick", "--at", AT],
        ["guidelines", "history"],
        ["tasks", "script", "1"],
        ["explain", "1", "--at", AT],
    ],
)
def test_an_uninitialised_sqlite_database_says_run_init_and_stays_absent(tmp_path, args):
    path = tmp_path / "never" / "dripline.db"
    url = f"sqlite:///{path}"

    assert_fails(run("--db", url, *args), 2, "does not exist", "run `dripline init`")

    assert not path.exists() and not path.parent.exists()


def test_the_default_database_is_not_created_by_a_failing_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRIPLINE_DATABASE_URL", raising=False)
    get_settings.cache_clear()

    assert_fails(run("report"), 2, "run `dripline init`")

    assert list(tmp_path.iterdir()) == []
    get_settings.cache_clear()


def test_a_database_without_tables_or_behind_on_migrations_says_run_init(blank_engine):
    url = blank_engine.url.render_as_string(hide_password=False)
    if blank_engine.dialect.name == "sqlite":
        with blank_engine.begin() as conn:  # the file exists, with no dripline tables
            conn.execute(sa.text("CREATE TABLE unrelated (x INTEGER)"))

    assert_fails(run("--db", url, "report"), 2, "has no dripline tables", "run `dripline init`")

    upgrade(blank_engine, "0003")
    assert_fails(run("--db", url, "tasks"), 2, "at schema revision 0003", "run `dripline init` to upgrade it")
    _ok("--db", url, "init", "--at", AT)
    _ok("--db", url, "tasks")


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        ("nonsense://", 2, "is not a database URL dripline can use"),
        ("not a url at all", 2, "is not a database URL dripline can use"),
        ("postgresql://nohost.invalid:1/x", 1, "cannot connect"),
    ],
)
@pytest.mark.parametrize("command", [["report"], ["init"], ["tick"]])
def test_a_database_url_that_cannot_work(url, code, message, command):
    assert_fails(run("--db", url, *command), code, message if command != ["init"] or code == 2 else "database:")


def test_a_setting_out_of_range_names_the_variable_without_a_help_url(initialised, monkeypatch):
    monkeypatch.setenv("DRIPLINE_BATCH_SIZE", "0")
    get_settings.cache_clear()

    out = assert_fails(run("--db", initialised, "report"), 2, "settings: DRIPLINE_BATCH_SIZE: ")

    assert "http" not in out and "greater than or equal to 1" in out
    get_settings.cache_clear()


def test_a_missing_settings_file_is_named(initialised, monkeypatch, tmp_path):
    monkeypatch.setenv("DRIPLINE_CADENCE_FILE", str(tmp_path / "nowhere.yaml"))
    get_settings.cache_clear()

    assert_fails(run("--db", initialised, "tick", "--at", AT), 2, "nowhere.yaml")
    get_settings.cache_clear()


def test_debug_shows_the_original_exception(tmp_path):
    from storage.db import DatabaseNotReady

    result = run("--debug", "--db", f"sqlite:///{tmp_path / 'none.db'}", "report")

    assert isinstance(result.exception, DatabaseNotReady)
    assert not (tmp_path / "none.db").exists()


def test_now_is_still_accepted_as_the_old_name_of_at(initialised):
    for args in (["--now", "2026-05-20T14:00:00Z"], ["--now=2026-05-20T14:00:00Z"], ["--at", "2026-05-20T14:00:00Z"]):
        result = run("--db", initialised, "leads", "eligible", *args)
        assert result.exit_code == 0 and "Leads eligible on 2026-05-20" in result.output, result.output
    assert_fails(run("--db", initialised, "tick", "--now", "soon"), 2, "--at: 'soon' is not an ISO 8601 time")

"""Input that would corrupt storage is refused at the command line in one or two lines naming the option, and an
import cut short says which lines are in; on SQLite and PostgreSQL (the ``database_url`` fixture)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from storage import importer
from tests.cli.test_errors import AT, assert_fails, lead_count, run
from tests.factories import lead_row, write_rows


@pytest.fixture
def db(database_url: str) -> str:
    result = run("--db", database_url, "init", "--at", AT)
    assert result.exit_code == 0, result.output
    return database_url


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

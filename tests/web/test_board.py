"""``GET /board``: a manager sees each officer's open, overdue and expired tasks, the week's outcomes, the funnel by
product against the benchmarks and the calls chart, counted exactly from seeded rows; an officer is refused.
SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from storage.models import CallTask, LeadHistory, TaskLog, table
from tests.factories import insert_lead
from tests.web.bridge_support import NOW, Clock, add_officer, bridge_app, sign_in

H, D = timedelta(hours=1), timedelta(days=1)


def _task(
    conn: sa.Connection, key: str, lead: int, officer: int, status: str = "open", *, due: datetime = NOW,
    expires: datetime | None = None, outcome: str | None = None, done: datetime | None = None,
) -> int:  # fmt: skip
    values: dict[str, Any] = {"key": key, "lead_id": lead, "loan_officer_id": officer, "kind": "cadence",
                              "template": "t", "status": status, "due_at": due, "expires_at": expires,
                              "outcome": outcome, "completed_at": done, "created_at": NOW - 20 * D}  # fmt: skip
    return int(conn.execute(sa.insert(table(CallTask)).values(**values)).inserted_primary_key[0])


@pytest.fixture
def team(app_env: Path, engine: Engine) -> dict[str, int]:
    """Dana and Sam (officers) and Lee (manager), with a bank-statement lead of Dana's that was contacted and a
    DSCR lead of Sam's that was not."""
    ids = {
        "lee": add_officer(engine, name="Lee Park", email="lee@example.com", phone=None, role="manager"),
        "dana": add_officer(engine, name="Dana Reyes", email="dana@example.com", phone=None),
        "sam": add_officer(engine, name="Sam Ortiz", email="sam@example.com", phone=None),
    }
    mine = insert_lead(engine, at=NOW - 20 * D, loan_officer_id=ids["dana"])
    other = insert_lead(engine, at=NOW - 20 * D, loan_officer_id=ids["sam"], product="dscr", phone="+13055550148")
    with engine.begin() as conn:
        for n, due in enumerate((NOW - H, NOW - 2 * D, NOW + H)):  # two overdue, one not yet due
            _task(conn, f"open-{n}", mine, ids["dana"], due=due)
        _task(conn, "expired", mine, ids["dana"], "expired", expires=NOW - 2 * D)
        _task(conn, "expired-long-ago", mine, ids["dana"], "expired", expires=NOW - 10 * D)
        for n, (outcome, ago) in enumerate((("reached", D), ("no_answer", 2 * D), ("no_answer", 3 * D),
                                            ("voicemail", 8 * D))):  # fmt: skip
            _task(conn, f"done-{n}", mine, ids["dana"], "done", outcome=outcome, done=NOW - ago)
        _task(conn, "sam-open", other, ids["sam"], due=NOW + D)
        # Sam let this one expire yesterday; it went to Dana and is open (and overdue) on her list now
        moved = _task(conn, "moved", other, ids["dana"], due=NOW - 3 * H)
        log = table(TaskLog)
        conn.execute(sa.insert(log).values(task_id=moved, at=NOW - D, action="expired", from_officer_id=ids["sam"]))
        conn.execute(
            sa.insert(log).values(
                task_id=moved, at=NOW - D, action="reassigned", from_officer_id=ids["sam"], to_officer_id=ids["dana"]
            )
        )
        conn.execute(sa.insert(table(LeadHistory)).values(lead_id=mine, at=NOW - D, event="live_contact",
                                                          stage_from="new_lead", stage_to="contacted"))  # fmt: skip
    return ids


@pytest.fixture
def client(team: dict[str, int]) -> Iterator[TestClient]:
    with bridge_app(Clock()) as c:
        yield c


def _cells(html: str, row_id: str) -> list[str]:
    row = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.S)
    assert row is not None, row_id
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row.group(1))]


def test_a_manager_sees_each_officers_tasks_and_outcomes(client: TestClient, engine: Engine, team: dict[str, int]):
    sign_in(client, engine, team["lee"])

    shown = client.get("/board")

    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    html = shown.text
    assert _cells(html, f"officer-{team['dana']}") == ["Dana Reyes", "4", "3", "1"]
    assert _cells(html, f"officer-{team['sam']}") == ["Sam Ortiz", "1", "0", "1"]
    assert _cells(html, f"officer-{team['lee']}") == ["Lee Park", "0", "0", "0"]
    assert _cells(html, "team") == ["Team", "5", "3", "2"]
    outcomes = re.search(rf'<p id="outcomes-{team["dana"]}">(.*?)</p>', html, re.S)
    assert outcomes is not None and re.sub(r"<[^>]+>", "", outcomes.group(1)) == "Dana Reyes: 2 no answer · 1 reached"
    assert f'id="outcomes-{team["sam"]}"' not in html


def test_the_funnel_sits_beside_the_benchmarks_and_the_chart_counts_the_calls(
    client: TestClient, engine: Engine, team: dict[str, int]
):
    sign_in(client, engine, team["lee"])
    html = client.get("/board").text

    bank = re.search(r'<div class="card" id="funnel-1">(.*?)</div>', html, re.S)
    dscr = re.search(r'<div class="card" id="funnel-2">(.*?)</div>', html, re.S)
    assert bank is not None and dscr is not None
    assert "Bank statement</strong>: 1 lead" in bank.group(1) and "DSCR</strong>: 1 lead" in dscr.group(1)
    assert re.findall(r"<td>Contacted</td><td>([^<]*)</td><td>([^<]*)</td><td[^>]*>(\w+)</td>",
                      bank.group(1) + dscr.group(1)) == [("100.0%", "12.0-22.0%", "above"),
                                                         ("0.0%", "12.0-20.0%", "below")]  # fmt: skip
    assert "<td>Educated</td><td>0.0%</td>" in bank.group(1)
    assert "<td>Educated</td><td>-</td>" in dscr.group(1), "nobody contacted: no rate"

    svg = ElementTree.fromstring(re.search(r"<svg.*?</svg>", html, re.S).group(0))  # type: ignore[union-attr]
    ns = "{http://www.w3.org/2000/svg}"
    bars = [g for g in svg.iter(f"{ns}g")]
    tips = [g.findtext(f"{ns}title") for g in bars]
    assert len(bars) == 30 and sum(len(g.findall(f"{ns}rect")) for g in bars) == 4 + 1  # four days, one live part
    assert (
        tips[-2] == "Mar 1: 1 calls logged, 1 live contacts" and tips[-3] == "Feb 28: 1 calls logged, 0 live contacts"
    )


def test_an_officer_is_refused_and_nobody_signed_out_sees_it(client: TestClient, engine: Engine, team: dict[str, int]):
    assert client.get("/board").status_code == 401
    sign_in(client, engine, team["dana"])
    refused = client.get("/board")
    assert refused.status_code == 403 and "for managers" in refused.text and "Dana Reyes" not in refused.text

"""The page-speed benchmark's book and timing loop, small: the seeded book is what the schema and the pages expect
(500 open tasks an officer at full size), and a page that is not on the app stops the run instead of a number.
SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from bench.pages import PageMissing, officer_and_leads, time_pages
from bench.pages_world import OFFICERS, seed
from service.settings import get_settings
from web import app

OFFICER_PAGE = re.compile(r"/calls|/leads/\{[^}/]+\}")  # the pages timed, whoever serves them


def _count(engine: Engine, sql: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def test_the_book_spreads_open_tasks_evenly_over_twenty_officers(engine: Engine) -> None:
    officers = seed(engine, leads=200)

    assert len(officers) == OFFICERS
    open_by_officer = Counter(dict(_count(engine, "SELECT loan_officer_id, count(*) FROM call_task "
                                                  "WHERE status = 'open' GROUP BY loan_officer_id")))  # fmt: skip
    assert set(open_by_officer) == set(officers) and set(open_by_officer.values()) == {10}
    assert _count(engine, "SELECT count(*) FROM cadence_position") == [(200,)]
    assert _count(engine, "SELECT count(*) FROM touch WHERE status = 'sent'") == [(400,)]
    products = dict(_count(engine, "SELECT product, count(*) FROM lead GROUP BY product"))
    assert len(products) >= 5 and sum(products.values()) == 200  # type: ignore[arg-type]
    contacted = _count(engine, "SELECT count(*) FROM lead WHERE stage = 'contacted'")
    assert contacted == _count(engine, "SELECT count(*) FROM lead_history WHERE stage_to = 'contacted'")
    assert _count(engine, "SELECT count(*) FROM lead WHERE product = 'dscr' AND monthly_rent IS NULL") == [(0,)]


@pytest.mark.parametrize("pages_there", [True, False])
def test_the_timing_loop_times_the_real_pages_or_says_which_is_missing(
    app_env: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch, pages_there: bool
) -> None:
    officers = seed(engine, leads=60)
    link, own, open_tasks = officer_and_leads(engine, officers[1])
    if not pages_there:  # the app as it was before the officer pages were merged
        serving = [r for r in app.ROUTERS if any(OFFICER_PAGE.fullmatch(getattr(x, "path", "")) for x in r.routes)]
        assert serving, "no router serves the officer pages"
        monkeypatch.setattr(app, "ROUTERS", tuple(r for r in app.ROUTERS if r not in serving))

    with TestClient(app.create_app(get_settings())) as client:
        if not pages_there:
            with pytest.raises(PageMissing, match=r"GET /calls answered 404: calls is not on this app"):
                time_pages(client, link, own, requests=3, warmup=1)
            return
        ms, load = time_pages(client, link, own, requests=3, warmup=1)

    assert open_tasks == 3 and len(own) == 3
    assert {name: len(times) for name, times in ms.items()} == {"calls": 3, "lead": 3, "floor": 3}
    assert all(t > 0 for times in ms.values() for t in times) and load >= 0

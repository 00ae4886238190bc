"""POST /feeds/{lender}: a lender's token, the feed validated as `guidelines load` does, the snapshot and the diff,
the re-score (here, without a Prefect API; an event, with one); every refusal changes nothing. SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from nurture.products import Product
from service.feeds import create_token, revoke
from service.settings import get_settings
from storage.models import CadencePosition, FeedToken, GuidelineSnapshot, Reengagement, table
from tests.factories import insert_nurture_lead
from web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
HARBOR = "Harbor Capital"
LOWERED_FICO = "lowered its minimum credit score from 640 to 600 for bank statement loans"
SHORTER_CH7 = "shortened the wait after a chapter 7 bankruptcy from 48 to 24 months for credit event loans"
CSV = {"Content-Type": "text/csv"}
JSON = {"Content-Type": "application/json"}

_snap, _token, _re, _pos = table(GuidelineSnapshot), table(FeedToken), table(Reengagement), table(CadencePosition)


def _february_json(lender: str = HARBOR) -> bytes:
    """The example February feed, only Harbor's programs, under ``lender``'s name."""
    doc = json.loads((ROOT / "guidelines" / "examples" / "harbor-2026-02.json").read_text())
    [harbor] = [entry for entry in doc["lenders"] if entry["lender"] == HARBOR]
    return json.dumps({"source": doc["source"], "lenders": [harbor | {"lender": lender}]}).encode()


def _june_csv() -> bytes:
    """The example June feed, only Harbor's rows: bank statements at FICO 600, chapter 7 after 24 months."""
    lines = (ROOT / "guidelines" / "examples" / "harbor-2026-06.csv").read_text().splitlines()
    return "\n".join([lines[0], *(line for line in lines[1:] if line.startswith(HARBOR))]).encode() + b"\n"


@pytest.fixture
def no_prefect(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No Prefect API anywhere: not in the environment, no `dripline serve`, no profile."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "no-profile"))


@pytest.fixture
def client(app_env: Path, engine: Engine, no_prefect: None) -> Iterator[TestClient]:
    with TestClient(create_app(get_settings(), clock=lambda: NOW)) as c:
        yield c


@pytest.fixture
def token(engine: Engine) -> str:
    return create_token(engine=engine, lender=HARBOR, created_by="test", now=NOW).token


def _post(client: TestClient, token: str | None, body: bytes, headers: dict[str, str], lender: str = HARBOR):
    auth = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post(f"/feeds/{lender}", content=body, headers=headers | auth)


def _count(engine: Engine, t: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())


def _last_used(engine: Engine) -> list[datetime | None]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(_token.c.last_used_at).order_by(_token.c.id)).scalars())


def _lead(engine: Engine, n: int, **overrides: object) -> int:
    """A bank-statement lead resting in email nurture, in Miami (FL)."""
    values = {"product": Product.BANK_STATEMENT.value, "loan_amount": 150_000} | overrides
    return insert_nurture_lead(engine, now=NOW, n=n, **values)


def test_a_json_feed_then_a_csv_feed_store_snapshots_and_answer_the_diff(client, engine, token):
    first = _post(client, token, _february_json(), JSON)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["lender"], body["status"], body["snapshot_id"], body["previous_snapshot_id"]) == (
        HARBOR, "stored", 1, None
    )  # fmt: skip
    assert sorted(c["program"] for c in body["loosened"]) == [
        "asset_depletion",
        "bank_statement",
        "credit_event",
        "dscr",
    ]
    assert {c["field"] for c in body["loosened"]} == {"program"}
    assert (body["tightened"], body["unchanged"], body["events"]) == ([], [], [])

    second = _post(client, token, _june_csv(), CSV)
    assert second.status_code == 200, second.text
    diff = second.json()
    assert (diff["status"], diff["snapshot_id"], diff["previous_snapshot_id"]) == ("stored", 2, 1)
    assert [(c["program"], c["field"], c["old"], c["new"], c["describe"]) for c in diff["loosened"]] == [
        ("bank_statement", "min_fico", 640, 600, LOWERED_FICO),
        ("credit_event", "seasoning_months.chapter_7", 48, 24, SHORTER_CH7),
    ]
    assert diff["tightened"] == []
    assert [(c["program"], c["field"]) for c in diff["neutral"]] == [
        ("bank_statement", "effective_date"), ("credit_event", "effective_date")
    ]  # fmt: skip
    assert diff["unchanged"] == ["dscr", "asset_depletion"]
    assert diff["rescored"][0]["reengaged"] == 0  # no leads yet

    with engine.connect() as conn:
        rows = conn.execute(sa.select(_snap.c.id, _snap.c.lender, _snap.c.loaded_by, _snap.c.source)).all()
    assert [tuple(r) for r in rows] == [
        (1, HARBOR, "feed token 1", "POST /feeds (json)"),
        (2, HARBOR, "feed token 1", "POST /feeds (csv)"),
    ]
    assert _last_used(engine) == [NOW]


def test_a_replayed_feed_is_answered_unchanged_and_stores_nothing(client, engine, token):
    assert _post(client, token, _february_json(), JSON).status_code == 200
    fico_610 = _lead(engine, 1, fico=610)
    assert _post(client, token, _june_csv(), CSV).json()["rescored"][0]["reengaged"] == 1

    again = _post(client, token, _june_csv(), CSV)
    assert again.status_code == 200, again.text
    body = again.json()
    assert (body["status"], body["snapshot_id"], body["loosened"], body["tightened"]) == ("unchanged", 2, [], [])
    assert body["unchanged"] == ["bank_statement", "dscr", "credit_event", "asset_depletion"]
    assert (body["events"], body["rescored"]) == ([], [])
    assert _count(engine, _snap) == 2
    with engine.connect() as conn:
        assert list(conn.execute(sa.select(_re.c.lead_id)).scalars()) == [fico_610]


def test_the_loosening_re_engages_exactly_the_newly_eligible_leads_in_this_process(client, engine, token):
    assert _post(client, token, _february_json(), JSON).status_code == 200
    fico_610 = _lead(engine, 1, fico=610)
    fico_599 = _lead(engine, 2, fico=599)
    fico_650 = _lead(engine, 3, fico=650)  # eligible already under February's 640
    small_loan = _lead(engine, 4, fico=610, loan_amount=100_000)  # below Harbor's $125,000 minimum

    answer = _post(client, token, _june_csv(), CSV)
    assert answer.status_code == 200, answer.text
    [stats] = answer.json()["rescored"]
    assert (stats["reengaged"], stats["reasons"]) == (1, {LOWERED_FICO: 1})

    with engine.connect() as conn:
        done = conn.execute(sa.select(_re.c.lead_id, _re.c.status, _re.c.reason, _re.c.change_key)).all()
        cadences = dict(conn.execute(sa.select(_pos.c.lead_id, _pos.c.cadence_name)).all())
    assert [tuple(r) for r in done] == [(fico_610, "enrolled", LOWERED_FICO, "snapshot:2")]
    assert cadences == {fico_610: "reengage", fico_599: "aged-nonqm", fico_650: "aged-nonqm", small_loan: "aged-nonqm"}


def test_no_token_a_wrong_token_and_a_revoked_token_store_nothing(client, engine, token):
    bayline = create_token(engine=engine, lender="Bayline Mortgage", created_by="test", now=NOW).token
    retired = create_token(engine=engine, lender=HARBOR, created_by="test", now=NOW)
    revoke(engine=engine, now=NOW, token_id=retired.id)
    feed = _february_json()

    missing = _post(client, None, feed, JSON)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    basic = client.post(f"/feeds/{HARBOR}", content=feed, headers=JSON | {"Authorization": f"Basic {token}"})
    assert basic.status_code == 401
    assert _post(client, bayline, feed, JSON).status_code == 403, "another lender's token"
    assert _post(client, retired.token, feed, JSON).status_code == 403, "a revoked token"
    assert _post(client, token + "x", feed, JSON).status_code == 403, "a token that was never made"
    assert _post(client, token, feed, JSON, lender="Bayline Mortgage").status_code == 403, "its own token, wrong path"
    assert _post(client, token, feed, JSON, lender="%01").status_code == 403, "a name no lender has"

    assert _count(engine, _snap) == 0
    assert _last_used(engine) == [None, None, None]


def test_a_body_that_is_not_csv_or_json_in_utf8_gets_415(client, engine, token):
    assert _post(client, token, _june_csv(), {"Content-Type": "text/plain"}).status_code == 415
    latin = _post(client, token, _june_csv(), {"Content-Type": "text/csv; charset=latin-1"})
    assert latin.status_code == 415 and latin.json() == {"error": "send the feed in UTF-8, not latin-1"}
    assert _post(client, token, _june_csv(), {"Content-Type": "text/csv; charset=UTF-8"}).status_code == 200
    assert _count(engine, _snap) == 1


def test_a_bad_csv_feed_is_refused_whole_with_each_line_and_field(client, engine, token):
    lines = _june_csv().decode().splitlines()
    lines[1] = lines[1].replace(",600,", ",abc,")  # line 2: min_fico
    lines[3] = lines[3].replace("FL;GA;TX", "FL;ZZ")  # line 4: states
    lines.append("Bayline Mortgage,dscr,2026-01-15,680,,,,,,1.25,,75,,AZ")  # line 6: another lender
    answer = _post(client, token, "\n".join(lines).encode(), CSV)
    assert answer.status_code == 422, answer.text
    assert answer.json() == {
        "errors": [
            {"line": 2, "field": "min_fico", "message": '"abc" is not a whole number'},
            {"line": 4, "field": "states", "message": '"ZZ" is not a US state code'},
            {"line": 6, "field": "lender", "message": '"Bayline Mortgage" is not Harbor Capital, whose feed this is'},
        ]
    }
    assert _count(engine, _snap) == 0


def test_a_bad_json_feed_names_each_place(client, engine, token):
    doc = json.loads(_february_json())
    doc["lenders"][0]["programs"][1]["min_fico"] = 900
    doc["lenders"].append({"lender": "Bayline Mortgage", "programs": doc["lenders"][0]["programs"][:1]})
    answer = _post(client, token, json.dumps(doc).encode(), JSON)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"] == [
        {"line": None, "field": "lenders[0].programs[1].min_fico", "message": "900 is not a credit score (300-850)"},
        {
            "line": None,
            "field": "lenders[1].lender",
            "message": '"Bayline Mortgage" is not Harbor Capital, whose feed this is',
        },
    ]
    broken = _post(client, token, b'{"lenders": [\n  {"lender": }\n]}', JSON)
    assert broken.json()["errors"] == [
        {"line": 2, "field": None, "message": "not valid JSON: Expecting value (column 14)"}
    ]
    not_utf8 = _post(client, token, _june_csv().replace(b"Harbor", b"H\xe4rbor"), CSV)
    assert not_utf8.json()["errors"][0] == {
        "line": 2,
        "field": None,
        "message": "not UTF-8 text (byte 0xe4); save it as UTF-8",
    }
    assert _count(engine, _snap) == 0


API = "http://127.0.0.1:9/api"  # nothing listens: the events go to Prefect's asserting client instead


@pytest.fixture
def recorded_events(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], list[Any]]]:
    """A Prefect API configured, and Prefect's own asserting events client in place of the one it would get;
    returns the events it got. The worker starts under the API setting, as it does in the app."""
    from prefect.events.clients import AssertingEventsClient
    from prefect.events.worker import EventsWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setenv("PREFECT_API_URL", API)
    with temporary_settings(updates={PREFECT_API_URL: API}):
        worker = EventsWorker.instance(AssertingEventsClient)
    monkeypatch.setattr(EventsWorker, "instance", lambda *_: worker)

    def events() -> list[Any]:
        worker.wait_until_empty()
        return list(worker._client.events)

    yield events
    worker.drain()


def test_with_a_prefect_api_the_loosening_is_an_event_and_nothing_is_re_scored_here(
    client, engine, token, recorded_events
):
    assert _post(client, token, _february_json(), JSON).status_code == 200
    fico_610 = _lead(engine, 1, fico=610)
    answer = _post(client, token, _june_csv(), CSV).json()

    events = recorded_events()
    assert [e.event for e in events] == ["lender.guideline.loosened"] * 2
    june = events[1]
    assert answer["events"] == [str(june.id)]
    assert (june.payload["snapshot_id"], june.payload["lender"]) == (2, HARBOR)
    assert answer["rescored"] == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(_re.c.lead_id).where(_re.c.lead_id == fico_610)).first() is None


def test_an_event_prefect_does_not_take_is_re_scored_here_instead(client, engine, token, monkeypatch):
    from prefect.events.clients import NullEventsClient
    from prefect.events.worker import EventsWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setenv("PREFECT_API_URL", API)
    with temporary_settings(updates={PREFECT_API_URL: API}):
        worker = EventsWorker.instance(NullEventsClient)  # emit_event answers None: the event went nowhere
    monkeypatch.setattr(EventsWorker, "instance", lambda *_: worker)
    assert _post(client, token, _february_json(), JSON).status_code == 200
    fico_610 = _lead(engine, 1, fico=610)

    answer = _post(client, token, _june_csv(), CSV).json()
    assert answer["events"] == [] and answer["rescored"][0]["reengaged"] == 1
    with engine.connect() as conn:
        assert list(conn.execute(sa.select(_re.c.lead_id)).scalars()) == [fico_610]
    worker.drain()


def test_the_same_feed_posted_four_times_at_once_stores_one_snapshot(engine):
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from nurture.guidelines import parse_feed
    from storage.guidelines import load_snapshot

    feeds = [parse_feed(_february_json().decode(), format="json"), parse_feed(_june_csv().decode(), format="csv")]
    for programs in feeds:
        barrier = Barrier(4)

        def load(programs=programs, barrier=barrier) -> int | None:
            barrier.wait(30)
            result = load_snapshot(engine=engine, programs=programs, source="race", loaded_by="test", now=NOW)
            return result.lenders[0].snapshot_id

        with ThreadPoolExecutor(4) as pool:
            stored = [i for i in pool.map(lambda _: load(), range(4)) if i is not None]
        assert len(stored) == 1
    with engine.connect() as conn:
        assert list(conn.execute(sa.select(_snap.c.previous_id).order_by(_snap.c.id)).scalars()) == [None, 1]


def test_the_access_log_holds_neither_the_token_nor_the_feed(client, engine, token, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="dripline.web.access"):
        _post(client, token, _june_csv(), CSV)
        _post(client, token + "x", _june_csv(), CSV)
    lines = [r.getMessage() for r in caplog.records if r.name == "dripline.web.access"]
    assert [json.loads(line)["status"] for line in lines] == [200, 403]
    assert all(token not in line and "Harbor Capital,bank_statement" not in line for line in lines)

"""Click-to-call through the real Twilio SDK against the loopback Twilio: the gate first, one call per click, Twilio's
failures told plainly and recorded, and the officer's own leads only. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from bench.fake_providers import Answer, FakeProviders, closed_port_url
from nurture.actions import Channel
from storage.compliance import load_facts
from storage.models import CallTask, Suppression, table
from tests.factories import insert_lead
from tests.web.bridge_support import (
    ACCOUNT,
    CALLER_ID,
    DANA_PHONE,
    MARIA,
    NOW,
    Clock,
    add_officer,
    bridge_app,
    bridges,
    click,
    loopback_twilio,
    sign_in,
)
from tests.web.twilio_support import BASE
from web.pages import _env


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviders]:
    with loopback_twilio(monkeypatch) as f:
        yield f


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dana(engine: Engine) -> int:
    return add_officer(engine, name="Dana Reyes", email="dana@example.com", phone=DANA_PHONE)


@pytest.fixture
def client(app_env: Path, engine: Engine, fake: FakeProviders, clock: Clock, dana: int) -> Iterator[TestClient]:
    with bridge_app(clock, twilio_api_base=fake.url) as c:
        yield c


def lead(engine: Engine, officer: int, **overrides: object) -> int:
    return insert_lead(engine, at=NOW, loan_officer_id=officer, **overrides)


def test_an_allowed_click_rings_the_officer_from_the_company_number(
    client: TestClient, engine: Engine, fake: FakeProviders, dana: int
) -> None:
    lead_id = lead(engine, dana)
    csrf = sign_in(client, engine, dana)

    answer = click(client, lead_id, csrf)

    [call] = bridges(engine)
    assert answer.status_code == 303 and answer.headers["location"] == f"/leads/{lead_id}/calls/{call.id}"
    [req] = fake.requests
    form = req.form()
    assert req.path == f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
    assert (form["To"], form["From"]) == (DANA_PHONE, CALLER_ID)
    assert form["Url"] == f"{BASE}/twilio/bridge/answer?bridge=click%3A{dana}%3A{lead_id}%3Aclick-0000001"
    assert form["StatusCallback"] == form["Url"].replace("/answer?", "/status?")
    assert (call.status, call.call_sid, call.loan_officer_id) == ("ringing", fake.kept[0].provider_id, dana)
    assert '"verdict":"allow"' in call.decisions and '"phase":"click"' in call.decisions
    shown = client.get(answer.headers["location"])
    assert shown.status_code == 200 and "Your phone is ringing" in shown.text


def test_the_same_click_twice_and_a_click_while_the_call_is_under_way_ring_once(
    client: TestClient, engine: Engine, fake: FakeProviders, dana: int, clock: Clock
) -> None:
    lead_id = lead(engine, dana)
    csrf = sign_in(client, engine, dana)

    first = click(client, lead_id, csrf)
    again = click(client, lead_id, csrf)
    other_key = click(client, lead_id, csrf, key="click-0000002")

    assert first.headers["location"] == again.headers["location"] == other_key.headers["location"]
    assert len(fake.requests) == 1 and len(bridges(engine)) == 1

    clock.now = NOW + timedelta(minutes=3)  # the first call is over (or lost): a new click dials again
    later = click(client, lead_id, csrf, key="click-0000003")
    assert later.headers["location"] != first.headers["location"]
    assert len(fake.requests) == 2 and [b.status for b in bridges(engine)] == ["ringing", "ringing"]


def _dnc_listed(engine: Engine, officer: int) -> int:
    return lead(engine, officer, dnc_listed=True, inquiry_date=date(2025, 9, 1), consent=False)


def _stale_scrub(engine: Engine, officer: int) -> int:
    return lead(engine, officer, dnc_scrubbed_on=date(2026, 1, 2))


def _quiet_hours(engine: Engine, officer: int) -> int:
    return lead(engine, officer, address_state="CA", zip="90001", timezone="America/Los_Angeles",
                phone="+13105550147")  # fmt: skip  # 07:00 in Los Angeles


def _capped(engine: Engine, officer: int) -> int:
    lead_id = lead(engine, officer)
    with engine.begin() as conn:
        for n in range(3):
            conn.execute(sa.insert(table(CallTask)).values(
                key=f"done-{n}", lead_id=lead_id, loan_officer_id=officer, kind="cadence", template="t", status="done",
                outcome="no_answer", due_at=NOW - timedelta(hours=n + 1), completed_at=NOW - timedelta(hours=n + 1),
                created_at=NOW - timedelta(hours=5)))  # fmt: skip
    return lead_id


def _opted_out(engine: Engine, officer: int) -> int:
    lead_id = lead(engine, officer)
    with engine.begin() as conn:
        conn.execute(sa.insert(table(Suppression)).values(
            lead_id=lead_id, address=MARIA, channel="call", action="opt_out", reason="asked on a call",
            source="officer", at=NOW - timedelta(days=1), created_at=NOW - timedelta(days=1)))  # fmt: skip
    return lead_id


@pytest.mark.parametrize(
    ("make", "rule", "words"),
    [
        (_dnc_listed, "dnc_registry", "over 3 months old"),
        (_stale_scrub, "dnc_scrub", "held until re-scrubbed against the DNC registry (scrubbed 2026-01-02"),
        (_quiet_hours, "quiet_hours", "The call may be placed from Mon 08:00 (America/Los_Angeles)"),
        (_capped, "state_cap", "3 contacts within 24 h; FL allows 3 per 24 h"),
        (_opted_out, "suppression", "opted out of call"),
    ],
)
def test_the_gate_refuses_first_and_the_refusal_is_recorded_with_its_reason(
    client: TestClient, engine: Engine, fake: FakeProviders, dana: int, make, rule: str, words: str
) -> None:
    lead_id = make(engine, dana)
    csrf = sign_in(client, engine, dana)

    shown = client.get(click(client, lead_id, csrf).headers["location"])

    assert fake.requests == []
    [call] = bridges(engine)
    assert (call.status, call.call_sid) == ("blocked", None) and f'"{rule}"' in call.decisions
    assert shown.status_code == 200 and "Not dialled" in shown.text
    assert f"{rule}: " in shown.text and words in shown.text
    with engine.connect() as conn:
        assert all(key != call.key for _, _, key in load_facts(conn, [lead_id], since=NOW - timedelta(days=1))[
            lead_id].contacts), "a refused click is no contact"  # fmt: skip


def test_click_to_calls_count_against_the_caps_like_call_tasks(
    client: TestClient, engine: Engine, fake: FakeProviders, dana: int, clock: Clock
) -> None:
    lead_id = lead(engine, dana)  # Florida: 3 calls, texts and voicemails in any 24 hours
    csrf = sign_in(client, engine, dana)
    for n in range(4):
        clock.now = NOW + timedelta(minutes=5 * n)
        click(client, lead_id, csrf, key=f"click-000000{n}")

    assert [b.status for b in bridges(engine)] == ["ringing", "ringing", "ringing", "blocked"]
    assert len(fake.requests) == 3 and "state_cap" in bridges(engine)[3].decisions
    with engine.connect() as conn:
        calls = [c for c in load_facts(conn, [lead_id], since=NOW - timedelta(hours=1))[lead_id].contacts]
    assert [(ch, key) for _, ch, key in calls] == [(Channel.CALL, b.key) for b in bridges(engine)[:3]]


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (Answer.error(500, "internal error", code=20500), "unknown"),
        (Answer.hang_up(3.0), "unknown"),  # slower than the bridge's 1 s timeout
        (Answer.drop(), "unknown"),
        (Answer.error(400, "The 'To' number is not a valid phone number.", code=21211), "failed"),
        (Answer.error(429, "Too many requests", code=20429, retry_after="1"), "failed"),
    ],
)
def test_twilio_trouble_is_told_plainly_and_recorded(
    client: TestClient, engine: Engine, fake: FakeProviders, dana: int, answer: Answer, status: str
) -> None:
    lead_id = lead(engine, dana)
    csrf = sign_in(client, engine, dana)
    fake.answer(answer)

    sent = click(client, lead_id, csrf)
    shown = client.get(sent.headers["location"])

    [call] = bridges(engine)
    assert sent.status_code == 303 and call.status == status and call.call_sid is None
    assert shown.status_code == 200 and "Traceback" not in shown.text
    expected = "may still ring" if status == "unknown" else "the borrower&#39;s phone did not ring"
    assert expected in shown.text


def test_twilio_not_answering_at_all_is_a_failed_call(app_env: Path, engine: Engine, clock: Clock, dana: int) -> None:
    lead_id = lead(engine, dana)
    with bridge_app(clock, twilio_api_base=closed_port_url()) as client:
        csrf = sign_in(client, engine, dana)
        shown = client.get(click(client, lead_id, csrf).headers["location"])
    assert [b.status for b in bridges(engine)] == ["failed"]
    assert "did not go through" in shown.text


def test_only_the_leads_own_officer_or_a_manager_may_call(
    client: TestClient, engine: Engine, fake: FakeProviders, dana: int, clock: Clock
) -> None:
    sam = add_officer(engine, name="Sam Ortiz", email="sam@example.com", phone="+13055550112")
    boss = add_officer(engine, name="Lee Park", email="lee@example.com", phone="+13055550113", role="manager")
    lead_id = lead(engine, dana)

    refused = click(client, lead_id, sign_in(client, engine, sam))
    assert refused.status_code == 404 and "no such lead" in refused.text
    assert click(client, 999_999, sign_in(client, engine, sam)).status_code == 404
    assert bridges(engine) == [] and fake.requests == []

    ok = click(client, lead_id, sign_in(client, engine, boss))
    assert ok.status_code == 303 and [(b.loan_officer_id, b.status) for b in bridges(engine)] == [(boss, "ringing")]
    assert fake.requests[0].form()["To"] == "+13055550113", "the manager's own phone rings"
    assert client.get(ok.headers["location"]).status_code == 200
    sam_csrf = sign_in(client, engine, sam)
    assert client.get(ok.headers["location"]).status_code == 404, "another officer cannot look at the call"

    with engine.begin() as conn:  # a call task of Dana's lead put on Sam's list: Sam may call the lead now
        conn.execute(sa.insert(table(CallTask)).values(
            key="handed", lead_id=lead_id, loan_officer_id=sam, kind="handoff", template="t", status="open",
            due_at=NOW, created_at=NOW))  # fmt: skip
    clock.now = NOW + timedelta(minutes=5)
    assert click(client, lead_id, sam_csrf, key="click-0000009").status_code == 303
    assert fake.requests[-1].form()["To"] == "+13055550112" and bridges(engine)[-1].loan_officer_id == sam


def test_a_post_without_the_csrf_token_or_a_session_changes_nothing(
    client: TestClient, engine: Engine, fake: FakeProviders, dana: int
) -> None:
    lead_id = lead(engine, dana)
    assert client.post(f"/leads/{lead_id}/call", data={"click": "click-0000001"}).status_code == 401
    sign_in(client, engine, dana)
    assert client.post(f"/leads/{lead_id}/call", data={"click": "click-0000001"}).status_code == 403
    assert client.post(f"/leads/{lead_id}/call", data={"csrf": "forged", "click": "x" * 12}).status_code == 403
    assert bridges(engine) == [] and fake.requests == []


def test_a_bad_task_field_or_nothing_to_ring_gets_a_plain_answer(
    app_env: Path, client: TestClient, engine: Engine, fake: FakeProviders, dana: int, clock: Clock
) -> None:
    lead_id = lead(engine, dana)
    csrf = sign_in(client, engine, dana)
    bad = click(client, lead_id, csrf, task="seven")
    assert bad.status_code == 400 and "task: must be the number" in bad.text
    assert click(client, lead_id, csrf, task="424242").status_code == 404, "a task of no lead of this officer's"

    nophone = add_officer(engine, name="Ana Cruz", email="ana@example.com", phone=None)
    other = lead(engine, nophone)
    none = click(client, other, sign_in(client, engine, nophone))
    assert none.status_code == 409 and "Your phone number is not on file" in none.text

    with bridge_app(clock, twilio_account_sid="") as unset:
        off = click(unset, lead_id, sign_in(unset, engine, dana))
    assert off.status_code == 409 and "not set up" in off.text and "phone link" in off.text
    assert bridges(engine) == [] and fake.requests == []


def test_the_call_button_include_posts_a_fresh_click_each_time_it_is_shown_and_keeps_a_tel_link(
    client: TestClient, engine: Engine, fake: FakeProviders, dana: int, clock: Clock
) -> None:
    lead_id = lead(engine, dana)
    csrf = sign_in(client, engine, dana)
    button = _env.get_template("_call_button.html")

    shown = [button.render(lead_id=lead_id, phone=MARIA, csrf=csrf, task_id=None) for _ in range(2)]

    fields = [dict(re.findall(r'name="(\w+)" value="([^"]*)"', html)) for html in shown]
    assert fields[0]["csrf"] == csrf and fields[0]["click"] != fields[1]["click"] and "task" not in fields[0]
    assert f'action="/leads/{lead_id}/call"' in shown[0] and f'href="tel:{MARIA}"' in shown[0]
    assert click(client, lead_id, csrf, key=fields[0]["click"]).status_code == 303
    clock.now = NOW + timedelta(minutes=3)
    assert click(client, lead_id, csrf, key=fields[1]["click"]).status_code == 303
    assert len(fake.requests) == 2
    with_task = button.render(lead_id=lead_id, phone=MARIA, csrf=csrf, task_id=42)
    assert 'name="task" value="42"' in with_task
    nothing = button.render(lead_id=lead_id, phone=None, csrf=csrf)
    assert "<form" not in nothing and "No phone number on file" in nothing

    slot = _env.get_template("lead_call.html")  # what the lead page includes in its call block
    row = SimpleNamespace(id=lead_id, phone=MARIA, phone_ok=True)
    assert f'action="/leads/{lead_id}/call"' in slot.render(lead=row, csrf=csrf)
    wrong = slot.render(lead=SimpleNamespace(id=lead_id, phone=MARIA, phone_ok=False), csrf=csrf)
    assert "<form" not in wrong and "tel:" not in wrong, "a number logged as wrong gets no button"


def test_the_lead_page_carries_the_call_button_and_its_form_places_the_call(
    client: TestClient, engine: Engine, fake: FakeProviders, dana: int
) -> None:
    lead_id = lead(engine, dana)
    csrf = sign_in(client, engine, dana)

    shown = client.get(f"/leads/{lead_id}")

    assert shown.status_code == 200 and f'href="tel:{MARIA}"' in shown.text
    form = re.search(rf'<form method="post" action="/leads/{lead_id}/call".*?</form>', shown.text, re.S)
    assert form is not None
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form.group(0)))
    assert fields["csrf"] == csrf
    placed = client.post(f"/leads/{lead_id}/call", data=fields, follow_redirects=False)
    assert placed.status_code == 303 and [b.status for b in bridges(engine)] == ["ringing"]

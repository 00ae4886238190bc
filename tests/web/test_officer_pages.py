"""The officer's pages through the app (TestClient), on SQLite and PostgreSQL: "My calls" most urgent first with
the borrower's clock and the gate's say on calling now; the lead page; each POST (outcome, facts, note,
checklist) and what it stores; and what an officer may not see or do."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from service.pipeline import Pipeline, tick
from service.settings import get_settings
from storage.models import CadencePosition, CallTask, Lead, LeadEdit, LeadHistory, LeadNote, table
from tests.factories import insert_lead
from tests.web.desk_world import NOW, PROGRAM, Team, add_task, csrf_of, one, sign_in, team
from web.app import create_app

_lead, _task, _edit, _note = table(Lead), table(CallTask), table(LeadEdit), table(LeadNote)
_hist, _pos = table(LeadHistory), table(CadencePosition)


@pytest.fixture
def client(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("DRIPLINE_PUBLIC_BASE_URL", "https://dripline.example.com")
    get_settings.cache_clear()
    with TestClient(create_app(get_settings(), clock=lambda: NOW), base_url="https://testserver") as c:
        yield c


@pytest.fixture
def crew(engine: Engine) -> Team:
    return team(engine)


def count(engine: Engine, t: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    return int(one(engine, sa.select(sa.func.count()).select_from(t).where(*where))[0])


def test_my_calls_are_mine_most_urgent_first_on_the_borrowers_clock(
    client: TestClient, engine: Engine, crew: Team
) -> None:
    urgent = add_task(engine, crew.danas_lead, crew.dana, priority=20, due=NOW + timedelta(minutes=5))
    older = add_task(engine, crew.danas_lead, crew.dana, due=NOW - timedelta(hours=2))
    west = insert_lead(
        engine,
        at=NOW,
        loan_officer_id=crew.dana,
        first_name="Lena",
        phone="+12135550111",
        email="lena@example.com",
        address_state="CA",
        zip="90012",
        timezone="America/Los_Angeles",
    )
    early = add_task(engine, west, crew.dana, due=NOW + timedelta(hours=1))  # fmt: skip
    sign_in(client, engine, crew.dana)

    page = client.get("/calls")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    order = [int(x) for x in re.findall(r'data-task="(\d+)"', page.text)]
    assert order == [urgent, older, crew.danas_task, early]
    assert crew.omars_task not in order and "Ravi" not in page.text
    assert "Their time: Tue 10:00 AM EDT" in page.text and "OK to call now." in page.text
    assert "Their time: Tue 7:00 AM PDT" in page.text and "Wait until Tue 8:00 AM PDT (quiet_hours" in page.text
    # one tap to call where a call is allowed now; none for Lena, whose morning has not begun
    cards = {int(t): card for t, card in re.findall(r'data-task="(\d+)">(.*?)</li>', page.text, flags=re.S)}
    assert 'action="/leads/' in cards[urgent] and 'href="tel:+' in cards[urgent]
    assert f'name="task" value="{urgent}"' in cards[urgent]
    assert "tel:" not in cards[early] and '/call"' not in cards[early]


def test_a_manager_sees_the_whole_team_and_any_lead(client: TestClient, engine: Engine, crew: Team) -> None:
    sign_in(client, engine, crew.mia)
    mine = client.get("/calls")
    assert mine.status_code == 200 and "data-task" not in mine.text, "Mia has no calls of her own"
    everyone = client.get("/calls?team=1").text
    assert f'data-task="{crew.danas_task}"' in everyone and f'data-task="{crew.omars_task}"' in everyone
    assert "Officer: Omar Haddad" in everyone
    assert client.get(f"/leads/{crew.omars_lead}").status_code == 200


def test_an_officer_asking_for_the_team_gets_their_own(client: TestClient, engine: Engine, crew: Team) -> None:
    sign_in(client, engine, crew.dana)
    page = client.get("/calls?team=1").text
    assert f'data-task="{crew.danas_task}"' in page and f'data-task="{crew.omars_task}"' not in page


def test_the_lead_page_shows_facts_programs_script_consent_and_timeline(
    client: TestClient, engine: Engine, crew: Team
) -> None:
    sign_in(client, engine, crew.dana)
    page = client.get(f"/leads/{crew.danas_lead}")
    assert page.status_code == 200
    text = page.text
    assert "Maria Lopez" in text and "Bank statement" in text
    assert "No program takes this lead today." in text and PROGRAM not in text
    assert "min" in text.lower() and "FICO" in text  # what blocks the program
    assert "DISCOVERY" in text and "IF YOU HEAR" in text, "the call script with its objection answers"
    assert "Written consent for +13055550147" in text and "not listed" in text
    assert 'value="590"' in text and f'action="/tasks/{crew.danas_task}/outcome"' in text
    assert 'include "lead_call.html"' not in text


def test_other_officers_leads_and_tasks_answer_404_to_reads_and_posts(
    client: TestClient, engine: Engine, crew: Team
) -> None:
    csrf = sign_in(client, engine, crew.dana)
    assert client.get(f"/leads/{crew.omars_lead}").status_code == 404
    assert client.get("/leads/999999").status_code == 404
    posts = {
        f"/tasks/{crew.omars_task}/outcome": {"outcome": "educated"},
        f"/leads/{crew.omars_lead}/facts": {"fico": "700"},
        f"/leads/{crew.omars_lead}/notes": {"body": "peeking"},
        f"/leads/{crew.omars_lead}/checklist": {},
        "/tasks/999999/outcome": {"outcome": "reached"},
    }
    for path, data in posts.items():
        answer = client.post(path, data=data | {"csrf": csrf}, follow_redirects=False)
        assert answer.status_code == 404, path
        assert "There is no such lead or call on your list." in answer.text
    assert one(engine, sa.select(_task.c.status).where(_task.c.id == crew.omars_task))[0] == "open"
    assert one(engine, sa.select(_lead.c.fico).where(_lead.c.id == crew.omars_lead))[0] is None
    assert count(engine, _note) == count(engine, _edit) == count(engine, _hist) == 0


def test_every_post_without_the_csrf_token_is_refused_with_403(client: TestClient, engine: Engine, crew: Team) -> None:
    sign_in(client, engine, crew.dana)
    for path in (f"/tasks/{crew.danas_task}/outcome", f"/leads/{crew.danas_lead}/facts",
                 f"/leads/{crew.danas_lead}/notes", f"/leads/{crew.danas_lead}/checklist"):  # fmt: skip
        assert client.post(path, data={"outcome": "educated", "fico": "700", "body": "x"}).status_code == 403, path
        assert client.post(path, data={"csrf": "forged", "fico": "700"}).status_code == 403, path
    assert one(engine, sa.select(_task.c.status).where(_task.c.id == crew.danas_task))[0] == "open"
    assert count(engine, _note) == count(engine, _edit) == count(engine, _hist) == 0


def test_a_reused_or_expired_link_signs_nobody_in(client: TestClient, engine: Engine, crew: Team) -> None:
    from storage.signin import create_sign_in_link

    with engine.begin() as conn:
        used = create_sign_in_link(conn, officer_id=crew.dana, now=NOW)
        stale = create_sign_in_link(conn, officer_id=crew.dana, now=NOW - timedelta(hours=13))
    assert client.post(f"/signin/{used}", follow_redirects=False).status_code == 303
    fresh = TestClient(client.app, base_url="https://testserver")
    for token in (used, stale):
        assert fresh.post(f"/signin/{token}", follow_redirects=False).status_code == 403
    assert fresh.get("/calls").status_code == 401


def test_an_outcome_logs_the_call_as_tasks_complete_does(client: TestClient, engine: Engine, crew: Team) -> None:
    csrf = sign_in(client, engine, crew.dana)
    long = client.post(
        f"/tasks/{crew.danas_task}/outcome", data={"csrf": csrf, "outcome": "educated", "note": "x" * 1001}
    )
    assert long.status_code == 400 and "Note: is longer than 1,000 characters" in long.text
    assert one(engine, sa.select(_task.c.status).where(_task.c.id == crew.danas_task))[0] == "open"
    answer = client.post(f"/tasks/{crew.danas_task}/outcome", data={"csrf": csrf, "outcome": "educated",
                                                                    "note": "walked through deposits"},
                         follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == f"/leads/{crew.danas_lead}?done=logged"
    task = one(engine, sa.select(_task).where(_task.c.id == crew.danas_task))
    assert (task.status, task.outcome, task.note, task.completed_at) == ("done", "educated", "walked through deposits",
                                                                         NOW)  # fmt: skip
    history = one(engine, sa.select(_hist).where(_hist.c.lead_id == crew.danas_lead))
    assert (history.event, history.stage_to, history.reason) == ("educated", "educated", "call outcome: educated")
    assert history.actor == f"Dana Whitfield (officer {crew.dana})"
    again = client.post(f"/tasks/{crew.danas_task}/outcome", data={"csrf": csrf, "outcome": "reached"})
    assert again.status_code == 409 and "already done" in again.text
    bad = client.post(f"/tasks/{crew.danas_task}/outcome", data={"csrf": csrf, "outcome": "maybe"})
    assert bad.status_code == 400 and "Outcome: &#39;maybe&#39; is not one of the buttons" in bad.text
    from_list = add_task(engine, crew.danas_lead, crew.dana, priority=5)
    listed = client.get("/calls").text
    assert f'action="/tasks/{from_list}/outcome"' in listed and 'name="back" value="calls"' in listed
    back = client.post(f"/tasks/{from_list}/outcome", data={"csrf": csrf, "outcome": "no_answer", "back": "calls"},
                       follow_redirects=False)  # fmt: skip
    assert back.headers["location"] == "/calls?done=logged"
    assert one(engine, sa.select(_task.c.outcome).where(_task.c.id == from_list))[0] == "no_answer"
    assert "Call logged." in client.get(back.headers["location"]).text


def test_a_fico_edit_is_logged_and_the_program_appears_at_once(client: TestClient, engine: Engine, crew: Team) -> None:
    csrf = sign_in(client, engine, crew.dana)
    assert PROGRAM not in client.get(f"/leads/{crew.danas_lead}").text
    form = {"csrf": csrf, "fico": "640", "product": "bank_statement", "monthly_rent": ""}
    saved = client.post(f"/leads/{crew.danas_lead}/facts", data=form, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"].endswith("?done=saved")
    edit = one(engine, sa.select(_edit))
    assert (edit.field, edit.old_value, edit.new_value, edit.at) == ("fico", "590", "640", NOW)
    assert edit.actor == f"Dana Whitfield (officer {crew.dana})"
    page = client.get(saved.headers["location"]).text
    assert PROGRAM in page and "Facts saved" in page and "fico 590 → 640" in page
    unchanged = client.post(f"/leads/{crew.danas_lead}/facts", data={"csrf": csrf, "fico": "640"},
                            follow_redirects=False)  # fmt: skip
    assert unchanged.headers["location"].endswith("?done=unchanged") and count(engine, _edit) == 1


@pytest.mark.parametrize(
    ("form", "line"),
    [
        ({"fico": "9000"}, "FICO: 9000 is outside 300-850"),
        ({"fico": "abc"}, "FICO: &#39;abc&#39; is not a whole number"),
        ({"product": ""}, "Product: choose the product"),
        ({"credit_event_date": "2027-01-01"}, "Credit event date: 2027-01-01 is in the future"),
        ({"monthly_deposits": "20000"}, "Monthly deposits: count only with their statement type and statement months"),
        ({"statement_type": "personal", "statement_months": "12", "expense_ratio": "35"}, "Expense ratio (%): applies"),
        ({"property_value": "lots"}, "Property value: &#39;lots&#39; is not an amount of money"),
    ],
)
def test_a_bad_value_shows_one_line_naming_the_field_and_stores_nothing(
    client: TestClient, engine: Engine, crew: Team, form: dict[str, str], line: str
) -> None:
    csrf = sign_in(client, engine, crew.dana)
    answer = client.post(f"/leads/{crew.danas_lead}/facts", data=form | {"csrf": csrf, "loan_amount": "1"})
    assert answer.status_code == 400 and line in answer.text
    assert answer.text.count('class="error"') == 1
    assert count(engine, _edit) == 0
    assert one(engine, sa.select(_lead.c.fico, _lead.c.loan_amount).where(_lead.c.id == crew.danas_lead)) == (
        590, 300_000)  # fmt: skip


def test_a_note_is_stored_with_who_and_when(client: TestClient, engine: Engine, crew: Team) -> None:
    csrf = sign_in(client, engine, crew.dana)
    added = client.post(f"/leads/{crew.danas_lead}/notes", data={"csrf": csrf, "body": "Call back after 5."},
                        follow_redirects=False)  # fmt: skip
    assert added.status_code == 303
    note = one(engine, sa.select(_note))
    assert (note.lead_id, note.loan_officer_id, note.body, note.at) == (crew.danas_lead, crew.dana,
                                                                         "Call back after 5.", NOW)  # fmt: skip
    assert "Call back after 5." in client.get(f"/leads/{crew.danas_lead}").text
    empty = client.post(f"/leads/{crew.danas_lead}/notes", data={"csrf": csrf, "body": "  "})
    assert empty.status_code == 400 and "Note: write something first" in empty.text and count(engine, _note) == 1


def test_send_the_checklist_starts_the_documents_sequence(client: TestClient, engine: Engine, crew: Team) -> None:
    p = Pipeline.open(get_settings(), now=NOW)
    tick(p, now=NOW - timedelta(minutes=1))  # the lead is enrolled in the contact cadence
    csrf = sign_in(client, engine, crew.dana)
    sent = client.post(f"/leads/{crew.danas_lead}/checklist", data={"csrf": csrf}, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"].endswith("?done=checklist")
    assert one(engine, sa.select(_lead.c.stage).where(_lead.c.id == crew.danas_lead))[0] == "docs_requested"
    tick(p, now=NOW + timedelta(minutes=1))
    pos = one(engine, sa.select(_pos.c.cadence_name).where(_pos.c.lead_id == crew.danas_lead))
    assert pos.cadence_name == "documents"
    p.engine.dispose()
    csrf = csrf_of(client.get(f"/leads/{crew.danas_lead}").text)
    with engine.begin() as conn:
        conn.execute(_lead.update().where(_lead.c.id == crew.danas_lead).values(stage="closed_funded"))
    refused = client.post(f"/leads/{crew.danas_lead}/checklist", data={"csrf": csrf})
    assert refused.status_code == 409 and "Checklist:" in refused.text


CALL_TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "calls"


@pytest.mark.parametrize("template", sorted(p.name.split(".")[0] for p in CALL_TEMPLATES.glob("[!_]*.j2")))
def test_the_lead_page_shows_the_script_of_any_call_template(
    client: TestClient, engine: Engine, crew: Team, template: str
) -> None:
    add_task(engine, crew.danas_lead, crew.dana, priority=90, template=template)
    sign_in(client, engine, crew.dana)
    page = client.get(f"/leads/{crew.danas_lead}")
    assert page.status_code == 200 and "DISCOVERY" in page.text

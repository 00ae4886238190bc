"""Twilio's requests about a click-to-call: the TwiML when the officer answers, the borrower's leg's result, the
officer's leg's end; signed by the SDK for the URLs Twilio was given, refused unsigned. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from bench.fake_providers import Answer, FakeProviders
from storage.compliance import load_facts
from storage.models import Suppression, table
from tests.factories import insert_lead
from tests.web.bridge_support import (
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
    twilio_post,
)
from tests.web.twilio_support import BASE, signature, snapshot


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviders]:
    with loopback_twilio(monkeypatch) as f:
        yield f


@pytest.fixture
def client(app_env: Path, engine: Engine, fake: FakeProviders) -> Iterator[TestClient]:
    with bridge_app(Clock(), twilio_api_base=fake.url) as c:
        yield c


@pytest.fixture
def placed(client: TestClient, engine: Engine, fake: FakeProviders) -> dict[str, str]:
    """A click whose call Twilio took: its URLs as Twilio was given them, its sid and its page."""
    dana = add_officer(engine, name="Dana Reyes", email="dana@example.com", phone=DANA_PHONE)
    lead_id = insert_lead(engine, at=NOW, loan_officer_id=dana)
    page = click(client, lead_id, sign_in(client, engine, dana)).headers["location"]
    form = fake.requests[-1].form()
    return {"answer": form["Url"], "status": form["StatusCallback"], "sid": fake.kept[-1].provider_id, "page": page,
            "lead": str(lead_id)}  # fmt: skip


def answer(client: TestClient, placed: dict[str, str]) -> ElementTree.Element:
    got = twilio_post(client, placed["answer"], {"CallSid": placed["sid"], "CallStatus": "in-progress",
                                                 "To": DANA_PHONE, "From": CALLER_ID})  # fmt: skip
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/xml")
    return ElementTree.fromstring(got.text)


def dialed(client: TestClient, url: str, sid: str, status: str) -> ElementTree.Element:
    fields = {"CallSid": sid, "DialCallStatus": status, "DialCallSid": "CA" + "9" * 32, "DialCallDuration": "0"}
    got = twilio_post(client, url, fields)
    assert got.status_code == 200
    return ElementTree.fromstring(got.text)


def leg_ended(client: TestClient, placed: dict[str, str], status: str) -> None:
    assert twilio_post(client, placed["status"], {"CallSid": placed["sid"], "CallStatus": status}).status_code == 200


def counted(engine: Engine, lead_id: int) -> int:
    with engine.connect() as conn:
        return len(load_facts(conn, [lead_id], since=NOW - timedelta(hours=1))[lead_id].contacts)


def test_the_officer_answers_hears_one_line_and_the_borrower_is_dialled_from_the_company_number(
    client: TestClient, engine: Engine, placed: dict[str, str]
) -> None:
    twiml = answer(client, placed)

    say, dial = list(twiml)
    assert (say.tag, say.text) == ("Say", "Connecting you to Maria.")
    assert dial.tag == "Dial" and dial.attrib["callerId"] == CALLER_ID and dial.attrib["timeout"] == "25"
    assert dial.attrib["action"] == placed["answer"].replace("/answer?", "/dialed?")
    assert [(n.tag, n.text) for n in dial] == [("Number", MARIA)]
    assert bridges(engine)[0].status == "connected"

    hangup = dialed(client, dial.attrib["action"], placed["sid"], "completed")
    leg_ended(client, placed, "completed")
    [call] = bridges(engine)
    assert (call.status, call.outcome) == ("completed", None) and [e.tag for e in hangup] == ["Hangup"]
    assert counted(engine, int(placed["lead"])) == 1
    assert "The call is over" in client.get(placed["page"]).text


@pytest.mark.parametrize(("dial_status", "status", "said"), [
    ("no-answer", "no-answer", "There was no answer. Goodbye."),
    ("busy", "busy", "The line was busy. Goodbye."),
    ("canceled", "no-answer", "There was no answer. Goodbye."),
    ("failed", "failed", "The call could not be connected. Goodbye."),
])  # fmt: skip
def test_the_borrowers_leg_is_recorded_once_whatever_comes_after(
    client: TestClient, engine: Engine, placed: dict[str, str], dial_status: str, status: str, said: str
) -> None:
    action = answer(client, placed)[1].attrib["action"]
    twiml = dialed(client, action, placed["sid"], dial_status)
    dialed(client, action, placed["sid"], "completed")  # a late or stray report changes nothing now
    leg_ended(client, placed, "completed")

    [call] = bridges(engine)
    assert call.status == status
    assert call.outcome == ("no_answer" if status in ("no-answer", "busy") else None)
    assert [(e.tag, e.text) for e in twiml] == [("Say", said), ("Hangup", None)]
    assert counted(engine, int(placed["lead"])) == (0 if status == "failed" else 1), "failed never rang the borrower"


def test_an_officer_who_does_not_answer_missed_it_and_it_is_no_call_to_the_borrower(
    client: TestClient, engine: Engine, placed: dict[str, str]
) -> None:
    assert counted(engine, int(placed["lead"])) == 1, "a call under way counts"
    leg_ended(client, placed, "ringing")
    assert bridges(engine)[0].status == "ringing", "not a final status"
    leg_ended(client, placed, "no-answer")

    assert bridges(engine)[0].status == "missed" and counted(engine, int(placed["lead"])) == 0
    assert "Your phone was not answered" in client.get(placed["page"]).text
    twiml = answer(client, placed)  # a stray late fetch dials nobody
    assert [e.tag for e in twiml] == ["Say", "Hangup"] and bridges(engine)[0].status == "missed"


def test_a_call_twilio_left_unknown_is_settled_when_it_rings_after_all(
    client: TestClient, engine: Engine, fake: FakeProviders
) -> None:
    dana = add_officer(engine, name="Dana Reyes", email="dana@example.com", phone=DANA_PHONE)
    lead_id = insert_lead(engine, at=NOW, loan_officer_id=dana)
    fake.answer(Answer.error(502, "bad gateway", keep=True))
    click(client, lead_id, sign_in(client, engine, dana))
    assert [(b.status, b.call_sid) for b in bridges(engine)] == [("unknown", None)]

    form = fake.requests[-1].form()
    sid = fake.kept[-1].provider_id
    twiml = answer(client, {"answer": form["Url"], "sid": sid})
    assert [e.tag for e in twiml] == ["Say", "Dial"]
    assert [(b.status, b.call_sid) for b in bridges(engine)] == [("connected", sid)]


def test_a_borrower_who_opts_out_while_the_officers_phone_rings_is_not_dialled(
    client: TestClient, engine: Engine, placed: dict[str, str]
) -> None:
    with engine.begin() as conn:
        conn.execute(sa.insert(table(Suppression)).values(
            lead_id=int(placed["lead"]), address=MARIA, channel="call", action="opt_out", reason="STOP",
            source="twilio", at=NOW, created_at=NOW))  # fmt: skip

    twiml = answer(client, placed)

    assert [e.tag for e in twiml] == ["Say", "Hangup"] and "asked not to be called" in (twiml[0].text or "")
    assert bridges(engine)[0].status == "blocked"


def test_unsigned_forged_or_keyless_requests_are_refused_and_change_nothing(
    client: TestClient, engine: Engine, placed: dict[str, str]
) -> None:
    before = snapshot(engine)
    fields = {"CallSid": placed["sid"], "CallStatus": "in-progress"}
    assert twilio_post(client, placed["answer"], fields, sign=False).status_code == 403
    forged = client.post(placed["answer"].removeprefix(BASE), data=fields, headers={"X-Twilio-Signature": "AAAA"})
    assert forged.status_code == 403
    ended = {"CallSid": placed["sid"], "CallStatus": "no-answer"}
    moved = placed["status"].replace("bridge=click", "bridge=clack")  # signed for another call's URL
    headers = {"X-Twilio-Signature": signature(placed["status"], ended)}
    assert client.post(moved.removeprefix(BASE), data=ended, headers=headers).status_code == 403
    assert snapshot(engine) == before
    assert twilio_post(client, f"{BASE}/twilio/bridge/dialed?other=1", {"DialCallStatus": "busy"}).status_code == 400
    assert snapshot(engine) == before

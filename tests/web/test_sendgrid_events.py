"""POST /sendgrid/events: requests signed the way SendGrid signs them (ECDSA P-256 over timestamp + raw body, a real
key pair), checked by the SDK's EventWebhook helper; every bad request 403 with no row changed; a batch delivered
twice has one effect; each event's effect checked in the database. SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.engine import Engine

from service.dispatch import dispatch
from service.pipeline import Pipeline, tick
from service.settings import Settings
from storage.models import EmailEvent, table
from tests.factories import insert_lead
from tests.web.sendgrid_world import (
    NOW,
    client_for,
    email_opted_out,
    insert_touch,
    row_counts,
    settings_with,
    touch_row,
)

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def public_key_setting(key: ec.EllipticCurvePrivateKey) -> str:
    """The verification key as SendGrid shows it: base64 of the DER SubjectPublicKeyInfo."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def signed(body: bytes, *, at: int, key: ec.EllipticCurvePrivateKey = KEY) -> dict[str, str]:
    signature = key.sign(str(at).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {SIGNATURE: base64.b64encode(signature).decode(), TIMESTAMP: str(at), "Content-Type": "application/json"}


def stamp(offset_seconds: int = 0) -> int:
    return int(NOW.timestamp()) + offset_seconds


@pytest.fixture
def settings(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return settings_with(monkeypatch, sendgrid_webhook_public_key=public_key_setting(KEY))


def event(kind: str, email: str, n: int, **extra: Any) -> dict[str, Any]:
    return {"email": email, "timestamp": stamp(-60), "event": kind, "sg_event_id": f"ev-{kind}-{n}",
            "sg_message_id": f"msg{n}.filter0001.1.2.3"} | extra  # fmt: skip


def test_each_event_acts_once_and_unknown_types_are_counted(settings: Settings, engine: Engine) -> None:
    leads = {
        kind: insert_lead(engine, email=f"{kind}@borrower.test", phone=f"+1305555{n:04d}")
        for n, kind in enumerate(("bounce", "dropped", "spamreport", "unsubscribe", "group_unsubscribe", "blocked"))
    }
    insert_touch(engine, lead_id=leads["bounce"], key="t-delivered", status="unknown")
    insert_touch(engine, lead_id=leads["bounce"], key="t-bounced", status="unknown")
    insert_touch(engine, lead_id=leads["bounce"], key="t-deferred", status="unknown")
    insert_touch(engine, lead_id=leads["bounce"], key="t-sent", status="sent")
    batch = [
        event("bounce", "bounce@borrower.test", 1, touch_key="t-bounced", type="bounce"),
        event("dropped", "Dropped@Borrower.test", 2, reason="Bounced Address"),
        event("spamreport", "spamreport@borrower.test", 3),
        event("unsubscribe", "unsubscribe@borrower.test", 4),
        event("group_unsubscribe", "group_unsubscribe@borrower.test", 5, asm_group_id=1),
        event("bounce", "blocked@borrower.test", 6, type="blocked"),
        event("delivered", "bounce@borrower.test", 7, touch_key="t-delivered"),
        event("deferred", "bounce@borrower.test", 8, touch_key="t-deferred"),
        event("processed", "bounce@borrower.test", 9, touch_key="t-sent"),
        event("processed", "nobody@borrower.test", 10, touch_key="no-such-touch"),
        event("machine_opened", "bounce@borrower.test", 11),
        "not an event",
    ]
    body = json.dumps(batch).encode()
    with client_for(settings) as client:
        answer = client.post("/sendgrid/events", content=body, headers=signed(body, at=stamp(-5)))

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": 12, "suppressed": 5, "already_stopped": 0, "settled": 3, "duplicates": 0,
                             "ignored": 2, "invalid": 1}  # fmt: skip
    for kind, source in (("bounce", "bounce"), ("dropped", "email_dropped"), ("spamreport", "spam_report"),
                         ("unsubscribe", "email_unsubscribe"), ("group_unsubscribe", "email_unsubscribe")):  # fmt: skip
        assert email_opted_out(engine, address=f"{kind}@borrower.test") == [source], kind
        assert email_opted_out(engine, lead_id=leads[kind]) == [source], kind
    assert email_opted_out(engine, address="blocked@borrower.test") == [], "blocked: nothing said of the address"
    delivered, bounced, deferred = (touch_row(engine, k) for k in ("t-delivered", "t-bounced", "t-deferred"))
    assert (delivered.status, delivered.provider_id) == ("sent", "msg7")
    assert (bounced.status, bounced.provider_id) == ("failed", "msg1")
    assert deferred.status == "sent", "deferred: SendGrid has it and keeps trying"
    assert touch_row(engine, "t-sent").status == "sent"
    with engine.connect() as conn:
        stored = conn.execute(sa.select(table(EmailEvent).c.provider_id, table(EmailEvent).c.event)).all()
    assert sorted(stored) == [
        ("ev-bounce-1", "bounce"),
        ("ev-dropped-2", "dropped"),
        ("ev-group_unsubscribe-5", "unsubscribe"),
        ("ev-spamreport-3", "spam_report"),
        ("ev-unsubscribe-4", "unsubscribe"),
    ]


def test_a_batch_delivered_twice_has_one_effect(settings: Settings, engine: Engine) -> None:
    lead = insert_lead(engine, email="sam@borrower.test")
    insert_touch(engine, lead_id=lead, key="t-1", status="unknown")
    batch = [event("delivered", "sam@borrower.test", 1, touch_key="t-1"), event("bounce", "sam@borrower.test", 2),
             event("bounce", "sam@borrower.test", 2)]  # fmt: skip
    body = json.dumps(batch).encode()
    with client_for(settings) as client:
        first = client.post("/sendgrid/events", content=body, headers=signed(body, at=stamp(-30)))
        after_first = row_counts(engine)
        retry = client.post("/sendgrid/events", content=body, headers=signed(body, at=stamp(-1)))  # SendGrid's retry

    assert first.status_code == retry.status_code == 200
    assert (first.json()["suppressed"], first.json()["settled"], first.json()["duplicates"]) == (1, 1, 1)
    assert (retry.json()["suppressed"], retry.json()["settled"], retry.json()["duplicates"]) == (0, 0, 2)
    assert row_counts(engine) == after_first
    assert after_first["email_event"] == 1 and email_opted_out(engine, address="sam@borrower.test") == ["bounce"]


def _forged(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed(body, at=stamp(), key=OTHER_KEY)


def _tampered(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body.replace(b"sam@", b"ann@"), signed(body, at=stamp())


def _unsigned(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, {"Content-Type": "application/json"}


def _stale(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed(body, at=stamp(-301))


def _from_the_future(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed(body, at=stamp(+301))


def _other_timestamp(body: bytes) -> tuple[bytes, dict[str, str]]:
    headers = signed(body, at=stamp(-200))
    return body, headers | {TIMESTAMP: str(stamp())}


def _garbage_signature(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, signed(body, at=stamp()) | {SIGNATURE: "not base64 at all!"}


@pytest.mark.parametrize(
    "bad", [_forged, _tampered, _unsigned, _stale, _from_the_future, _other_timestamp, _garbage_signature]
)
def test_a_bad_signature_is_refused_and_changes_nothing(settings: Settings, engine: Engine, bad: Any) -> None:
    lead = insert_lead(engine, email="sam@borrower.test")
    insert_touch(engine, lead_id=lead, key="t-1", status="unknown")
    body, headers = bad(json.dumps([event("delivered", "sam@borrower.test", 1, touch_key="t-1"),
                                    event("unsubscribe", "sam@borrower.test", 2)]).encode())  # fmt: skip
    before = row_counts(engine)
    with client_for(settings) as client:
        answer = client.post("/sendgrid/events", content=body, headers=headers)
    assert answer.status_code == 403 and answer.json() == {"error": "signature refused"}
    assert row_counts(engine) == before
    assert touch_row(engine, "t-1").status == "unknown" and email_opted_out(engine, lead_id=lead) == []


def test_a_replayed_request_is_refused(settings: Settings, engine: Engine) -> None:
    insert_lead(engine, email="sam@borrower.test")
    body = json.dumps([event("spamreport", "sam@borrower.test", 1)]).encode()
    headers = signed(body, at=stamp(-10))
    with client_for(settings) as client:
        first = client.post("/sendgrid/events", content=body, headers=headers)
        after_first = row_counts(engine)
        replay = client.post("/sendgrid/events", content=body, headers=headers)
    assert first.status_code == 200 and first.json()["suppressed"] == 1
    assert replay.status_code == 403 and row_counts(engine) == after_first


def test_without_a_verification_key_every_event_is_refused(
    app_env: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine
) -> None:
    insert_lead(engine, email="sam@borrower.test")
    body = json.dumps([event("unsubscribe", "sam@borrower.test", 1)]).encode()
    before = row_counts(engine)
    for key in ("", "not a key"):
        with client_for(settings_with(monkeypatch, sendgrid_webhook_public_key=key)) as client:
            assert client.post("/sendgrid/events", content=body, headers=signed(body, at=stamp())).status_code == 403
    assert row_counts(engine) == before


def test_a_signed_body_that_is_not_a_list_is_a_bad_request(settings: Settings, engine: Engine) -> None:
    before = row_counts(engine)
    with client_for(settings) as client:
        for body in (b'{"event": "bounce"}', b"nonsense"):
            assert client.post("/sendgrid/events", content=body, headers=signed(body, at=stamp())).status_code == 400
    assert row_counts(engine) == before


def test_the_stale_limit_is_a_setting(app_env: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine) -> None:
    insert_lead(engine, email="sam@borrower.test")
    settings = settings_with(monkeypatch, sendgrid_webhook_public_key=public_key_setting(KEY),
                             sendgrid_webhook_max_age_seconds="900")  # fmt: skip
    body = json.dumps([event("unsubscribe", "sam@borrower.test", 1)]).encode()
    with client_for(settings, now=NOW + timedelta(minutes=10)) as client:
        answer = client.post("/sendgrid/events", content=body, headers=signed(body, at=stamp()))
    assert answer.status_code == 200 and email_opted_out(engine, address="sam@borrower.test") == ["email_unsubscribe"]


@pytest.mark.parametrize("kind", ["bounce", "spamreport", "unsubscribe", "group_unsubscribe", "dropped", "delivered"])
def test_no_email_goes_after_the_event(settings: Settings, engine: Engine, app_env: Path, kind: str) -> None:
    insert_lead(engine, email="sam@borrower.test")
    p = Pipeline.open(settings, now=NOW)
    due = NOW + timedelta(days=1, hours=2)
    tick(p, now=NOW)
    tick(p, now=due)
    assert row_counts(engine)["touch statuses"].get("planned", 0) >= 1
    body = json.dumps([event(kind, "sam@borrower.test", 1)]).encode()
    with client_for(settings, now=due) as client:
        at = int(due.timestamp())
        assert client.post("/sendgrid/events", content=body, headers=signed(body, at=at)).status_code == 200
    dispatch(p, now=due)
    dispatch(p, now=due + timedelta(days=30))
    emails = list((app_env / "email").glob("*.txt")) if (app_env / "email").exists() else []
    if kind == "delivered":  # the control: without a stopping event the email goes
        assert emails
    else:
        assert emails == [], "nothing reached the outbox for the address"


def test_the_same_batch_posted_at_once_by_many_has_one_effect(settings: Settings, engine: Engine) -> None:
    """SendGrid's retry can overlap the first delivery still in progress: the events act once all the same."""
    insert_lead(engine, email="sam@borrower.test")
    insert_lead(engine, email="ann@borrower.test", phone="+13055550148")
    body = json.dumps([event("bounce", "sam@borrower.test", 1), event("spamreport", "ann@borrower.test", 2)]).encode()
    with client_for(settings) as client:
        client.get("/healthz")
        with ThreadPoolExecutor(max_workers=6) as pool:
            answers = list(pool.map(lambda n: client.post("/sendgrid/events", content=body,
                                                          headers=signed(body, at=stamp(-n))), range(6)))  # fmt: skip
    assert [a.status_code for a in answers] == [200] * 6
    assert sum(a.json()["suppressed"] for a in answers) == 2
    assert sum(a.json()["duplicates"] for a in answers) == 10
    counts = row_counts(engine)
    assert (counts["email_event"], counts["suppression"]) == (2, 2)

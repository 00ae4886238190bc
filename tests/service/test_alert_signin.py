"""End to end: a borrower's signed reply through the Twilio webhook becomes a reply task, ``run_alerts`` puts
the officer's alert in the local outbox, and its sign-in link opens a session, once."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from channels.local import safe_name
from service.alerts import run_alerts
from service.pipeline import Pipeline
from service.settings import get_settings
from storage.signin import LinkRefused, use_sign_in_link
from tests.factories import NOW, insert_lead
from tests.service.alert_support import add_officer, alerts
from tests.web.twilio_support import BASE, OURS, count, post, twilio_client

MARIA = "+13055550147"


def test_a_reply_through_the_webhook_reaches_the_officer_with_a_link_that_signs_them_in_once(
    app_env: Path, engine: Engine
) -> None:
    officer = add_officer(engine, phone="+13055550999", alert_email=False)
    lead = insert_lead(engine, phone=MARIA, loan_officer_id=officer, last_name="Lopez")
    params = {
        "MessageSid": "SM" + "e" * 32,
        "AccountSid": "AC" + "0" * 32,
        "From": MARIA,
        "To": OURS,
        "Body": "Yes, is the bank statement loan still open?",
        "NumMedia": "0",
    }
    with twilio_client() as client:
        assert post(client, "/twilio/sms", params).status_code == 200
    assert count(engine, "call_task", lead_id=lead, kind="reply", status="open") == 1

    settings = get_settings().model_copy(update={"public_base_url": BASE})
    at = NOW + timedelta(minutes=1)
    stats = run_alerts(Pipeline.open(settings, now=at), now=at)

    assert stats.sent == 1
    [alert] = alerts(engine, status="sent")
    text = (app_env / "sms" / f"{safe_name(alert.key)}.txt").read_text()
    assert "To: +13055550999" in text and "Maria" in text and "Lopez" not in text
    token = re.search(re.escape(BASE) + r"/signin/([A-Za-z0-9_-]{20,})", text)[1]
    assert token not in alert.body_text and BASE + "/signin/…" in alert.body_text, "no usable token is stored"
    with twilio_client(at=at) as client:
        shown = client.get(f"/signin/{token}")  # the officer's phone opens the link: a button, nothing spent
        assert shown.status_code == 200 and f'action="/signin/{token}"' in shown.text
        session = use_sign_in_link(engine, token, now=at + timedelta(minutes=2))
        assert (session.officer_id, session.next_path) == (officer, "/calls")
        with pytest.raises(LinkRefused):
            use_sign_in_link(engine, token, now=at + timedelta(minutes=3))
        assert client.post(f"/signin/{token}", follow_redirects=False).status_code == 403, "spent: once only"

"""The officer's day in a real browser (Debian's Chromium, a 390x844 phone screen) against the app served by
uvicorn, on SQLite and PostgreSQL: a re-engaged borrower replies through the Twilio webhook, the officer signs in by
the alert's link, finds the reply first on "My calls", reads the script and the reason on the lead page, taps
"Educated", and raises the FICO from 590 to 640, after which a second lender's program appears. Each page is
saved as a screenshot under test-output/screenshots/ (not committed)."""

from __future__ import annotations

import importlib
import importlib.util
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from service.pipeline import Pipeline, tick
from service.rescore import rescore
from service.settings import get_settings
from storage.models import CadencePosition, CallTask, Lead, Touch, table
from storage.signin import create_sign_in_link
from tests.factories import insert_nurture_lead
from tests.web.browser.conftest import PHONE, SCREENSHOTS, free_port, served
from tests.web.desk_world import NOW, PROGRAM, SHORT_OF_IT, add_officer, load_program, one
from tests.web.twilio_support import OURS, TOKEN, signature
from web.app import create_app

pytestmark = pytest.mark.browser

AT = NOW + timedelta(hours=1)  # the borrower replies: 11:00 in Miami
REPLY = "Yes, is that program still open to me? Call me after lunch."
_lead, _task, _touch, _pos = table(Lead), table(CallTask), table(Touch), table(CadencePosition)


def reengaged_lead(engine: Engine, p: Pipeline, officer_id: int) -> tuple[int, str]:
    """A 590-FICO borrower resting in nurture whom Beacon's lowered minimum (600 -> 580) re-engages; Harbor wants
    620. Returns the lead and its phone."""
    load_program(engine, min_fico=620, at=NOW - timedelta(days=9))
    load_program(engine, lender="Beacon Lending", min_fico=600, at=NOW - timedelta(days=9))
    lead_id = insert_nurture_lead(engine, now=NOW, n=1, loan_officer_id=officer_id, **SHORT_OF_IT)
    lowered = load_program(engine, lender="Beacon Lending", min_fico=580, at=NOW)
    assert rescore(p, lowered, now=NOW - timedelta(hours=2)).reengaged == 1
    tick(p, now=NOW)  # its first call falls due at 10:00 on the borrower's clock,
    tick(p, now=AT)  # the text and the email an hour later
    return lead_id, one(engine, sa.select(_lead.c.phone).where(_lead.c.id == lead_id))[0]


def sign_in_link(p: Pipeline, engine: Engine, officer_id: int, base: str, outbox: Path) -> tuple[str, str]:
    """The officer's sign-in link and where it came from: the alert ``run_alerts`` put in the local outbox when the
    alerts are built (``service.alerts``), else a link made directly (``storage.signin.create_sign_in_link``)."""
    if importlib.util.find_spec("service.alerts") is not None:
        importlib.import_module("service.alerts").run_alerts(p, now=AT)
        pattern = re.compile(re.escape(base) + r"/signin/[\w-]{20,}")
        links = [m.group(0) for f in sorted(outbox.rglob("*")) if f.is_file() for m in pattern.finditer(f.read_text())]
        assert links, f"no alert with a sign-in link to {base} in the outbox {outbox}"
        return links[-1], "the alert in the local outbox"
    with engine.begin() as conn:
        token = create_sign_in_link(conn, officer_id=officer_id, now=AT)
    return f"{base}/signin/{token}", "storage.signin.create_sign_in_link"


def test_reply_alert_sign_in_call_list_lead_page_educated_and_a_fico_edit(
    app_env: Path, engine: Engine, chromium: Any, request: pytest.FixtureRequest
) -> None:
    sock = free_port()
    request.addfinalizer(sock.close)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = get_settings().model_copy(update={"twilio_auth_token": SecretStr(TOKEN), "public_base_url": base})
    dana = add_officer(engine, "Dana Whitfield", phone="+13055550111")
    p = Pipeline.open(settings, now=NOW)
    lead_id, phone = reengaged_lead(engine, p, dana)
    planned = sa.select(sa.func.count()).select_from(_touch).where(_touch.c.lead_id == lead_id,
                                                                   _touch.c.status == "planned")  # fmt: skip
    assert one(engine, planned)[0] > 0, "the re-engagement has messages planned"
    shots = SCREENSHOTS / request.node.callspec.id
    shots.mkdir(parents=True, exist_ok=True)

    with served(create_app(settings, clock=lambda: AT), sock) as url:
        params = {"MessageSid": "SM" + "7" * 32, "AccountSid": "AC" + "0" * 32, "From": phone, "To": OURS,
                  "Body": REPLY, "NumMedia": "0"}  # fmt: skip
        hook = httpx.post(f"{url}/twilio/sms", data=params,
                          headers={"X-Twilio-Signature": signature(f"{base}/twilio/sms", params)})  # fmt: skip
        assert hook.status_code == 200, hook.text
        reply_task = one(engine, sa.select(_task.c.id).where(_task.c.lead_id == lead_id, _task.c.kind == "reply"))[0]
        link, source = sign_in_link(p, engine, dana, base, app_env)
        print(f"sign-in link from: {source}")

        page = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
        page.goto(link)
        page.screenshot(path=shots / "1-signin.png", full_page=True)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{url}/calls")
        page.screenshot(path=shots / "2-calls.png", full_page=True)
        first = page.locator("ol.calls > li").first
        assert first.get_attribute("data-task") == str(reply_task), "the reply is the most urgent call"
        assert "OK to call now." in first.inner_text()

        first.locator("a.call-lead").click()
        page.wait_for_url(f"{url}/leads/{lead_id}")
        page.screenshot(path=shots / "3-lead.png", full_page=True)
        script = page.locator("pre.script").inner_text()
        assert "THEY WROTE" in script and "Call me after lunch" in script and "IF YOU HEAR" in script
        assert "lowered its minimum credit score from 600 to 580" in page.locator("section.reason").inner_text()
        assert PROGRAM not in page.locator("section.fits").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "nothing overflows the phone"

        page.locator(f'form[action="/tasks/{reply_task}/outcome"] button[value="educated"]').tap()
        page.wait_for_url(f"{url}/leads/{lead_id}?done=logged")
        page.screenshot(path=shots / "4-educated.png", full_page=True)
        assert page.locator(".stage").inner_text() == "educated"
        assert one(engine, sa.select(_lead.c.stage).where(_lead.c.id == lead_id))[0] == "educated"
        assert one(engine, sa.select(_pos.c.status).where(_pos.c.lead_id == lead_id))[0] == "handed_off"
        assert one(engine, planned)[0] == 0, "nothing automated is left to go"

        page.fill("#f-fico", "640")
        page.get_by_role("button", name="Save facts").tap()
        page.wait_for_url(f"{url}/leads/{lead_id}?done=saved")
        page.screenshot(path=shots / "5-fico-640.png", full_page=True)
        assert PROGRAM in page.locator("section.fits").inner_text()
        assert one(engine, sa.select(_lead.c.fico).where(_lead.c.id == lead_id))[0] == 640
    p.engine.dispose()

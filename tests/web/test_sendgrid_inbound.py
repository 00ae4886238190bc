"""POST /sendgrid/inbound (Inbound Parse, multipart): an email reply from a lead's address stops its automation and
puts a reply task with the new words on its officer's list, once per Message-ID; a reply that asks to stop opts
out; a request without the secret changes nothing. Outgoing email carries the Reply-To that routes here. SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from channels.messages import EmailMessage
from channels.sendgrid_channel import SendGridSender, build_mail
from service.pipeline import Pipeline, tick
from service.senders import make_sender
from service.settings import Settings
from storage.models import CadencePosition, CallTask, Suppression, Touch, table
from tests.factories import LIVE_SETTINGS, insert_lead
from tests.web.sendgrid_world import NOW, client_for, row_counts, settings_with

SECRET = "inbound-secret-0123456789abcdef"
QUOTED_REPLY = """Yes, I'm still looking. Call me after 5pm, I have 24 months of statements.

On Tue, Mar 3, 2026 at 9:14 AM Dana Whitfield <dana@example.com> wrote:
> Hi Maria, bank statement loans look at your deposits...
> Reply to this email with any questions.
"""


@pytest.fixture
def settings(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return settings_with(monkeypatch, sendgrid_inbound_secret=SECRET)


def parse_form(sender: str, text: str, *, message_id: str = "<CAF1234@mail.gmail.com>") -> dict[str, str]:
    """The fields Inbound Parse posts (the default, parsed form)."""
    headers = f"Received: by mx.sendgrid.net\nMessage-ID: {message_id}\nFrom: {sender}\nSubject: Re: your options\n"
    return {"from": sender, "to": "replies@parse.harbor.test", "subject": "Re: your options", "text": text,
            "headers": headers, "envelope": '{"to": ["replies@parse.harbor.test"]}', "SPF": "pass"}  # fmt: skip


def _post(client, form: dict[str, str], secret: str = SECRET):  # type: ignore[no-untyped-def]
    # multipart/form-data, as SendGrid posts it
    return client.post("/sendgrid/inbound", params={"secret": secret}, files={k: (None, v) for k, v in form.items()})


def _state(engine: Engine, lead: int) -> tuple[list[tuple[str, str, str]], dict[str, int], str]:
    task, touch, pos = table(CallTask), table(Touch), table(CadencePosition)
    with engine.connect() as conn:
        tasks = [tuple(r) for r in conn.execute(sa.select(task.c.kind, task.c.status, task.c.note)
                                                .where(task.c.lead_id == lead, task.c.kind == "reply"))]  # fmt: skip
        touches = dict(conn.execute(sa.select(touch.c.status, sa.func.count()).where(touch.c.lead_id == lead)
                                    .group_by(touch.c.status)).all())  # fmt: skip
        status = conn.execute(sa.select(pos.c.status).where(pos.c.lead_id == lead)).scalar_one_or_none()
    return tasks, touches, str(status)  # type: ignore[return-value]


def test_an_email_reply_reaches_the_officer_and_stops_automation_once(settings: Settings, engine: Engine) -> None:
    lead = insert_lead(engine, email="maria@borrower.test")
    p = Pipeline.open(settings, now=NOW)
    tick(p, now=NOW)
    tick(p, now=NOW + timedelta(days=1, hours=2))
    _, touches, status = _state(engine, lead)
    assert touches.get("planned", 0) >= 1 and status == "active"

    form = parse_form("Maria Lopez <Maria@Borrower.test>", QUOTED_REPLY)
    with client_for(settings, now=NOW + timedelta(days=1, hours=3)) as client:
        first = _post(client, form)
        after_first = row_counts(engine)
        retry = _post(client, form)
    assert first.status_code == retry.status_code == 200, first.text
    assert first.json() == {"leads": 1, "tasks": 1, "kind": "reply", "duplicate": False}
    assert retry.json()["duplicate"] is True and row_counts(engine) == after_first

    tasks, touches, status = _state(engine, lead)
    ((kind, task_status, note),) = tasks
    assert (kind, task_status) == ("reply", "open")
    assert "Call me after 5pm, I have 24 months of statements." in note and "Re: your options" in note
    assert "bank statement loans look at your deposits" not in note and "On Tue" not in note
    assert "planned" not in touches and status != "active", "the automated steps stopped"


def test_an_unverified_sender_is_flagged_on_the_task(settings: Settings, engine: Engine) -> None:
    lead = insert_lead(engine, email="maria@borrower.test")
    with client_for(settings) as client:
        answer = _post(client, parse_form("maria@borrower.test", "Call me") | {"SPF": "softfail"})
    assert answer.status_code == 200
    ((_, _, note),) = _state(engine, lead)[0]
    assert "sender not verified: SPF softfail" in note and note.endswith("Call me")


def test_an_email_asking_to_stop_opts_out_everywhere(settings: Settings, engine: Engine) -> None:
    lead = insert_lead(engine, email="maria@borrower.test")
    with client_for(settings) as client:
        answer = _post(client, parse_form("maria@borrower.test", "Please stop contacting me.\n\n> earlier mail"))
    assert answer.status_code == 200 and answer.json()["kind"] == "opt_out"
    sup = table(Suppression)
    with engine.connect() as conn:
        channels = set(conn.execute(sa.select(sup.c.channel).where(sup.c.lead_id == lead, sup.c.action == "opt_out"))
                       .scalars())  # fmt: skip
    assert channels == {"sms", "email", "call", "voicemail"}
    assert _state(engine, lead)[0] == [], "no call task for someone who asked not to be contacted"


def test_an_email_from_an_unknown_address_is_stored_and_nothing_else(settings: Settings, engine: Engine) -> None:
    insert_lead(engine, email="maria@borrower.test")
    Pipeline.open(settings, now=NOW)  # registers the cadences, as the app's first request does
    before = row_counts(engine)
    with client_for(settings) as client:
        answer = _post(client, parse_form("someone@else.test", "Who is this?"))
    assert answer.status_code == 200 and answer.json()["leads"] == 0
    after = row_counts(engine)
    assert after["email_event"] == before["email_event"] + 1
    assert {k: v for k, v in after.items() if k != "email_event"} == {
        k: v for k, v in before.items() if k != "email_event"
    }


def test_a_reply_with_large_attachments_is_read(settings: Settings, engine: Engine) -> None:
    """The general body limit (1 MB) would lose a reply with a scanned statement; Inbound Parse has its own."""
    lead = insert_lead(engine, email="maria@borrower.test")
    form = parse_form("maria@borrower.test", "Statements attached. Stop emailing me.")
    files = {k: (None, v) for k, v in form.items()}
    statement = b"%PDF-1.7 " + b"x" * 3_000_000
    with client_for(settings) as client:
        answer = client.post("/sendgrid/inbound", params={"secret": SECRET},
                             files=files | {"attachment1": ("statement.pdf", statement, "application/pdf")},
                             data={"html": "<p>" + "y" * 1_500_000 + "</p>"})  # fmt: skip
        elsewhere = client.post("/unsubscribe", content=statement)
    assert answer.status_code == 200, answer.text
    assert answer.json()["kind"] == "opt_out" and _state(engine, lead)[0] == []
    assert elsewhere.status_code == 413


@pytest.mark.parametrize("secret", ["", "wrong", SECRET[:-1]])
def test_without_the_secret_nothing_changes(settings: Settings, engine: Engine, secret: str) -> None:
    insert_lead(engine, email="maria@borrower.test")
    before = row_counts(engine)
    with client_for(settings) as client:
        assert _post(client, parse_form("maria@borrower.test", "hello"), secret=secret).status_code == 403
    assert row_counts(engine) == before


def test_with_no_secret_configured_the_endpoint_is_off(app_env: Path, engine: Engine) -> None:
    from service.settings import get_settings

    insert_lead(engine, email="maria@borrower.test")
    before = row_counts(engine)
    with client_for(get_settings()) as client:
        assert _post(client, parse_form("maria@borrower.test", "hello"), secret="").status_code == 403
    assert row_counts(engine) == before


def test_outgoing_email_carries_the_reply_to_address() -> None:
    message = EmailMessage(to="maria@borrower.test", subject="s", html="<p>h</p>", text="h")
    mail = build_mail(message, key="k", from_email="loans@harbor.test", from_name="Harbor",
                      reply_to="replies@parse.harbor.test").get()  # fmt: skip
    assert mail["reply_to"] == {"email": "replies@parse.harbor.test"}
    assert mail["custom_args"] == {"touch_key": "k"}
    sender = make_sender(Settings(**LIVE_SETTINGS, sendgrid_reply_to="replies@parse.harbor.test"))  # type: ignore[arg-type]
    sendgrid = sender.routes[EmailMessage]  # type: ignore[attr-defined]
    assert isinstance(sendgrid, SendGridSender) and sendgrid.reply_to == "replies@parse.harbor.test"

"""The unsubscribe link and RFC 8058 one-click: signed tokens that name the lead and a day; a current link stops
email on a visit, an old one after a confirmation click, any POST with a genuine token at once; a forged one 403
and nothing changes. The one-click works from the List-Unsubscribe header of a rendered email. SQLite and
PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from itsdangerous import URLSafeSerializer
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from channels.render import render_email
from service.dispatch import dispatch
from service.pipeline import Pipeline, render_contexts, tick
from service.settings import Settings
from service.unsubscribe import BadToken, make_token, read_token, unsubscribe_endpoint, unsubscribe_url
from storage.models import Touch, table
from tests.factories import insert_lead
from tests.web.sendgrid_world import NOW, client_for, email_opted_out, row_counts, settings_with


@pytest.fixture
def settings(app_env: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return settings_with(monkeypatch, public_base_url="https://mail.harbor.test", unsubscribe_token_days="90")


def _planned_email(engine: Engine) -> int:
    touch = table(Touch)
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(touch.c.channel == "email", touch.c.status == "planned")
            ).scalar_one()
        )


def test_one_click_from_the_list_unsubscribe_header_of_a_rendered_email(settings: Settings, engine: Engine) -> None:
    lead = insert_lead(engine, email="maria@borrower.test")
    p = Pipeline.open(settings, now=NOW)
    tick(p, now=NOW)
    tick(p, now=NOW + timedelta(days=1, hours=2))
    assert _planned_email(engine) >= 1
    email = render_email("education", render_contexts(p, {lead}, now=NOW)[lead], templates_dir=settings.templates_dir)
    (url,) = re.findall(r"<([^>]+)>", email.headers["List-Unsubscribe"])
    assert email.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url.startswith("https://mail.harbor.test/unsubscribe?token=") and "maria" not in url

    with client_for(settings, now=NOW + timedelta(days=3)) as client:
        answer = client.post(url, content=b"List-Unsubscribe=One-Click",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert email_opted_out(engine, address="maria@borrower.test") == ["email_unsubscribe"]
    assert _planned_email(engine) == 0, "the planned emails are cancelled with it"
    with client_for(settings, now=NOW + timedelta(days=3)) as client:  # a second click: still 200, nothing new
        before = row_counts(engine)
        again = client.post(url, content=b"List-Unsubscribe=One-Click",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert again.status_code == 200
    assert email_opted_out(engine, address="maria@borrower.test") == ["email_unsubscribe"]
    assert row_counts(engine)["suppression"] == before["suppression"]


def test_one_click_from_a_dispatched_email_in_the_outbox(settings: Settings, engine: Engine, app_env: Path) -> None:
    """The demo's path: tick, dispatch through the local outbox, read the email's file as a mail program would."""
    lead = insert_lead(engine, email="maria@borrower.test")
    p = Pipeline.open(settings, now=NOW)
    sent_at = NOW + timedelta(days=1, hours=2)
    tick(p, now=NOW)
    tick(p, now=sent_at)
    assert dispatch(p, now=sent_at).sent >= 1
    (message,) = [f for f in (app_env / "email").glob("*.txt") if "To: maria@borrower.test" in f.read_text()]
    headers = dict(line.split(": ", 1) for line in message.read_text().split("\n\n", 1)[0].splitlines())
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    (url,) = re.findall(r"<([^>]+)>", headers["List-Unsubscribe"])
    token = parse_qs(urlsplit(url).query)["token"][0]
    assert read_token(settings, token, today=sent_at.date()).issued == sent_at.date(), "dated the day it went"

    with client_for(settings, now=sent_at + timedelta(days=200)) as client:  # old, and still one click
        answer = client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200, answer.text
    assert email_opted_out(engine, lead_id=lead) == ["email_unsubscribe"]


def test_a_current_link_unsubscribes_on_the_visit(settings: Settings, engine: Engine) -> None:
    lead = insert_lead(engine, email="maria@borrower.test")
    url = unsubscribe_url(settings, lead, NOW.date())
    with client_for(settings, now=NOW + timedelta(days=89)) as client:
        answer = client.get(url)
    assert answer.status_code == 200 and "You are unsubscribed" in answer.text and "m***@borrower.test" in answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert email_opted_out(engine, lead_id=lead) == ["email_unsubscribe"]


def test_an_old_link_asks_for_a_click_and_then_unsubscribes(settings: Settings, engine: Engine) -> None:
    lead = insert_lead(engine, email="maria@borrower.test")
    url = unsubscribe_url(settings, lead, NOW.date())
    before = row_counts(engine)
    with client_for(settings, now=NOW + timedelta(days=91)) as client:
        page = client.get(url)
        assert page.status_code == 200 and '<form method="post">' in page.text
        assert row_counts(engine) == before, "a bare visit with an old link changes nothing"
        token = re.search(r'name="token" value="([^"]+)"', page.text)
        assert token is not None
        confirmed = client.post(url, data={"token": token.group(1)})
        also_by_form_only = client.post("/unsubscribe", data={"token": token.group(1)})
    assert confirmed.status_code == also_by_form_only.status_code == 200
    assert "You are unsubscribed" in confirmed.text
    assert email_opted_out(engine, lead_id=lead) == ["email_unsubscribe"]


def _forged_tokens(settings: Settings, lead: int) -> list[str]:
    good = make_token(settings, lead, NOW.date())
    other_key = URLSafeSerializer("another-key-entirely-0123456789abcdef", salt="dripline-unsubscribe")
    other_salt = URLSafeSerializer(settings.signing_key.get_secret_value(), salt="something-else")
    ours = URLSafeSerializer(settings.signing_key.get_secret_value(), salt="dripline-unsubscribe",
                             signer_kwargs={"digest_method": hashlib.sha256})  # fmt: skip
    return [
        "",
        "nonsense",
        good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        good.replace(good.split(".")[0], make_token(settings, lead + 1, NOW.date()).split(".")[0]),
        str(other_key.dumps([lead, NOW.date().isoformat()])),
        str(other_salt.dumps([lead, NOW.date().isoformat()])),
        str(ours.dumps({"x": 1})),  # our own signature over something that is not a token
        str(ours.dumps([lead, "not a date"])),
        str(URLSafeSerializer(settings.signing_key.get_secret_value(), salt="dripline-unsubscribe").dumps([lead, ""])),
    ]


def test_a_forged_token_is_refused_and_changes_nothing(settings: Settings, engine: Engine) -> None:
    lead = insert_lead(engine, email="maria@borrower.test")
    insert_lead(engine, email="ann@borrower.test", phone="+13055550148")
    before = row_counts(engine)
    with client_for(settings) as client:
        for token in _forged_tokens(settings, lead):
            assert client.get("/unsubscribe", params={"token": token}).status_code == 403, token
            one_click = client.post("/unsubscribe", params={"token": token}, data={"List-Unsubscribe": "One-Click"})
            assert one_click.status_code == 403, token
            assert client.post("/unsubscribe", data={"token": token}).status_code == 403, token
    assert row_counts(engine) == before


def test_tokens_carry_the_lead_and_the_day_and_nothing_else(settings: Settings) -> None:
    token = make_token(settings, 42, date(2026, 3, 2))
    assert read_token(settings, token, today=date(2026, 5, 31)) == read_token(settings, token, today=date(2026, 3, 2))
    fresh = read_token(settings, token, today=date(2026, 5, 31))
    assert (fresh.lead_id, fresh.issued, fresh.expired) == (42, date(2026, 3, 2), False)
    assert read_token(settings, token, today=date(2026, 6, 1)).expired
    assert read_token(settings, make_token(settings, 42, None), today=date(2026, 3, 2)).expired
    with pytest.raises(BadToken):
        read_token(Settings(signing_key="another-key-entirely-0123456789abcdef"), token, today=date(2026, 3, 2))  # type: ignore[arg-type]


def test_the_link_points_at_the_web_app_unless_an_address_is_set(settings: Settings) -> None:
    assert unsubscribe_endpoint(settings) == "https://mail.harbor.test/unsubscribe"
    explicit = settings.model_copy(update={"unsubscribe_base_url": "https://u.harbor.test/out"})
    explicit.model_fields_set.add("unsubscribe_base_url")
    url = unsubscribe_url(explicit, 7, NOW.date())
    assert url.startswith("https://u.harbor.test/out?token=")
    assert list(parse_qs(urlsplit(url).query)) == ["token"]


def test_a_link_from_before_these_tokens_still_works_after_a_click(settings: Settings, engine: Engine) -> None:
    """Emails already sent carry ``?lead=ID&token=HEX`` (an HMAC of the lead id): an unsubscribe link must keep
    working after the email went, so they are read as old links."""
    lead = insert_lead(engine, email="maria@borrower.test")
    key = settings.signing_key.get_secret_value().encode()
    digest = hmac.new(key, f"unsubscribe:{lead}".encode(), hashlib.sha256).hexdigest()[:24]
    url = f"https://mail.harbor.test/unsubscribe?lead={lead}&token={digest}"
    before = row_counts(engine)
    with client_for(settings) as client:
        for forged in (f"?lead={lead}&token={'0' * 24}", f"?lead={lead + 1}&token={digest}", f"?lead=x&token={digest}"):
            assert client.get("/unsubscribe" + forged).status_code == 403
            assert client.post("/unsubscribe" + forged, data={"List-Unsubscribe": "One-Click"}).status_code == 403
        page = client.get(url)
        assert page.status_code == 200 and '<form method="post">' in page.text and row_counts(engine) == before
        assert client.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert email_opted_out(engine, lead_id=lead) == ["email_unsubscribe"]


def test_after_a_key_rotation_old_links_work_while_the_old_key_is_listed(settings: Settings) -> None:
    old_key = "the-old-key-0123456789abcdef-0123456789"
    old = settings.model_copy(update={"signing_key": SecretStr(old_key)})
    token = make_token(old, 42, NOW.date())
    rotated = settings.model_copy(update={"previous_signing_keys": SecretStr(f"another-old-one {old_key}")})
    assert read_token(rotated, token, today=NOW.date()).lead_id == 42
    assert make_token(rotated, 42, NOW.date()) == make_token(settings, 42, NOW.date()), "new links: the new key"
    with pytest.raises(BadToken):
        read_token(settings, token, today=NOW.date())


def test_live_refuses_the_development_key_among_the_previous_ones() -> None:
    from pydantic import ValidationError

    from tests.factories import LIVE_SETTINGS

    with pytest.raises(ValidationError, match="DRIPLINE_PREVIOUS_SIGNING_KEYS holds the public development default"):
        Settings(**LIVE_SETTINGS, previous_signing_keys="o" * 40 + " dev-only-signing-key")  # type: ignore[arg-type]
    assert Settings(**LIVE_SETTINGS, previous_signing_keys="o" * 40).previous_signing_keys  # type: ignore[arg-type]

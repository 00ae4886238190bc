"""The local outbox, routing by message kind, and choosing the sender from settings."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from channels.base import RoutingSender
from channels.local import RESENDS_LOG, LocalOutbox, provider_id, safe_name
from channels.messages import EmailMessage, SmsMessage, VoicemailMessage
from channels.sendgrid_channel import SendGridSender
from channels.twilio_channel import TwilioSender
from service.senders import ChannelConfigError, make_sender
from service.settings import Settings
from tests.factories import LIVE_SETTINGS

SMS = SmsMessage(to="+15551230001", body="Hi Ana, rates moved. Reply STOP to opt out.")
VOICEMAIL = VoicemailMessage(to="+15551230002", script="Hi Ana, it's Bo from Acme.")
EMAIL = EmailMessage(
    to="ana@example.com",
    subject="Your rate options",
    html="<p>Hi Ana</p>",
    text="Hi Ana",
    headers={"List-Unsubscribe": "<https://example.com/u/tok>"},
)
KEY = "7:default:v1:intro:sms"


def test_sms_becomes_a_readable_file_with_headers(tmp_path: Path) -> None:
    outbox = LocalOutbox(tmp_path / "outbox")

    result = outbox.send(SMS, key=KEY)

    path = outbox.path_for(SMS, KEY)
    assert path.parent == tmp_path / "outbox" / "sms"
    expected = f"Key: {KEY}\nProvider-Id: {result.provider_id}\nTo: {SMS.to}\n\n{SMS.body}\n"
    assert path.read_text() == expected
    assert (result.provider, result.provider_id) == ("local", provider_id(KEY))


def test_email_writes_text_with_subject_and_headers_and_an_html_twin(tmp_path: Path) -> None:
    outbox = LocalOutbox(tmp_path)
    key = "7:default:v1:intro:email"

    outbox.send(EMAIL, key=key)

    text = outbox.path_for(EMAIL, key)
    head, body = text.read_text().split("\n\n", 1)
    assert head.splitlines()[2:] == [
        "To: ana@example.com",
        "Subject: Your rate options",
        "List-Unsubscribe: <https://example.com/u/tok>",
    ]
    assert body == "Hi Ana\n"
    assert text.with_suffix(".html").read_text() == "<p>Hi Ana</p>"
    assert text.parent.name == "email"


def test_voicemail_script_is_written_under_voicemail(tmp_path: Path) -> None:
    outbox = LocalOutbox(tmp_path)

    outbox.send(VOICEMAIL, key="k1")

    assert (tmp_path / "voicemail" / "k1.txt").read_text().endswith(f"\n\n{VOICEMAIL.script}\n")


def test_provider_id_is_stable_per_key_and_differs_between_keys() -> None:
    assert provider_id(KEY) == provider_id(KEY)
    assert provider_id(KEY) != provider_id(KEY + "#2")
    assert provider_id(KEY).startswith("local-") and len(provider_id(KEY)) == 22


def test_keys_that_clean_up_alike_still_get_distinct_file_names() -> None:
    names = {safe_name(k) for k in ("7:a#1:sms", "7:a_1:sms", "7_a_1_sms", "../../etc/passwd")}
    assert len(names) == 4
    assert all("/" not in n and not n.startswith(".") for n in names)
    assert safe_name("plain-key_1.x") == "plain-key_1.x"


def test_sending_a_key_again_replaces_its_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    outbox = LocalOutbox(tmp_path)
    first = outbox.send(SMS, key=KEY)
    assert outbox.resends[KEY] == 0

    with caplog.at_level(logging.WARNING, logger="channels.local"):
        second = outbox.send(SmsMessage(to=SMS.to, body="changed"), key=KEY)

    assert second == first
    assert [p.name for p in (tmp_path / "sms").iterdir()] == [outbox.path_for(SMS, KEY).name]
    assert outbox.path_for(SMS, KEY).read_text().endswith("\n\nchanged\n")
    assert outbox.resends[KEY] == 1
    assert f"key {KEY} sent again" in caplog.text


def test_a_resend_is_noticed_across_outbox_instances(tmp_path: Path) -> None:
    LocalOutbox(tmp_path).send(SMS, key=KEY)
    later = LocalOutbox(tmp_path)

    later.send(SMS, key=KEY)

    assert later.resends[KEY] == 1


def _send_all(folder: str, keys: list[str], start: Any) -> None:
    start.wait()
    outbox = LocalOutbox(Path(folder))
    for key in keys:
        outbox.send(SMS, key=key)


def test_processes_sending_the_same_keys_log_every_resend_once(tmp_path: Path) -> None:
    """Two processes racing over the same 300 keys: each key has one file, and every second send of a key is one
    line of resends.log, whichever process made it (a look-then-write check would miss sends that overlap)."""
    import multiprocessing

    keys = [f"{i}:default:v1:intro:sms" for i in range(300)]
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    racers = [ctx.Process(target=_send_all, args=(str(tmp_path), keys, start)) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=60)
        assert racer.exitcode == 0
    assert len(list((tmp_path / "sms").glob("*.txt"))) == 300
    logged = [line.split("\t")[0] for line in (tmp_path / RESENDS_LOG).read_text().splitlines()]
    assert sorted(logged) == sorted(keys), "each key was sent twice: exactly one resend line per key"


def test_concurrent_sends_leave_one_complete_file_per_key(tmp_path: Path) -> None:
    outbox = LocalOutbox(tmp_path)
    keys = [f"{i}:default:v1:intro:sms" for i in range(40)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda k: outbox.send(SMS, key=k), keys + keys[:10]))

    files = sorted((tmp_path / "sms").iterdir())
    assert len(files) == 40
    assert all(f.suffix == ".txt" and f.read_text().endswith(f"\n\n{SMS.body}\n") for f in files)
    assert sum(outbox.resends.values()) == 10


def test_routing_sends_each_kind_to_its_own_sender(tmp_path: Path) -> None:
    texts, mail = LocalOutbox(tmp_path / "texts"), LocalOutbox(tmp_path / "mail")
    router = RoutingSender(sms=texts, voicemail=texts, email=mail)

    router.send(SMS, key="a")
    router.send(VOICEMAIL, key="b")
    router.send(EMAIL, key="c")

    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.*")) == [
        "mail/email/c.html",
        "mail/email/c.txt",
        "texts/sms/a.txt",
        "texts/voicemail/b.txt",
    ]
    assert router.name == "local"


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **{"environment": "development", **values})  # type: ignore[call-arg]


def test_make_sender_local_writes_to_the_outbox_folder(tmp_path: Path) -> None:
    sender = make_sender(_settings(channel="local", outbox_dir=tmp_path / "from-settings"))
    override = make_sender(_settings(channel="local"), outbox_dir=tmp_path / "override")

    assert isinstance(sender, LocalOutbox) and sender.folder == tmp_path / "from-settings"
    assert isinstance(override, LocalOutbox) and override.folder == tmp_path / "override"


LIVE = LIVE_SETTINGS | {"sendgrid_from_email": "loans@acme.example"}


def test_make_sender_live_routes_texts_and_calls_to_twilio_and_email_to_sendgrid() -> None:
    sender = make_sender(_settings(**LIVE))

    assert isinstance(sender, RoutingSender)
    assert sender.name == "twilio+sendgrid"
    routes = sender.routes
    assert isinstance(routes[SmsMessage], TwilioSender) and routes[VoicemailMessage] is routes[SmsMessage]
    assert isinstance(routes[EmailMessage], SendGridSender)


def test_make_sender_live_sends_to_the_configured_api_base_instead_of_the_providers() -> None:
    """DRIPLINE_TWILIO_API_BASE and DRIPLINE_SENDGRID_API_HOST (staging, tests): the SDKs' own requests, elsewhere."""
    from bench.fake_providers import FakeProviders

    with FakeProviders() as fake:
        sender = make_sender(_settings(**LIVE, twilio_api_base=fake.url, sendgrid_api_host=fake.url))
        sms = sender.send(SMS, key=KEY)
        mail = sender.send(EMAIL, key="7:default:v1:education:email")
        texts, emails = fake.arrivals("sms"), fake.count_by_touch()
    assert sms.provider == "twilio" and mail.provider == "sendgrid"
    assert len(texts) == 1 and emails == {"7:default:v1:education:email": 1}


def test_make_sender_live_names_every_missing_setting() -> None:
    blank = {"twilio_auth_token": SecretStr(""), "sendgrid_api_key": SecretStr(" "), "twilio_from_number": ""}
    settings = _settings(**LIVE).model_copy(update=blank)  # the settings class itself refuses these (tests/service)

    with pytest.raises(ChannelConfigError) as caught:
        make_sender(settings)
    missing = "DRIPLINE_TWILIO_AUTH_TOKEN, DRIPLINE_TWILIO_FROM_NUMBER, DRIPLINE_SENDGRID_API_KEY"
    assert str(caught.value) == f"the live channel needs {missing}"


def test_written_behind_the_files_are_there_after_flush(tmp_path: Path):
    outbox = LocalOutbox(tmp_path, write_behind=True)
    for n in range(20):
        outbox.send(SMS, key=f"{KEY}-{n}")
    outbox.flush()
    assert len(list((tmp_path / "sms").glob("*.txt"))) == 20


def test_written_behind_a_write_error_surfaces_at_flush(tmp_path: Path):
    (tmp_path / "sms").write_text("a file where the sms folder belongs")
    outbox = LocalOutbox(tmp_path, write_behind=True)
    outbox.send(SMS, key=KEY)  # returns: the write happens behind
    with pytest.raises(OSError):
        outbox.flush()
    outbox.flush()  # the error is reported once

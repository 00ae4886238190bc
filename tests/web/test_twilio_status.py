"""``POST /twilio/status`` (message and call status callbacks) and ``/twilio/voice`` (the breakup voicemail after
answering-machine detection): signed by the SDK, stored once, each effect counted in the database."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from nurture.actions import Channel
from nurture.cadence import load_cadence
from service.pipeline import Pipeline
from service.replay import replay
from service.settings import get_settings
from service.twilio_webhooks import StatusResult, receive_status
from storage.cadences import register_cadence
from storage.compliance import load_facts
from storage.models import Lead, Touch, table
from tests.factories import NOW, insert_lead
from tests.fakes import RecordingSender
from tests.web.twilio_support import BASE, OURS, add_touch, count, post, snapshot, touch, touches, twilio_client

MARIA = "+13055550147"
KEY = "1:default:v1:day1_sms:sms"
SID = "SM" + "1" * 32


def status_path(key: str = KEY) -> str:
    return "/twilio/status?" + urlencode({"touch": key})


def callback(status: str, *, sid: str = SID, error: str | None = None, to: str = MARIA) -> dict[str, str]:
    fields = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32, "MessageStatus": status,
              "SmsStatus": status, "To": to, "From": OURS, "ApiVersion": "2010-04-01"}  # fmt: skip
    return fields | ({"ErrorCode": error} if error else {})


def not_textable(engine: Engine, lead: int) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(load_facts(conn, [lead], since=NOW)[lead].not_textable)


def test_delivered_and_undelivered_update_the_sent_touch(app_env: Path, engine: Engine) -> None:
    lead = insert_lead(engine, phone=MARIA)
    add_touch(engine, lead_id=lead, key=KEY, provider_id=SID)
    add_touch(engine, lead_id=lead, key="k2", provider_id="SM" + "2" * 32)
    with twilio_client() as client:
        codes = [post(client, status_path(), callback(s)).status_code for s in ("sent", "delivered")]
        post(client, status_path("k2"), callback("undelivered", sid="SM" + "2" * 32, error="30008"))

    assert codes == [200, 200]
    assert (touch(engine, KEY).status, touch(engine, KEY).reason) == ("sent", "twilio: delivered")
    assert (touch(engine, "k2").status, touch(engine, "k2").reason) == ("failed", "twilio: undelivered (error 30008)")
    assert count(engine, "twilio_callback") == 3
    assert not_textable(engine, lead) == {} and count(engine, "suppression") == 0


def test_a_retried_callback_has_one_effect(app_env: Path, engine: Engine) -> None:
    lead = insert_lead(engine, phone=MARIA)
    add_touch(engine, lead_id=lead, key=KEY, provider_id=SID)
    with twilio_client() as client:
        post(client, status_path(), callback("undelivered", error="30003"))
        once = snapshot(engine)
        again = post(client, status_path(), callback("undelivered", error="30003"))

    assert again.status_code == 200
    assert snapshot(engine) == once
    assert count(engine, "twilio_callback", sid=SID) == 1


def test_error_21610_opts_the_number_out_like_a_stop_without_a_confirmation(app_env: Path, engine: Engine) -> None:
    lead = insert_lead(engine, phone=MARIA)
    add_touch(engine, lead_id=lead, key=KEY, provider_id=SID)
    with twilio_client() as client:
        post(client, status_path(), callback("failed", error="21610"))

    assert count(engine, "suppression", lead_id=lead, action="opt_out", source="twilio_21610") == len(Channel)
    assert count(engine, "inbound_message") == 0
    assert not app_env.exists() or not any(app_env.iterdir()), "no confirmation is sent"
    assert touch(engine, KEY).status == "failed"


def test_error_30006_marks_the_number_not_textable_and_leaves_calls_alone(app_env: Path, engine: Engine) -> None:
    lead = insert_lead(engine, phone=MARIA)
    add_touch(engine, lead_id=lead, key=KEY, provider_id=SID)
    with twilio_client() as client:
        post(client, status_path(), callback("undelivered", error="30006"))

    assert count(engine, "phone_fact", number=MARIA, textable=False) == 1
    assert list(not_textable(engine, lead)) == [MARIA]
    assert "30006" in not_textable(engine, lead)[MARIA]
    assert count(engine, "suppression") == 0, "not an opt-out: calls and voicemail go on"


def test_30003_and_30005_mark_the_number_after_repeats_in_a_row(app_env: Path, engine: Engine) -> None:
    lead = insert_lead(engine, phone=MARIA)
    with twilio_client(twilio_unreachable_repeats=3) as client:
        for n, code in enumerate(("30003", "30005")):
            post(client, status_path(f"a{n}"), callback("undelivered", sid=f"SMa{n}", error=code))
        post(client, status_path("ok"), callback("delivered", sid="SMok"))  # a delivery breaks the run
        for n, code in enumerate(("30003", "30005")):
            post(client, status_path(f"b{n}"), callback("undelivered", sid=f"SMb{n}", error=code))
        before_third = not_textable(engine, lead)
        post(client, status_path("b2"), callback("failed", sid="SMb2", error="30003"))

    assert before_third == {}
    assert list(not_textable(engine, lead)) == [MARIA]
    assert count(engine, "phone_fact") == 1


def test_texts_to_a_landline_are_blocked_by_the_gate_while_calls_and_voicemail_go_on(
    app_env: Path, engine: Engine
) -> None:
    lead = insert_lead(engine, phone=MARIA)
    with twilio_client() as client:
        post(client, status_path("an earlier text"), callback("undelivered", error="30006"))
    cadence = load_cadence(get_settings().cadence_file.read_text())
    sender = RecordingSender()
    p = Pipeline(get_settings(), engine, register_cadence(engine=engine, cadence=cadence, now=NOW), sender)
    replay(p, start=NOW, until=NOW + timedelta(days=8), every=timedelta(hours=1))

    sent = [type(m).__name__ for _, m in sender.sent]
    texts = [t for t in touches(engine, lead) if t.channel == "sms"]
    assert "SmsMessage" not in sent and "VoicemailMessage" in sent
    assert texts and {t.status for t in texts} == {"blocked"}
    assert all(t.reason.startswith(f"blocked: textable: {MARIA} cannot take texts: Twilio error 30006") for t in texts)
    assert count(engine, "call_task", lead_id=lead) >= 3, "the officer's calls are not affected"


def test_the_same_callback_delivered_at_once_by_several_threads_has_one_effect(app_env: Path, engine: Engine) -> None:
    lead = insert_lead(engine, phone=MARIA)
    add_touch(engine, lead_id=lead, key=KEY, provider_id=SID)
    p = Pipeline.open(get_settings(), now=NOW, sender=RecordingSender())
    barrier = threading.Barrier(6)
    results: list[StatusResult] = []

    def deliver() -> None:
        barrier.wait(30)
        results.append(receive_status(p, fields=callback("failed", error="21610"), touch_key=KEY, at=NOW))

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    p.engine.dispose()

    assert sorted(r.duplicate for r in results) == [False] + [True] * 5
    assert {r.outcome for r in results} == {f"touch {KEY} failed: failed (error 21610); {MARIA} opted out (21610)"}
    assert count(engine, "twilio_callback") == 1
    assert count(engine, "suppression", lead_id=lead) == len(Channel)


@pytest.mark.parametrize(("status", "settled_as"), [("delivered", "sent"), ("sent", "sent"), ("undelivered", "failed")])
def test_a_callback_settles_an_unknown_touch(app_env: Path, engine: Engine, status: str, settled_as: str) -> None:
    lead = insert_lead(engine, phone=MARIA)
    add_touch(engine, lead_id=lead, key=KEY, status="unknown")
    with twilio_client() as client:
        post(client, status_path(), callback(status))

    row = touch(engine, KEY)
    assert (row.status, row.provider_id) == (settled_as, SID)


def test_a_retry_settles_an_unknown_touch_the_first_delivery_stored_but_did_not_settle(
    app_env: Path, engine: Engine
) -> None:
    lead = insert_lead(engine, phone=MARIA)
    add_touch(engine, lead_id=lead, key=KEY, status="unknown")
    with twilio_client() as client:
        post(client, status_path(), callback("delivered"))
        with engine.begin() as conn:  # as if the first delivery had died between its commit and the settling
            conn.execute(sa.update(table(Touch)).where(table(Touch).c.key == KEY).values(status="unknown"))
        post(client, status_path(), callback("delivered"))

    assert touch(engine, KEY).status == "sent"
    assert count(engine, "twilio_callback") == 1


def test_a_callback_for_another_message_leaves_the_touch_alone(app_env: Path, engine: Engine) -> None:
    lead = insert_lead(engine, phone=MARIA)
    add_touch(engine, lead_id=lead, key=KEY, provider_id="SM" + "9" * 32)
    with twilio_client() as client:
        post(client, status_path(), callback("undelivered"))
    assert touch(engine, KEY).status == "sent"
    assert count(engine, "twilio_callback") == 1


@pytest.mark.parametrize("path", ["/twilio/status?touch=k", "/twilio/voice?touch=k", "/twilio/sms"])
@pytest.mark.parametrize("how", ["unsigned", "forged", "wrong URL", "other query"])
def test_bad_signatures_get_403_and_change_nothing(app_env: Path, engine: Engine, path: str, how: str) -> None:
    lead = insert_lead(engine, phone=MARIA)
    add_touch(engine, lead_id=lead, key="k", channel="voicemail", status="sending")
    before = snapshot(engine)
    fields = callback("failed", error="21610") | {"AnsweredBy": "human", "Body": "STOP"}
    options = {
        "unsigned": {"sign": False},
        "forged": {"token": "another-token-00000000000000000000"},
        "wrong URL": {"signed_url": "https://hooks.dripline.test" + path.replace("twilio", "twilio2")},
        "other query": {"signed_url": BASE + path.split("?")[0] + "?touch=other"},
    }[how]
    with twilio_client() as client:
        answer = post(client, path, fields, **options)  # type: ignore[arg-type]
    assert answer.status_code == 403
    assert snapshot(engine) == before


VOICEMAIL_KEY = "1:default:v1:day7_voicemail:voicemail"
SCRIPT = "Hi Maria, this is Dana. This is my last call for now; call me back at 800 555 0100."


def voice(answered_by: str, sid: str = "CA" + "1" * 32) -> dict[str, str]:
    return {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": OURS, "To": MARIA, "CallStatus": "in-progress",
            "AnsweredBy": answered_by, "Direction": "outbound-api"}  # fmt: skip


def voice_path() -> str:
    return "/twilio/voice?" + urlencode({"touch": VOICEMAIL_KEY})


@pytest.mark.parametrize("answered_by", ["machine_end_beep", "machine_end_silence", "machine_end_other", "unknown"])
def test_a_machine_gets_the_script_after_the_beep(app_env: Path, engine: Engine, answered_by: str) -> None:
    lead = insert_lead(engine, phone=MARIA)
    add_touch(engine, lead_id=lead, key=VOICEMAIL_KEY, channel="voicemail", status="sending", body=SCRIPT)
    with twilio_client() as client:
        answer = post(client, voice_path(), voice(answered_by))

    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/xml")
    assert f"<Say>{SCRIPT}</Say>" in answer.text and "<Hangup" not in answer.text
    assert count(engine, "call_task") == 0


def test_a_person_who_answers_hears_a_short_line_and_the_officer_gets_a_call_task(
    app_env: Path, engine: Engine
) -> None:
    lead = insert_lead(engine, phone=MARIA)
    add_touch(engine, lead_id=lead, key=VOICEMAIL_KEY, channel="voicemail", status="sending", body=SCRIPT)
    with twilio_client() as client:
        answer = post(client, voice_path(), voice("human"))
        again = post(client, voice_path(), voice("human"))

    assert SCRIPT not in answer.text and "loan officer" in answer.text and "<Hangup />" in answer.text
    assert again.text == answer.text
    assert count(engine, "call_task", lead_id=lead, status="open", priority=25) == 1
    with engine.connect() as conn:
        stage = conn.execute(table(Lead).select().where(table(Lead).c.id == lead)).one().stage
    assert stage == "contacted"


def test_a_fax_or_an_unknown_touch_is_hung_up_on(app_env: Path, engine: Engine) -> None:
    lead = insert_lead(engine, phone=MARIA)
    add_touch(engine, lead_id=lead, key=VOICEMAIL_KEY, channel="voicemail", status="sending", body=SCRIPT)
    add_touch(engine, lead_id=lead, key=KEY, body="a text")
    with twilio_client() as client:
        fax = post(client, voice_path(), voice("fax"))
        not_a_voicemail = post(client, "/twilio/voice?" + urlencode({"touch": KEY}), voice("human"))

    for answer in (fax, not_a_voicemail):
        assert answer.status_code == 200 and "<Hangup />" in answer.text and "<Say>" not in answer.text
    assert count(engine, "call_task") == 0


def test_a_lead_that_opted_out_while_the_call_rang_hears_nothing(app_env: Path, engine: Engine) -> None:
    lead = insert_lead(engine, phone=MARIA)
    add_touch(engine, lead_id=lead, key=VOICEMAIL_KEY, channel="voicemail", status="sending", body=SCRIPT)
    with twilio_client(twilio_answers_keywords=False) as client:
        post(client, "/twilio/sms", {"MessageSid": "SM" + "5" * 32, "From": MARIA, "To": OURS, "Body": "STOP"})
        machine = post(client, voice_path(), voice("machine_end_beep"))
        person = post(client, voice_path(), voice("human", sid="CA" + "2" * 32))

    for answer in (machine, person):
        assert "<Hangup />" in answer.text and "<Say>" not in answer.text
    assert count(engine, "call_task", lead_id=lead, status="open") == 0

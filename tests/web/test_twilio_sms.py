"""``POST /twilio/sms``: signed inbound texts from Twilio, handled like ``dripline inbound sms``, answered in TwiML."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from nurture.actions import Channel
from service.inbound import ANSWERED_BY_CALLER, PROVIDER_ANSWERED
from service.twilio_webhooks import twilio_keyword
from storage.models import InboundMessage, table
from tests.factories import insert_lead
from tests.web.twilio_support import BASE, OURS, count, post, signature, snapshot, twilio_client

MARIA = "+13055550147"


def stop(sid: str = "SM" + "a" * 32, body: str = "STOP", sender: str = MARIA) -> dict[str, str]:
    return {"MessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": sender, "To": OURS, "Body": body,
            "NumMedia": "0"}  # fmt: skip


def reply_status(engine: Engine) -> list[tuple[str, str | None]]:
    t = table(InboundMessage)
    with engine.connect() as conn:
        return [(r.reply_status, r.reply_body) for r in conn.execute(sa.select(t).order_by(t.c.id))]


def test_a_signed_stop_is_committed_before_the_200_and_confirmed_once_in_the_twiml(
    app_env: Path, engine: Engine
) -> None:
    lead = insert_lead(engine, phone=MARIA)
    at_the_200: list[int] = []  # read on another connection as the status line leaves: committed by then
    with twilio_client(
        twilio_answers_keywords=False, on_answer=lambda: at_the_200.append(count(engine, "suppression", lead_id=lead))
    ) as client:
        answer = post(client, "/twilio/sms", stop())
        again = post(client, "/twilio/sms", stop(sid="SM" + "b" * 32, body="stop"))

    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/xml")
    assert answer.text.count("<Message>") == 1
    assert at_the_200 == [len(Channel), len(Channel)]
    assert "<Message>" not in again.text, "a second STOP is not answered again"
    assert count(engine, "suppression", lead_id=lead, action="opt_out") == len(Channel)
    assert reply_status(engine)[0][0] == ANSWERED_BY_CALLER
    assert not app_env.exists() or not any(app_env.iterdir()), "nothing was sent through the API"


def test_a_twilio_retry_of_the_same_message_has_one_effect(app_env: Path, engine: Engine) -> None:
    insert_lead(engine, phone=MARIA)
    with twilio_client(twilio_answers_keywords=False) as client:
        first = post(client, "/twilio/sms", stop())
        after_first = snapshot(engine)
        retry = post(client, "/twilio/sms", stop())

    assert first.status_code == retry.status_code == 200
    assert "<Message>" in first.text and "<Message>" not in retry.text
    assert snapshot(engine) == after_first
    assert count(engine, "inbound_message") == 1


def test_with_twilio_answering_its_keywords_stop_is_honoured_but_not_answered_twice(
    app_env: Path, engine: Engine
) -> None:
    lead = insert_lead(engine, phone=MARIA)
    other = insert_lead(engine, phone="+13055550148", email="other@example.com")
    with twilio_client() as client:  # twilio_answers_keywords is on by default
        keyword = post(client, "/twilio/sms", stop(body=" Stop! "))
        words = post(client, "/twilio/sms", stop(sid="SM" + "c" * 32, body="please stop texting me",
                                                 sender="+13055550148"))  # fmt: skip

    assert "<Message>" not in keyword.text, "Twilio's own confirmation is the only one"
    assert count(engine, "suppression", lead_id=lead, action="opt_out") == len(Channel)
    assert words.text.count("<Message>") == 1, "Twilio does not answer plain words: we do, once"
    assert count(engine, "suppression", lead_id=other, action="opt_out") == len(Channel)
    assert [s for s, _ in reply_status(engine)] == [PROVIDER_ANSWERED, ANSWERED_BY_CALLER]


def test_help_is_answered_and_a_reply_goes_to_the_officer(app_env: Path, engine: Engine) -> None:
    lead = insert_lead(engine, phone=MARIA)
    with twilio_client(twilio_answers_keywords=False) as client:
        help_ = post(client, "/twilio/sms", stop(body="HELP"))
        reply = post(client, "/twilio/sms", stop(sid="SM" + "d" * 32, body="Is the bank statement loan still open?"))

    assert help_.text.count("<Message>") == 1 and "STOP" in help_.text
    assert "<Message>" not in reply.text
    assert count(engine, "call_task", lead_id=lead, kind="reply", status="open") == 1
    assert count(engine, "suppression") == 0


def _altered(params: dict[str, str]) -> dict[str, str]:
    return params | {"Body": "START"}


BAD = {
    "unsigned": {"sign": False},
    "forged with another token": {"token": "not-the-auth-token-000000000000"},
    "signed for another host": {"signed_url": "https://attacker.test/twilio/sms"},
    "signed for another endpoint": {"signed_url": BASE + "/twilio/status"},
    "signed over http, not the public https URL": {"signed_url": "http://hooks.dripline.test/twilio/sms"},
}


@pytest.mark.parametrize("how", list(BAD))
def test_a_request_without_a_valid_signature_gets_403_and_changes_nothing(
    app_env: Path, engine: Engine, how: str
) -> None:
    insert_lead(engine, phone=MARIA)
    before = snapshot(engine)
    with twilio_client() as client:
        answer = post(client, "/twilio/sms", stop(), **BAD[how])  # type: ignore[arg-type]
    assert answer.status_code == 403
    assert snapshot(engine) == before


def test_a_replayed_signature_over_altered_fields_or_without_a_token_gets_403(app_env: Path, engine: Engine) -> None:
    insert_lead(engine, phone=MARIA)
    before = snapshot(engine)
    params = stop()
    with twilio_client() as client:
        replayed = client.post("/twilio/sms", data=_altered(params),
                               headers={"X-Twilio-Signature": signature(BASE + "/twilio/sms", params)})  # fmt: skip
        extra = client.post("/twilio/sms", data=params | {"Extra": "1"},
                            headers={"X-Twilio-Signature": signature(BASE + "/twilio/sms", params)})  # fmt: skip
    with twilio_client(twilio_auth_token=SecretStr("")) as client:
        no_token = post(client, "/twilio/sms", params, token="")
    assert (replayed.status_code, extra.status_code, no_token.status_code) == (403, 403, 403)
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    ("body", "answered"),
    [("STOP", True), (" stop! ", True), ("Help", True), ("YES", True), ("please stop", False), ("stop it", False),
     ("", False)],
)  # fmt: skip
def test_twilio_answers_only_a_keyword_alone(body: str, answered: bool) -> None:
    assert twilio_keyword(body) is answered


def test_during_a_token_rotation_either_token_is_accepted(app_env: Path, engine: Engine) -> None:
    insert_lead(engine, phone=MARIA)
    new = "the-next-twilio-auth-token-0123456"
    with twilio_client(twilio_next_auth_token=SecretStr(new)) as client:
        old_signed = post(client, "/twilio/sms", stop())
        new_signed = post(client, "/twilio/sms", stop(sid="SM" + "e" * 32, body="hello"), token=new)
        forged = post(client, "/twilio/sms", stop(sid="SM" + "f" * 32), token="neither-of-them-000000000000000")
    assert (old_signed.status_code, new_signed.status_code, forged.status_code) == (200, 200, 403)
    assert count(engine, "inbound_message") == 2


def test_an_account_keyword_twilio_names_in_opt_out_type_is_honoured_and_not_answered_twice(
    app_env: Path, engine: Engine
) -> None:
    lead = insert_lead(engine, phone=MARIA)
    with twilio_client() as client:
        answer = post(client, "/twilio/sms", stop(body="ARRET") | {"OptOutType": "STOP"})
    assert "<Message>" not in answer.text
    assert count(engine, "suppression", lead_id=lead, action="opt_out") == len(Channel)
    assert count(engine, "call_task") == 0, "not a reply for the officer"


def test_a_plain_words_opt_out_stays_one_whatever_opt_out_type_says(app_env: Path, engine: Engine) -> None:
    lead = insert_lead(engine, phone=MARIA)
    with twilio_client() as client:
        post(client, "/twilio/sms", stop(body="stop texting me") | {"OptOutType": "HELP"})
    assert count(engine, "suppression", lead_id=lead, action="opt_out") == len(Channel)

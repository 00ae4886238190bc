"""What Twilio's webhooks mean, apart from HTTP: an inbound text, a status callback, the breakup voicemail answered.

``web/twilio.py`` checks the signature and reads the form, then calls one of these with the form's fields.

- :func:`receive_sms`: the same handling as ``dripline inbound sms`` (``service.inbound``), idempotent on the
  MessageSid. The reply is rendered for the webhook's TwiML answer, not sent through the API: one answer, in
  the response, and none on a retry. With ``twilio_answers_keywords`` on, Twilio answers its own keywords
  (STOP, START, HELP, ...) itself, so those are recorded and acted on but not answered by us; a keyword the
  account added in Advanced Opt-Out arrives named in ``OptOutType`` and is honoured as what Twilio took it for.
- :func:`receive_status`: a message's or call's status callback, stored once per (sid, status), its effects
  committed with it: a ``sent`` touch that failed is ``failed``; error 21610 opts the number out as a STOP
  does (every channel, no confirmation); 30006 (landline) marks the number not textable; 30003/30005 do so
  after ``twilio_unreachable_repeats`` of them without a delivery in between. An ``unknown`` touch is then
  settled from the callback (``service.reconcile.settle_from_provider``).
- :func:`answer_call`: the breakup voicemail call, answered: after answering-machine detection a machine gets
  the script (after the beep), a person a short line that a loan officer will call, and that officer an
  urgent call task (the lead is handed to them, automation stops). A lead that opted out while the call rang
  gets nothing: the call hangs up.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from channels.delivery import DeliveryOutcome, twilio_status_outcome
from nurture.actions import Channel, InboundKind, TaskKind, TouchStatus
from nurture.geo import normalize_phone
from nurture.inbound import OPT_IN_KEYWORDS, OPT_OUT_KEYWORDS
from nurture.states import Event
from service.inbound import InboundResult, hand_to_officer, handle_inbound_sms
from service.pipeline import Pipeline
from service.reconcile import settle_from_provider
from storage.compliance import ALL_CHANNELS, opted_out_now
from storage.locks import lock_leads, write_transaction
from storage.models import CallTask, table
from storage.optouts import record_opt_out, with_people_locked
from storage.twilio_callbacks import (
    callback_outcome,
    fail_sent_touch,
    is_voicemail,
    mark_not_textable,
    note_delivered,
    set_callback_outcome,
    store_callback,
    touch_for_callback,
    unreachable_streak,
)

_task = table(CallTask)

OPTED_OUT = 21610  # the recipient texted STOP to our number: Twilio will not deliver to them
LANDLINE = 30006  # landline or unreachable carrier: the number cannot take texts
UNREACHABLE = (30003, 30005)  # unreachable handset, unknown or inactive number: repeated, the same as 30006

# The words Twilio answers itself (its default opt-out handling, or Advanced Opt-Out's defaults): a message
# that is one of them, alone, gets Twilio's confirmation. REVOKE and OPTOUT are listed although not every
# account answers them: with them here the worst case is no confirmation at all, never two.
TWILIO_KEYWORDS = OPT_OUT_KEYWORDS | OPT_IN_KEYWORDS | {"yes", "help", "info"}
_WORDS = re.compile(r"[^\W_]+")
# Advanced Opt-Out names the keyword a message matched (the account's own keywords too) in ``OptOutType``.
OPT_OUT_TYPES = {"STOP": InboundKind.OPT_OUT, "START": InboundKind.OPT_IN, "HELP": InboundKind.HELP}


def twilio_keyword(body: str, keywords: Collection[str] = TWILIO_KEYWORDS) -> bool:
    """Whether Twilio answers ``body`` itself: one keyword alone (any case, punctuation around it ignored)."""
    words = _WORDS.findall(body.casefold())
    return len(words) == 1 and words[0] in keywords


def receive_sms(
    p: Pipeline, *, fields: Mapping[str, str], at: datetime, twilio_answers_keywords: bool
) -> InboundResult:
    """One inbound text from Twilio's messaging webhook (``MessageSid``, ``From``, ``To``, ``Body``). The reply
    (``result.reply``, unless ``result.duplicate``) is for the caller to answer with. Raises ``ValueError`` when
    ``From`` is not a phone number."""
    body = fields.get("Body", "")
    kind = OPT_OUT_TYPES.get(fields.get("OptOutType", "").strip().upper())
    return handle_inbound_sms(
        p,
        from_number=fields.get("From", ""),
        to_number=fields.get("To", "")[:20],
        body=body,
        at=at,
        provider_id=fields["MessageSid"][:100],
        reply_via="caller",
        provider_answered=twilio_answers_keywords and (kind is not None or twilio_keyword(body)),
        provider_kind=kind,
    )


@dataclass(frozen=True, slots=True)
class StatusResult:
    sid: str
    status: str
    outcome: str  # what it changed, in words
    duplicate: bool = False  # Twilio delivered this callback before: nothing was done again
    settled: bool = False  # it settled an ``unknown`` touch


def receive_status(p: Pipeline, *, fields: Mapping[str, str], touch_key: str | None, at: datetime) -> StatusResult:
    """One status callback (``MessageSid``/``MessageStatus`` or ``CallSid``/``CallStatus``, ``To``, ``ErrorCode``)
    for the touch ``touch_key`` (the callback URL's ``?touch=``). Raises ``KeyError`` without a sid or status."""
    message = "MessageSid" in fields
    sid = fields["MessageSid"] if message else fields["CallSid"]
    status = (fields.get("MessageStatus") or fields.get("SmsStatus") or fields["CallStatus"]).strip().lower()
    outcome = twilio_status_outcome(status)
    number = _phone(fields.get("To", ""))
    code = int(fields["ErrorCode"]) if fields.get("ErrorCode", "").strip().isdigit() else None
    repeats = p.settings.twilio_unreachable_repeats

    def work(conn: Connection, lead_ids: list[int]) -> tuple[StatusResult, bool]:
        touch = touch_for_callback(conn, touch_key) if touch_key else None
        ours = touch is not None and touch.provider_id in (None, sid)
        # an unknown touch is settled after this commits; a retry tries again (the first may have died before)
        unknown = touch is not None and ours and touch.status == TouchStatus.UNKNOWN.value
        callback = store_callback(conn, sid=sid, status=status, touch_key=touch_key, address=number,
                                  error_code=code, received_at=at)  # fmt: skip
        if callback is None:
            return StatusResult(sid, status, callback_outcome(conn, sid=sid, status=status), duplicate=True), unknown
        said: list[str] = []
        if touch_key and touch is None:
            said.append(f"no touch has the key {touch_key!r}")
        elif touch is not None and not ours:
            said.append(f"touch {touch_key} was sent as {touch.provider_id}, not {sid}: left as it is")
        elif touch is not None:
            said.append(_update_touch(conn, touch_key or "", touch.status, outcome, status, code, at))
        if message and number and code is not None:
            said.append(_act_on_error(conn, number, lead_ids, code, repeats, sid, at))
        text = "; ".join(s for s in said if s) or "nothing to change"
        set_callback_outcome(conn, callback, text)
        return StatusResult(sid, status, text), unknown

    if number:
        result, unknown = with_people_locked(p.engine, number, work)
    else:
        with write_transaction(p.engine) as conn:
            result, unknown = work(conn, [])
    if unknown and touch_key:
        settled = settle_from_provider(p, key=touch_key, outcome=outcome, provider_id=sid, now=at)
        said = result.outcome + ("; unknown touch settled" if settled else "")
        return StatusResult(sid, status, said, duplicate=result.duplicate, settled=settled)
    return result


def _phone(text: str) -> str | None:
    try:
        return normalize_phone(text) if text.strip() else None
    except ValueError:
        return None


def _update_touch(
    conn: Connection, key: str, now_is: str, outcome: DeliveryOutcome, status: str, code: int | None, at: datetime
) -> str:
    if now_is != TouchStatus.SENT.value:
        return f"touch {key} is {now_is}" + (": settled from the callback next" if now_is == "unknown" else "")
    error = f" (error {code})" if code is not None else ""
    if outcome is DeliveryOutcome.FAILED and fail_sent_touch(conn, key, reason=f"twilio: {status}{error}", at=at):
        return f"touch {key} failed: {status}{error}"
    if outcome is DeliveryOutcome.DELIVERED and note_delivered(conn, key, reason=f"twilio: {status}", at=at):
        return f"touch {key} {status}"
    return ""


def _act_on_error(
    conn: Connection, number: str, lead_ids: list[int], code: int, repeats: int, sid: str, at: datetime
) -> str:
    """What a message's error code changes for ``number`` (inside the transaction holding its people's locks)."""
    if code == OPTED_OUT:
        done = record_opt_out(conn, lead_ids=lead_ids, address=number, channels=ALL_CHANNELS, source="twilio_21610",
                              reason=f"Twilio error 21610 on {sid}: {number} texted STOP to our number", at=at,
                              actor="Twilio error 21610")  # fmt: skip
        return f"{number} opted out (21610)" if done.changed else f"{number} was already opted out (21610)"
    if code == LANDLINE:
        why = f"Twilio error 30006 on {sid}: a landline or a carrier that cannot take texts"
        new = mark_not_textable(conn, number, reason=why, at=at)
        return f"{number} {'marked' if new else 'already'} not textable (30006)"
    if code in UNREACHABLE:
        streak = unreachable_streak(conn, number, UNREACHABLE)
        if streak < repeats:
            return f"{number} unreachable ({code}): {streak} of {repeats} in a row"
        why = f"Twilio errors 30003/30005 on {streak} texts in a row, the last {sid}"
        new = mark_not_textable(conn, number, reason=why, at=at)
        return f"{number} {'marked' if new else 'already'} not textable ({streak} unreachable in a row)"
    return f"error {code}: no action on the number"


class Answered(StrEnum):
    MACHINE = "machine"  # the script plays after the beep
    PERSON = "person"  # a short line; the officer gets an urgent call task
    FAX = "fax"  # hang up
    OPTED_OUT = "opted out"  # the lead opted out of voicemail while the call rang: hang up, say nothing
    NOTHING = "nothing"  # no voicemail touch has the key: hang up


@dataclass(frozen=True, slots=True)
class CallAnswer:
    answered: Answered
    say: str | None  # what to say, if anything
    task_id: int | None = None


def answer_call(p: Pipeline, *, fields: Mapping[str, str], touch_key: str | None, at: datetime) -> CallAnswer:
    """What the breakup voicemail call does once Twilio's answering-machine detection has decided
    (``AnsweredBy``). ``unknown`` is treated as a machine: the message is one a person may hear too."""
    by = fields.get("AnsweredBy", "").strip().lower()
    with p.engine.connect() as conn:
        touch = touch_for_callback(conn, touch_key) if touch_key else None
        if touch is None or not is_voicemail(touch):
            return CallAnswer(Answered.NOTHING, None)
        opted_out = Channel.VOICEMAIL in opted_out_now(conn, [touch.lead_id]).get(touch.lead_id, {})
    if by == "fax":
        return CallAnswer(Answered.FAX, None)
    if opted_out:
        return CallAnswer(Answered.OPTED_OUT, None)
    if by != "human":
        return CallAnswer(Answered.MACHINE, touch.body_text or None)
    sid = fields.get("CallSid", "")[:64] or str(touch_key)
    key = f"{touch.lead_id}:answered:{sid}"
    note = ("Picked up the breakup voicemail call and was told a loan officer will call back shortly: "
            "call them now.")  # fmt: skip
    with write_transaction(p.engine) as conn:
        lock_leads(conn, [touch.lead_id])
        task = conn.execute(sa.select(_task.c.id).where(_task.c.key == key)).scalar()
        if task is None:  # Twilio asks once per call; a repeat finds the task
            task = hand_to_officer(conn, lead_id=touch.lead_id, event=Event.LIVE_CONTACT, at=at,
                                   reason="picked up the breakup voicemail call", actor="answering-machine detection",
                                   note=note, key=key, kind=TaskKind.HANDOFF, priority=25)  # fmt: skip
    line = (f"Hello, this is {p.settings.company_name}. Thank you for picking up. "
            "One of our loan officers will call you back shortly. Goodbye.")  # fmt: skip
    return CallAnswer(Answered.PERSON, line, task)

"""Click-to-call: Twilio rings the loan officer's phone, then dials the borrower with the company's caller ID.

:func:`click_to_call` is the officer's click. The compliance gate is asked first, exactly as for a call task (a
person dials, so the automated-consent rule does not apply; suppression, the DNC registry and scrub, quiet hours
and the per-24-hour caps do), under the lead's lock, so a STOP committing at the same moment is either seen or
comes after. Anything but an allow at this very moment is recorded as ``blocked`` with the gate's rulings and
the reason is shown; an allowed click is recorded as ``requested`` under its key before Twilio is asked, so a
repeated click (the same key, or any click while this officer's call to the lead is under way) never rings
twice. Twilio's answer moves it on: ``ringing`` with the call's sid, ``failed`` when the request provably did not
go (refused, or no connection made), ``unknown`` when it may have (slow, 5xx, a dropped connection).

When the officer answers, Twilio asks :func:`answer_bridge` for the call's TwiML: one short line, then a
``<Dial>`` of the borrower (suppression is checked once more: an opt-out while the officer's phone rang stops
it). :func:`dial_finished` records what the borrower's leg came to and :func:`officer_leg_ended` what the
officer's did (``nurture.bridge`` holds the rules). A call that may have rung the borrower's phone counts as a
call against the gate's caps (``storage.compliance.load_facts`` reads ``bridge_call``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy.engine import Connection

from channels.messages import OutcomeUnknownError, SendError
from channels.twilio_channel import RedirectedHttpClient, TwilioSender
from nurture.actions import Channel
from nurture.bridge import (
    BridgeStatus,
    after_answer,
    after_create,
    after_dial,
    after_officer_leg,
    after_opt_out,
    describe,
)
from nurture.gate import ContactRequest, Ruling, check
from nurture.gate_plan import decision_line
from nurture.planner import local_time
from service.pipeline import Pipeline
from service.settings import Settings
from storage.bridge import (
    Bridge,
    bridge_by_id,
    bridge_by_key,
    call_target,
    claim_bridge,
    lead_label,
    move_bridge,
    pending_bridge,
    task_of_lead,
)
from storage.compliance import contacts_since, load_facts, opted_out_now
from storage.locks import lock_leads, write_transaction

BRIDGE_QUERY = "bridge"
ANSWER_PATH = "/twilio/bridge/answer"
DIALED_PATH = "/twilio/bridge/dialed"
STATUS_PATH = "/twilio/bridge/status"
JOIN_WINDOW = timedelta(minutes=2)  # a click this soon after the officer's last one to the lead joins that call
_CLICK = re.compile(r"[A-Za-z0-9_-]{8,64}")


class LeadNotFound(LookupError):
    """No such lead, or not this officer's to call: neither theirs nor with a call task on their list (a manager
    may call any)."""


class CallUnavailable(Exception):
    """Click-to-call cannot ring this officer: the message says why and what to do; ``name`` is the lead's."""

    def __init__(self, message: str, *, name: str) -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True, slots=True)
class Click:
    """What the officer's click came to."""

    bridge: Bridge
    new: bool  # False: the same click again, or a call to this lead already under way (nothing rang twice)
    problem: str = ""  # Twilio's trouble in words, when the call failed or its fate is unknown


def bridge_ready(settings: Settings) -> bool:
    """Whether click-to-call is set up: a Twilio account, its auth token and a caller ID."""
    return bool(
        settings.twilio_account_sid.strip()
        and settings.twilio_auth_token.get_secret_value().strip()
        and caller_id(settings)
    )


def caller_id(settings: Settings) -> str:
    return (settings.twilio_bridge_caller_id or settings.twilio_from_number).strip()


def make_dialer(settings: Settings) -> TwilioSender | None:
    """The Twilio client click-to-call rings with (its requests give up after the bridge timeout); None when
    click-to-call is not set up."""
    if not bridge_ready(settings):
        return None
    base = settings.twilio_api_base.strip()
    timeout = settings.twilio_bridge_timeout_seconds
    return TwilioSender(
        account_sid=settings.twilio_account_sid.strip(),
        auth_token=settings.twilio_auth_token.get_secret_value().strip(),
        from_number=caller_id(settings),
        http_client_factory=(lambda: RedirectedHttpClient(base, timeout=timeout)) if base else None,
        timeout=timeout,
    )


def callback_url(settings: Settings, path: str, key: str) -> str:
    """Our own URL ``path`` with the bridge call's key, as Twilio is to call (and sign) it."""
    return settings.public_base_url.rstrip("/") + path + "?" + urlencode({BRIDGE_QUERY: key})


def click_key(officer_id: int, lead_id: int, click: str) -> str:
    """The bridge call's key: one per click. A click token that is not one the page made gets a fresh key."""
    token = click if _CLICK.fullmatch(click) else uuid.uuid4().hex
    return f"click:{officer_id}:{lead_id}:{token}"


def click_to_call(
    p: Pipeline,
    *,
    dialer: TwilioSender | None,
    lead_id: int,
    officer_id: int,
    manager: bool,
    click: str,
    task_id: int | None,
    at: datetime,
) -> Click:
    """The officer's click on a lead's call button. Raises :class:`LeadNotFound` (no such lead, another
    officer's, or a task of another lead) and :class:`CallUnavailable` (not set up, no phone to ring)."""
    with p.engine.connect() as conn:
        target = call_target(conn, lead_id=lead_id, officer_id=officer_id)
        if target is None or not (manager or target.theirs):
            raise LeadNotFound(f"no lead {lead_id} of yours")
        if task_id is not None and not task_of_lead(conn, task_id=task_id, lead_id=lead_id):
            raise LeadNotFound(f"lead {lead_id} has no call task {task_id}")
    if dialer is None:
        why = ("Click-to-call is not set up here (it needs the Twilio account, its auth token and the company caller "
               "ID). Use the phone link instead.")  # fmt: skip
        raise CallUnavailable(why, name=target.first_name)
    if not target.officer_phone:
        why = ("Your phone number is not on file, so there is nothing to ring: ask a manager to add it, or use the "
               "phone link.")  # fmt: skip
        raise CallUnavailable(why, name=target.first_name)
    key = click_key(officer_id, lead_id, click)
    with write_transaction(p.engine) as conn:
        lock_leads(conn, [lead_id])
        same = bridge_by_key(conn, key) or pending_bridge(
            conn, lead_id=lead_id, officer_id=officer_id, since=at - JOIN_WINDOW
        )
        if same is not None:
            return Click(same, new=False)
        allowed, line = _gate(conn, p, lead_id=lead_id, phone=target.phone if target.phone_ok else None,
                              key=key, at=at)  # fmt: skip
        status = BridgeStatus.REQUESTED if allowed else BridgeStatus.BLOCKED
        bridge, _ = claim_bridge(conn, key=key, lead_id=lead_id, officer_id=officer_id, task_id=task_id,
                                 status=status, decisions=line, at=at)  # fmt: skip
    if not allowed:
        return Click(bridge, new=True)
    settings = p.settings
    accepted: bool | None
    sid, problem = None, ""
    try:
        sid = dialer.start_call(
            to=target.officer_phone,
            twiml_url=callback_url(settings, ANSWER_PATH, key),
            status_callback_url=callback_url(settings, STATUS_PATH, key),
            key=key,
        )
        accepted = True
    except OutcomeUnknownError as exc:
        accepted, problem = None, str(exc)
    except SendError as exc:  # refused, or provably never sent
        accepted, problem = False, str(exc)
    with write_transaction(p.engine) as conn:
        move_bridge(conn, key, after_create(accepted), at=at, call_sid=sid)
        bridge = bridge_by_key(conn, key) or bridge
    return Click(bridge, new=True, problem=problem)


def _gate(
    conn: Connection, p: Pipeline, *, lead_id: int, phone: str | None, key: str, at: datetime
) -> tuple[bool, str]:
    """Whether the gate allows a call to the lead right now, and the decision line stored with the click."""
    if phone is None:
        line = {"phase": "click", "checked_at": at.isoformat(), "table": p.policy.table.label, "verdict": "block",
                "at": at.isoformat(), "rules": [["phone", "block", "no working phone number on file"]]}  # fmt: skip
        return False, json.dumps(line, separators=(",", ":"))
    facts = load_facts(conn, [lead_id], since=contacts_since(at))[lead_id]
    verdict = check(ContactRequest(Channel.CALL, at, human=True, to=phone, key=key), facts, p.policy)
    return verdict.ruling is Ruling.ALLOW, decision_line("click", verdict, at)


@dataclass(frozen=True, slots=True)
class BridgeView:
    """A bridge call as its officer reads it."""

    bridge: Bridge
    name: str  # the lead's first name
    words: str  # what its status means
    reason: str  # the gate's reason, for a blocked one
    tone: str  # ok, warn or bad


_TONES = {BridgeStatus.BLOCKED: "bad", BridgeStatus.FAILED: "bad", BridgeStatus.MISSED: "warn",
          BridgeStatus.UNKNOWN: "warn", BridgeStatus.NO_ANSWER: "warn", BridgeStatus.BUSY: "warn"}  # fmt: skip


def view_bridge(p: Pipeline, *, bridge_id: int, lead_id: int, officer_id: int, manager: bool) -> BridgeView:
    """Bridge call ``bridge_id`` of lead ``lead_id``, for the officer who placed it or a manager; else
    :class:`LeadNotFound`."""
    with p.engine.connect() as conn:
        bridge = bridge_by_id(conn, bridge_id)
        label = lead_label(conn, lead_id)
    if bridge is None or label is None or bridge.lead_id != lead_id:
        raise LeadNotFound(f"no call {bridge_id} of lead {lead_id}")
    if not (manager or bridge.loan_officer_id == officer_id):
        raise LeadNotFound(f"call {bridge_id} is not yours")
    name, timezone, _ = label
    return BridgeView(bridge, name, describe(bridge.status), refusal(bridge.decisions, timezone),
                      _TONES.get(BridgeStatus(bridge.status), "ok"))  # fmt: skip


def refusal(decisions: str, timezone: str) -> str:
    """Why the gate refused a click, in words, from its stored decision line ("" when it allowed it): the rule
    and its reason, and for a call that is only too soon, when it may be placed (the lead's clock)."""
    try:
        line = json.loads(decisions.splitlines()[0])
    except (ValueError, IndexError):
        return ""
    moved = [r for r in line.get("rules", []) if len(r) >= 2 and r[1] != Ruling.ALLOW.value]
    if not moved or line.get("verdict") == Ruling.ALLOW.value:
        return ""
    rule = moved[-1] if line["verdict"] in (Ruling.BLOCK.value, Ruling.HOLD.value) else moved[0]
    text = f"{rule[0]}: {rule[2]}" if len(rule) > 2 else rule[0]
    if line["verdict"] == Ruling.DEFER.value and line.get("at"):
        when = local_time(datetime.fromisoformat(line["at"]), timezone)
        text += f". The call may be placed from {when:%a %H:%M} ({timezone})"
    return text


@dataclass(frozen=True, slots=True)
class Answer:
    """The officer's leg's TwiML: a line to say, and the borrower's number to dial (None: hang up)."""

    say: str
    dial: str | None = None


def answer_bridge(p: Pipeline, *, key: str, fields: Mapping[str, str], at: datetime) -> Answer:
    """The officer answered: dial the borrower, unless the lead opted out of calls meanwhile or the call is not
    (or no longer) one waiting for its officer."""
    sid = fields.get("CallSid", "")[:64] or None
    with write_transaction(p.engine) as conn:
        bridge = bridge_by_key(conn, key)
        if bridge is None or (bridge.call_sid and sid and bridge.call_sid != sid):
            return Answer("This call is not one dripline placed. Goodbye.")
        lock_leads(conn, [bridge.lead_id])
        target = call_target(conn, lead_id=bridge.lead_id, officer_id=bridge.loan_officer_id)
        assert target is not None
        if Channel.CALL in opted_out_now(conn, [bridge.lead_id]).get(bridge.lead_id, {}):
            move_bridge(conn, key, after_opt_out(), at=at, call_sid=sid)
            return Answer(f"{target.first_name} asked not to be called, so the call is cancelled. Goodbye.")
        if not move_bridge(conn, key, after_answer(), at=at, call_sid=sid) and bridge.status != "connected":
            return Answer("This call has already ended. Goodbye.")
    return Answer(f"Connecting you to {target.first_name}.", dial=target.phone)


def dial_finished(p: Pipeline, *, key: str, fields: Mapping[str, str], at: datetime) -> Bridge | None:
    """The ``<Dial>`` of the borrower ended (``DialCallStatus``): record what it came to."""
    move = after_dial(fields.get("DialCallStatus", ""))
    with write_transaction(p.engine) as conn:
        if move is not None:
            move_bridge(conn, key, move, at=at, call_sid=fields.get("CallSid") or None)
        return bridge_by_key(conn, key)


def officer_leg_ended(p: Pipeline, *, key: str, fields: Mapping[str, str], at: datetime) -> Bridge | None:
    """The officer's leg's status callback (``CallStatus``): settles a call the officer never answered, or one
    Twilio's API left unknown."""
    with write_transaction(p.engine) as conn:
        for move in after_officer_leg(fields.get("CallStatus", "")):
            if move_bridge(conn, key, move, at=at, call_sid=fields.get("CallSid") or None):
                break
        return bridge_by_key(conn, key)

"""The lead's two state machines: the pipeline stage and the contact cadence.

Both are driven by the same :class:`Event` values. ``TRANSITIONS`` is the one
table: each row names an event, the states it may start from and the state it
leads to, per machine. These enums are the values stored in the database.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Stage(enum.StrEnum):
    """Pipeline stage (DOMAIN: New Lead ... Closed/Funded, plus Nurture)."""

    NEW_LEAD = "new_lead"
    CONTACTED = "contacted"
    EDUCATED = "educated"
    DOCS_REQUESTED = "docs_requested"
    DOCS_RECEIVED = "docs_received"
    PRE_QUALIFIED = "pre_qualified"
    APPLICATION = "application"
    PROCESSING = "processing"
    CLEAR_TO_CLOSE = "clear_to_close"
    CLOSED_FUNDED = "closed_funded"
    NURTURE = "nurture"
    LOST = "lost"


class CadenceStatus(enum.StrEnum):
    """Where the lead is in the automated contact plan."""

    ACTIVE = "active"  # the 7-day contact cadence is running
    NURTURING = "nurturing"  # email-only nurture after (or instead of) the contact days
    HANDED_OFF = "handed_off"  # a person owns the lead; no automated attempts
    STOPPED = "stopped"  # do not contact (outcome, opt-out, lost lead)
    COMPLETED = "completed"  # the plan has no further steps and its last messages are settled


AUTOMATED = frozenset({CadenceStatus.ACTIVE, CadenceStatus.NURTURING})


class Event(enum.StrEnum):
    CONTACT_DAYS_DONE = "contact_days_done"
    CAMPAIGN_ENDED = "campaign_ended"
    LIVE_CONTACT = "live_contact"
    INBOUND_REPLY = "inbound_reply"
    EDUCATED = "educated"
    DOCS_REQUESTED = "docs_requested"
    DOCS_RECEIVED = "docs_received"
    PRE_QUALIFIED = "pre_qualified"
    APPLICATION = "application"
    PROCESSING = "processing"
    CLEAR_TO_CLOSE = "clear_to_close"
    FUNDED = "funded"
    NOT_INTERESTED = "not_interested"
    DO_NOT_CONTACT = "do_not_contact"
    LOST = "lost"
    RESUME_NURTURE = "resume_nurture"
    WRONG_NUMBER = "wrong_number"
    REENGAGE = "reengage"
    REFERRAL_ASK = "referral_ask"
    DOCS_SEQUENCE = "docs_sequence"
    REENGAGEMENT_ENDED = "reengagement_ended"
    RESUBSCRIBED = "resubscribed"


S = Stage
C = CadenceStatus
_OPEN_EARLY = frozenset({S.NEW_LEAD, S.NURTURE})
_WORKING = frozenset(
    {
        S.CONTACTED,
        S.EDUCATED,
        S.DOCS_REQUESTED,
        S.DOCS_RECEIVED,
        S.PRE_QUALIFIED,
        S.APPLICATION,
        S.PROCESSING,
        S.CLEAR_TO_CLOSE,
    }
)
_NOT_DONE = _OPEN_EARLY | _WORKING
_ANY_CADENCE = frozenset(CadenceStatus)


@dataclass(frozen=True, slots=True)
class Transition:
    event: Event
    stage_from: frozenset[Stage]
    stage_to: Stage | None  # None: the stage does not change
    cadence_from: frozenset[CadenceStatus]
    cadence_to: CadenceStatus | None  # None: the cadence status does not change (or: one of ``restores``)
    note: str
    restores: frozenset[CadenceStatus] = frozenset()  # the event puts back the status the lead had, one of these
    handed_over: frozenset[CadenceStatus] = frozenset()  # with ``cadence_to`` None: these become handed_off


def _t(
    event: Event, stage_from, stage_to, cadence_from, cadence_to, note: str, restores=(), handed_over=()
) -> Transition:
    return Transition(
        event,
        frozenset(stage_from),
        stage_to,
        frozenset(cadence_from),
        cadence_to,
        note,
        frozenset(restores),
        frozenset(handed_over),
    )


TRANSITIONS: tuple[Transition, ...] = (
    _t(
        Event.CONTACT_DAYS_DONE,
        _OPEN_EARLY,
        S.NURTURE,
        {C.ACTIVE},
        C.NURTURING,
        "contact days over with no live contact: email nurture",
    ),
    _t(
        Event.CAMPAIGN_ENDED,
        _NOT_DONE | {S.CLOSED_FUNDED},
        None,
        {C.ACTIVE, C.NURTURING},
        C.COMPLETED,
        "the cadence has no further steps and its last messages are settled",
    ),
    _t(
        Event.LIVE_CONTACT,
        _OPEN_EARLY | {S.CONTACTED},
        S.CONTACTED,
        _ANY_CADENCE - {C.STOPPED},
        C.HANDED_OFF,
        "a person spoke with the borrower: the loan officer takes over",
    ),
    _t(
        Event.INBOUND_REPLY,
        _NOT_DONE | {S.CLOSED_FUNDED},
        None,
        _ANY_CADENCE - {C.STOPPED},
        C.HANDED_OFF,
        "the borrower replied: the loan officer takes over",
    ),
    _t(
        Event.EDUCATED,
        _OPEN_EARLY | {S.CONTACTED, S.EDUCATED},
        S.EDUCATED,
        _ANY_CADENCE - {C.STOPPED},
        C.HANDED_OFF,
        "program explained to the borrower",
    ),
    _t(
        Event.DOCS_REQUESTED,
        _OPEN_EARLY | {S.CONTACTED, S.EDUCATED, S.DOCS_REQUESTED},
        S.DOCS_REQUESTED,
        _ANY_CADENCE - {C.STOPPED},
        C.HANDED_OFF,
        "document checklist sent",
    ),
    _t(
        Event.DOCS_RECEIVED,
        {S.DOCS_REQUESTED, S.EDUCATED},
        S.DOCS_RECEIVED,
        _ANY_CADENCE,
        None,
        "documents in: ready for a lender (the document reminders stop; the loan officer has the lead)",
        handed_over={C.ACTIVE, C.NURTURING, C.COMPLETED},
    ),
    _t(Event.PRE_QUALIFIED, {S.DOCS_RECEIVED}, S.PRE_QUALIFIED, _ANY_CADENCE, None, "rate and terms estimated"),
    _t(Event.APPLICATION, {S.PRE_QUALIFIED}, S.APPLICATION, _ANY_CADENCE, None, "application taken"),
    _t(Event.PROCESSING, {S.APPLICATION}, S.PROCESSING, _ANY_CADENCE, None, "in underwriting"),
    _t(Event.CLEAR_TO_CLOSE, {S.PROCESSING}, S.CLEAR_TO_CLOSE, _ANY_CADENCE, None, "cleared to close"),
    _t(
        Event.FUNDED,
        {S.CLEAR_TO_CLOSE},
        S.CLOSED_FUNDED,
        _ANY_CADENCE,
        None,
        "loan funded (a lead that asked not to be contacted stays so; the others get the referral asks)",
    ),
    _t(
        Event.NOT_INTERESTED,
        _NOT_DONE,
        S.NURTURE,
        _ANY_CADENCE - {C.STOPPED},
        C.NURTURING,
        "not ready now: monthly education by email only",
    ),
    _t(
        Event.DO_NOT_CONTACT,
        frozenset(Stage),
        None,
        _ANY_CADENCE,
        C.STOPPED,
        "asked not to be contacted: every automated attempt stops",
    ),
    _t(Event.LOST, _NOT_DONE, S.LOST, _ANY_CADENCE, C.STOPPED, "no way to reach or help this borrower"),
    _t(
        Event.RESUME_NURTURE,
        _NOT_DONE,
        S.NURTURE,
        {C.HANDED_OFF, C.COMPLETED},
        C.NURTURING,
        "the loan officer returns the lead to the email nurture",
    ),
    _t(
        Event.REENGAGE,
        _OPEN_EARLY,
        None,
        {C.NURTURING, C.COMPLETED},
        C.ACTIVE,
        "a lender's guidelines changed in the lead's favour: a new contact sequence naming the change",
    ),
    _t(
        Event.REFERRAL_ASK,
        {S.CLOSED_FUNDED},
        None,
        {C.HANDED_OFF},
        C.ACTIVE,
        "the loan funded: ask for referrals now and 30 days later (email and a loan officer's call)",
    ),
    _t(
        Event.DOCS_SEQUENCE,
        {S.EDUCATED, S.DOCS_REQUESTED},
        S.DOCS_REQUESTED,
        {C.HANDED_OFF},
        C.ACTIVE,
        "program explained or documents asked for on a call: the product's checklist now, then reminders with "
        "deadlines until the documents are in",
    ),
    _t(
        Event.REENGAGEMENT_ENDED,
        _OPEN_EARLY,
        S.NURTURE,
        {C.ACTIVE, C.NURTURING},
        C.NURTURING,
        "the re-engagement sequence is over and its last messages are settled: back to the lead's own nurture",
    ),
    _t(
        Event.RESUBSCRIBED,
        _NOT_DONE,
        None,
        {C.STOPPED},
        None,
        "the borrower texted START after a do-not-contact: the cadence goes on from where it stands, texts only",
        restores={C.ACTIVE, C.NURTURING},
    ),
    _t(
        Event.WRONG_NUMBER,
        frozenset(Stage),
        None,
        _ANY_CADENCE,
        None,
        "the phone number is not the borrower's: phone steps are skipped, email goes on",
    ),
)

_BY_EVENT: dict[Event, Transition] = {t.event: t for t in TRANSITIONS}
assert len(_BY_EVENT) == len(TRANSITIONS), "one row per event"


class InvalidTransition(ValueError):
    """An event that the lead's current states do not allow."""


@dataclass(frozen=True, slots=True)
class StateChange:
    event: Event
    stage_from: Stage
    stage_to: Stage
    cadence_from: CadenceStatus
    cadence_to: CadenceStatus
    note: str

    @property
    def changed(self) -> bool:
        return self.stage_from != self.stage_to or self.cadence_from != self.cadence_to


def apply(event: Event, *, stage: Stage, cadence: CadenceStatus, restore: CadenceStatus | None = None) -> StateChange:
    """Return the states after ``event``; raise :class:`InvalidTransition` if it is not allowed.

    An event that restores an earlier status (``Transition.restores``) takes it as ``restore``."""
    row = _BY_EVENT[event]
    if stage not in row.stage_from:
        raise InvalidTransition(f"{event.value} is not allowed at stage {stage.value}")
    if cadence not in row.cadence_from:
        raise InvalidTransition(f"{event.value} is not allowed while the cadence is {cadence.value}")
    if (restore is not None or row.restores) and restore not in row.restores:
        wanted = ", ".join(sorted(s.value for s in row.restores)) or "nothing"
        raise InvalidTransition(f"{event.value} restores {wanted}, not {restore.value if restore else 'nothing'}")
    handed = CadenceStatus.HANDED_OFF if cadence in row.handed_over else None
    return StateChange(
        event=event,
        stage_from=stage,
        stage_to=row.stage_to or stage,
        cadence_from=cadence,
        cadence_to=restore or row.cadence_to or handed or cadence,
        note=row.note,
    )


def restores(event: Event) -> frozenset[CadenceStatus]:
    """The statuses ``event`` may put back (it takes one as ``restore``); empty for every other event."""
    return _BY_EVENT[event].restores


def allowed(event: Event, *, stage: Stage, cadence: CadenceStatus) -> bool:
    row = _BY_EVENT[event]
    return stage in row.stage_from and cadence in row.cadence_from


def transition_table_markdown() -> str:
    """The transition table as Markdown, for docs/state-machine.md."""
    lines = [
        "| event | from stage | to stage | from cadence | to cadence | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for t in TRANSITIONS:
        lines.append(
            f"| `{t.event.value}` | {_names(t.stage_from, Stage)} | {_target(t.stage_to)} "
            f"| {_names(t.cadence_from, CadenceStatus)} | {_restored(t) or _handed_over(t) or _target(t.cadence_to)} "
            f"| {t.note} |"
        )
    return "\n".join(lines)


def _restored(t: Transition) -> str:
    ordered = [s.value for s in CadenceStatus if s in t.restores]
    return f"as before: {' or '.join(ordered)}" if ordered else ""


def _handed_over(t: Transition) -> str:
    if not t.handed_over:
        return ""
    return f"handed_off from {', '.join(s.value for s in CadenceStatus if s in t.handed_over)}, else (same)"


def _target(state: enum.Enum | None) -> str:
    return state.value if state is not None else "(same)"


def _names(states: frozenset, enum_cls: type[enum.Enum]) -> str:
    if states == frozenset(enum_cls):
        return "any"
    ordered = [s for s in enum_cls if s in states]
    return ", ".join(s.value for s in ordered)


def mermaid(machine: str) -> str:
    """A Mermaid state diagram of one machine ("stage" or "cadence")."""
    lines = ["stateDiagram-v2"]
    for t in TRANSITIONS:
        sources, target = (t.stage_from, t.stage_to) if machine == "stage" else (t.cadence_from, t.cadence_to)
        enum_cls = Stage if machine == "stage" else CadenceStatus
        restored = [s for s in CadenceStatus if s in t.restores] if machine == "cadence" else []
        targets = [target] if target is not None else restored
        for to in targets:
            for s in enum_cls:
                if s in sources and s != to:
                    lines.append(f"    {s.value} --> {to.value}: {t.event.value}")
        if machine == "cadence" and target is None:
            for s in CadenceStatus:
                if s in sources and s in t.handed_over:
                    lines.append(f"    {s.value} --> {CadenceStatus.HANDED_OFF.value}: {t.event.value}")
    return "\n".join(lines)

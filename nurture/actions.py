"""What the planner asks the edges to do, and the vocabularies stored with it."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import NamedTuple


class Channel(enum.StrEnum):
    CALL = "call"  # a call task for the loan officer (a person dials)
    SMS = "sms"
    EMAIL = "email"
    VOICEMAIL = "voicemail"  # prerecorded breakup voicemail drop


OUTBOUND_CHANNELS = frozenset({Channel.SMS, Channel.EMAIL, Channel.VOICEMAIL})


class TouchStatus(enum.StrEnum):
    PLANNED = "planned"  # waiting for its scheduled time
    SENDING = "sending"  # claimed by a dispatch worker under a lease
    UNKNOWN = "unknown"  # its send began but no answer was recorded: settled from the provider's records
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"  # the lead left automation before it went out
    SKIPPED = "skipped"  # planned step that could not apply (no email address, ...)
    BLOCKED = "blocked"  # a compliance rule forbids it (no consent, opted out, ...); never sent


class TaskKind(enum.StrEnum):
    CADENCE = "cadence"  # a call attempt from the cadence
    HANDOFF = "handoff"  # the lead is the loan officer's now: follow up
    REPLY = "reply"  # the borrower wrote back


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    BLOCKED = "blocked"  # a compliance rule forbids the call (do not call, opted out, ...)
    HELD = "held"  # waits for something outside to change (a fresh DNC scrub); not on the officer's list meanwhile


class Outcome(enum.StrEnum):
    NO_ANSWER = "no_answer"
    VOICEMAIL = "voicemail"  # the loan officer left a personal voicemail
    REACHED = "reached"
    EDUCATED = "educated"
    DOCS_REQUESTED = "docs_requested"
    NOT_INTERESTED = "not_interested"
    WRONG_NUMBER = "wrong_number"
    DO_NOT_CALL = "do_not_call"


# Outcomes of a call in which the loan officer spoke with the borrower (a contact, for the contact rate).
LIVE_OUTCOMES = frozenset(
    {Outcome.REACHED, Outcome.EDUCATED, Outcome.DOCS_REQUESTED, Outcome.NOT_INTERESTED, Outcome.DO_NOT_CALL}
)


class SuppressionAction(enum.StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"  # only the consumer re-subscribes (START, UNSTOP, YES), and only to SMS


class InboundKind(enum.StrEnum):
    """What an inbound text asks for."""

    OPT_OUT = "opt_out"  # STOP and friends, or a plain-words revocation
    OPT_IN = "opt_in"  # START, UNSTOP, YES after an opt-out
    HELP = "help"
    REPLY = "reply"  # anything else: a person should read it
    AMBIGUOUS = "ambiguous"  # might be an opt-out: a person must read it before any further contact


class PlannedTouch(NamedTuple):
    """An automated message to put in the outbox. (Named tuples: the tick makes one per due lead.)"""

    lead_id: int
    key: str
    step_id: str
    channel: Channel
    template: str
    scheduled_for: datetime
    not_after: datetime
    status: TouchStatus = TouchStatus.PLANNED
    reason: str = ""
    decisions: str = ""  # the compliance gate's rulings, one JSON line per check


class PlannedCallTask(NamedTuple):
    """A call the loan officer should make, inside a window."""

    lead_id: int
    key: str
    step_id: str
    kind: TaskKind
    template: str
    due_at: datetime
    expires_at: datetime
    priority: int = 0
    status: TaskStatus = TaskStatus.OPEN
    note: str = ""
    decisions: str = ""

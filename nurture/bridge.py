"""A click-to-call's life: the statuses a bridge call moves through and what each Twilio report moves it to.

Twilio rings the loan officer first; once they answer it dials the borrower with the company's caller ID. Three
reports arrive for one call: the API's answer to the create request, the officer's leg's status callback, and
the ``<Dial>`` action with the borrower's leg's result. They can arrive late, twice or out of order, so each
rule names the statuses it moves from, and a final status never changes again. Pure: no clock, no IO.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from nurture.actions import Outcome


class BridgeStatus(enum.StrEnum):
    BLOCKED = "blocked"  # the compliance gate refused: nothing was dialled
    REQUESTED = "requested"  # claimed and asked of Twilio's API
    RINGING = "ringing"  # Twilio took the call: the officer's phone rings
    CONNECTED = "connected"  # the officer answered: the borrower is being dialled
    COMPLETED = "completed"  # the borrower's line answered; the call has ended
    NO_ANSWER = "no-answer"  # the borrower's phone rang out (or the officer hung up while it rang)
    BUSY = "busy"
    FAILED = "failed"  # nothing reached the borrower's phone: Twilio refused the request or could not dial
    MISSED = "missed"  # the officer did not answer their own phone: the borrower was never dialled
    UNKNOWN = "unknown"  # Twilio gave no clear answer: the call may have rung, and counts as if it had


# A call the borrower's phone may have rung for: each counts against the gate's per-24-hour caps, like a call
# task, from the moment it is asked for (a pending one counts until it is known not to have reached them).
COUNTED = frozenset(
    {
        BridgeStatus.REQUESTED,
        BridgeStatus.RINGING,
        BridgeStatus.CONNECTED,
        BridgeStatus.UNKNOWN,
        BridgeStatus.COMPLETED,
        BridgeStatus.NO_ANSWER,
        BridgeStatus.BUSY,
    }
)
# Still under way: another click on the same lead by the same officer joins it instead of dialling again.
PENDING = frozenset({BridgeStatus.REQUESTED, BridgeStatus.RINGING, BridgeStatus.CONNECTED, BridgeStatus.UNKNOWN})
FINAL = frozenset(BridgeStatus) - PENDING
# Before the officer answered: what may still become ``connected`` or be settled by the officer's leg.
BEFORE_ANSWER = frozenset({BridgeStatus.REQUESTED, BridgeStatus.RINGING, BridgeStatus.UNKNOWN})

# The ``<Dial>`` action's DialCallStatus: what the borrower's leg came to, and the call outcome it records.
_DIALED: dict[str, tuple[BridgeStatus, Outcome | None]] = {
    "completed": (BridgeStatus.COMPLETED, None),  # a person or a voicemail box: the officer logs which
    "answered": (BridgeStatus.COMPLETED, None),
    "no-answer": (BridgeStatus.NO_ANSWER, Outcome.NO_ANSWER),
    "canceled": (BridgeStatus.NO_ANSWER, Outcome.NO_ANSWER),
    "busy": (BridgeStatus.BUSY, Outcome.NO_ANSWER),
    "failed": (BridgeStatus.FAILED, None),
}
_LEG_FINAL = frozenset({"completed", "busy", "no-answer", "canceled", "failed"})


class Move(NamedTuple):
    """A change to a bridge call: the statuses it may leave, the status it reaches and the outcome it records."""

    leaves: frozenset[BridgeStatus]
    to: BridgeStatus
    outcome: Outcome | None = None


def after_create(accepted: bool | None) -> Move:
    """Twilio's API answered the create request: took it (True), refused it for sure (False) or gave no clear
    answer (None). Only a call still ``requested`` moves: a callback may already have told more."""
    to = {True: BridgeStatus.RINGING, False: BridgeStatus.FAILED, None: BridgeStatus.UNKNOWN}[accepted]
    return Move(frozenset({BridgeStatus.REQUESTED}), to)


def after_answer() -> Move:
    """The officer picked up (Twilio fetched the call's TwiML): the borrower is dialled next."""
    return Move(BEFORE_ANSWER, BridgeStatus.CONNECTED)


def after_opt_out() -> Move:
    """The borrower opted out of calls while the officer's phone rang: the borrower is not dialled."""
    return Move(BEFORE_ANSWER, BridgeStatus.BLOCKED)


def after_dial(dial_status: str) -> Move | None:
    """The ``<Dial>`` ended with ``dial_status``; None for a status Twilio does not end a dial with."""
    found = _DIALED.get(dial_status.strip().lower())
    if found is None:
        return None
    return Move(PENDING, *found)


def after_officer_leg(call_status: str) -> list[Move]:
    """The officer's leg ended with ``call_status`` (its status callback). Before they answered: ``missed`` (or
    ``failed`` when Twilio could not ring them); after, with no word from the dial: ``unknown`` (the borrower
    may have been reached). Empty for a status that is not final (``ringing``, ``in-progress``)."""
    status = call_status.strip().lower()
    if status not in _LEG_FINAL:
        return []
    before = BridgeStatus.FAILED if status == "failed" else BridgeStatus.MISSED
    return [Move(BEFORE_ANSWER, before), Move(frozenset({BridgeStatus.CONNECTED}), BridgeStatus.UNKNOWN)]


def describe(status: str) -> str:
    """What the officer reads about a bridge call in this status."""
    return _WORDS.get(status, status)


_WORDS: dict[str, str] = {
    BridgeStatus.BLOCKED: "Not dialled: the compliance rules do not allow this call now.",
    BridgeStatus.REQUESTED: "Asking Twilio to ring your phone.",
    BridgeStatus.RINGING: "Your phone is ringing. Answer it and the borrower is dialled with the company's number.",
    BridgeStatus.CONNECTED: "You answered: the borrower's phone is ringing.",
    BridgeStatus.COMPLETED: "The call is over. Log its outcome on the call task.",
    BridgeStatus.NO_ANSWER: "The borrower did not answer. It counts as a call attempt.",
    BridgeStatus.BUSY: "The borrower's line was busy. It counts as a call attempt.",
    BridgeStatus.FAILED: "The call did not go through; the borrower's phone did not ring.",
    BridgeStatus.MISSED: "Your phone was not answered, so the borrower was not dialled.",
    BridgeStatus.UNKNOWN: (
        "Twilio did not confirm the call. Your phone may still ring; it counts as a call attempt either way."
    ),
}

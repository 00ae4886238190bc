"""The click-to-call status rules: Twilio's reports in any order, any number of times, never undo a final status."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nurture.actions import Outcome
from nurture.bridge import (
    COUNTED,
    FINAL,
    PENDING,
    BridgeStatus,
    Move,
    after_answer,
    after_create,
    after_dial,
    after_officer_leg,
    after_opt_out,
)

DIAL_STATUSES = ["completed", "answered", "no-answer", "canceled", "busy", "failed", "ringing", "queued", ""]
LEG_STATUSES = ["completed", "busy", "no-answer", "canceled", "failed", "ringing", "in-progress", "initiated"]


def apply(status: BridgeStatus, moves: list[Move]) -> BridgeStatus:
    """What ``move_bridge`` does: the first move whose ``leaves`` holds the status wins."""
    for move in moves:
        if status in move.leaves:
            return move.to
    return status


reports = st.one_of(
    st.sampled_from([True, False, None]).map(lambda a: [after_create(a)]),
    st.just([after_answer()]),
    st.just([after_opt_out()]),
    st.sampled_from(DIAL_STATUSES).map(lambda s: [m] if (m := after_dial(s)) else []),
    st.sampled_from(LEG_STATUSES).map(after_officer_leg),
)


@given(st.lists(reports, max_size=12))
def test_a_final_status_never_changes_again(sequence: list[list[Move]]) -> None:
    status = BridgeStatus.REQUESTED
    for moves in sequence:
        after = apply(status, moves)
        if status in FINAL:
            assert after == status, f"{status} moved to {after}"
        status = after


def test_the_happy_path_and_its_outcomes() -> None:
    status = apply(BridgeStatus.REQUESTED, [after_create(True)])
    assert status is BridgeStatus.RINGING
    status = apply(status, [after_answer()])
    assert status is BridgeStatus.CONNECTED
    move = after_dial("busy")
    assert move is not None and (apply(status, [move]), move.outcome) == (BridgeStatus.BUSY, Outcome.NO_ANSWER)
    done = after_dial("completed")
    assert done is not None and done.outcome is None, "a person or a voicemail box: the officer logs which"
    assert after_dial("ringing") is None and after_officer_leg("in-progress") == []


def test_the_officers_leg_settles_only_what_the_dial_did_not() -> None:
    assert apply(BridgeStatus.RINGING, after_officer_leg("no-answer")) is BridgeStatus.MISSED
    assert apply(BridgeStatus.UNKNOWN, after_officer_leg("failed")) is BridgeStatus.FAILED
    assert apply(BridgeStatus.CONNECTED, after_officer_leg("completed")) is BridgeStatus.UNKNOWN
    assert apply(BridgeStatus.NO_ANSWER, after_officer_leg("completed")) is BridgeStatus.NO_ANSWER
    assert apply(BridgeStatus.CONNECTED, [after_create(True)]) is BridgeStatus.CONNECTED, "a late API answer"


def test_what_counts_against_the_caps() -> None:
    assert PENDING <= COUNTED
    assert {BridgeStatus.BLOCKED, BridgeStatus.FAILED, BridgeStatus.MISSED}.isdisjoint(COUNTED)
    assert set(BridgeStatus) == FINAL | PENDING and not FINAL & PENDING

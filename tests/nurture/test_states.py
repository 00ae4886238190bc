import pytest

from nurture.states import (
    TRANSITIONS,
    CadenceStatus,
    Event,
    InvalidTransition,
    Stage,
    allowed,
    apply,
    mermaid,
    transition_table_markdown,
)


def test_every_event_has_exactly_one_row():
    assert sorted(t.event for t in TRANSITIONS) == sorted(Event)


def test_live_contact_hands_new_lead_to_officer():
    change = apply(Event.LIVE_CONTACT, stage=Stage.NEW_LEAD, cadence=CadenceStatus.ACTIVE)
    assert (change.stage_to, change.cadence_to) == (Stage.CONTACTED, CadenceStatus.HANDED_OFF)
    assert change.changed


def test_contact_days_done_moves_unreached_lead_to_nurture():
    change = apply(Event.CONTACT_DAYS_DONE, stage=Stage.NEW_LEAD, cadence=CadenceStatus.ACTIVE)
    assert (change.stage_to, change.cadence_to) == (Stage.NURTURE, CadenceStatus.NURTURING)


def test_funding_requires_clear_to_close():
    with pytest.raises(InvalidTransition, match="funded is not allowed at stage new_lead"):
        apply(Event.FUNDED, stage=Stage.NEW_LEAD, cadence=CadenceStatus.HANDED_OFF)


def test_no_automation_restarts_after_do_not_contact_but_the_borrowers_own_start():
    stopped = apply(Event.DO_NOT_CONTACT, stage=Stage.NEW_LEAD, cadence=CadenceStatus.ACTIVE)
    assert stopped.cadence_to is CadenceStatus.STOPPED
    for event in Event:
        if allowed(event, stage=stopped.stage_to, cadence=CadenceStatus.STOPPED) and event is not Event.RESUBSCRIBED:
            after = apply(event, stage=stopped.stage_to, cadence=CadenceStatus.STOPPED)
            assert after.cadence_to in (CadenceStatus.STOPPED, CadenceStatus.COMPLETED), event


def test_resubscribing_restores_the_automated_status_the_lead_had_and_nothing_else():
    for before in (CadenceStatus.ACTIVE, CadenceStatus.NURTURING):
        change = apply(Event.RESUBSCRIBED, stage=Stage.NURTURE, cadence=CadenceStatus.STOPPED, restore=before)
        assert (change.stage_to, change.cadence_to) == (Stage.NURTURE, before)
    for other in (None, CadenceStatus.HANDED_OFF, CadenceStatus.COMPLETED):
        with pytest.raises(InvalidTransition, match="resubscribed restores active, nurturing"):
            apply(Event.RESUBSCRIBED, stage=Stage.NURTURE, cadence=CadenceStatus.STOPPED, restore=other)
    with pytest.raises(InvalidTransition, match="restores nothing"):
        apply(Event.LOST, stage=Stage.NURTURE, cadence=CadenceStatus.STOPPED, restore=CadenceStatus.ACTIVE)
    assert "stopped --> active: resubscribed" in mermaid("cadence")
    assert "stopped --> nurturing: resubscribed" in mermaid("cadence")


def test_a_re_engagement_that_ends_goes_back_to_nurture():
    change = apply(Event.REENGAGEMENT_ENDED, stage=Stage.NEW_LEAD, cadence=CadenceStatus.ACTIVE)
    assert (change.stage_to, change.cadence_to) == (Stage.NURTURE, CadenceStatus.NURTURING)


def test_pipeline_walks_from_contact_to_funded():
    stage, cadence = Stage.NEW_LEAD, CadenceStatus.ACTIVE
    for event in (
        Event.LIVE_CONTACT,
        Event.EDUCATED,
        Event.DOCS_REQUESTED,
        Event.DOCS_RECEIVED,
        Event.PRE_QUALIFIED,
        Event.APPLICATION,
        Event.PROCESSING,
        Event.CLEAR_TO_CLOSE,
        Event.FUNDED,
    ):
        change = apply(event, stage=stage, cadence=cadence)
        stage, cadence = change.stage_to, change.cadence_to
    assert (stage, cadence) == (Stage.CLOSED_FUNDED, CadenceStatus.HANDED_OFF)
    referral = apply(Event.REFERRAL_ASK, stage=stage, cadence=cadence)
    assert (referral.stage_to, referral.cadence_to) == (Stage.CLOSED_FUNDED, CadenceStatus.ACTIVE)
    ended = apply(Event.CAMPAIGN_ENDED, stage=referral.stage_to, cadence=referral.cadence_to)
    assert (ended.stage_to, ended.cadence_to) == (Stage.CLOSED_FUNDED, CadenceStatus.COMPLETED)


def test_a_funded_lead_that_asked_not_to_be_contacted_gets_no_referral_ask():
    funded = apply(Event.FUNDED, stage=Stage.CLEAR_TO_CLOSE, cadence=CadenceStatus.STOPPED)
    assert funded.cadence_to is CadenceStatus.STOPPED
    assert not allowed(Event.REFERRAL_ASK, stage=funded.stage_to, cadence=funded.cadence_to)


def test_a_reply_to_a_referral_ask_goes_to_the_loan_officer():
    reply = apply(Event.INBOUND_REPLY, stage=Stage.CLOSED_FUNDED, cadence=CadenceStatus.ACTIVE)
    assert (reply.stage_to, reply.cadence_to) == (Stage.CLOSED_FUNDED, CadenceStatus.HANDED_OFF)


def test_docs_are_generated_from_the_table():
    table = transition_table_markdown()
    assert table.count("\n") == len(TRANSITIONS) + 1
    assert "new_lead --> contacted: live_contact" in mermaid("stage")
    assert "active --> handed_off: live_contact" in mermaid("cadence")

"""The compliance gate, rule by rule: each one fires where it must and stays quiet where it must not."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nurture.actions import Channel
from nurture.cadence import Window
from nurture.compliance import RuleTableError, exposure, load_rule_table
from nurture.gate import (
    ContactFacts,
    ContactRequest,
    Policy,
    Ruling,
    allowed_until,
    check,
    consent,
    dnc_registry,
    dnc_scrub,
    global_cap,
    next_allowed,
    policy_sellers,
    quiet_hours,
    sms_registration,
    state_cap,
    suppression,
    textable,
)

ROOT = Path(__file__).resolve().parents[2]
TABLE = load_rule_table((ROOT / "compliance" / "us.yaml").read_text())
POLICY = Policy(TABLE, registered_states=frozenset(), sellers=policy_sellers("Dripline Demo Mortgage"))
MIAMI = "+13055550147"
ATLANTA = "+14045550147"
NYC = "+12125550147"


def facts(**kw) -> ContactFacts:
    values = dict(
        lead_id=1,
        timezone="America/New_York",
        address_state="NY",
        phone=NYC,
        inquiry_date=date(2026, 5, 1),
        dnc_scrubbed_on=date(2026, 6, 1),
        consents=((NYC, "Dripline Demo Mortgage"),),
    )
    values.update(kw)
    return ContactFacts(**values)  # type: ignore[arg-type]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def sms(at: datetime, to: str = NYC, **kw) -> ContactRequest:
    return ContactRequest(Channel.SMS, at, to=to, **kw)


def test_an_sms_at_20_45_to_a_florida_address_waits_for_08_00_next_day():
    f = facts(address_state="FL", phone=MIAMI, consents=((MIAMI, "Dripline Demo Mortgage"),))
    at = utc(2026, 6, 10, 0, 45)  # 20:45 in Miami (EDT)
    verdict = check(sms(at, MIAMI), f, POLICY)
    assert verdict.ruling is Ruling.DEFER
    assert verdict.at == utc(2026, 6, 10, 12, 0)  # 08:00 EDT
    assert "quiet_hours" in verdict.reason and "FL" in verdict.reason
    assert check(sms(utc(2026, 6, 9, 23, 59), MIAMI), f, POLICY).ruling is Ruling.ALLOW  # 19:59


def test_a_georgia_address_with_a_305_number_follows_florida_rules():
    georgia_on_atlanta = facts(address_state="GA", phone=ATLANTA, consents=((ATLANTA, "Dripline Demo Mortgage"),))
    georgia_on_miami = facts(address_state="GA", phone=MIAMI, consents=((MIAMI, "Dripline Demo Mortgage"),))
    at = utc(2026, 6, 10, 0, 30)  # 20:30 in Atlanta and Miami
    assert check(sms(at, ATLANTA), georgia_on_atlanta, POLICY).ruling is Ruling.ALLOW
    assert check(sms(at, MIAMI), georgia_on_miami, POLICY).ruling is Ruling.DEFER
    assert exposure("America/New_York", "GA", MIAMI).states == {"GA", "FL"}


def test_21_00_in_new_york_on_the_day_daylight_time_ends():
    # 2026-11-01: clocks fall back at 02:00; the evening is EST (UTC-5).
    f = facts(dnc_scrubbed_on=date(2026, 10, 20))
    assert check(sms(utc(2026, 11, 2, 1, 59)), f, POLICY).ruling is Ruling.ALLOW  # 20:59 EST
    late = check(sms(utc(2026, 11, 2, 2, 0)), f, POLICY)  # 21:00 EST
    assert late.ruling is Ruling.DEFER and late.at == utc(2026, 11, 2, 13, 0)  # 08:00 EST next morning
    morning = check(sms(utc(2026, 11, 1, 12, 30)), f, POLICY)  # 07:30 EST, after the change
    assert morning.at == utc(2026, 11, 1, 13, 0)


def test_quiet_hours_use_every_zone_the_lead_may_be_in():
    # A California address with a New York number: 08:00 in LA is 11:00 in NY; 21:00 in NY is 18:00 in LA.
    f = facts(timezone="America/Los_Angeles", address_state="CA")
    early = check(sms(utc(2026, 6, 10, 13, 0)), f, POLICY)  # 06:00 LA, 09:00 NY
    assert early.at == utc(2026, 6, 10, 15, 0)  # 08:00 LA
    late = check(sms(utc(2026, 6, 11, 1, 30)), f, POLICY)  # 18:30 LA, 21:30 NY
    assert late.at == utc(2026, 6, 11, 15, 0)


def test_quiet_hours_leave_email_alone_and_block_when_no_hour_fits_everywhere():
    night = utc(2026, 6, 10, 6, 0)
    assert quiet_hours(ContactRequest(Channel.EMAIL, night), facts(), POLICY) is None
    assert next_allowed(night, ("America/New_York", "Asia/Tokyo"), Window(time(8), time(9))) is None
    far = facts(timezone="Asia/Tokyo", address_state=None, phone=NYC)  # 13 hours apart in June
    decision = quiet_hours(ContactRequest(Channel.CALL, night, human=True), far, POLICY)
    assert decision is not None and decision.ruling is Ruling.DEFER and decision.until is not None
    for zone in ("Asia/Tokyo", "America/New_York"):
        assert time(8) <= decision.until.astimezone(ZoneInfo(zone)).time() < time(21)


def test_suppression_blocks_only_the_opted_out_channel():
    f = facts(opted_out={Channel.SMS: "STOP from +12125550147 on 2026-06-01"})
    blocked = suppression(sms(utc(2026, 6, 10, 15)), f, POLICY)
    assert blocked is not None and blocked.ruling is Ruling.BLOCK and "STOP" in blocked.reason
    email = suppression(ContactRequest(Channel.EMAIL, utc(2026, 6, 10, 15)), f, POLICY)
    assert email is not None and email.ruling is Ruling.ALLOW


def test_textable_blocks_texts_to_a_number_the_carriers_refuse_and_nothing_else():
    at = utc(2026, 6, 10, 15)
    f = facts(not_textable={NYC: "Twilio error 30006 on SM1: a landline"})
    blocked = check(sms(at), f, POLICY)
    assert (blocked.ruling, blocked.reason) == (Ruling.BLOCK, f"textable: {NYC} cannot take texts: "
                                                "Twilio error 30006 on SM1: a landline")  # fmt: skip
    assert textable(ContactRequest(Channel.CALL, at, human=True, to=NYC), f, POLICY) is None
    assert textable(ContactRequest(Channel.VOICEMAIL, at, to=NYC), f, POLICY) is None
    assert check(ContactRequest(Channel.VOICEMAIL, at, to=NYC), f, POLICY).ruling is Ruling.ALLOW
    other = textable(sms(at, "+12125550199"), f, POLICY)
    assert other is not None and other.ruling is Ruling.ALLOW
    assert check(sms(at), facts(), POLICY).ruling is Ruling.ALLOW
    assert f.with_contact(at, Channel.SMS, "k").not_textable == f.not_textable


def test_consent_must_name_us_and_the_exact_number():
    at = utc(2026, 6, 10, 15)
    assert consent(sms(at), facts(), POLICY).ruling is Ruling.ALLOW  # type: ignore[union-attr]
    other = consent(sms(at, "+12125550199"), facts(), POLICY)
    assert other is not None and other.ruling is Ruling.BLOCK and "no written consent" in other.reason
    wrong_seller = consent(sms(at), facts(consents=((NYC, "Acme Leads LLC"),)), POLICY)
    assert wrong_seller is not None and wrong_seller.ruling is Ruling.BLOCK and "Acme" in wrong_seller.reason
    spacing = consent(sms(at), facts(consents=((NYC, "  dripline demo   MORTGAGE "),)), POLICY)
    assert spacing is not None and spacing.ruling is Ruling.ALLOW
    assert consent(ContactRequest(Channel.CALL, at, human=True, to=NYC), facts(consents=()), POLICY) is None
    voicemail = consent(ContactRequest(Channel.VOICEMAIL, at, to=NYC), facts(consents=()), POLICY)
    assert voicemail is not None and voicemail.ruling is Ruling.BLOCK


def test_texas_texts_need_a_registered_sender():
    texan = facts(timezone="America/Chicago", address_state="TX", phone="+12145550147")
    at = utc(2026, 6, 10, 16)
    assert sms_registration(sms(at, "+12145550147"), texan, POLICY).ruling is Ruling.BLOCK  # type: ignore[union-attr]
    registered = Policy(TABLE, registered_states=frozenset({"TX"}), sellers=POLICY.sellers)
    assert sms_registration(sms(at, "+12145550147"), texan, registered).ruling is Ruling.ALLOW  # type: ignore[union-attr]
    assert sms_registration(sms(at), facts(), POLICY).ruling is Ruling.ALLOW  # type: ignore[union-attr]
    # a Texas area code on an out-of-state address still counts
    dallas_number = facts(phone="+12145550147")
    assert sms_registration(sms(at, "+12145550147"), dallas_number, POLICY).ruling is Ruling.BLOCK  # type: ignore[union-attr]


def test_dnc_registry_rules():
    listed = facts(dnc_listed=True, consents=(), inquiry_date=date(2026, 4, 15))
    at = utc(2026, 6, 10, 16)
    automated = dnc_registry(sms(at), listed, POLICY)
    assert automated is not None and automated.ruling is Ruling.BLOCK
    call = ContactRequest(Channel.CALL, at, human=True, to=NYC)
    assert dnc_registry(call, listed, POLICY).ruling is Ruling.ALLOW  # type: ignore[union-attr]
    late_call = ContactRequest(Channel.CALL, utc(2026, 7, 16, 16), human=True, to=NYC)
    assert dnc_registry(late_call, listed, POLICY).ruling is Ruling.BLOCK  # type: ignore[union-attr]
    on_the_last_day = ContactRequest(Channel.CALL, utc(2026, 7, 15, 16), human=True, to=NYC)
    assert dnc_registry(on_the_last_day, listed, POLICY).ruling is Ruling.ALLOW  # type: ignore[union-attr]
    with_consent = facts(dnc_listed=True)
    assert dnc_registry(sms(at), with_consent, POLICY).ruling is Ruling.ALLOW  # type: ignore[union-attr]
    assert dnc_registry(sms(at), facts(), POLICY) is None


def test_a_stale_or_missing_scrub_holds_phone_contact_but_not_email():
    at = utc(2026, 6, 10, 16)
    fresh = dnc_scrub(sms(at), facts(dnc_scrubbed_on=date(2026, 5, 10)), POLICY)  # 31 days
    assert fresh is not None and fresh.ruling is Ruling.ALLOW
    stale = dnc_scrub(sms(at), facts(dnc_scrubbed_on=date(2026, 5, 9)), POLICY)  # 32 days
    assert stale is not None and stale.ruling is Ruling.HOLD and stale.until == at + timedelta(days=1)
    never = dnc_scrub(sms(at), facts(dnc_scrubbed_on=None), POLICY)
    assert never is not None and never.ruling is Ruling.HOLD and "never scrubbed" in never.reason
    assert dnc_scrub(ContactRequest(Channel.EMAIL, at), facts(dnc_scrubbed_on=None), POLICY) is None
    verdict = check(sms(at), facts(dnc_scrubbed_on=None), POLICY)
    assert verdict.ruling is Ruling.HOLD and verdict.at == at + timedelta(days=1)


def test_a_strict_state_lead_gets_no_fourth_contact_within_24_hours():
    f = facts(address_state="FL", phone=MIAMI, consents=((MIAMI, "Dripline Demo Mortgage"),))
    base = utc(2026, 6, 10, 14)
    sent = [(base - timedelta(hours=h), Channel.SMS, f"k{h}") for h in (20, 10, 1)]
    crowded = f.__class__(**{**_fields(f), "contacts": tuple(sent)})
    decision = state_cap(sms(base, MIAMI), crowded, POLICY)
    assert decision is not None and decision.ruling is Ruling.DEFER
    assert decision.until == base - timedelta(hours=20) + timedelta(hours=24)
    two = f.__class__(**{**_fields(f), "contacts": tuple(sent[1:])})
    assert state_cap(sms(base, MIAMI), two, POLICY).ruling is Ruling.ALLOW  # type: ignore[union-attr]
    assert state_cap(sms(base), facts(contacts=tuple(sent)), POLICY) is None  # New York has no such cap
    own_key = state_cap(sms(base, MIAMI, key="k1"), crowded, POLICY)
    assert own_key is not None and own_key.ruling is Ruling.ALLOW, "a touch does not count against itself"


def test_the_global_cap_counts_every_channel():
    base = utc(2026, 6, 10, 15)
    busy = facts(contacts=tuple((base - timedelta(hours=h), Channel.EMAIL, f"e{h}") for h in (1, 2, 3, 4)))
    decision = global_cap(ContactRequest(Channel.EMAIL, base), busy, POLICY)
    assert decision is not None and decision.ruling is Ruling.DEFER
    quiet = facts(contacts=tuple((base - timedelta(hours=h), Channel.EMAIL, f"e{h}") for h in (1, 2, 3)))
    assert global_cap(ContactRequest(Channel.EMAIL, base), quiet, POLICY).ruling is Ruling.ALLOW  # type: ignore[union-attr]


def test_a_deferral_is_checked_again_by_every_rule():
    # Three Florida contacts in the 24 hours around the request: the cap moves it past the first one.
    f = facts(address_state="FL", phone=MIAMI, consents=((MIAMI, "Dripline Demo Mortgage"),))
    evening = utc(2026, 6, 10, 0, 30)  # 20:30 EDT on June 9 (an LO's hand-logged call can be late)
    contacts = ((utc(2026, 6, 9, 13), Channel.CALL, "a"), (utc(2026, 6, 9, 15), Channel.SMS, "b"),
                (evening, Channel.CALL, "c"))  # fmt: skip
    crowded = f.__class__(**{**_fields(f), "contacts": contacts})
    verdict = check(sms(utc(2026, 6, 9, 17), MIAMI), crowded, POLICY)
    assert verdict.ruling is Ruling.DEFER
    assert verdict.at == utc(2026, 6, 10, 13)  # 09:00: the first call has left the 24 h window
    rulings = [(d.rule, d.ruling) for d in verdict.decisions]
    assert rulings[0] == ("state_cap", Ruling.DEFER), "the cap moved it"
    assert ("quiet_hours", Ruling.ALLOW) in rulings[1:], "and quiet hours were checked again at the new time"


def _fields(f: ContactFacts) -> dict:
    return {name: getattr(f, name) for name in f.__dataclass_fields__}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("version: 1", "version: 0"), "version"),
        (lambda t: t.replace('["08:00", "21:00"]', '["21:00", "08:00"]'), "must come before"),
        (lambda t: t.replace("  FL:", "  ZZ:"), "not a US state code"),
        (lambda t: t.replace("[call, sms, voicemail, email]", "[call, fax]"), "not one of"),
        (lambda t: t.replace("max_scrub_age_days: 31", "max_scrub_age_days: -1"), "max_scrub_age_days"),
        (lambda t: t + "\nextra: 1\n", "unknown field"),
    ],
)
def test_a_broken_rule_table_names_the_field(edit, message):
    with pytest.raises(RuleTableError, match=message):
        load_rule_table(edit((ROOT / "compliance" / "us.yaml").read_text()))


def test_the_rule_table_reads_as_written():
    assert TABLE.label == "us v1"
    assert TABLE.window_for(frozenset({"FL", "NY"})) == Window(time(8), time(20))
    assert TABLE.window_for(frozenset({"NY"})) == Window(time(8), time(21))
    assert TABLE.state_cap(frozenset({"GA", "MD"})) == (3, "MD")
    assert TABLE.state_cap(frozenset({"GA"})) is None


@pytest.mark.parametrize(
    ("zone", "state", "phone", "due", "moved_to"),
    [
        # A Los Angeles address with a Miami number: the 17:00-20:00 evening window (LA) is 20:00-23:00 in Miami,
        # after Florida's 20:00; Miami's hours end at 17:00 in LA, so the call goes to 14:00-17:00 LA the next day.
        ("America/Los_Angeles", "CA", MIAMI, utc(2026, 6, 10, 0), utc(2026, 6, 10, 21)),
        # A Honolulu address with a New York number: New York's 21:00 is 15:00 in Honolulu: 12:00-15:00 next day.
        ("Pacific/Honolulu", "HI", NYC, utc(2026, 6, 10, 3), utc(2026, 6, 10, 22)),
    ],
)
def test_a_step_window_that_never_meets_the_quiet_hours_goes_to_the_nearest_permitted_time(
    zone, state, phone, due, moved_to
):
    f = facts(timezone=zone, address_state=state, phone=phone)
    window = Window(time(17), time(20))
    call = ContactRequest(Channel.CALL, due, human=True, window=window, to=phone)
    verdict = check(call, f, POLICY)
    assert (verdict.ruling, verdict.at) == (Ruling.DEFER, moved_to)
    assert "never meets" in verdict.reason and "nearest permitted time" in verdict.reason
    assert allowed_until(call, f, POLICY, verdict.at) == moved_to + timedelta(hours=3), "the window's length kept"
    at_the_new_time = check(call._replace(at=moved_to + timedelta(hours=1)), f, POLICY)
    assert at_the_new_time.ruling is Ruling.ALLOW, "dispatch's re-check at the moved time lets it go"
    too_late = check(call._replace(at=moved_to + timedelta(hours=3)), f, POLICY)
    assert (too_late.ruling, too_late.at) == (Ruling.DEFER, moved_to + timedelta(days=1))
    assert len(verdict.decisions) < 40, "the log keeps the deferrals, not every allow of every round"


def test_a_step_window_that_meets_the_quiet_hours_is_not_moved_outside_it():
    f = facts(timezone="America/New_York", address_state="NY", phone=NYC)
    call = ContactRequest(Channel.CALL, utc(2026, 6, 10, 0), human=True, window=Window(time(17), time(20)), to=NYC)
    verdict = check(call, f, POLICY)  # 20:00 New York, the window just closed: tomorrow 17:00, inside it
    assert (verdict.ruling, verdict.at) == (Ruling.DEFER, utc(2026, 6, 10, 21))
    assert "never meets" not in verdict.reason


def test_a_decision_line_is_plain_json_with_every_ruling():
    import json

    from nurture.gate_plan import decision_line

    verdict = check(sms(utc(2026, 6, 10, 0, 45), MIAMI), facts(address_state="FL", phone=MIAMI,
                    consents=((MIAMI, "Dripline Demo Mortgage"),)), POLICY)  # fmt: skip
    line = json.loads(decision_line("plan", verdict, utc(2026, 6, 10)))
    assert line["phase"] == "plan" and line["table"] == "us v1" and line["verdict"] == "defer"
    assert line["at"] == "2026-06-10T12:00:00+00:00" and line["checked_at"] == "2026-06-10T00:00:00+00:00"
    assert ["suppression", "allow"] in line["rules"] and any(r[:2] == ["quiet_hours", "defer"] for r in line["rules"])


def test_every_mistake_of_a_rule_table_is_listed_one_per_line():
    text = (ROOT / "compliance" / "us.yaml").read_text()
    broken = text.replace("TX: {sms_needs_registration: true}", "TX: {sms_needs_registration: maybe, colour: 1}")
    broken = broken.replace("  max_per_24h: 4 ", "  max_per_24h: 0 ")
    broken = broken.replace("consent:\n  required_for", "consent:\n  x")
    with pytest.raises(RuleTableError) as caught:
        load_rule_table(broken, source="us.yaml")
    assert str(caught.value).splitlines() == [
        "us.yaml: states.TX.sms_needs_registration: 'maybe': Input should be a valid boolean",
        "us.yaml: states.TX.colour: unknown field",
        "us.yaml: frequency.max_per_24h: 0: Input should be greater than or equal to 1",
        "us.yaml: consent: missing 'required_for'",
        "us.yaml: consent.x: unknown field",
    ]
    with pytest.raises(RuleTableError) as caught:
        load_rule_table("- 1\n", source="us.yaml")
    assert str(caught.value) == "us.yaml: expected a mapping"

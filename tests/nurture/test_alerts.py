"""Officers' alerts, decided without the clock: priority, quiet hours, hour windows, wording."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nurture.actions import Channel
from nurture.alerts import (
    REENGAGE,
    SIGNIN_MARK,
    AlertKind,
    QuietHours,
    Reach,
    TaskLine,
    alert_kind,
    compose,
    digest_key,
    email_html,
    hour_window,
    is_priority,
    placeholder_link,
    route,
)
from storage.rescore import REENGAGE_CADENCE

NY = "America/New_York"
NIGHT = QuietHours(NY, 21 * 60, 8 * 60)
MON = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)  # 12:00 in New York


def test_replies_hand_offs_and_re_engagement_calls_are_priority_and_cadence_calls_are_not() -> None:
    assert REENGAGE == REENGAGE_CADENCE, "the re-engagement cadence is known by one name"
    assert is_priority("reply", "7:reply:SM1")
    assert is_priority("handoff", "7:handoff:live_contact:2026-03-02T13:00:00+00:00")
    assert is_priority("cadence", "7:reengage:v1@2026-06-02:d0-call:call")
    assert is_priority("cadence", "7:reengage:v1@2026-06-02:d3-call:call")
    assert not is_priority("cadence", "7:aged-nonqm:v1:d0-call:call")
    assert not is_priority("cadence", "7:referral:v1@2026-06-02:d0-call:call")
    assert not is_priority("cadence", "reengage")


def test_a_priority_task_due_long_ago_joins_the_digest_rather_than_ringing_alone() -> None:
    due = MON - timedelta(hours=2)
    assert alert_kind("reply", "7:reply:SM1", due_at=due, now=MON) is AlertKind.DUE
    assert alert_kind("reply", "7:reply:SM1", due_at=MON - timedelta(days=2), now=MON) is AlertKind.DIGEST
    assert alert_kind("cadence", "7:aged-nonqm:v1:d0-call:call", due_at=due, now=MON) is AlertKind.DIGEST


@pytest.mark.parametrize(
    ("local_hhmm", "quiet"),
    [("20:59", False), ("21:00", True), ("23:30", True), ("00:00", True), ("07:59", True), ("08:00", False)],
)
def test_quiet_hours_across_midnight_on_the_officers_clock(local_hhmm: str, quiet: bool) -> None:
    h, m = map(int, local_hhmm.split(":"))
    local = datetime(2026, 3, 3, h, m).replace(tzinfo=__import__("zoneinfo").ZoneInfo(NY))
    assert NIGHT.quiet(local.astimezone(UTC)) is quiet


def test_quiet_hours_inside_one_day_and_none_at_all() -> None:
    lunch = QuietHours("America/Chicago", 12 * 60, 13 * 60)
    assert lunch.quiet(datetime(2026, 3, 2, 18, 30, tzinfo=UTC))  # 12:30 in Chicago
    assert not lunch.quiet(datetime(2026, 3, 2, 19, 0, tzinfo=UTC))
    assert not QuietHours(NY, 600, 600).quiet(datetime(2026, 3, 2, 15, 0, tzinfo=UTC))


def test_an_alert_due_at_night_waits_for_the_end_of_the_quiet_hours_also_across_a_dst_change() -> None:
    assert NIGHT.next_open(MON) == MON
    assert NIGHT.next_open(datetime(2026, 3, 3, 3, 0, tzinfo=UTC)) == datetime(2026, 3, 3, 13, 0, tzinfo=UTC)
    # the night clocks spring forward (March 8, 2026): 08:00 EDT is 12:00 UTC
    assert NIGHT.next_open(datetime(2026, 3, 8, 3, 0, tzinfo=UTC)) == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)


def test_bad_quiet_hours_are_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="quiet_end is 1440"):
        QuietHours(NY, 0, 24 * 60)


zones = st.sampled_from([NY, "America/Los_Angeles", "America/Phoenix", "Asia/Kolkata", "Australia/Lord_Howe"])


@settings(max_examples=300, deadline=None)
@given(
    zone=zones,
    start=st.integers(0, 24 * 60 - 1),
    end=st.integers(0, 24 * 60 - 1),
    at=st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31)).map(lambda d: d.replace(tzinfo=UTC)),
)
def test_the_next_opening_is_never_quiet_never_earlier_and_nothing_opened_before_it(zone, start, end, at) -> None:
    hours = QuietHours(zone, start, end)
    opens = hours.next_open(at)
    assert opens >= at and not hours.quiet(opens)
    assert opens - at <= timedelta(hours=25)
    if opens > at:
        step = (opens - at) / 7
        assert all(hours.quiet(at + step * i) for i in range(7)), "it opened earlier than said"


def test_digests_are_keyed_by_the_utc_hour_they_go_in() -> None:
    at = datetime(2026, 3, 2, 13, 59, 59, tzinfo=UTC)
    assert hour_window(at) == datetime(2026, 3, 2, 13, tzinfo=UTC)
    assert digest_key(4, hour_window(at), Channel.SMS) == "digest:4:2026-03-02T13:sms"


def test_an_officer_is_reached_only_where_they_asked_and_have_an_address() -> None:
    full = Reach(True, "+13055550100", "dana@lender.test", True, True)
    assert route(full, Channel.SMS) == ("+13055550100", "")
    assert (
        route(Reach(True, None, "d@l.test", True, True), Channel.SMS)[1]
        == "skipped: the officer has no phone number on file"
    )
    assert route(Reach(True, "+1305", "d@l.test", False, True), Channel.SMS)[1].endswith("text alerts off")
    assert route(Reach(True, "+1305", "d@l.test", True, False), Channel.EMAIL)[1].endswith("email alerts off")
    assert route(Reach(False, "+1305", "d@l.test", True, True), Channel.EMAIL)[1].endswith("not active")


def _line(task_id: int, kind: str = "reply", name: str = "Maria", key: str = "1:reply:SM1") -> TaskLine:
    return TaskLine(task_id, kind, key, name, MON)


def test_a_text_alert_is_short_and_names_the_borrower_by_first_name_only() -> None:
    link = placeholder_link("https://app.test/")
    words = compose(
        AlertKind.DUE, Channel.SMS, lines=[_line(1, name="Maria Lopez")], link=link, timezone=NY, brand="Acme"
    )
    assert words.subject is None and link == "https://app.test" + SIGNIN_MARK
    assert words.text == f"Acme: Maria wrote back. Call now: {link}"
    assert "Lopez" not in words.text and len(words.text) < 160


def test_a_digest_lists_first_names_and_an_email_gives_each_due_time_on_the_officers_clock() -> None:
    lines = [
        _line(i, "cadence", name, key=f"{i}:aged-nonqm:v1:d0-call:call")
        for i, name in enumerate(["Ana", "Bo", "Cy", "Di", "Ed"], 1)
    ]
    sms = compose(AlertKind.DIGEST, Channel.SMS, lines=lines, link="L", timezone=NY, brand="Acme")
    assert sms.text == "Acme: 5 calls due: Ana, Bo, Cy +2 more. Your list: L"
    email = compose(AlertKind.DIGEST, Channel.EMAIL, lines=lines[:1], link="L", timezone=NY, brand="Acme")
    assert email.subject == "1 call due" and "- Ana, due 12:00 PM (EST)" in email.text


def test_reminders_and_managers_notices_say_what_waits() -> None:
    reminder = compose(
        AlertKind.REMINDER, Channel.EMAIL, lines=[_line(1, "handoff")], link="L", timezone=NY, brand="Acme"
    )
    assert reminder.subject == "Reminder: Maria still waits for your call"
    one = compose(AlertKind.UNASSIGNED, Channel.SMS, lines=[], link="L", timezone=NY, brand="Acme", unassigned=(1, 0))
    assert one.text == "Acme: 1 call task has no loan officer. Assign them: L"
    many = compose(AlertKind.UNASSIGNED, Channel.EMAIL, lines=[], link="L", timezone=NY, brand="A", unassigned=(2, 3))
    assert many.subject == "2 call tasks and 3 leads have no loan officer"


def test_the_email_html_escapes_the_text_and_makes_the_link_clickable() -> None:
    out = email_html("Call <Maria> now: https://a.test/signin/x", "https://a.test/signin/x")
    assert "&lt;Maria&gt;" in out and '<a href="https://a.test/signin/x">' in out

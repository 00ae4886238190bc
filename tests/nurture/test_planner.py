"""Time travel over the pure planner: a 120-day cadence in milliseconds."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pendulum
from hypothesis import given, settings
from hypothesis import strategies as st

from nurture.actions import Channel, TouchStatus
from nurture.cadence import load_cadence
from nurture.planner import LeadSnapshot, anchor_date, local_time, plan
from nurture.states import CadenceStatus, Event

CADENCE = load_cadence((Path(__file__).resolve().parents[2] / "cadences" / "default.yaml").read_text())
ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
]


def _snapshot(enrolled: datetime, tz: str, **kw) -> LeadSnapshot:
    base = dict(
        lead_id=7,
        timezone=tz,
        anchor_date=anchor_date(enrolled_at=enrolled, timezone=tz, cadence=CADENCE),
        enrolled_at=enrolled,
        step_index=0,
        repeat=0,
        status=CadenceStatus.ACTIVE,
        has_phone=True,
        has_email=True,
    )
    base.update(kw)
    return LeadSnapshot(**base)


def run(enrolled: datetime, tz: str, ticks: list[datetime], **kw):
    """Feed the planner a sequence of tick times; return every action and event it produced."""
    snap = _snapshot(enrolled, tz, **kw)
    touches, tasks, events = [], [], []
    for now in ticks:
        p = plan(snap, CADENCE, now)
        touches += p.touches
        tasks += p.tasks
        events += p.events
        if p.next_due_at is not None:
            assert p.next_due_at > now, "the planner must always move the lead past now"
        snap = LeadSnapshot(**{**_fields(snap), "step_index": p.step_index, "repeat": p.repeat, "status": p.status})
    return touches, tasks, events


def _fields(snap: LeadSnapshot) -> dict:
    return {name: getattr(snap, name) for name in snap.__slots__}


def hourly(start: datetime, days: int) -> list[datetime]:
    return [start + timedelta(hours=h) for h in range(days * 24 + 1)]


def test_unresponsive_lead_over_120_days_gets_the_exact_cadence():
    enrolled = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    touches, tasks, events = run(enrolled, "America/Chicago", hourly(enrolled, 120))
    by_channel = Counter(t.channel for t in touches)
    assert len(tasks) == 3
    assert by_channel == {Channel.SMS: 2, Channel.VOICEMAIL: 1, Channel.EMAIL: 7}
    assert [t.template for t in touches if t.channel is Channel.EMAIL] == [
        "education",
        "documents",
        "success_story",
        "market_update",
        "check_in",
        "program_update",
        "monthly_program_updates",
    ]
    monthly = touches[-1]
    assert local_time(monthly.scheduled_for, "America/Chicago").date() == pendulum.date(2026, 3, 2).add(days=92)
    assert events == [Event.CONTACT_DAYS_DONE]


def test_evening_call_falls_in_the_evening_across_the_dst_change():
    enrolled = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)  # day 2 is Sunday 8 March, DST starts
    _, tasks, _ = run(enrolled, "America/New_York", hourly(enrolled, 4))
    evening = next(t for t in tasks if t.step_id == "d2-call")
    local = local_time(evening.due_at, "America/New_York")
    assert (local.date(), local.hour) == (pendulum.date(2026, 3, 8), 17)


def test_lead_enrolled_late_in_the_evening_starts_next_morning():
    enrolled = datetime(2026, 5, 5, 23, 30, tzinfo=UTC)  # 19:30 in New York, after the 17:00 call window
    _, tasks, _ = run(enrolled, "America/New_York", hourly(enrolled, 1))
    first = local_time(tasks[0].due_at, "America/New_York")
    assert (first.date(), first.hour) == (pendulum.date(2026, 5, 6), 10)


def test_missing_email_is_skipped_with_a_reason_not_dropped():
    enrolled = datetime(2026, 5, 4, 13, 0, tzinfo=UTC)
    touches, _, _ = run(enrolled, "America/New_York", hourly(enrolled, 5), has_email=False)
    emails = [t for t in touches if t.channel is Channel.EMAIL]
    assert [t.status for t in emails] == [TouchStatus.SKIPPED, TouchStatus.SKIPPED]
    assert all(t.reason == "no email address" for t in emails)


def test_a_late_tick_skips_stale_steps_instead_of_sending_them_days_late():
    enrolled = datetime(2026, 5, 4, 13, 0, tzinfo=UTC)
    first = enrolled + timedelta(hours=1)
    touches, tasks, _ = run(enrolled, "America/New_York", [first, first + timedelta(days=3)])
    stale = {t.step_id for t in touches if t.reason.startswith("missed")}
    assert stale == {"d0-sms", "d1-email"}  # 70 and 49 hours late
    assert [t.step_id for t in tasks] == ["d0-call", "d2-call"]  # d2-call is 17 hours late: still worth a call
    evening = local_time(tasks[1].due_at, "America/New_York")
    assert (evening.day, evening.hour) == (7, 17), "moved into today's evening window, not sent at 10:00"


def test_handed_off_lead_is_never_planned():
    enrolled = datetime(2026, 5, 4, 13, 0, tzinfo=UTC)
    touches, tasks, _ = run(enrolled, "America/New_York", hourly(enrolled, 30), status=CadenceStatus.HANDED_OFF)
    assert touches == [] and tasks == []


def test_nurturing_lead_skips_the_remaining_contact_days():
    enrolled = datetime(2026, 5, 4, 13, 0, tzinfo=UTC)
    touches, tasks, _ = run(
        enrolled, "America/New_York", hourly(enrolled, 40), status=CadenceStatus.NURTURING, step_index=2
    )
    assert tasks == []
    assert [t.step_id for t in touches] == ["n14-email", "n28-email"]


@settings(max_examples=40, deadline=None)
@given(
    tz=st.sampled_from(ZONES),
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 1), timezones=st.just(UTC)),
    gaps=st.lists(st.integers(min_value=30, max_value=12 * 60), min_size=1, max_size=20),
)
def test_any_tick_schedule_plans_each_step_once_inside_its_window(tz, start, gaps):
    ticks, now, i = [], start, 0
    while now <= start + timedelta(days=95):
        ticks.append(now)
        now += timedelta(minutes=gaps[i % len(gaps)])
        i += 1
    touches, tasks, _ = run(start, tz, ticks)
    keys = [t.key for t in touches] + [t.key for t in tasks]
    assert len(keys) == len(set(keys)), "no step is planned twice"
    assert len(tasks) == 3 and len(touches) == 3 + 7  # 2 SMS, 1 voicemail, 7 emails by day 95
    for t in touches:
        step = CADENCE.steps[CADENCE.index_of(t.step_id.split("#")[0])]
        assert step.window.contains(local_time(t.scheduled_for, tz).time()), (t.step_id, t.scheduled_for)
        assert t.scheduled_for < t.not_after
    for k in tasks:
        step = CADENCE.steps[CADENCE.index_of(k.step_id)]
        assert step.window.contains(local_time(k.due_at, tz).time())


REFERRAL = load_cadence((Path(__file__).resolve().parents[2] / "cadences" / "referral.yaml").read_text())


def test_referral_asks_at_funding_and_30_days_later_then_the_cadence_ends():
    funded = datetime(2026, 5, 4, 19, 0, tzinfo=UTC)  # 15:00 in Miami
    tz = "America/New_York"
    snap = LeadSnapshot(7, tz, anchor_date(enrolled_at=funded, timezone=tz, cadence=REFERRAL), funded, 0, 0,
                        CadenceStatus.ACTIVE, True, True)  # fmt: skip
    touches, tasks, events, planned_at = [], [], [], {}
    for now in hourly(funded, 40):
        p = plan(snap, REFERRAL, now)
        touches += p.touches
        tasks += p.tasks
        events += p.events
        planned_at.update({t.step_id: now for t in (*p.touches, *p.tasks)})
        snap = LeadSnapshot(**{**_fields(snap), "step_index": p.step_index, "repeat": p.repeat, "status": p.status})
    assert [(t.step_id, t.template) for t in touches] == [("d0-email", "referral"), ("d30-email", "referral_followup")]
    assert [(t.step_id, t.template, t.priority) for t in tasks] == [
        ("d0-call", "referral", 20),
        ("d30-call", "referral", 20),
    ]
    local = [local_time(t.scheduled_for, tz) for t in touches] + [local_time(t.due_at, tz) for t in tasks]
    assert [(d.date().isoformat(), d.hour) for d in local] == [
        ("2026-05-04", 15),  # at once: the email's window is open when the loan funds
        ("2026-06-03", 10),
        ("2026-05-04", 16),
        ("2026-06-03", 11),
    ]
    assert planned_at["d30-email"] < planned_at["d30-call"], "the last email is planned (and sent) while still active"
    assert events == [Event.CAMPAIGN_ENDED], "no email nurture after the referral asks"
    assert snap.status is CadenceStatus.COMPLETED

"""Property: whatever the cadence and whenever the ticks and dispatches run, every planned step reaches the lead or
ends for a reason about the lead (a compliance rule, a contact, an opt-out), never because its cadence ended.

A random cadence (one to five steps on random channels, days and windows, some placed after the step before, the
last one repeating or not, with or without an end) is run for one lead, enrolled on it as a new lead or, as a
re-engaged lead is, with a home in the default cadence's monthly nurture. Ticks and dispatches come at independent
random times; sometimes the borrower answers a call or texts STOP on the way. Then:

- no touch is left planned, sending or unknown;
- a touch went out, or was blocked by a compliance rule, or (only after the answer or the STOP, and not before it)
  was cancelled naming it; nothing was sent after it;
- every step of a cadence that ends was planned once (each repeat once), and the cadence ended (or the lead went
  home) only after every one of its touches had settled; a lead that went home gets its monthly email again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from nurture.cadence import Cadence, load_cadence
from nurture.states import Event
from service.dispatch import dispatch
from service.inbound import handle_inbound_sms
from service.pipeline import Pipeline, tick
from service.replay import replay
from service.settings import Settings
from storage.cadences import register_cadence
from storage.lead_events import record_event
from storage.models import CadencePosition, CallTask, LeadHistory, Touch, table
from storage.outbox import MAX_HOLD
from storage.tick import UNSETTLED, next_work_at
from tests.factories import clear_database, insert_lead
from tests.fakes import RecordingSender

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = load_cadence((ROOT / "cadences" / "default.yaml").read_text())
START = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)  # midnight in Miami: the lead's day 0 is March 2
TEMPLATES = {"sms": "intro", "email": "education", "voicemail": "breakup", "call": "intro"}
WINDOWS = [("08:00", "20:00"), ("09:00", "17:00"), ("17:00", "20:00"), ("10:00", "19:00")]
STOPPED_BY = {"live_contact": "cancelled: live_contact", "stop": "cancelled: do_not_contact"}
_touch, _task, _pos, _hist = table(Touch), table(CallTask), table(CadencePosition), table(LeadHistory)


@st.composite
def cadences(draw: st.DrawFn) -> Cadence:
    """A valid cadence file: steps in the order they fall due, the last one perhaps repeating."""
    lines = ["name: prop", "version: 1", "steps:"]
    count, day, ids = draw(st.integers(1, 5)), draw(st.integers(0, 1)), []
    for i in range(count):
        channel = draw(st.sampled_from(sorted(TEMPLATES)))
        start, end = draw(st.sampled_from(WINDOWS))
        last = i == count - 1
        repeats = last and draw(st.booleans())
        step = [f"  - id: s{i}", f"    channel: {channel}", f"    template: {TEMPLATES[channel]}",
                f'    window: ["{start}", "{end}"]']  # fmt: skip
        if i and not repeats and draw(st.booleans()):
            step.append(f"    after: s{i - 1}\n    delay: {draw(st.integers(1, 3))}h")
        else:
            day += draw(st.integers(1, 3)) if i else 0
            at = draw(st.integers(int(start[:2]), int(end[:2]) - 1))
            step.append(f'    day: {day}\n    at: "{at:02d}:00"')
        if repeats:
            every = draw(st.integers(2, 7))
            step.append(f"    every_days: {every}")
            if draw(st.booleans()):
                step.append(f"    until_day: {day + every * draw(st.integers(0, 3))}")
        lines += step
        if not repeats:
            ids.append(f"s{i}")
    phase = draw(st.sampled_from(ids)) if ids else None
    if phase:
        lines.insert(2, f"contact_phase_ends_after: {phase}")
    return load_cadence("\n".join(lines) + "\n", source="prop")


def _times(start: datetime, end: datetime, gaps: list[int]) -> list[datetime]:
    out, now, i = [], start, 0
    while now <= end:
        out.append(now)
        now += timedelta(minutes=gaps[i % len(gaps)])
        i += 1
    return out


def _horizon(cadence: Cadence) -> datetime:
    """A day after the cadence's last step (its third repeat when it repeats for ever)."""
    days = max(s.day for s in cadence.steps if s.day is not None)
    last = cadence.steps[-1]
    if last.repeats:
        assert last.day is not None and last.every_days is not None
        days = last.until_day if last.until_day is not None else last.day + 3 * last.every_days
    return START + timedelta(days=days + 2)


def _enroll(engine: Engine, cadence: Cadence, *, home: bool) -> int:
    """One Miami lead (consent, fresh scrub) new on ``cadence``, or re-engaged on it from the default nurture."""
    lead = insert_lead(engine, at=START, stage="nurture" if home else "new_lead")
    if home:  # enrolled on the default cadence 100 days ago; its day-92 monthly went, day 122 is next
        enrolled = START - timedelta(days=100)
        with engine.begin() as conn:
            conn.execute(
                _pos.insert().values(
                    lead_id=lead, cadence_name=cadence.name, cadence_version=cadence.version,
                    anchor_date=START.date(), step_index=0, repeat=0, status="active", next_due_at=START,
                    reason="", enrolled_at=START, updated_at=START, home_cadence_name=DEFAULT.name,
                    home_cadence_version=DEFAULT.version, home_anchor_date=(enrolled + timedelta(hours=9)).date(),
                    home_enrolled_at=enrolled, home_step_index=DEFAULT.index_of("monthly-email"), home_repeat=1,
                )
            )  # fmt: skip
    return lead


def _run(p: Pipeline, lead: int, timeline: list[tuple[datetime, int, str]], until: datetime) -> None:
    wake: datetime | None = None
    for at, _, what in timeline:
        if what in STOPPED_BY:
            if what == "live_contact":
                record_event(engine=p.engine, lead_id=lead, event=Event.LIVE_CONTACT, at=at, actor="test")
            else:
                handle_inbound_sms(p, from_number="+13055550147", to_number="+18005550100", body="STOP", at=at)
            wake = None
            continue
        if wake is not None and at < wake:
            continue  # nothing is due: the run would find nothing to do
        if what == "tick":
            tick(p, now=at)
        else:
            dispatch(p, now=at)
        wake = next_work_at(engine=p.engine)
    replay(p, start=timeline[-1][0], until=until, every=timedelta(hours=1))


def _check(engine: Engine, lead: int, cadence: Cadence, stop: tuple[datetime, str] | None, until: datetime) -> None:
    with engine.connect() as conn:
        touches = conn.execute(sa.select(_touch).where(_touch.c.lead_id == lead).order_by(_touch.c.id)).all()
        tasks = conn.execute(sa.select(_task).where(_task.c.lead_id == lead).order_by(_task.c.id)).all()
        events = conn.execute(sa.select(_hist).where(_hist.c.lead_id == lead).order_by(_hist.c.id)).all()
        position = conn.execute(sa.select(_pos).where(_pos.c.lead_id == lead)).one()
    settled_by = until - MAX_HOLD - timedelta(days=2)  # a touch held that long is blocked rather than sent late
    for t in touches:
        what = f"{t.key} ({t.status}: {t.reason})"
        assert "completed" not in t.reason, what
        assert t.status not in UNSETTLED or t.created_at > settled_by, what
        if t.status == "sent":
            assert stop is None or t.sent_at < stop[0], f"{what} went after the {stop}"
        elif t.status == "cancelled":
            assert stop is not None and t.reason == STOPPED_BY[stop[1]] and t.updated_at >= stop[0], what
        elif t.status not in UNSETTLED:
            assert t.status == "blocked" and t.reason.startswith("blocked: "), what
    mine = [t for t in touches if ":prop:" in t.key]
    ends = [e for e in events if e.event in (Event.CAMPAIGN_ENDED.value, Event.REENGAGEMENT_ENDED.value)]
    if ends:
        [end] = ends
        for t in mine:
            assert t.status not in UNSETTLED and t.updated_at <= end.at, f"{t.key} settled after the cadence ended"
    if stop is not None or not cadence.ends:
        return
    assert ends, f"the cadence ended: {position.status} at {position.step_index}"
    substitutes = (":sms:call", ":voicemail:call")  # a call by hand for an automated message that may not go
    planned = [t.step_id for t in mine] + [k.step_id for k in tasks if not k.key.endswith(substitutes)]
    expected = []
    for step in cadence.steps:
        if step.repeats:
            assert step.day is not None and step.every_days is not None and step.until_day is not None
            expected += [step.id] * ((step.until_day - step.day) // step.every_days + 1)
        else:
            expected.append(step.id)
    assert sorted(planned) == sorted(expected), "every step planned once, each repeat once"
    if ends[0].event == Event.REENGAGEMENT_ENDED.value:
        assert position.cadence_name == DEFAULT.name and position.status == "nurturing"
        back = [t for t in touches if ":monthly-email#" in t.key]
        assert back and all(t.status == "sent" and t.created_at >= ends[0].at for t in back), "monthly again"
    else:
        assert position.status == "completed"


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    cadence=cadences(),
    home=st.booleans(),
    tick_gaps=st.lists(st.integers(30, 20 * 60), min_size=1, max_size=6),  # under stale_after: nothing is missed
    dispatch_gaps=st.lists(st.integers(20, 30 * 60), min_size=1, max_size=6),
    stop=st.none() | st.tuples(st.integers(0, 20 * 24 * 60), st.sampled_from(sorted(STOPPED_BY))),
)
def test_every_planned_touch_reaches_the_lead_or_ends_for_a_reason_about_the_lead(
    engine: Engine, cadence: Cadence, home: bool, tick_gaps: list[int], dispatch_gaps: list[int], stop: Any
):
    clear_database(engine)
    registry = register_cadence(engine=engine, cadence=cadence, now=START - timedelta(days=200), others=(DEFAULT,))
    p = Pipeline(Settings(), engine, registry, RecordingSender())
    lead = _enroll(engine, cadence, home=home)
    horizon = _horizon(cadence)
    timeline = [(at, 1, "tick") for at in _times(START, horizon, tick_gaps)]
    timeline += [(at, 2, "dispatch") for at in _times(START + timedelta(minutes=3), horizon, dispatch_gaps)]
    stopped = None if stop is None else (START + timedelta(minutes=stop[0]), stop[1])
    if stopped is not None:
        timeline.append((stopped[0], 0, stopped[1]))
    until = horizon + timedelta(days=45)  # long enough for a lead gone home to get its next monthly email
    _run(p, lead, sorted(timeline), until)
    event(f"cadence ends: {cadence.ends}, home: {home}, stopped by: {stop and stop[1]}")
    _check(engine, lead, cadence, stopped, until)

"""Decide what a lead's cadence asks for at ``now``: pure, no clock, no IO.

The tick hands in a :class:`LeadSnapshot` and gets a :class:`Plan`: the touches
and call tasks to record, where the lead's position moves to, and when it is
next due. Time arithmetic happens in the lead's own calendar (pendulum), so
"day 2 at 17:00" means 17:00 where the borrower lives, across DST changes.

A cadence ends only once every step is planned *and* none of the lead's touches
is still waiting to go (planned, sending or unknown): until then the lead stays
where it is and is looked at again, so nothing planned is cancelled because the
cadence ended. A lead with a :class:`Home` (a re-engagement sequence) then goes
back to that enrollment, at its first step still to come; any other completes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

import pendulum

from nurture.actions import Channel, PlannedCallTask, PlannedTouch, TaskKind, TouchStatus
from nurture.cadence import Cadence, Step, Window
from nurture.states import AUTOMATED, CadenceStatus, Event

SETTLE_RECHECK = timedelta(hours=1)  # how long after its last touch's time an ended cadence is looked at again


@dataclass(frozen=True, slots=True)
class Home:
    """The enrollment a lead goes back to when its current cadence ends (a re-engaged lead's own nurture)."""

    cadence: Cadence
    anchor_date: date
    enrolled_at: datetime
    step_index: int
    repeat: int


@dataclass(frozen=True, slots=True)
class LeadSnapshot:
    lead_id: int
    timezone: str
    anchor_date: date
    enrolled_at: datetime
    step_index: int
    repeat: int
    status: CadenceStatus
    has_phone: bool
    has_email: bool
    phone_ok: bool = True
    unsettled_until: datetime | None = None  # the latest time among the lead's touches not yet settled, if any
    home: Home | None = None


@dataclass(slots=True)
class Plan:
    touches: list[PlannedTouch] = field(default_factory=list)
    tasks: list[PlannedCallTask] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    step_index: int = 0
    repeat: int = 0
    status: CadenceStatus = CadenceStatus.ACTIVE
    next_due_at: datetime | None = None
    home: Home | None = None  # set when the lead went back to its home: the position is now the home's


# Wall-clock instants are built with pendulum (its DST rules: a time in a spring-forward gap moves
# forward) and cached; the hot path then works on plain UTC datetimes and stdlib zoneinfo
# conversions, which cost a tenth of pendulum's per call. The tick plans hundreds of thousands of
# leads per run, so this is where its time goes.
@lru_cache(maxsize=200_000)
def local_instant(tz: str, day: date, at: time) -> datetime:
    """The UTC instant of wall-clock ``at`` on ``day`` in ``tz`` (a DST gap moves forward)."""
    return as_utc(pendulum.datetime(day.year, day.month, day.day, at.hour, at.minute, tz=tz))


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def as_utc(instant: datetime) -> datetime:
    """``instant`` as a plain stdlib datetime in UTC (pendulum subclasses are slow in arithmetic)."""
    if instant.tzinfo is None:
        raise ValueError(f"naive datetime {instant!r}: give a time zone")
    u = instant.astimezone(UTC)
    return datetime(u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond, tzinfo=UTC)


def local_time(instant: datetime, tz: str) -> datetime:
    """``instant`` on the lead's wall clock."""
    return instant.astimezone(_zone(tz))


def next_opening(instant: datetime, window: Window, tz: str) -> datetime:
    """``instant`` if it falls inside ``window`` (lead-local), else the window's next opening."""
    local = local_time(instant, tz)
    wall = local.time()
    if wall < window.start:
        return local_instant(tz, local.date(), window.start)
    if wall >= window.end:
        return local_instant(tz, local.date() + timedelta(days=1), window.start)
    return instant


def window_close(instant: datetime, window: Window, tz: str) -> datetime:
    """When the window that ``instant`` falls in closes, lead-local."""
    return local_instant(tz, local_time(instant, tz).date(), window.end)


def anchor_date(*, enrolled_at: datetime, timezone: str, cadence: Cadence) -> date:
    """Day 0 of the cadence: today in the lead's calendar, or tomorrow if the first step's window has closed."""
    local = local_time(enrolled_at, timezone)
    if local.time() >= cadence.steps[0].window.end:
        return local.date() + timedelta(days=1)
    return local.date()


def due_at(step: Step, repeat: int, lead: LeadSnapshot, cadence: Cadence) -> datetime:
    """When ``step`` (its ``repeat``-th time) falls due, moved into its window."""
    if step.day is not None:
        assert step.at is not None
        day = step.day + repeat * (step.every_days or 0)
        nominal = local_instant(lead.timezone, cadence.date_of(lead.anchor_date, day), step.at)
        nominal = max(nominal, lead.enrolled_at)
    else:
        assert step.after is not None
        ref = cadence.steps[cadence.index_of(step.after)]
        nominal = due_at(ref, 0, lead, cadence) + step.delay
    return next_opening(nominal, step.window, lead.timezone)


def _past_end(step: Step, repeat: int) -> bool:
    if not step.repeats or step.until_day is None:
        return False
    assert step.day is not None and step.every_days is not None
    return step.day + repeat * step.every_days > step.until_day


def touch_key(lead_id: int, cadence: Cadence, step: Step, repeat: int, run: date | None = None) -> str:
    """The touch's (or call task's) unique key. ``run``: day 0 of an enrollment a lead may get more than once (a
    re-engagement, a cadence that ``restarts``), so a second sequence is not taken for the first."""
    suffix = f"#{repeat}" if step.repeats else ""
    on = f"@{run.isoformat()}" if run is not None else ""
    return f"{lead_id}:{cadence.name}:v{cadence.version}{on}:{step.id}{suffix}:{step.channel.value}"


def _skip_reason(step: Step, lead: LeadSnapshot) -> str:
    if step.channel is Channel.EMAIL:
        return "" if lead.has_email else "no email address"
    if not lead.has_phone:
        return "no phone number"
    if not lead.phone_ok:
        return "phone marked wrong number"
    return ""


def plan(lead: LeadSnapshot, cadence: Cadence, now: datetime) -> Plan:
    """Everything the cadence asks for up to ``now``, and when the lead is next due."""
    result = Plan(step_index=lead.step_index, repeat=lead.repeat, status=lead.status)
    if lead.status not in AUTOMATED:
        return result
    if type(now) is not datetime or now.tzinfo is not UTC:
        now = as_utc(now)
    _walk(result, lead, cadence, now, emit=True)
    if result.step_index < len(cadence.steps):
        return result
    waiting = [t.scheduled_for for t in result.touches if t.status is TouchStatus.PLANNED]
    if lead.unsettled_until is not None:
        waiting.append(lead.unsettled_until)
    if waiting:  # the last steps' messages have yet to go: the cadence has not ended
        result.next_due_at = max(*waiting, now) + SETTLE_RECHECK
        return result
    if lead.home is not None:
        result.events.append(Event.REENGAGEMENT_ENDED)
        home = lead.home
        back = fast_forward(
            LeadSnapshot(lead.lead_id, lead.timezone, home.anchor_date, home.enrolled_at, home.step_index,
                         home.repeat, CadenceStatus.NURTURING, lead.has_phone, lead.has_email, lead.phone_ok),
            home.cadence,
            now,
        )  # fmt: skip
        result.events += back.events
        result.step_index, result.repeat, result.status = back.step_index, back.repeat, back.status
        result.next_due_at, result.home = back.next_due_at, home
        if back.step_index < len(home.cadence.steps):
            return result
    result.status = CadenceStatus.COMPLETED
    result.events.append(Event.CAMPAIGN_ENDED)
    result.next_due_at = None
    return result


_SHARED = attrgetter(*(f.name for f in fields(LeadSnapshot) if f.name not in ("lead_id", "home")))
_HOME_SHARED = attrgetter(*(f.name for f in fields(Home) if f.name != "cadence"))


def plan_shared(lead: LeadSnapshot, cadence: Cadence, now: datetime, shared: dict[Any, Plan]) -> Plan:
    """``plan(lead, cadence, now)``, worked out once for all the leads of a batch that stand in the same place.

    Two leads whose snapshots differ only in their id get the same plan but for the id in each touch, task and
    key. ``shared`` (one dict per batch, kept by the caller) holds each such plan made for lead 0; this lead's is
    that plan with its own id put in. A tick's leads come in groups (a list imported together, enrolled the same
    hour, due on the same step), so most of a batch is planned by lookup.
    """
    home = lead.home
    shape = (id(cadence), now, _SHARED(lead), None if home is None else (id(home.cadence), _HOME_SHARED(home)))
    template = shared.get(shape)
    if template is None:
        template = shared[shape] = plan(replace(lead, lead_id=0), cadence, now)
    return _for_lead(template, lead.lead_id)


def _for_lead(template: Plan, lead_id: int) -> Plan:
    """``template`` (planned for lead 0) for lead ``lead_id``: every key starts with the lead's id."""
    prefix = str(lead_id)

    def key(k: str) -> str:
        assert k.startswith("0:"), k
        return prefix + k[1:]

    return Plan(  # built whole (``_replace`` costs three times as much: the tick does this for every lead)
        touches=[PlannedTouch(lead_id, key(t.key), *t[2:]) for t in template.touches],
        tasks=[PlannedCallTask(lead_id, key(t.key), *t[2:]) for t in template.tasks],
        events=list(template.events),
        step_index=template.step_index,
        repeat=template.repeat,
        status=template.status,
        next_due_at=template.next_due_at,
        home=template.home,
    )


def fast_forward(lead: LeadSnapshot, cadence: Cadence, now: datetime) -> Plan:
    """Where the lead stands at ``now`` if every step that fell due before then is passed over, unplanned (a lead
    back from a re-engagement, or texting START after an opt-out). ``next_due_at`` is ``now`` when no step is left:
    the next tick ends the cadence once its touches are settled."""
    result = Plan(step_index=lead.step_index, repeat=lead.repeat, status=lead.status)
    _walk(result, lead, cadence, as_utc(now), emit=False)
    if result.next_due_at is None:
        result.next_due_at = as_utc(now)
    return result


def _walk(result: Plan, lead: LeadSnapshot, cadence: Cadence, now: datetime, *, emit: bool) -> None:
    """Move ``result`` past every step due by ``now``, planning each one when ``emit``."""
    steps = cadence.steps
    i, repeat, status = lead.step_index, lead.repeat, lead.status
    if status is CadenceStatus.NURTURING and i <= cadence.contact_phase_end:
        i, repeat = cadence.contact_phase_end + 1, 0

    while i < len(steps):
        step = steps[i]
        if _past_end(step, repeat):
            i = len(steps)
            break
        due = due_at(step, repeat, lead, cadence)
        if due > now:
            break
        if emit:
            _emit(result, lead, cadence, step, repeat, due, now)
        if step.repeats:
            repeat += 1
        else:
            i, repeat = i + 1, 0
        # the contact days end in the email nurture, when the cadence has one (the referral asks end with the cadence)
        contact_days_end = i - 1 == cadence.contact_phase_end and not step.repeats
        if contact_days_end and status is CadenceStatus.ACTIVE and i < len(steps):
            status = CadenceStatus.NURTURING
            result.events.append(Event.CONTACT_DAYS_DONE)

    result.step_index, result.repeat, result.status = i, repeat, status
    result.next_due_at = due_at(steps[i], repeat, lead, cadence) if i < len(steps) else None


def _emit(
    plan_: Plan, lead: LeadSnapshot, cadence: Cadence, step: Step, repeat: int, due: datetime, now: datetime
) -> None:
    run = lead.anchor_date if lead.home is not None or cadence.restarts else None
    key = touch_key(lead.lead_id, cadence, step, repeat, run)
    template = step.template_for(repeat)
    scheduled = next_opening(max(due, now), step.window, lead.timezone)
    closes = window_close(scheduled, step.window, lead.timezone)
    reason = _skip_reason(step, lead)
    if not reason and now - due > cadence.stale_after:
        reason = f"missed: planned {now - due} after it fell due (stale_after {cadence.stale_after})"
    if reason or step.channel is not Channel.CALL:
        plan_.touches.append(
            PlannedTouch(
                lead_id=lead.lead_id,
                key=key,
                step_id=step.id,
                channel=step.channel,
                template=template,
                scheduled_for=scheduled,
                not_after=closes,
                status=TouchStatus.SKIPPED if reason else TouchStatus.PLANNED,
                reason=reason,
            )
        )
        return
    plan_.tasks.append(
        PlannedCallTask(
            lead_id=lead.lead_id,
            key=key,
            step_id=step.id,
            kind=TaskKind.CADENCE,
            template=template,
            due_at=scheduled,
            expires_at=closes,
            priority=step.priority,
        )
    )

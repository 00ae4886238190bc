"""Replaying a time range in one process: tick, dispatch and the daily guideline sweep at each step.

``dripline run`` and the demo use it; the steps where nothing is due are skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from nurture.cadence import parse_duration
from service import rescore
from service.dispatch import DispatchStats, dispatch
from service.pipeline import Pipeline, tick
from storage import documents, referrals
from storage.rescore import RescoreStats
from storage.tick import TickStats, next_work_at

DAILY_AT = time(11, 0)  # UTC: 07:00 in New York, 04:00 in Los Angeles, the same calendar day in every US zone


@dataclass
class ReplayStats:
    steps: int = 0  # steps at which tick, dispatch and the hook ran
    idle: int = 0  # steps skipped because nothing was due (see ``next_work_at``)
    tick: TickStats = field(default_factory=TickStats)
    dispatch: DispatchStats = field(default_factory=DispatchStats)
    daily: RescoreStats = field(default_factory=RescoreStats)


class ReplayHook(Protocol):
    """Something that acts between replay steps (the demo's simulated borrowers and loan officers)."""

    def __call__(self, now: datetime) -> None: ...

    def next_at(self) -> datetime | None:
        """When it next wants to act, or None if it has nothing planned."""
        ...


def replay(
    p: Pipeline,
    *,
    start: datetime,
    until: datetime,
    every: timedelta,
    hook: ReplayHook | None = None,
    progress: Callable[[int, int], None] | None = None,
    skip_idle: bool = True,
) -> ReplayStats:
    """Run tick then dispatch at every ``every`` from ``start`` to ``until`` (inclusive), in this process.

    ``hook(now)`` runs after each step: the demo's simulated borrowers and loan
    officers act there, through the same functions a person would use. The first
    step at or after ``DAILY_AT`` each day runs :func:`service.rescore.daily` first. With ``skip_idle``, steps before
    the next due work (of the database, of the hook, or the next day) are skipped:
    they would find nothing to do, so the result is the same.
    """
    if every <= timedelta(0):
        raise ValueError("every must be a positive duration")
    if until < start:
        raise ValueError("until must not be before from")
    step_us = _microseconds(every)
    total_steps = _microseconds(until - start) // step_us + 1
    stats = ReplayStats()
    index = 0
    swept: date | None = None  # the last day :func:`daily` ran
    while index < total_steps:
        now = start + every * index
        work: datetime | None = None
        looked = False  # whether ``work`` (the next due work) is already known for this step
        if now >= (sweep := _daily_at(now)) and sweep.date() != swept:
            stats.daily.add(rescore.daily(p, now=now)[1])
            swept = sweep.date()
            if skip_idle:
                work, looked = _next_work(p, hook, now), True
        if looked and (work is None or work > now):
            stats.idle += 1  # reached for the sweep alone: as at any skipped step, nothing else is due here
        else:
            stats.tick.add(tick(p, now=now).plan)
            stats.dispatch.add(dispatch(p, now=now))
            if hook is not None:
                hook(now)
            stats.steps += 1
            looked = False
        index += 1
        if skip_idle and index < total_steps:
            after = now if swept != _daily_at(now).date() else now + timedelta(days=1)
            if not looked:
                work = _next_work(p, hook, now)
            wake = _daily_at(after) if work is None else min(work, _daily_at(after))
            ahead = -(-_microseconds(wake - start) // step_us)  # the first step at or after wake
            if ahead > index:
                stats.idle += min(ahead, total_steps) - index
                index = min(ahead, total_steps)
        if progress is not None:
            progress(index, total_steps)
    return stats


def _daily_at(now: datetime) -> datetime:
    """When the daily sweep is due on ``now``'s UTC day: DAILY_AT, early morning across the US (as in prefect.yaml)."""
    return datetime.combine(now.astimezone(UTC).date(), DAILY_AT, tzinfo=UTC)


def _microseconds(d: timedelta) -> int:
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def _next_work(p: Pipeline, hook: ReplayHook | None, now: datetime) -> datetime | None:
    times = [
        next_work_at(engine=p.engine, handover=timedelta(minutes=p.settings.task_handover_minutes)),
        referrals.next_enrollment_at(engine=p.engine, now=now),  # a funded lead's referral asks begin at the next tick
        documents.next_enrollment_at(engine=p.engine, now=now),  # so does a documents sequence after its call
        hook.next_at() if hook is not None else None,
    ]
    found = [t for t in times if t is not None]
    return min(found) if found else None


def replay_summary(
    p: Pipeline, *, start: datetime, until: datetime, every: str, batch_size: int | None = None
) -> dict[str, int]:
    """``dripline run``: replay the range (``every`` like ``1h``) and count what happened."""
    if batch_size:
        p.settings = p.settings.model_copy(update={"batch_size": batch_size})
    stats = replay(p, start=start, until=until, every=parse_duration(every))
    return {
        "steps": stats.steps,
        "idle_steps_skipped": stats.idle,
        "leads_planned": stats.tick.leads,
        "touches_planned": stats.tick.touches,
        "call_tasks": stats.tick.tasks,
        "sent": stats.dispatch.sent,
        "failed": stats.dispatch.failed,
        "cancelled": stats.dispatch.cancelled,
        "deferred": stats.dispatch.deferred + stats.tick.deferred,
        "blocked": stats.dispatch.blocked + stats.tick.blocked,
    }

"""The loan-officer roster's rules: where an officer is licensed, when they work, who gets the next lead.

Licensed states are stored as sorted USPS codes joined by commas (``"FL,TX"``), ``"all"`` for every state and
territory, ``""`` for none (such an officer gets no leads). Working hours are minutes after local midnight in the
officer's own time zone on the ISO weekdays listed (``"12345"``, Monday = 1); an end before the start is a shift
that runs past midnight, counted on the day it began.

:class:`Picker` hands out officers for leads: an active officer licensed in the lead's state with room (open
tasks below their maximum), fewest assigned leads first, ties to the lowest id. It counts each pick in memory,
so a batch rotates through the roster. Pure: the caller loads the roster and passes ``now``.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nurture.geo import STATES

ALL = "all"
ROLES = ("officer", "manager")
ALERTS = {"sms,email": (True, True), "sms": (True, False), "email": (False, True), "none": (False, False)}
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_states(text: str) -> str:
    """The stored form of a list of states: ``"tx, fl"`` -> ``"FL,TX"``; ``"all"`` -> ``"all"``; ``"none"`` or
    blank -> ``""``. Raises ``ValueError`` naming the codes that are not states."""
    words = [w.strip().upper() for w in re.split(r"[,\s]+", text) if w.strip()]
    if [w.lower() for w in words] == [ALL]:
        return ALL
    if [w.lower() for w in words] in ([], ["none"]):
        return ""
    bad = [w for w in words if w not in STATES]
    if bad:
        raise ValueError(f"not a state: {', '.join(bad)} (two-letter codes such as TX,FL, or all)")
    return ",".join(sorted(set(words)))


def licensed_states(stored: str) -> frozenset[str]:
    """The codes a stored ``licensed_states`` value covers (every code for ``"all"``)."""
    if stored.strip().lower() == ALL:
        return frozenset(STATES)
    return frozenset(s.strip().upper() for s in stored.split(",") if s.strip())


def is_licensed(stored: str, state: str | None) -> bool:
    """Whether an officer with ``stored`` licensed states may take a lead in ``state`` (never for no state)."""
    return state is not None and state.upper() in licensed_states(stored)


def describe_states(stored: str) -> str:
    """How the roster shows licensed states: ``FL,TX``, ``all``, or ``none``."""
    return stored or "none"


def parse_hours(text: str) -> tuple[int, int]:
    """``"09:00-18:00"`` -> (540, 1080), minutes after local midnight. Raises ``ValueError``."""
    m = _HOURS.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a time range like 09:00-18:00")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"{text!r} is not a time range like 09:00-18:00 (hours 00-24, minutes 00-59)")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise ValueError(f"{text!r} starts and ends at the same time")
    return start, end


def format_hours(start: int, end: int) -> str:
    return f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"


def parse_days(text: str) -> str:
    """ISO weekdays, Monday = 1: ``"1-5"`` -> ``"12345"``; ``"1,3,5"``, ``"135"`` and ``"6-7"`` work too.
    Raises ``ValueError``."""
    days: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if re.fullmatch(r"[1-7]-[1-7]", part):
            first, last = int(part[0]), int(part[2])
            if first > last:
                raise ValueError(f"{part!r} runs backwards (write 6-7, or 1,2,7 for a range over the weekend)")
            days.update(range(first, last + 1))
        elif re.fullmatch(r"[1-7]+", part):
            days.update(int(c) for c in part)
        else:
            raise ValueError(f"{text!r} is not a list of ISO weekdays like 1-5 or 1,3,5 (Monday = 1, Sunday = 7)")
    return "".join(str(d) for d in sorted(days))


def format_days(days: str) -> str:
    """``"12345"`` -> ``"1-5"``; anything not a run is listed: ``"135"`` -> ``"1,3,5"``."""
    if not days:
        return "none"
    if len(days) > 1 and days == "".join(str(d) for d in range(int(days[0]), int(days[-1]) + 1)):
        return f"{days[0]}-{days[-1]}"
    return ",".join(days)


def parse_alerts(text: str) -> tuple[bool, bool]:
    """``"sms,email"`` (either order), ``"sms"``, ``"email"`` or ``"none"`` -> (by text, by email)."""
    key = ",".join(sorted((w.strip().lower() for w in text.split(",") if w.strip()), reverse=True))
    if key not in ALERTS:
        raise ValueError(f"{text!r} is not one of {', '.join(ALERTS)}")
    return ALERTS[key]


def format_alerts(sms: bool, email: bool) -> str:
    return next(k for k, v in ALERTS.items() if v == (sms, email))


def parse_timezone(text: str) -> str:
    """An IANA zone name such as America/Chicago, else ``ValueError``."""
    name = text.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{text!r} is not an IANA time zone such as America/Chicago") from None
    return name


def parse_role(text: str) -> str:
    role = text.strip().lower()
    if role not in ROLES:
        raise ValueError(f"{text!r} is not one of {', '.join(ROLES)}")
    return role


@dataclass(frozen=True)
class Hours:
    """An officer's working week in their own zone."""

    timezone: str = "America/New_York"
    start: int = 9 * 60
    end: int = 18 * 60
    days: str = "12345"

    def at_work(self, now: datetime) -> bool:
        """Whether ``now`` (aware) falls in these hours, read on the officer's own clock."""
        local = now.astimezone(ZoneInfo(self.timezone))
        return within_hours(local.time(), local.isoweekday(), start=self.start, end=self.end, days=self.days)


def within_hours(local: time, weekday: int, *, start: int, end: int, days: str) -> bool:
    """Whether a local time on ISO ``weekday`` is inside working hours; a shift past midnight counts on the
    day it began."""
    minute = local.hour * 60 + local.minute
    if start < end:
        return str(weekday) in days and start <= minute < end
    if minute >= start:
        return str(weekday) in days
    return minute < end and str(weekday - 1 or 7) in days


@dataclass
class Officer:
    """One officer as the picker sees them; ``leads`` and ``open_tasks`` grow as the picker hands them work."""

    id: int
    states: frozenset[str]
    active: bool = True
    max_open_tasks: int = 150
    open_tasks: int = 0
    leads: int = 0
    hours: Hours = Hours()

    def has_room(self, tasks: int = 1) -> bool:
        return self.open_tasks + tasks <= self.max_open_tasks


class Picker:
    """Chooses the officer for each lead by its state; see the module docstring for the rule.

    ``pick`` is the fast path for a batch of new leads (one heap per state, stale entries fixed as met);
    ``pick_other`` scans the roster to skip someone and to prefer an officer at work.
    """

    def __init__(self, officers: Iterable[Officer]) -> None:
        self.officers = {o.id: o for o in officers}
        self._heaps: dict[str, list[tuple[int, int]]] = {}

    def _heap(self, state: str) -> list[tuple[int, int]]:
        heap = self._heaps.get(state)
        if heap is None:
            heap = [(o.leads, o.id) for o in self.officers.values() if o.active and state in o.states]
            heapq.heapify(heap)
            self._heaps[state] = heap
        return heap

    def eligible(self, officer: Officer, state: str | None, tasks: int = 1) -> bool:
        return state is not None and officer.active and state in officer.states and officer.has_room(tasks)

    def pick(self, state: str | None, *, tasks: int = 1, leads: int = 1) -> int | None:
        """The officer for a lead in ``state`` that brings ``tasks`` open call tasks (a new lead: its first
        call), counted against their room, and counts as ``leads`` leads; None when nobody licensed there has room
        (room for at least one task, also for a lead that brings none) or the state is unknown."""
        if state is None:
            return None
        heap = self._heap(state.upper())
        skipped: list[tuple[int, int]] = []
        chosen: int | None = None
        while heap:
            counted, officer_id = heap[0]
            officer = self.officers[officer_id]
            if counted != officer.leads:  # counted since this entry was pushed
                heapq.heapreplace(heap, (officer.leads, officer_id))
            elif not officer.has_room(max(tasks, 1)):
                skipped.append(heapq.heappop(heap))
                if not officer.has_room(1):  # full for good in this batch
                    skipped.pop()
            else:
                chosen = officer_id
                break
        for entry in skipped:
            heapq.heappush(heap, entry)
        if chosen is not None:
            self.took(chosen, tasks=tasks, leads=leads)
        return chosen

    def pick_other(
        self, state: str | None, *, exclude: int | None, now: datetime, tasks: int = 1, leads: int = 1
    ) -> int | None:
        """Like :meth:`pick`, never ``exclude``, and an officer at work at ``now`` before one who is not."""
        best: tuple[bool, int, int] | None = None
        for officer in self.officers.values():
            if officer.id == exclude or not self.eligible(officer, state.upper() if state else None, max(tasks, 1)):
                continue
            key = (not officer.hours.at_work(now), officer.leads, officer.id)
            if best is None or key < best:
                best = key
        if best is None:
            return None
        self.took(best[2], tasks=tasks, leads=leads)
        return best[2]

    def took(self, officer_id: int, *, tasks: int = 1, leads: int = 1) -> None:
        """Count work handed to ``officer_id`` (by the picker or by name), so the rotation stays balanced."""
        officer = self.officers.get(officer_id)
        if officer is not None:
            officer.leads += leads
            officer.open_tasks += tasks

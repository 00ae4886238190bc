"""The cadence as data: a YAML file parsed into frozen dataclasses at load.

Any mistake in the file (a typo in a channel, an unknown ``after`` step, steps
out of order, a window that ends before it starts) raises :class:`CadenceError`
naming the step and field, so it fails at start-up rather than on day 63.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any

import yaml

from nurture.actions import Channel


class CadenceError(ValueError):
    """The cadence file is not valid."""


@dataclass(frozen=True, slots=True)
class Window:
    start: time
    end: time

    def contains(self, t: time) -> bool:
        return self.start <= t < self.end


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    channel: Channel
    templates: tuple[str, ...]
    window: Window
    day: int | None = None  # local calendar day from enrollment
    at: time | None = None  # local time it falls due on that day
    after: str | None = None  # or: relative to an earlier step
    delay: timedelta = timedelta(0)
    unless_reached: bool = False
    every_days: int | None = None  # repeats every N days after ``day``
    until_day: int | None = None  # last day a repeat may fall on
    priority: int = 0  # a call task's place in the loan officer's list (higher first)

    @property
    def repeats(self) -> bool:
        return self.every_days is not None

    def template_for(self, repeat: int) -> str:
        return self.templates[repeat % len(self.templates)]


@dataclass(frozen=True, slots=True)
class Cadence:
    name: str
    version: int
    steps: tuple[Step, ...]
    stale_after: timedelta
    contact_phase_end: int  # index of the last step of the contact days
    digest: str
    body: str

    def index_of(self, step_id: str) -> int:
        for i, step in enumerate(self.steps):
            if step.id == step_id:
                return i
        raise KeyError(step_id)

    @property
    def templates(self) -> set[tuple[Channel, str]]:
        return {(s.channel, t) for s in self.steps for t in s.templates}


_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_STEP_KEYS = {
    "id",
    "day",
    "at",
    "after",
    "delay",
    "channel",
    "template",
    "templates",
    "window",
    "unless",
    "every_days",
    "until_day",
    "priority",
}


def parse_duration(text: str) -> timedelta:
    """``"90m"``, ``"2h"``, ``"1d"`` -> timedelta."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 2h or 1d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_clock(text: Any) -> time:
    if isinstance(text, int):  # YAML reads 10:00 unquoted as sexagesimal minutes
        return time(text // 60, text % 60)
    try:
        return time.fromisoformat(str(text))
    except ValueError:
        raise ValueError(f"{text!r} is not a time like 09:30") from None


def load_cadence(body: str, *, source: str = "<cadence>") -> Cadence:
    """Parse and validate a cadence file's text."""
    try:
        data = yaml.safe_load(body)
    except yaml.YAMLError as exc:
        raise CadenceError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise CadenceError(f"{source}: expected a mapping with name, version and steps")
    for key in ("name", "version", "steps"):
        if key not in data:
            raise CadenceError(f"{source}: missing '{key}'")
    name, version = data["name"], data["version"]
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", name):
        raise CadenceError(f"{source}: name: {name!r} must be lowercase letters, digits, - or _")
    if not isinstance(version, int) or version < 1:
        raise CadenceError(f"{source}: version: {version!r} must be a positive integer")
    raw_steps = data["steps"]
    if not isinstance(raw_steps, list) or not raw_steps:
        raise CadenceError(f"{source}: steps: expected a non-empty list")
    try:
        stale_after = parse_duration(data.get("stale_after", "24h"))
    except ValueError as exc:
        raise CadenceError(f"{source}: stale_after: {exc}") from None

    steps: list[Step] = []
    for i, raw in enumerate(raw_steps):
        where = f"{source}: steps[{i}]" + (f" ({raw.get('id')})" if isinstance(raw, Mapping) else "")
        steps.append(_parse_step(raw, where, known={s.id: s for s in steps}))

    ids = [s.id for s in steps]
    end_id = data.get("contact_phase_ends_after", ids[0])
    if end_id not in ids:
        raise CadenceError(f"{source}: contact_phase_ends_after: unknown step {end_id!r}")
    _check_order(steps, source)
    return Cadence(
        name=name,
        version=version,
        steps=tuple(steps),
        stale_after=stale_after,
        contact_phase_end=ids.index(end_id),
        digest=hashlib.sha256(body.encode()).hexdigest(),
        body=body,
    )


def _parse_step(raw: Any, where: str, *, known: Mapping[str, Step]) -> Step:
    if not isinstance(raw, Mapping):
        raise CadenceError(f"{where}: expected a mapping")
    unknown = set(raw) - _STEP_KEYS
    if unknown:
        raise CadenceError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    step_id = raw.get("id")
    if not isinstance(step_id, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,48}", step_id):
        raise CadenceError(f"{where}: id: {step_id!r} must be 1-48 letters, digits, - or _")
    if step_id in known:
        raise CadenceError(f"{where}: id: {step_id!r} is used twice")
    try:
        channel = Channel(str(raw.get("channel")))
    except ValueError:
        choices = ", ".join(c.value for c in Channel)
        raise CadenceError(f"{where}: channel: {raw.get('channel')!r} is not one of {choices}") from None
    templates = raw.get("templates") or ([raw["template"]] if "template" in raw else [])
    if not templates or not all(isinstance(t, str) and t for t in templates):
        raise CadenceError(f"{where}: template: give a template name (or a list under 'templates')")
    window = raw.get("window")
    if not isinstance(window, list) or len(window) != 2:
        raise CadenceError(f"{where}: window: expected [start, end] like ['09:00', '17:00']")
    try:
        win = Window(parse_clock(window[0]), parse_clock(window[1]))
    except ValueError as exc:
        raise CadenceError(f"{where}: window: {exc}") from None
    if win.start >= win.end:
        raise CadenceError(f"{where}: window: {window[0]} must come before {window[1]}")

    day, after = raw.get("day"), raw.get("after")
    if (day is None) == (after is None):
        raise CadenceError(f"{where}: give exactly one of 'day' or 'after'")
    at: time | None = None
    delay = timedelta(0)
    if day is not None:
        if not isinstance(day, int) or day < 0:
            raise CadenceError(f"{where}: day: {day!r} must be a whole number >= 0")
        try:
            at = parse_clock(raw.get("at", window[0]))
        except ValueError as exc:
            raise CadenceError(f"{where}: at: {exc}") from None
    else:
        if not isinstance(after, str) or after not in known:
            raise CadenceError(f"{where}: after: {after!r} is not an earlier step")
        if known[after].repeats:
            raise CadenceError(f"{where}: after: {after!r} repeats; only a fixed step can be followed")
        try:
            delay = parse_duration(raw.get("delay", "0m"))
        except ValueError as exc:
            raise CadenceError(f"{where}: delay: {exc}") from None

    unless = raw.get("unless")
    if unless not in (None, "reached"):
        raise CadenceError(f"{where}: unless: only 'reached' is understood, not {unless!r}")
    every, until = raw.get("every_days"), raw.get("until_day")
    if every is not None and (not isinstance(every, int) or every < 1):
        raise CadenceError(f"{where}: every_days: {every!r} must be a whole number >= 1")
    if every is None and (until is not None or len(templates) > 1):
        raise CadenceError(f"{where}: until_day and a list of templates only apply with every_days")
    if every is not None and day is None:
        raise CadenceError(f"{where}: a repeating step needs 'day' for its first time")
    if until is not None and (not isinstance(until, int) or until < (day or 0)):
        raise CadenceError(f"{where}: until_day: {until!r} must be a day on or after {day}")
    priority = raw.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 100:
        raise CadenceError(f"{where}: priority: {priority!r} must be a whole number from 0 to 100")
    if priority and channel is not Channel.CALL:
        raise CadenceError(f"{where}: priority only applies to call steps")
    return Step(
        id=step_id,
        priority=priority,
        channel=channel,
        templates=tuple(templates),
        window=win,
        day=day,
        at=at,
        after=after,
        delay=delay,
        unless_reached=unless == "reached",
        every_days=every,
        until_day=until,
    )


def nominal_offset(step: Step, steps: Mapping[str, Step]) -> timedelta:
    """How long after day 0 at midnight the step nominally falls due (ignoring windows)."""
    if step.day is not None:
        assert step.at is not None
        return timedelta(days=step.day, hours=step.at.hour, minutes=step.at.minute)
    assert step.after is not None
    return nominal_offset(steps[step.after], steps) + step.delay


def _check_order(steps: list[Step], source: str) -> None:
    by_id = {s.id: s for s in steps}
    previous = timedelta(-1)
    for i, step in enumerate(steps):
        if step.repeats and i != len(steps) - 1:
            raise CadenceError(f"{source}: steps[{i}] ({step.id}): a repeating step must be the last step")
        offset = nominal_offset(step, by_id)
        if offset < previous:
            raise CadenceError(
                f"{source}: steps[{i}] ({step.id}): listed after a step that falls due later; "
                "list steps in the order they fall due"
            )
        previous = offset

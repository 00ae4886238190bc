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
from datetime import date, time, timedelta
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from nurture.actions import Channel
from nurture.model_errors import describe, place, shown, unknown


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
    call_instead: bool = True  # a text or voicemail refused for want of consent becomes a loan officer's call

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
    business_days: bool = False  # ``day`` counts Monday-Friday after day 0, not calendar days
    restarts: bool = False  # a lead may run it again: its touch keys name the run's day 0

    def date_of(self, anchor: date, day: int) -> date:
        """The local date of ``day`` (in this cadence's days) for an enrollment whose day 0 is ``anchor``."""
        return business_day(anchor, day) if self.business_days else anchor + timedelta(days=day)

    def index_of(self, step_id: str) -> int:
        for i, step in enumerate(self.steps):
            if step.id == step_id:
                return i
        raise KeyError(step_id)

    @property
    def ends(self) -> bool:
        """Whether the cadence runs out of steps (its last step does not repeat forever)."""
        last = self.steps[-1]
        return not last.repeats or last.until_day is not None

    @property
    def templates(self) -> set[tuple[Channel, str]]:
        return {(s.channel, t) for s in self.steps for t in s.templates}


def business_day(start: date, n: int) -> date:
    """The ``n``-th weekday (Monday to Friday) after ``start``; ``start`` itself when ``n`` is 0, whatever day it is.
    Public holidays are not known here: they count as business days."""
    day, left = start, n
    while left > 0:
        day += timedelta(days=1)
        left -= day.weekday() < 5
    return day


_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: object) -> timedelta:
    """``"90m"``, ``"2h"``, ``"1d"`` -> timedelta."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 2h or 1d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_clock(text: Any) -> time:
    if isinstance(text, int) and not isinstance(text, bool):  # YAML reads 10:00 unquoted as sexagesimal minutes
        if 0 <= text < 24 * 60:
            return time(text // 60, text % 60)
    else:
        try:
            return time.fromisoformat(str(text))
        except ValueError:
            pass
    raise ValueError(f"{text!r} is not a time like 09:30")


def parse_window(raw: object) -> Window:
    """``["09:00", "17:00"]`` -> :class:`Window`; the start must come before the end."""
    if not isinstance(raw, list | tuple) or len(raw) != 2:
        raise ValueError("expected [start, end] like ['09:00', '17:00']")
    window = Window(parse_clock(raw[0]), parse_clock(raw[1]))
    if window.start >= window.end:
        raise ValueError(f"{window.start:%H:%M} must come before {window.end:%H:%M}")
    return window


def _matching(pattern: str, rule: str) -> AfterValidator:
    def check(value: str) -> str:
        if not re.fullmatch(pattern, value):
            raise ValueError(f"{value!r} must be {rule}")
        return value

    return AfterValidator(check)


Clock = Annotated[time, PlainValidator(parse_clock)]
Duration = Annotated[timedelta, PlainValidator(parse_duration)]
WindowField = Annotated[Window, PlainValidator(parse_window)]
StepId = Annotated[StrictStr, _matching(r"[A-Za-z0-9_-]{1,48}", "1-48 letters, digits, - or _")]
TemplateName = Annotated[StrictStr, Field(min_length=1)]


Whole = Annotated[int, Field(strict=True, ge=0)]
Positive = Annotated[int, Field(strict=True, ge=1)]


class FileModel(BaseModel):
    """A section of a YAML file: immutable, and a key it does not know is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class _StepModel(FileModel):
    id: StepId
    channel: Channel
    template: TemplateName | None = None
    templates: Annotated[tuple[TemplateName, ...], Field(min_length=1)] | None = None
    window: WindowField
    day: Whole | None = None
    at: Clock | None = None
    after: StrictStr | None = None
    delay: Duration | None = None
    unless: Literal["reached"] | None = None
    every_days: Positive | None = None
    until_day: Whole | None = None
    priority: Annotated[int, Field(strict=True, ge=0, le=100)] = 0
    without_consent: Literal["call", "skip"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> _StepModel:
        if (self.day is None) == (self.after is None):
            raise ValueError("give exactly one of 'day' or 'after'")
        if self.template is None and self.templates is None:
            raise ValueError("template: give a template name (or a list under 'templates')")
        if self.template is not None and self.templates is not None:
            raise ValueError("template: give either 'template' or 'templates', not both")
        if self.at is not None and self.day is None:
            raise ValueError("at: only applies with 'day'; a step placed 'after' another takes a 'delay'")
        if self.delay is not None and self.after is None:
            raise ValueError("delay: only applies with 'after'; a step on a 'day' takes an 'at'")
        if self.every_days is None and (self.until_day is not None or len(self.templates or ()) > 1):
            raise ValueError("until_day and a list of templates only apply with every_days")
        if self.every_days is not None and self.day is None:
            raise ValueError("a repeating step needs 'day' for its first time")
        if self.until_day is not None and self.until_day < (self.day or 0):
            raise ValueError(f"until_day: {self.until_day} must be a day on or after {self.day}")
        if self.priority and self.channel is not Channel.CALL:
            raise ValueError("priority only applies to call steps")
        if self.without_consent is not None and self.channel not in (Channel.SMS, Channel.VOICEMAIL):
            raise ValueError("without_consent only applies to sms and voicemail steps")
        return self

    def step(self) -> Step:
        return Step(
            id=self.id,
            channel=self.channel,
            templates=self.templates if self.templates is not None else (str(self.template),),
            window=self.window,
            day=self.day,
            at=(self.at or self.window.start) if self.day is not None else None,
            after=self.after,
            delay=self.delay or timedelta(0),
            unless_reached=self.unless == "reached",
            every_days=self.every_days,
            until_day=self.until_day,
            priority=self.priority,
            call_instead=self.without_consent != "skip",
        )


class _CadenceFile(FileModel):
    name: Annotated[StrictStr, _matching(r"[a-z0-9][a-z0-9_-]{0,63}", "lowercase letters, digits, - or _")]
    version: Positive
    stale_after: Duration = timedelta(hours=24)
    contact_phase_ends_after: StrictStr | None = None
    days: Literal["calendar", "business"] = "calendar"
    restarts: StrictBool = False
    steps: Annotated[list[_StepModel], Field(min_length=1)]


def load_cadence(body: str, *, source: str = "<cadence>") -> Cadence:
    """Parse and validate a cadence file's text; :class:`CadenceError` lists every problem, one per line."""
    try:
        data = yaml.safe_load(body)
    except yaml.YAMLError as exc:
        raise CadenceError(f"{source}: not valid YAML: {exc}") from None
    try:
        model = _CadenceFile.model_validate(data)
    except ValidationError as exc:
        raise CadenceError("\n".join(_problem(e, data, source) for e in exc.errors())) from None
    steps = [s.step() for s in model.steps]
    ids = [s.id for s in steps]
    end_id = model.contact_phase_ends_after or ids[0]
    problems = _check_steps(steps, source)
    if end_id not in ids:
        problems.append(f"{source}: contact_phase_ends_after: unknown step {end_id!r}")
    if problems:
        raise CadenceError("\n".join(problems))
    return Cadence(
        name=model.name,
        version=model.version,
        steps=tuple(steps),
        stale_after=model.stale_after,
        contact_phase_end=ids.index(end_id),
        digest=hashlib.sha256(body.encode()).hexdigest(),
        body=body,
        business_days=model.days == "business",
        restarts=model.restarts,
    )


def _problem(err: ErrorDetails, data: Any, source: str) -> str:
    """One validation error as ``c.yaml: steps[2] (d1-email): window: ...``."""
    loc, where = err["loc"], source
    if loc[:1] == ("steps",) and len(loc) > 1:
        raw = data["steps"][loc[1]]
        where += f": steps[{loc[1]}]" + (f" ({shown(raw.get('id'), str)})" if isinstance(raw, Mapping) else "")
        loc = loc[2:]
    if err["type"] == "missing":
        return f"{where}: missing '{place(loc)}'"
    if err["type"] == "model_type":
        return f"{where}: expected a mapping" + ("" if loc or where != source else " with name, version and steps")
    if err["type"] == "extra_forbidden":
        known = (_StepModel if where != source else _CadenceFile).model_fields
        return f"{where}: {place(loc)}: {unknown(str(loc[-1]), known)}"
    return f"{where}: {place(loc)}: {describe(err)}" if loc else f"{where}: {describe(err)}"


def nominal_offset(step: Step, steps: Mapping[str, Step]) -> timedelta:
    """How long after day 0 at midnight the step nominally falls due (ignoring windows)."""
    if step.day is not None:
        assert step.at is not None
        return timedelta(days=step.day, hours=step.at.hour, minutes=step.at.minute)
    assert step.after is not None
    return nominal_offset(steps[step.after], steps) + step.delay


def _check_steps(steps: list[Step], source: str) -> list[str]:
    """What one step cannot see alone: ids used twice, ``after`` an unknown or repeating step, the order."""
    problems: list[str] = []
    by_id: dict[str, Step] = {}
    for i, step in enumerate(steps):
        where = f"{source}: steps[{i}] ({step.id})"
        if step.id in by_id:
            problems.append(f"{where}: id: {step.id!r} is used twice")
        elif step.after is not None and step.after not in by_id:
            problems.append(f"{where}: after: {step.after!r} is not an earlier step")
        elif step.after is not None and by_id[step.after].repeats:
            problems.append(f"{where}: after: {step.after!r} repeats; only a fixed step can be followed")
        elif step.repeats and i != len(steps) - 1:
            problems.append(f"{where}: a repeating step must be the last step")
        by_id.setdefault(step.id, step)
    if problems:
        return problems
    previous = timedelta(-1)
    for i, step in enumerate(steps):
        offset = nominal_offset(step, by_id)
        if offset < previous:
            problems.append(
                f"{source}: steps[{i}] ({step.id}): listed after a step that falls due later; "
                "list steps in the order they fall due"
            )
        previous = max(previous, offset)
    return problems

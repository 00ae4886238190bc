"""The compliance rule table as data (``compliance/us.yaml``), and where a lead may be, for those rules.

The table is parsed into frozen dataclasses at load; a mistake raises
:class:`RuleTableError` naming the field. :func:`exposure` says which time
zones and states a lead must be treated as being in: its address and its
phone's area code both count, and the strictest rule of either applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated

import yaml
from pydantic import AfterValidator, Field, StrictBool, StrictStr, ValidationError
from pydantic_core import ErrorDetails

from nurture.actions import Channel
from nurture.cadence import FileModel, Window, WindowField
from nurture.geo import STATES, PhoneArea, phone_area
from nurture.model_errors import describe, place


class RuleTableError(ValueError):
    """The compliance rule table is not valid."""


@dataclass(frozen=True, slots=True)
class StateRule:
    quiet_hours: Window | None = None
    max_per_24h: int | None = None
    sms_needs_registration: bool = False


@dataclass(frozen=True, slots=True)
class RuleTable:
    name: str
    version: int
    quiet_hours: Window
    quiet_channels: frozenset[Channel]
    states: Mapping[str, StateRule]
    state_cap_channels: frozenset[Channel]
    max_per_24h: int
    cap_channels: frozenset[Channel]
    consent_required_for: frozenset[Channel]
    max_scrub_age_days: int
    inquiry_window_months: int

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    def window_for(self, states: frozenset[str]) -> Window:
        """The narrowest quiet-hours window among ``states`` and the federal one."""
        windows = [self.quiet_hours] + [r.quiet_hours for s in states if (r := self.states.get(s)) and r.quiet_hours]
        return Window(max(w.start for w in windows), min(w.end for w in windows))

    def state_cap(self, states: frozenset[str]) -> tuple[int, str] | None:
        """The smallest per-24-hour cap among ``states`` and the state that sets it."""
        caps = sorted((r.max_per_24h, s) for s in states if (r := self.states.get(s)) and r.max_per_24h)
        return caps[0] if caps else None


@dataclass(frozen=True, slots=True)
class Exposure:
    """The zones and states whose rules a lead is held to."""

    timezones: tuple[str, ...]
    states: frozenset[str]


def exposure(timezone: str, address_state: str | None, phone: str | None) -> Exposure:
    """The lead's own zone and address state, plus the zones and state of its phone's area code."""
    return _exposure(timezone, address_state, phone_area(phone))


@lru_cache(maxsize=8192)
def _exposure(timezone: str, address_state: str | None, area: PhoneArea | None) -> Exposure:
    zones = [timezone]
    states = {address_state} if address_state in STATES else set()
    if area is not None:
        zones += [z for z in area.timezones if z not in zones]
        if area.state:
            states.add(area.state)
    return Exposure(tuple(zones), frozenset(s for s in states if s))


Count = Annotated[int, Field(strict=True, ge=1)]
Channels = Annotated[frozenset[Channel], Field(min_length=1)]


def _state_code(code: str) -> str:
    if code not in STATES:
        raise ValueError("not a US state code")
    return code


class _StateRule(FileModel):
    quiet_hours: WindowField | None = None
    max_per_24h: Count | None = None
    sms_needs_registration: StrictBool = False


class _QuietHours(FileModel):
    window: WindowField
    channels: Channels


class _Frequency(FileModel):
    state_cap_channels: Channels
    max_per_24h: Count
    channels: Channels


class _Consent(FileModel):
    required_for: Channels


class _Dnc(FileModel):
    max_scrub_age_days: Count
    inquiry_window_months: Count


class _TableFile(FileModel):
    name: Annotated[StrictStr, Field(min_length=1)]
    version: Count
    quiet_hours: _QuietHours
    states: dict[Annotated[str, AfterValidator(_state_code)], _StateRule]
    frequency: _Frequency
    consent: _Consent
    dnc: _Dnc


def load_rule_table(body: str, *, source: str = "<rule table>") -> RuleTable:
    """Parse and validate the rule table's text; :class:`RuleTableError` lists every problem, one per line."""
    try:
        data = yaml.safe_load(body)
    except yaml.YAMLError as exc:
        raise RuleTableError(f"{source}: not valid YAML: {exc}") from None
    try:
        t = _TableFile.model_validate(data)
    except ValidationError as exc:
        raise RuleTableError("\n".join(_problem(e, source) for e in exc.errors())) from None
    return RuleTable(
        name=t.name,
        version=t.version,
        quiet_hours=t.quiet_hours.window,
        quiet_channels=t.quiet_hours.channels,
        states={code: StateRule(**dict(rule)) for code, rule in t.states.items()},
        state_cap_channels=t.frequency.state_cap_channels,
        max_per_24h=t.frequency.max_per_24h,
        cap_channels=t.frequency.channels,
        consent_required_for=t.consent.required_for,
        max_scrub_age_days=t.dnc.max_scrub_age_days,
        inquiry_window_months=t.dnc.inquiry_window_months,
    )


def _problem(err: ErrorDetails, source: str) -> str:
    """One validation error as ``us.yaml: states.FL.quiet_hours: ...``."""
    loc = err["loc"]
    if err["type"] == "missing":
        return ": ".join(filter(None, (source, place(loc[:-1]), f"missing '{loc[-1]}'")))
    where = ": ".join(filter(None, (source, place(loc))))
    if err["type"] in ("model_type", "dict_type"):
        return f"{where}: expected a mapping"
    if err["type"] == "extra_forbidden":
        return f"{where}: unknown field"
    return f"{where}: {describe(err)}"

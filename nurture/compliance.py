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
from typing import Any

import yaml

from nurture.actions import Channel
from nurture.cadence import Window, parse_clock
from nurture.geo import STATES, PhoneArea, phone_area


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


_TOP_KEYS = {"name", "version", "quiet_hours", "states", "frequency", "consent", "dnc"}


def load_rule_table(body: str, *, source: str = "<rule table>") -> RuleTable:
    """Parse and validate the rule table's text."""
    try:
        data = yaml.safe_load(body)
    except yaml.YAMLError as exc:
        raise RuleTableError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise RuleTableError(f"{source}: expected a mapping")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise RuleTableError(f"{source}: unknown field(s) {', '.join(sorted(unknown))}")
    name, version = data.get("name"), data.get("version")
    if not isinstance(name, str) or not name:
        raise RuleTableError(f"{source}: name: give the table a name")
    if not isinstance(version, int) or version < 1:
        raise RuleTableError(f"{source}: version: {version!r} must be a whole number >= 1")
    quiet = _mapping(data, "quiet_hours", source)
    frequency = _mapping(data, "frequency", source)
    consent = _mapping(data, "consent", source)
    dnc = _mapping(data, "dnc", source)
    states: dict[str, StateRule] = {}
    for code, raw in _mapping(data, "states", source).items():
        where = f"{source}: states.{code}"
        if code not in STATES:
            raise RuleTableError(f"{where}: not a US state code")
        if not isinstance(raw, Mapping) or set(raw) - {"quiet_hours", "max_per_24h", "sms_needs_registration"}:
            raise RuleTableError(f"{where}: expected quiet_hours, max_per_24h and/or sms_needs_registration")
        states[code] = StateRule(
            quiet_hours=_window(raw["quiet_hours"], f"{where}.quiet_hours") if "quiet_hours" in raw else None,
            max_per_24h=_count(raw, "max_per_24h", where) if "max_per_24h" in raw else None,
            sms_needs_registration=bool(raw.get("sms_needs_registration", False)),
        )
    return RuleTable(
        name=name,
        version=version,
        quiet_hours=_window(quiet.get("window"), f"{source}: quiet_hours.window"),
        quiet_channels=_channels(quiet, "channels", f"{source}: quiet_hours"),
        states=states,
        state_cap_channels=_channels(frequency, "state_cap_channels", f"{source}: frequency"),
        max_per_24h=_count(frequency, "max_per_24h", f"{source}: frequency"),
        cap_channels=_channels(frequency, "channels", f"{source}: frequency"),
        consent_required_for=_channels(consent, "required_for", f"{source}: consent"),
        max_scrub_age_days=_count(dnc, "max_scrub_age_days", f"{source}: dnc"),
        inquiry_window_months=_count(dnc, "inquiry_window_months", f"{source}: dnc"),
    )


def _mapping(data: Mapping[str, Any], key: str, source: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise RuleTableError(f"{source}: {key}: expected a mapping")
    return value


def _window(raw: Any, where: str) -> Window:
    if not isinstance(raw, list) or len(raw) != 2:
        raise RuleTableError(f'{where}: expected [start, end] like ["08:00", "21:00"]')
    try:
        window = Window(parse_clock(raw[0]), parse_clock(raw[1]))
    except ValueError as exc:
        raise RuleTableError(f"{where}: {exc}") from None
    if window.start >= window.end:
        raise RuleTableError(f"{where}: {window.start} must come before {window.end}")
    return window


def _count(raw: Mapping[str, Any], key: str, where: str) -> int:
    value = raw.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RuleTableError(f"{where}.{key}: {value!r} must be a whole number >= 1")
    return value


def _channels(raw: Mapping[str, Any], key: str, where: str) -> frozenset[Channel]:
    values = raw.get(key)
    if not isinstance(values, list) or not values:
        raise RuleTableError(f"{where}.{key}: expected a list of channels")
    try:
        return frozenset(Channel(str(v)) for v in values)
    except ValueError:
        choices = ", ".join(c.value for c in Channel)
        raise RuleTableError(f"{where}.{key}: {values!r} has a channel that is not one of {choices}") from None

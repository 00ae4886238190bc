"""The compliance gate: small named rules every contact passes when it is planned and again when it goes out.

Each rule looks at a :class:`ContactRequest` (which channel, when, to whom) and
the lead's :class:`ContactFacts`, and rules ``allow``, ``defer`` (until a later
time), ``hold`` (until something outside changes; looked at again later) or
``block``. :func:`check` runs them in order; a deferral moves the request and
runs every rule again at the new time, so the time it settles on satisfies all
of them. Pure: no clock, no IO. The rule table is data (``compliance/us.yaml``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import NamedTuple

import pendulum

from nurture.actions import Channel
from nurture.cadence import Window
from nurture.compliance import Exposure, RuleTable, exposure
from nurture.planner import local_instant, local_time, next_opening, window_close

DAY = timedelta(hours=24)
MAX_ROUNDS = 12
SEARCH_LIMIT = timedelta(days=14)


class Ruling(enum.StrEnum):
    ALLOW = "allow"
    DEFER = "defer"  # allowed later, at ``until``
    HOLD = "hold"  # not allowed until something outside changes; look again at ``until``
    BLOCK = "block"  # never for this touch


class Decision(NamedTuple):
    """One rule's ruling. A tuple, not a dataclass: the tick makes several per planned contact."""

    rule: str
    ruling: Ruling
    reason: str = ""
    until: datetime | None = None

    def as_list(self) -> tuple[str, ...]:
        if self.until:
            return (self.rule, self.ruling.value, self.reason, self.until.isoformat())
        if self.reason:
            return (self.rule, self.ruling.value, self.reason)
        return (self.rule, self.ruling.value)


def _allow(rule: str) -> Decision:
    return Decision(rule, Ruling.ALLOW)


@dataclass(frozen=True, slots=True)
class Policy:
    table: RuleTable
    registered_states: frozenset[str] = frozenset()  # where we may send marketing texts that need registration
    sellers: frozenset[str] = frozenset()  # names a consent record must name (compared case-insensitively)


@dataclass(slots=True)
class ContactFacts:
    """What the rules need to know about one lead. Treated as a value (never mutated); not frozen only
    because the tick builds one per due lead and frozen construction costs four times as much."""

    lead_id: int
    timezone: str
    address_state: str | None
    phone: str | None
    inquiry_date: date
    dnc_listed: bool = False
    dnc_scrubbed_on: date | None = None
    consents: tuple[tuple[str, str], ...] = ()  # (phone, seller) of each written-consent record
    opted_out: Mapping[Channel, str] = field(default_factory=dict)  # channel -> why
    contacts: tuple[tuple[datetime, Channel, str], ...] = ()  # (when, channel, key) of contacts sent or scheduled
    not_textable: Mapping[str, str] = field(default_factory=dict)  # number -> why the carriers refuse texts to it

    @property
    def exposure(self) -> Exposure:
        return exposure(self.timezone, self.address_state, self.phone)

    def with_contact(self, at: datetime, channel: Channel, key: str) -> ContactFacts:
        return ContactFacts(
            self.lead_id,
            self.timezone,
            self.address_state,
            self.phone,
            self.inquiry_date,
            self.dnc_listed,
            self.dnc_scrubbed_on,
            self.consents,
            self.opted_out,
            (*self.contacts, (at, channel, key)),
            self.not_textable,
        )


class ContactRequest(NamedTuple):
    channel: Channel
    at: datetime
    human: bool = False  # a loan officer dials by hand: the automated-contact consent rule does not apply
    window: Window | None = None  # the cadence step's window, on the lead's own clock
    to: str | None = None  # the phone number or email address
    key: str = ""  # the touch or task key: its own entry in the lead's contacts is not counted against it


@dataclass(slots=True)
class Verdict:
    ruling: Ruling
    at: datetime  # when it may happen (allow, defer) or be looked at again (hold)
    decisions: tuple[Decision, ...]
    table: str

    @property
    def reason(self) -> str:
        """Why: the blocking (or holding) rule; for a deferral, the first rule that moved it and the others after."""
        moved = [d for d in self.decisions if d.ruling is not Ruling.ALLOW]
        if not moved:
            return ""
        if self.ruling in (Ruling.BLOCK, Ruling.HOLD):
            return f"{moved[-1].rule}: {moved[-1].reason}"
        later = list(dict.fromkeys(d.rule for d in moved[1:] if d.rule != moved[0].rule))
        return f"{moved[0].rule}: {moved[0].reason}" + (f"; then {', '.join(later)}" if later else "")


Rule = Callable[[ContactRequest, ContactFacts, Policy], Decision | None]
_PHONE = frozenset({Channel.CALL, Channel.SMS, Channel.VOICEMAIL})
# The members the hot paths compare with, read once (each ``Ruling.X`` is a class attribute lookup through the enum).
_ALLOW, _DEFER, _HOLD, _BLOCK = Ruling.ALLOW, Ruling.DEFER, Ruling.HOLD, Ruling.BLOCK
_SMS = Channel.SMS


def suppression(req: ContactRequest, facts: ContactFacts, policy: Policy) -> Decision | None:
    """Nobody who opted out of a channel (STOP, unsubscribe, a do-not-call request) is contacted on it."""
    why = facts.opted_out.get(req.channel)
    if why is None:
        return _ALLOWED["suppression"]
    return Decision("suppression", Ruling.BLOCK, f"opted out of {req.channel.value}: {why}")


def textable(req: ContactRequest, facts: ContactFacts, policy: Policy) -> Decision | None:
    """No text to a number the carriers said cannot take one (a landline, or unreachable again and again);
    calls and voicemail to it are not affected."""
    if req.channel is not _SMS:
        return None
    number = req.to or facts.phone
    why = facts.not_textable.get(number) if number else None
    if why is None:
        return _ALLOWED["textable"]
    return Decision("textable", Ruling.BLOCK, f"{number} cannot take texts: {why}")


def sms_registration(req: ContactRequest, facts: ContactFacts, policy: Policy) -> Decision | None:
    """No marketing text to a state that requires the sender's registration unless we are registered there."""
    if req.channel is not _SMS:
        return None
    for state in sorted(facts.exposure.states):
        rule = policy.table.states.get(state)
        if rule and rule.sms_needs_registration and state not in policy.registered_states:
            return Decision(
                "sms_registration", Ruling.BLOCK, f"{state} requires a registered sender for marketing texts"
            )
    return _ALLOWED["sms_registration"]


def consent(req: ContactRequest, facts: ContactFacts, policy: Policy) -> Decision | None:
    """Automated texts and prerecorded voicemail go only to a number with written consent naming us."""
    if req.human or req.channel not in policy.table.consent_required_for:
        return None
    records = [seller for phone, seller in facts.consents if phone == req.to]
    if any(_seller(s) in policy.sellers for s in records):
        return _ALLOWED["consent"]
    if records:
        return Decision("consent", Ruling.BLOCK, f"the consent on file for {req.to} names {records[0]!r}, not us")
    return Decision("consent", Ruling.BLOCK, f"no written consent on file for {req.to}")


def dnc_registry(req: ContactRequest, facts: ContactFacts, policy: Policy) -> Decision | None:
    """A number on the Do Not Call registry gets automated messages only with consent, and human calls only
    within the inquiry window (or with consent)."""
    if req.channel not in _PHONE or not facts.dnc_listed:
        return None
    has_consent = any(phone == req.to and _seller(s) in policy.sellers for phone, s in facts.consents)
    if has_consent:
        return Decision("dnc_registry", Ruling.ALLOW, "on the DNC registry, with written consent")
    if not req.human:
        return Decision("dnc_registry", Ruling.BLOCK, "on the DNC registry without written consent")
    months = policy.table.inquiry_window_months
    d = facts.inquiry_date
    last = pendulum.Date(d.year, d.month, d.day).add(months=months)
    if req.at.date() <= last:
        return Decision("dnc_registry", Ruling.ALLOW, f"on the DNC registry; inquiry of {d} allows calls to {last}")
    return Decision("dnc_registry", Ruling.BLOCK, f"on the DNC registry; inquiry of {d} is over {months} months old")


def dnc_scrub(req: ContactRequest, facts: ContactFacts, policy: Policy) -> Decision | None:
    """Phone solicitations wait while the lead's Do Not Call scrub is missing or too old."""
    if req.channel not in _PHONE:
        return None
    limit = policy.table.max_scrub_age_days
    scrubbed = facts.dnc_scrubbed_on
    if scrubbed is not None and (req.at.date() - scrubbed).days <= limit:
        return _ALLOWED["dnc_scrub"]
    why = "never scrubbed" if scrubbed is None else f"scrubbed {scrubbed}, over {limit} days ago"
    return Decision("dnc_scrub", Ruling.HOLD, f"held until re-scrubbed against the DNC registry ({why})", req.at + DAY)


def cadence_window(req: ContactRequest, facts: ContactFacts, policy: Policy) -> Decision | None:
    """A step happens inside its own window on the lead's clock (the cadence file's ``window``), or, when that
    window never meets the quiet hours, at the nearest time they permit."""
    if req.window is None:
        return None
    opening = next_opening(req.at, req.window, facts.timezone)
    if opening == req.at:
        return _ALLOWED["cadence_window"]
    local = local_time(req.at, facts.timezone)
    w = req.window
    reason = f"{local:%H:%M} {facts.timezone} is outside the step's window {w.start:%H:%M}-{w.end:%H:%M}"
    return Decision("cadence_window", Ruling.DEFER, reason, opening)


def quiet_hours(req: ContactRequest, facts: ContactFacts, policy: Policy) -> Decision | None:
    """No call, text or voicemail outside the allowed hours in any time zone the recipient may be in."""
    if req.channel not in policy.table.quiet_channels:
        return None
    exp = facts.exposure
    window = policy.table.window_for(exp.states)
    rule = f"{window.start:%H:%M}-{window.end:%H:%M}" + (f" ({', '.join(sorted(exp.states))})" if exp.states else "")
    opening = next_allowed(req.at, exp.timezones, window)
    if opening == req.at:
        return _ALLOWED["quiet_hours"]
    if opening is None:
        return Decision("quiet_hours", Ruling.BLOCK, f"no hour is inside {rule} in all of {', '.join(exp.timezones)}")
    outside = next(z for z in exp.timezones if next_opening(req.at, window, z) != req.at)
    local = local_time(req.at, outside)
    return Decision("quiet_hours", Ruling.DEFER, f"{local:%H:%M} in {outside} is outside {rule}", opening)


def state_cap(req: ContactRequest, facts: ContactFacts, policy: Policy) -> Decision | None:
    """In the strict states, at most N marketing calls, texts and voicemails in any 24 hours."""
    table = policy.table
    if req.channel not in table.state_cap_channels:
        return None
    cap = table.state_cap(facts.exposure.states)
    if cap is None:
        return None
    return _cap("state_cap", req, facts, table.state_cap_channels, cap[0], f"{cap[1]} allows {cap[0]} per 24 h")


def global_cap(req: ContactRequest, facts: ContactFacts, policy: Policy) -> Decision | None:
    """Every lead gets at most N contacts in any 24 hours, across cadences and loan officers."""
    table = policy.table
    if req.channel not in table.cap_channels:
        return None
    limit = table.max_per_24h
    return _cap("global_cap", req, facts, table.cap_channels, limit, f"at most {limit} contacts per 24 h")


_ALLOWED = {name: _allow(name) for name in (
    "suppression", "textable", "sms_registration", "consent", "dnc_scrub", "cadence_window", "quiet_hours", "state_cap",
    "global_cap",
)}  # fmt: skip

RULES: tuple[Rule, ...] = (
    suppression,
    textable,
    sms_registration,
    consent,
    dnc_registry,
    dnc_scrub,
    cadence_window,
    quiet_hours,
    state_cap,
    global_cap,
)


def check(req: ContactRequest, facts: ContactFacts, policy: Policy, rules: tuple[Rule, ...] = RULES) -> Verdict:
    """Run every rule on ``req``; on a deferral, move it and run them all again at the new time.

    The verdict keeps each deferral and every ruling of the last round (the one that settled it).
    """
    kept: list[Decision] = []
    at = req.at
    for _ in range(MAX_ROUNDS):
        current = req._replace(at=at) if at != req.at else req
        moved = False
        this_round: list[Decision] = []
        for rule in rules:
            d = rule(current, facts, policy)
            if d is None:
                continue
            this_round.append(d)
            ruling = d.ruling
            if ruling is _ALLOW:
                continue
            if ruling is _BLOCK or ruling is _HOLD:
                return Verdict(ruling, d.until or at, (*kept, *this_round), policy.table.label)
            if ruling is _DEFER:
                assert d.until is not None and d.until > at, f"{d.rule} deferred to a time not after {at}"
                at, moved = d.until, True
                kept.append(d)
                break
        if not moved:
            return Verdict(_ALLOW if at == req.at else _DEFER, at, (*kept, *this_round), policy.table.label)
        if at - req.at > SEARCH_LIMIT:
            break
    if req.window is not None and {"cadence_window", "quiet_hours"} <= {d.rule for d in kept}:
        nearest = _nearest_permitted(req, facts, policy, rules)
        if nearest is not None:
            return nearest
    rules_moving = ", ".join(dict.fromkeys(d.rule for d in kept))
    span = (at - req.at).total_seconds() / 86_400
    stuck = Decision(
        "gate", Ruling.BLOCK, f"no time satisfies {rules_moving} together ({len(kept)} moves, {span:.1f} days)"
    )
    return Verdict(Ruling.BLOCK, at, (*kept, stuck), policy.table.label)


def _nearest_permitted(
    req: ContactRequest, facts: ContactFacts, policy: Policy, rules: tuple[Rule, ...]
) -> Verdict | None:
    """For a step whose window never meets the quiet hours of every zone the recipient may be in: the nearest time
    the quiet hours permit, on the day it falls due if any is left, else on the next, as close to the window as
    its length allows (a 17:00-20:00 window against quiet hours that end at 17:00 becomes 14:00-17:00). Every
    other rule still applies; None when no day within three has a permitted time."""
    assert req.window is not None
    tz, w = facts.timezone, req.window
    exp = facts.exposure
    quiet = policy.table.window_for(exp.states)
    first = local_time(req.at, tz).date()
    for offset in range(3):
        day = first + timedelta(days=offset)
        starts, ends = local_instant(tz, day, w.start), local_instant(tz, day, w.end)
        opening = next_allowed(max(req.at, local_instant(tz, day, time(0))), exp.timezones, quiet)
        if opening is None or opening >= local_instant(tz, day + timedelta(days=1), time(0)):
            continue
        closing = min(window_close(opening, quiet, z) for z in exp.timezones)
        if closing <= starts:
            at = max(opening, closing - (ends - starts))
        elif opening >= ends:
            at = opening
        else:
            at = max(opening, starts)
        verdict = check(req._replace(at=at, window=None), facts, policy, rules)
        zones = ", ".join(exp.timezones)
        why = (
            f"the step's window {w.start:%H:%M}-{w.end:%H:%M} {tz} never meets {quiet.start:%H:%M}-{quiet.end:%H:%M} "
            f"in all of {zones}: moved to the nearest permitted time"
        )
        moved = Decision(
            "cadence_window", Ruling.DEFER if at > req.at else Ruling.ALLOW, why, at if at > req.at else None
        )
        ruling = verdict.ruling
        if ruling in (Ruling.ALLOW, Ruling.DEFER):
            ruling = Ruling.ALLOW if verdict.at == req.at else Ruling.DEFER
        return Verdict(ruling, verdict.at, (moved, *verdict.decisions), policy.table.label)
    return None


def allowed_until(req: ContactRequest, facts: ContactFacts, policy: Policy, at: datetime | None = None) -> datetime:
    """When the windows that ``req`` (moved to ``at``) falls in close: its step's window and, by phone, the
    quiet hours."""
    when = req.at if at is None else at
    ends = []
    if req.window is not None:
        ends.append(window_close(when, req.window, facts.timezone))
    if req.channel in policy.table.quiet_channels:
        exp = facts.exposure
        window = policy.table.window_for(exp.states)
        ends += [window_close(when, window, z) for z in exp.timezones]
    return min(ends) if ends else when + DAY


def next_allowed(at: datetime, zones: tuple[str, ...], window: Window) -> datetime | None:
    """The first instant at or after ``at`` inside ``window`` on every zone's clock, or None within two days."""
    t = at
    for _ in range(4 * len(zones) + 4):
        moved = False
        for zone in zones:
            opening = next_opening(t, window, zone)
            if opening != t:
                t, moved = opening, True
        if not moved:
            return t
        if t - at > timedelta(days=2):
            return None
    return None


def _cap(
    name: str, req: ContactRequest, facts: ContactFacts, counted: frozenset[Channel], limit: int, why: str
) -> Decision:
    times = sorted(t for t, ch, key in facts.contacts if ch in counted and key != req.key)
    if len(times) < limit:  # fewer contacts than the limit in all: none of their 24 hours can be full
        return _ALLOWED[name]

    def near(at: datetime) -> int:
        return sum(1 for t in times if abs(t - at) < DAY)

    if near(req.at) < limit:
        return _ALLOWED[name]
    for candidate in (t + DAY for t in times):
        if candidate > req.at and near(candidate) < limit:
            return Decision(name, Ruling.DEFER, f"{near(req.at)} contacts within 24 h; {why}", candidate)
    raise AssertionError("a time after every contact always has room")  # pragma: no cover


def _seller(name: str) -> str:
    return " ".join(name.casefold().split())


def policy_sellers(*names: str) -> frozenset[str]:
    """Seller names as the consent rule compares them."""
    return frozenset(_seller(n) for n in names if n.strip())

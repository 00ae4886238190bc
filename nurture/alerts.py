"""Alerts for loan officers, decided without the clock: which call tasks cannot wait, when an officer may be
alerted (never inside their quiet hours), the hour windows digests are keyed by, and what an alert says.

A priority task (a borrower's reply, a hand-off, or any call of a re-engagement) gets an alert of its own at
once; cadence calls wait for the officer's hourly digest. An alert never goes inside the officer's quiet
hours: it waits for their end. Texts name the borrower by first name only.
"""

from __future__ import annotations

import enum
import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from nurture.actions import Channel, TaskKind
from nurture.planner import local_instant, local_time

REENGAGE = "reengage"  # the re-engagement cadence's name: a call task's key names the cadence it came from
FRESH_FOR = timedelta(hours=24)  # a priority task due longer ago than this joins the digest (a backlog, not news)
SIGNIN_MARK = "/signin/…"  # stands for the sign-in token wherever an alert is stored
SMS_NAMES = 3  # first names a digest text lists before "+N more"
DAY_MINUTES = 24 * 60


class AlertKind(enum.StrEnum):
    DUE = "due"  # one priority task, at once
    DIGEST = "digest"  # the cadence calls that fell due, at most one per officer per hour
    REMINDER = "reminder"  # a priority task still unworked some time after its alert
    UNASSIGNED = "unassigned"  # a manager's notice: tasks or leads without a loan officer


def is_priority(kind: str, key: str) -> bool:
    """A reply, a hand-off, or a call of a re-engagement (its key names the re-engagement cadence:
    ``{lead}:reengage:v1@2026-06-02:d0-call:call``)."""
    if kind in (TaskKind.REPLY.value, TaskKind.HANDOFF.value):
        return True
    parts = key.split(":")
    return kind == TaskKind.CADENCE.value and len(parts) > 2 and parts[1] == REENGAGE


def alert_kind(kind: str, key: str, *, due_at: datetime, now: datetime) -> AlertKind:
    """How a task that has fallen due is announced: on its own when it is a priority task due within
    ``FRESH_FOR``, else in the digest."""
    if is_priority(kind, key) and now - due_at <= FRESH_FOR:
        return AlertKind.DUE
    return AlertKind.DIGEST


@dataclass(frozen=True, slots=True)
class QuietHours:
    """An officer's quiet hours on their own clock: from ``start`` to ``end`` (minutes after local midnight),
    across midnight when ``start`` is later than ``end``. Equal values mean no quiet hours."""

    timezone: str
    start: int
    end: int

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not 0 <= value < DAY_MINUTES:
                raise ValueError(f"quiet_{name} is {value}: give minutes after midnight, 0 to {DAY_MINUTES - 1}")

    def quiet(self, at: datetime) -> bool:
        """Whether ``at`` falls inside the quiet hours on the officer's clock."""
        local = local_time(at, self.timezone)
        minute = local.hour * 60 + local.minute
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def next_open(self, at: datetime) -> datetime:
        """``at`` when it is outside the quiet hours, else the moment they end."""
        candidate = at
        for _ in range(4):  # a DST change can land an end inside the next night's hours; a few steps settle it
            if not self.quiet(candidate):
                return candidate
            candidate = self._end_after(candidate)
        raise AssertionError(f"quiet hours {self} never end after {at}")

    def _end_after(self, at: datetime) -> datetime:
        day: date = local_time(at, self.timezone).date()
        end = time(self.end // 60, self.end % 60)
        for offset in range(3):
            instant = local_instant(self.timezone, day + timedelta(days=offset), end)
            if instant > at:
                return instant
        raise AssertionError(f"no end of quiet hours after {at}")


def hour_window(at: datetime) -> datetime:
    """The start of the UTC hour ``at`` falls in: digests and managers' notices are keyed by it."""
    u = at.astimezone(UTC)
    return datetime(u.year, u.month, u.day, u.hour, tzinfo=UTC)


def hour_label(window: datetime) -> str:
    return window.astimezone(UTC).strftime("%Y-%m-%dT%H")


def due_key(task_id: int, officer_id: int, channel: Channel) -> str:
    """A task's own alert to ``officer_id`` (a task handed to another officer alerts them too)."""
    return f"task:{task_id}:due:{officer_id}:{channel.value}"


def reminder_key(task_id: int, officer_id: int, channel: Channel) -> str:
    return f"task:{task_id}:reminder:{officer_id}:{channel.value}"


def digest_key(officer_id: int, window: datetime, channel: Channel) -> str:
    return f"digest:{officer_id}:{hour_label(window)}:{channel.value}"


def unassigned_key(manager_id: int, window: datetime, channel: Channel) -> str:
    return f"unassigned:{manager_id}:{hour_label(window)}:{channel.value}"


@dataclass(frozen=True, slots=True)
class Reach:
    """How an officer wants to be alerted, and where."""

    active: bool
    phone: str | None
    email: str | None
    alert_sms: bool
    alert_email: bool


_ROUTES = {  # channel: (the preference, the address, what the officer turns off, what may be missing)
    Channel.SMS: ("alert_sms", "phone", "text alerts", "phone number"),
    Channel.EMAIL: ("alert_email", "email", "email alerts", "email address"),
}


def route(reach: Reach, channel: Channel) -> tuple[str, str]:
    """(address, "") when an alert may go to the officer on ``channel``, else ("", why not)."""
    if not reach.active:
        return "", "skipped: the officer is not active"
    if channel not in _ROUTES:
        return "", f"skipped: alerts do not go by {channel.value}"
    wanted, where, alerts, address = _ROUTES[channel]
    if not getattr(reach, wanted):
        return "", f"skipped: the officer turned {alerts} off"
    to = getattr(reach, where)
    return (to, "") if to else ("", f"skipped: the officer has no {address} on file")


ALERT_CHANNELS = (Channel.SMS, Channel.EMAIL)


@dataclass(frozen=True, slots=True)
class TaskLine:
    """One call task as an alert mentions it."""

    task_id: int
    kind: str
    key: str
    first_name: str
    due_at: datetime


@dataclass(frozen=True, slots=True)
class Wording:
    subject: str | None  # email only
    text: str


def _why(line: TaskLine) -> str:
    if line.kind == TaskKind.REPLY.value:
        return "wrote back"
    if line.kind == TaskKind.HANDOFF.value:
        return "is yours to follow up"
    if is_priority(line.kind, line.key):
        return "qualifies again after a lender's change"
    return "is due a call"


def _name(line: TaskLine) -> str:
    return line.first_name.strip().split(" ")[0][:40] or "A borrower"


def _clock(at: datetime, timezone: str) -> str:
    local = local_time(at, timezone)
    return local.strftime("%I:%M %p").lstrip("0") + f" ({local.tzname()})"


def compose(
    kind: AlertKind,
    channel: Channel,
    *,
    lines: Sequence[TaskLine],
    link: str,
    timezone: str,
    brand: str,
    unassigned: tuple[int, int] = (0, 0),
) -> Wording:
    """What an alert says. ``lines``: the open tasks it is about (due, reminder, digest); ``unassigned``:
    (tasks, leads) without a loan officer (a manager's notice); ``link``: the sign-in link, or its
    placeholder. A text stays short and names borrowers by first name only."""
    sms = channel is Channel.SMS
    if kind is AlertKind.UNASSIGNED:
        tasks, leads = unassigned
        what = " and ".join(p for p in (_count(tasks, "call task"), _count(leads, "lead")) if p)
        what += " has" if tasks + leads == 1 else " have"
        text = f"{brand}: {what} no loan officer. Assign them: {link}"
        return Wording(None if sms else f"{what} no loan officer", text)
    if kind in (AlertKind.DUE, AlertKind.REMINDER):
        line = lines[0]
        name = _name(line)
        if kind is AlertKind.REMINDER:
            text = f"{brand} reminder: {name} {_why(line)} and still waits for your call. {link}"
            subject = f"Reminder: {name} still waits for your call"
        else:
            text = f"{brand}: {name} {_why(line)}. Call now: {link}"
            subject = f"Call {name} now: {_why(line)}"
        if not sms:
            text += f"\n\nDue {_clock(line.due_at, timezone)}."
        return Wording(None if sms else subject, text)
    names = [_name(line) for line in lines]
    if sms:
        shown = ", ".join(names[:SMS_NAMES]) + (f" +{len(names) - SMS_NAMES} more" if len(names) > SMS_NAMES else "")
        return Wording(None, f"{brand}: {_count(len(names), 'call')} due: {shown}. Your list: {link}")
    rows = "\n".join(f"- {_name(line)}, due {_clock(line.due_at, timezone)}" for line in lines)
    return Wording(
        f"{_count(len(names), 'call')} due", f"{_count(len(names), 'call')} due:\n{rows}\n\nYour list: {link}"
    )


def _count(n: int, noun: str) -> str:
    return "" if n == 0 else f"{n} {noun}" + ("" if n == 1 else "s")


def placeholder_link(base_url: str) -> str:
    """The sign-in link as it is stored: the token is never kept."""
    return base_url.rstrip("/") + SIGNIN_MARK


def sign_in_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/signin/{token}"


def email_html(text: str, link: str) -> str:
    """The email's HTML part: the text, escaped, with the link clickable."""
    body = html.escape(text).replace(html.escape(link), f'<a href="{html.escape(link)}">{html.escape(link)}</a>')
    return "<p>" + body.replace("\n\n", "</p><p>").replace("\n", "<br>") + "</p>"

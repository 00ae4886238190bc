"""The gate applied to what the planner asks for, and the decision log lines stored with each touch and task.

Pure: the tick hands in the planner's touches and call tasks with the lead's
facts, and gets back the same items moved to a time every rule allows, held,
or blocked, each carrying its decisions. An automated text or voicemail that
is blocked for want of consent (or of a registered sender) becomes a human call
task for the loan officer instead, itself checked like any call, unless its step
says ``without_consent: skip``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from nurture.actions import Channel, PlannedCallTask, PlannedTouch, TaskKind, TaskStatus, TouchStatus
from nurture.cadence import Cadence, Window
from nurture.gate import ContactFacts, ContactRequest, Decision, Policy, Ruling, Verdict, allowed_until, check

SUBSTITUTE_CALL_TEMPLATE = "manual"
SCRUB_HELD = "held: dnc_scrub: "  # how the reason (or a call task's note) of an item held for a DNC re-scrub reads
_CALL_INSTEAD = frozenset({"consent", "sms_registration"})
# Read once: the per-touch path below compares with these for every planned touch.
_ALLOW, _HOLD, _BLOCK = Ruling.ALLOW, Ruling.HOLD, Ruling.BLOCK
_PLANNED, _EMAIL = TouchStatus.PLANNED, Channel.EMAIL
_RULING_TEXT = {r: r.value for r in Ruling}


def decision_line(phase: str, verdict: Verdict, checked_at: datetime) -> str:
    """One JSON line for the decision log: when, which table, the verdict and every rule's ruling.

    Same as ``json.dumps`` of {phase, checked_at, table, verdict, at, rules}; the rulings part repeats
    across most touches (every rule allows), so its JSON is made once and reused.
    """
    return (
        f'{{"phase":{_quoted(phase)},"checked_at":"{_iso(checked_at)}",'
        f'"table":{_quoted(verdict.table)},"verdict":"{_RULING_TEXT[verdict.ruling]}",'
        f'"at":"{_iso(verdict.at)}","rules":{_rulings(verdict.decisions)}}}'
    )


def _rulings(decisions: tuple[Decision, ...]) -> str:
    """The rulings' JSON. Remembered by the decisions themselves when every time in them is a plain UTC datetime:
    equal instants in other zones compare equal but print differently."""
    for d in decisions:
        until = d.until
        if until is not None and (type(until) is not datetime or until.tzinfo is not UTC):
            return _rulings_text(decisions)
    return _rulings_json(decisions)


@lru_cache(maxsize=4096)
def _rulings_json(decisions: tuple[Decision, ...]) -> str:
    return _rulings_text(decisions)


def _rulings_text(decisions: tuple[Decision, ...]) -> str:
    return json.dumps([list(d.as_list()) for d in decisions], separators=(",", ":"))


@lru_cache(maxsize=64)
def _quoted(text: str) -> str:
    return json.dumps(text)


def _iso(at: datetime) -> str:
    """``at.isoformat()``; a batch's lines share a few times (the tick's ``now``, the windows' openings)."""
    if type(at) is datetime and at.tzinfo is UTC:
        return _utc_iso(at)
    return at.isoformat()


@lru_cache(maxsize=4096)
def _utc_iso(at: datetime) -> str:
    return at.isoformat()


def verdict_reason(verdict: Verdict) -> str:
    """The short reason stored on a touch: ``deferred: quiet_hours: 20:45 in ...``; empty when allowed as asked."""
    if verdict.ruling is _ALLOW:
        return ""
    word = {Ruling.DEFER: "deferred", Ruling.HOLD: "held", Ruling.BLOCK: "blocked"}[verdict.ruling]
    return f"{word}: {verdict.reason}"[:500]


@dataclass(slots=True)
class GatedPlan:
    touches: list[PlannedTouch] = field(default_factory=list)
    tasks: list[PlannedCallTask] = field(default_factory=list)
    facts: ContactFacts | None = None  # the facts with every accepted contact added


def gate_planned(
    touches: list[PlannedTouch],
    tasks: list[PlannedCallTask],
    facts: ContactFacts,
    cadence: Cadence,
    policy: Policy,
    now: datetime,
    *,
    email: str | None,
) -> GatedPlan:
    """Check each planned touch and call task in turn; each accepted one counts against the next."""
    out = GatedPlan()
    last = len(touches) - 1
    for i, touch in enumerate(touches):
        if touch.status is not _PLANNED:
            out.touches.append(touch)
            continue
        step = cadence.steps[cadence.index_of(touch.step_id)]
        window = step.window
        to = email if touch.channel is _EMAIL else facts.phone
        req = ContactRequest(touch.channel, touch.scheduled_for, window=window, to=to, key=touch.key)
        verdict = check(req, facts, policy)
        line = decision_line("plan", verdict, now)
        if verdict.ruling is _BLOCK:
            out.touches.append(
                touch._replace(status=TouchStatus.BLOCKED, reason=verdict_reason(verdict), decisions=line)
            )
            deciding = verdict.decisions[-1].rule
            if deciding in _CALL_INSTEAD and touch.channel in (Channel.SMS, Channel.VOICEMAIL) and step.call_instead:
                substitute = PlannedCallTask(
                    lead_id=touch.lead_id,
                    key=f"{touch.key}:call",
                    step_id=touch.step_id,
                    kind=TaskKind.CADENCE,
                    template=SUBSTITUTE_CALL_TEMPLATE,
                    due_at=touch.scheduled_for,
                    expires_at=touch.not_after,
                    note=f"call by hand instead of an automated {touch.channel.value}: {verdict.reason}"[:1000],
                )
                facts = _gate_task(substitute, window, facts, policy, now, out)
            continue
        at = verdict.at
        until = allowed_until(req, facts, policy, at)
        out.touches.append(
            PlannedTouch(
                lead_id=touch.lead_id,
                key=touch.key,
                step_id=touch.step_id,
                channel=touch.channel,
                template=touch.template,
                scheduled_for=at,
                not_after=until,
                status=touch.status,
                reason=verdict_reason(verdict),
                decisions=line,
            )
        )
        if verdict.ruling is not _HOLD and (i < last or tasks):
            facts = facts.with_contact(at, touch.channel, touch.key)
    for task in tasks:
        window = cadence.steps[cadence.index_of(task.step_id)].window
        facts = _gate_task(task, window, facts, policy, now, out)
    out.facts = facts
    return out


def _gate_task(
    task: PlannedCallTask, window: Window, facts: ContactFacts, policy: Policy, now: datetime, out: GatedPlan
) -> ContactFacts:
    req = ContactRequest(Channel.CALL, task.due_at, human=True, window=window, to=facts.phone, key=task.key)
    verdict = check(req, facts, policy)
    line = decision_line("plan", verdict, now)
    if verdict.ruling in (Ruling.BLOCK, Ruling.HOLD):
        # a held task stays off the officer's list until what holds it changes (a DNC re-scrub releases it)
        status = TaskStatus.HELD if verdict.ruling is Ruling.HOLD else TaskStatus.BLOCKED
        note = "; ".join(filter(None, [task.note, verdict_reason(verdict)]))[:1000]
        out.tasks.append(task._replace(status=status, note=note, decisions=line))
        return facts
    at = verdict.at
    until = allowed_until(req, facts, policy, at)
    out.tasks.append(task._replace(due_at=at, expires_at=max(until, at), decisions=line))
    return facts.with_contact(at, Channel.CALL, task.key)

"""The pipeline a run works with, and the tick: the one implementation the flows, the CLI, the replay, the demo
and the benchmark call (dispatch is in ``service.dispatch``).

:func:`tick` and ``dispatch`` run their batches through a :class:`~service.steps.Runner`:
inline by default, as Prefect tasks when a flow passes its runner. Each function takes
``now`` from its caller; nothing here reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from channels.base import Sender
from channels.render import LeadView, OfficerView, RenderContext
from nurture.cadence import load_cadence
from nurture.compliance import load_rule_table
from nurture.documents import deadlines
from nurture.gate import Policy, policy_sellers
from nurture.worksheet import worksheet
from service.pacing import Pace, Unlimited
from service.senders import brand, make_pace, make_sender
from service.settings import Settings
from service.steps import Runner, fewer_gc_passes, inline
from service.templates import missing_compliance_settings, missing_templates
from service.unsubscribe import unsubscribe_url
from storage.assignment import reassign_expiring_tasks
from storage.cadences import CadenceRegistry, enroll_new_leads, register_cadence
from storage.db import make_engine
from storage.documents import DOCUMENTS_CADENCE, enroll_documents
from storage.guidelines import current_set
from storage.models import CadencePosition, Lead, LoanOfficer, table
from storage.referrals import enroll_funded
from storage.rescore import lead_facts
from storage.seasoning import enroll_seasoned
from storage.tick import TickStats, expire_call_tasks, tick_batch


@dataclass
class Pipeline:
    """What a run needs: the database, the cadence versions, the channel, the settings."""

    settings: Settings
    engine: Engine
    registry: CadenceRegistry
    sender: Sender
    policy: Policy = field(default=None)  # type: ignore[assignment]  # built from the settings when not given
    pace: Pace = field(default_factory=Unlimited)  # the providers' rate limits (service.pacing)

    def __post_init__(self) -> None:
        if self.policy is None:
            self.policy = load_policy(self.settings)

    @classmethod
    def open(cls, settings: Settings, *, now: datetime, sender: Sender | None = None) -> Pipeline:
        engine = make_engine(settings.database_url)
        cadence = load_cadence(settings.cadence_file.read_text(), source=str(settings.cadence_file))
        others = tuple(
            load_cadence(path.read_text(), source=str(path))
            for path in (
                settings.reengage_cadence_file,
                settings.referral_cadence_file,
                settings.documents_cadence_file,
            )
        )
        policy = load_policy(settings)
        missing = missing_templates(settings, cadence, *others)
        if missing:
            raise TemplateFilesError(f"{settings.templates_dir}: no template file for {', '.join(missing)}")
        _refuse_incomplete_solicitations(settings, engine)
        registry = register_cadence(engine=engine, cadence=cadence, now=now, others=others)
        return cls(settings, engine, registry, sender or make_sender(settings), policy, make_pace(settings))


class ComplianceSettingsError(ValueError):
    """Messages would go out without what the law requires in them (postal address, NMLS IDs)."""


class TemplateFilesError(ValueError):
    """A cadence step names a template that has no file."""


def _refuse_incomplete_solicitations(settings: Settings, engine: Engine) -> None:
    officers = table(LoanOfficer)
    active: list[tuple[str, str | None]] = []
    if sa.inspect(engine).has_table(officers.name):  # no schema yet: `dripline init` creates it
        with engine.connect() as conn:
            rows = conn.execute(sa.select(officers.c.name, officers.c.nmls_id).where(officers.c.active)).all()
            active = [(name, nmls_id) for name, nmls_id in rows]
    problems = missing_compliance_settings(settings, active)
    if problems:
        raise ComplianceSettingsError("refusing to send incomplete solicitations: " + "; ".join(problems))


def load_policy(settings: Settings) -> Policy:
    """The compliance rule table and what the settings say about us (registrations, our names on consents)."""
    table = load_rule_table(settings.compliance_file.read_text(), source=str(settings.compliance_file))
    return Policy(
        table,
        registered_states=frozenset({"TX"}) if settings.texas_sms_registered else frozenset(),
        sellers=policy_sellers(settings.company_name, *settings.consent_sellers),
    )


@dataclass
class TickSummary:
    """What one tick did: the housekeeping before planning, and the planning itself."""

    enrolled: int = 0
    seasoned: int = 0  # re-engaged on the day their credit event seasoned
    referrals: int = 0  # funded leads moved onto the referral asks
    documents: int = 0  # leads moved onto the documents sequence after their education call
    handed_over: int = 0  # call tasks about to expire unworked, given to another officer
    unassigned_tasks: int = 0  # ... or to the unassigned queue, nobody eligible having room
    expired_tasks: int = 0
    batches: int = 0
    plan: TickStats = field(default_factory=TickStats)

    def as_dict(self) -> dict[str, int]:
        plan = self.plan
        return {
            "enrolled": self.enrolled,
            "seasoned": self.seasoned,
            "referrals": self.referrals,
            "documents": self.documents,
            "handed_over": self.handed_over,
            "unassigned_tasks": self.unassigned_tasks,
            "expired_tasks": self.expired_tasks,
            "leads": plan.leads,
            "touches": plan.touches,
            "tasks": plan.tasks,
            "blocked": plan.blocked,
            "deferred": plan.deferred,
            "batches": self.batches,
        }


def enroll(p: Pipeline, *, now: datetime, batch_size: int) -> int:
    total = 0
    while n := enroll_new_leads(engine=p.engine, cadence=p.registry.current, now=now, limit=batch_size):
        total += n
    return total


def enroll_seasoned_leads(p: Pipeline, *, now: datetime, batch_size: int) -> int:
    return enroll_seasoned(engine=p.engine, registry=p.registry, now=now, batch_size=batch_size).reengaged


def enroll_funded_leads(p: Pipeline, *, now: datetime, batch_size: int) -> int:
    total = 0
    while n := enroll_funded(engine=p.engine, registry=p.registry, now=now, limit=batch_size):
        total += n
    return total


def enroll_documents_leads(p: Pipeline, *, now: datetime, batch_size: int) -> int:
    total = 0
    while n := enroll_documents(engine=p.engine, registry=p.registry, now=now, limit=batch_size):
        total += n
    return total


def hand_over_expiring_tasks(p: Pipeline, *, now: datetime) -> tuple[int, int]:
    """Call tasks about to expire unworked: (given to another officer, left unassigned)."""
    minutes = p.settings.task_handover_minutes
    if not minutes:
        return 0, 0
    counts = reassign_expiring_tasks(p.engine, now=now, margin=timedelta(minutes=minutes))
    return counts.reassigned, counts.unassigned


def expire_tasks(p: Pipeline, *, now: datetime) -> int:
    return expire_call_tasks(engine=p.engine, now=now)


def plan_batch(p: Pipeline, *, now: datetime, batch_size: int) -> TickStats:
    with fewer_gc_passes():
        return tick_batch(engine=p.engine, registry=p.registry, policy=p.policy, now=now, limit=batch_size)


def tick(p: Pipeline, *, now: datetime, batch_size: int | None = None, run: Runner = inline) -> TickSummary:
    """Enroll new leads, re-engage seasoned ones, start the referral asks of funded ones and the documents sequence
    of those whose education call was logged, hand call tasks about to expire unworked to another officer, expire
    stale call tasks, and plan every lead due at ``now``.

    Every step is safe to run again (a claimed lead is no longer due), so a runner may retry it.
    """
    size = batch_size or p.settings.batch_size
    summary = TickSummary()
    summary.enrolled = run("enroll-new-leads", enroll, p, now=now, batch_size=size, retry=True)
    summary.seasoned = run("enroll-seasoned-leads", enroll_seasoned_leads, p, now=now, batch_size=size, retry=True)
    summary.referrals = run("enroll-funded-leads", enroll_funded_leads, p, now=now, batch_size=size, retry=True)
    summary.documents = run("enroll-documents-leads", enroll_documents_leads, p, now=now, batch_size=size, retry=True)
    summary.handed_over, summary.unassigned_tasks = run(
        "hand-over-expiring-tasks", hand_over_expiring_tasks, p, now=now, retry=True
    )
    summary.expired_tasks = run("expire-call-tasks", expire_tasks, p, now=now, retry=True)
    while True:
        stats = run("plan-due-leads", plan_batch, p, now=now, batch_size=size, retry=True)
        summary.batches += 1
        summary.plan.add(stats)
        if stats.leads < size:
            return summary


def team_officer(settings: Settings) -> OfficerView:
    """Who signs a message when a lead has no loan officer: the company's team."""
    return OfficerView(
        name=f"the {settings.company_name} team",
        phone=settings.company_phone,
        email=settings.support_email,
        nmls_id=settings.company_nmls_id,
    )


def render_contexts(
    p: Pipeline, lead_ids: set[int], *, now: datetime | None = None, numbers_for: set[int] | None = None
) -> dict[int, RenderContext]:
    """What each lead's messages are rendered with: the lead, its loan officer (or the team), the brand, the
    unsubscribe link (dated ``now``; without it the link asks for a confirmation click), why it was enrolled (a
    re-engagement names the guideline change), on the documents sequence its due dates, and, given ``now``, its
    worksheet of numbers under the lender programs in force that day, read once for all the leads.
    ``numbers_for`` limits the worksheets to those leads (the others' messages show no numbers): texts and
    voicemail never do."""
    issued = on = now.date() if now is not None else None
    wanted = lead_ids if numbers_for is None else numbers_for
    brand_ = brand(p.settings)
    team = team_officer(p.settings)
    with Session(p.engine) as s:
        leads = s.exec(sa.select(Lead).where(Lead.id.in_(lead_ids))).scalars().all()  # type: ignore[union-attr,call-overload]
        officer_ids = {lead.loan_officer_id for lead in leads if lead.loan_officer_id}
        officers = {
            o.id: OfficerView(
                name=o.name, phone=o.phone or p.settings.company_phone, email=o.email, nmls_id=o.nmls_id or ""
            )
            for o in s.exec(sa.select(LoanOfficer).where(LoanOfficer.id.in_(officer_ids))).scalars()  # type: ignore[union-attr,call-overload]
        }
        positions = table(CadencePosition)
        enrollments = {
            r.lead_id: r
            for r in s.connection().execute(
                sa.select(
                    positions.c.lead_id, positions.c.reason, positions.c.cadence_name, positions.c.anchor_date
                ).where(positions.c.lead_id.in_(lead_ids))
            )
        }
        rules = current_set(s.connection(), on=on) if on is not None and leads else None
    contexts: dict[int, RenderContext] = {}
    for lead in leads:
        if lead.id is None:
            continue
        enrolled = enrollments.get(lead.id)
        due = None
        if enrolled is not None and enrolled.cadence_name == DOCUMENTS_CADENCE:
            due = deadlines(enrolled.anchor_date)
        contexts[lead.id] = RenderContext(
            lead=LeadView.from_model(lead),
            officer=officers.get(lead.loan_officer_id, team),
            brand=brand_,
            unsubscribe_url=unsubscribe_url(p.settings, lead.id, issued),
            reason=(enrolled.reason if enrolled is not None else "") or "",
            numbers=worksheet(lead_facts(lead), rules, on) if rules and on and lead.id in wanted else None,
            deadlines=due,
        )
    return contexts


def render_call_script_for(p: Pipeline, task_id: int, *, now: datetime) -> str:
    """The call script for one call task, written for its lead's product, with the lead's numbers as of ``now``.

    A re-engagement call names its guideline change; once the lead has gone back to its own cadence that is no
    longer the cadence's reason, so the change comes from the lead's latest re-engagement instead.
    """
    from channels.render import render_call_script
    from storage.models import CallTask, Reengagement

    re_ = table(Reengagement)
    with Session(p.engine) as s:
        task = s.get(CallTask, task_id)
        if task is None:
            raise LookupError(f"no call task with id {task_id}")
        template, lead_id = task.template, task.lead_id
        latest = sa.select(re_.c.reason).where(re_.c.lead_id == lead_id, re_.c.status == "enrolled")
        reengaged = s.connection().execute(latest.order_by(re_.c.id.desc()).limit(1)).scalar() or ""
    ctx = render_contexts(p, {lead_id}, now=now)[lead_id]
    if not ctx.reason and reengaged:
        ctx = replace(ctx, reason=reengaged)
    return render_call_script(template, ctx, templates_dir=p.settings.templates_dir)

"""Every table dripline stores. One module, so the schema reads in one place."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from nurture.actions import Channel, InboundKind, Outcome, SuppressionAction, TaskKind, TaskStatus, TouchStatus
from nurture.income import StatementType
from nurture.products import CreditEventType, LoanPurpose, Product, PropertyType
from nurture.states import CadenceStatus, Event, Stage
from storage.types import UTCDateTime, str_enum


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime(), nullable=nullable, index=index)


class LoanOfficer(SQLModel, table=True):
    __tablename__ = "loan_officer"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    email: str = Field(max_length=254, unique=True)
    phone: str | None = Field(default=None, max_length=20)
    nmls_id: str | None = Field(default=None, max_length=20)
    active: bool = Field(default=True)
    created_at: datetime = _ts()
    role: str = Field(default="officer", max_length=16)  # officer | manager (a manager sees the whole team)
    licensed_states: str = Field(default="", max_length=160)  # USPS codes the officer is NMLS-licensed in: "FL,TX"
    timezone: str = Field(default="America/New_York", max_length=64)  # IANA: the officer's own clock
    work_start: int = Field(default=9 * 60)  # working hours, minutes after local midnight
    work_end: int = Field(default=18 * 60)
    work_days: str = Field(default="12345", max_length=7)  # ISO weekdays worked, Monday = 1
    quiet_start: int = Field(default=21 * 60)  # no alert from here (local minutes) ...
    quiet_end: int = Field(default=8 * 60)  # ... until here
    max_open_tasks: int = Field(default=150)  # new leads go elsewhere once this many tasks are open
    alert_sms: bool = Field(default=True)  # alerts by text to ``phone``
    alert_email: bool = Field(default=True)  # alerts by email to ``email``


class Lead(SQLModel, table=True):
    __tablename__ = "lead"
    __table_args__ = (
        sa.Index("ix_lead_phone", "phone"),
        sa.Index("ix_lead_email", "email"),
        sa.Index("ix_lead_alt_phone", "alt_phone"),
    )

    id: int | None = Field(default=None, primary_key=True)
    external_id: str | None = Field(default=None, max_length=100, unique=True)
    first_name: str = Field(max_length=80)
    last_name: str = Field(default="", max_length=80)
    phone: str | None = Field(default=None, max_length=20)  # E.164; texts and voicemail go here
    alt_phone: str | None = Field(default=None, max_length=20)  # E.164; a second number, never dialed automatically
    email: str | None = Field(default=None, max_length=254)  # normalized
    address_state: str | None = Field(default=None, max_length=2)
    zip: str | None = Field(default=None, max_length=10)
    timezone: str = Field(max_length=64)  # IANA name, the lead's local calendar

    self_employed: bool = Field(default=False)
    investment_property: bool = Field(default=False)
    foreign_national: bool = Field(default=False)
    high_dti: bool = Field(default=False)
    liquid_assets: int | None = Field(default=None, sa_type=sa.BigInteger())  # dollars, like every amount
    credit_event_type: CreditEventType | None = Field(default=None, sa_type=str_enum(CreditEventType))
    credit_event_date: date | None = Field(default=None)
    product: Product = Field(sa_type=str_enum(Product))
    product_matched: bool = Field(default=False)  # True when dripline chose it from the situation
    fico: int | None = Field(default=None)
    loan_amount: int | None = Field(default=None, sa_type=sa.BigInteger())
    loan_purpose: LoanPurpose | None = Field(default=None, sa_type=str_enum(LoanPurpose))
    property_type: PropertyType | None = Field(default=None, sa_type=str_enum(PropertyType))
    monthly_rent: int | None = Field(default=None, sa_type=sa.BigInteger())
    # The borrower's numbers for income and DTI (nurture.income), all optional; amounts in whole dollars.
    property_value: int | None = Field(default=None, sa_type=sa.BigInteger())
    monthly_debts: int | None = Field(default=None, sa_type=sa.BigInteger())  # other than the new loan
    monthly_deposits: int | None = Field(default=None, sa_type=sa.BigInteger())  # average over statement_months
    statement_type: StatementType | None = Field(default=None, sa_type=str_enum(StatementType))
    statement_months: int | None = Field(default=None)  # 12 or 24
    expense_ratio_bp: int | None = Field(default=None)  # a CPA's ratio for the business; basis points, 3500 = 35%
    gross_1099: int | None = Field(default=None, sa_type=sa.BigInteger())  # paid over gross_1099_months
    gross_1099_months: int | None = Field(default=None)  # 12 or 24
    pl_net: int | None = Field(default=None, sa_type=sa.BigInteger())  # net profit of a 12-month P&L

    source: str | None = Field(default=None, max_length=100)  # vendor the lead was bought from
    cost_cents: int | None = Field(default=None, sa_type=sa.BigInteger())
    inquiry_date: date  # when the borrower first asked: the lead's age

    stage: Stage = Field(default=Stage.NEW_LEAD, sa_type=str_enum(Stage), index=True)
    loan_officer_id: int | None = Field(default=None, foreign_key="loan_officer.id", index=True)
    phone_ok: bool = Field(default=True)  # False after a wrong-number outcome
    dnc_listed: bool = Field(default=False)  # on the National Do Not Call registry at the last scrub
    dnc_scrubbed_on: date | None = Field(default=None)  # when the phone was last checked against the registry
    row_digest: str = Field(default="", max_length=64)  # of the imported row: re-import is a no-op
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class CadenceDefinition(SQLModel, table=True):
    """Every cadence version ever used, so enrolled leads keep theirs when the file changes."""

    __tablename__ = "cadence_definition"

    name: str = Field(primary_key=True, max_length=64)
    version: int = Field(primary_key=True)
    digest: str = Field(max_length=64)
    body: str = Field(sa_type=sa.Text())
    loaded_at: datetime = _ts()


class CadencePosition(SQLModel, table=True):
    """Where one lead stands in its cadence. The tick claims rows whose ``next_due_at`` has come."""

    __tablename__ = "cadence_position"
    __table_args__ = (
        sa.Index("ix_cadence_position_due", "status", "next_due_at"),
        # The tick's claim walks this in order and stops after one batch: no sort of every due lead.
        sa.Index(
            "ix_cadence_position_automated_due",
            "next_due_at",
            "lead_id",
            postgresql_where=sa.text("status IN ('active', 'nurturing')"),
            sqlite_where=sa.text("status IN ('active', 'nurturing')"),
        ),
    )

    lead_id: int = Field(primary_key=True, foreign_key="lead.id")
    cadence_name: str = Field(max_length=64)
    cadence_version: int
    anchor_date: date  # local calendar day 0
    step_index: int = Field(default=0)  # next step to plan
    repeat: int = Field(default=0)  # iterations already planned of a repeating step
    status: CadenceStatus = Field(default=CadenceStatus.ACTIVE, sa_type=str_enum(CadenceStatus))
    next_due_at: datetime | None = _ts(nullable=True)
    reason: str = Field(default="", sa_type=sa.Text())  # why this enrollment (a re-engagement names the change)
    enrolled_at: datetime = _ts()
    updated_at: datetime = _ts()
    # A re-engaged lead's own enrollment, where it stood when re-engaged: it goes back there (to the first step
    # still to come) once the re-engagement sequence has ended. All empty for any other enrollment.
    home_cadence_name: str | None = Field(default=None, max_length=64)
    home_cadence_version: int | None = Field(default=None)
    home_anchor_date: date | None = Field(default=None)
    home_enrolled_at: datetime | None = _ts(nullable=True)
    home_step_index: int | None = Field(default=None)
    home_repeat: int | None = Field(default=None)


class Touch(SQLModel, table=True):
    """The outbox: one row per planned automated message, unique per lead, cadence version, step, channel."""

    __tablename__ = "touch"
    __table_args__ = (sa.Index("ix_touch_due", "status", "scheduled_for"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    step_id: str = Field(max_length=64)
    channel: Channel = Field(sa_type=str_enum(Channel))
    template: str = Field(max_length=120)
    scheduled_for: datetime = _ts()
    not_after: datetime = _ts()  # end of the allowed window on the scheduled day
    status: TouchStatus = Field(default=TouchStatus.PLANNED, sa_type=str_enum(TouchStatus))
    reason: str = Field(default="", max_length=500)
    to_address: str | None = Field(default=None, max_length=254)
    subject: str | None = Field(default=None, max_length=300)
    body_text: str | None = Field(default=None, sa_type=sa.Text())
    body_html: str | None = Field(default=None, sa_type=sa.Text())
    provider: str | None = Field(default=None, max_length=32)
    provider_id: str | None = Field(default=None, max_length=100)
    claimed_by: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = _ts(nullable=True)  # a claim runs out then (see storage/outbox.py)
    send_started_at: datetime | None = _ts(nullable=True)  # the provider request may have begun from here on
    attempts: int = Field(default=0)
    sent_at: datetime | None = _ts(nullable=True)
    decisions: str = Field(default="", sa_type=sa.Text())  # JSON lines: each compliance check and its rulings
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class CallTask(SQLModel, table=True):
    __tablename__ = "call_task"
    __table_args__ = (
        sa.Index("ix_call_task_officer_status", "loan_officer_id", "status", "due_at"),
        sa.Index("ix_call_task_status_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    loan_officer_id: int | None = Field(default=None, foreign_key="loan_officer.id")
    kind: TaskKind = Field(sa_type=str_enum(TaskKind))
    step_id: str | None = Field(default=None, max_length=64)
    template: str = Field(max_length=120)
    due_at: datetime = _ts()
    expires_at: datetime | None = _ts(nullable=True)
    priority: int = Field(default=0)
    status: TaskStatus = Field(default=TaskStatus.OPEN, sa_type=str_enum(TaskStatus))
    outcome: Outcome | None = Field(default=None, sa_type=str_enum(Outcome))
    note: str = Field(default="", max_length=1000)
    completed_at: datetime | None = _ts(nullable=True)
    decisions: str = Field(default="", sa_type=sa.Text())  # JSON lines, as on Touch
    created_at: datetime = _ts()
    alerted_at: datetime | None = _ts(nullable=True)  # its officer's alert was planned (at once or in a digest)
    reminded_at: datetime | None = _ts(nullable=True)  # the one reminder for a priority task left unworked


class LeadHistory(SQLModel, table=True):
    """Append-only: every state transition and hand-off, with its reason."""

    __tablename__ = "lead_history"

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    at: datetime = _ts()
    event: Event = Field(sa_type=str_enum(Event))
    stage_from: Stage | None = Field(default=None, sa_type=str_enum(Stage))
    stage_to: Stage | None = Field(default=None, sa_type=str_enum(Stage))
    cadence_from: CadenceStatus | None = Field(default=None, sa_type=str_enum(CadenceStatus))
    cadence_to: CadenceStatus | None = Field(default=None, sa_type=str_enum(CadenceStatus))
    reason: str = Field(default="", max_length=500)
    actor: str = Field(default="system", max_length=120)


class Consent(SQLModel, table=True):
    """Prior express written consent to automated texts and prerecorded voicemail, for one phone number.

    Kept for at least five years: no ordinary operation updates or deletes these rows. A revocation is a
    ``Suppression`` row, not an edit here.
    """

    __tablename__ = "consent"
    __table_args__ = (sa.UniqueConstraint("lead_id", "phone", "seller", "consented_at", name="uq_consent_record"),)

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    phone: str = Field(max_length=20, index=True)  # E.164: consent covers this exact number
    seller: str = Field(max_length=200)  # the company the borrower agreed to hear from
    disclosure: str = Field(sa_type=sa.Text())  # the consent language shown to the borrower
    source: str = Field(max_length=300)  # where it was captured: form URL, vendor, recording id
    consented_at: datetime = _ts()
    recorded_at: datetime = _ts()
    recorded_by: str = Field(default="import", max_length=120)


class Suppression(SQLModel, table=True):
    """Append-only log of opt-outs and re-subscriptions, per channel, for a lead and/or an address.

    A row with an ``address`` (E.164 phone or email) applies to every lead with that address, including
    leads imported later. For a lead and channel, the latest row decides.
    """

    __tablename__ = "suppression"

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int | None = Field(default=None, foreign_key="lead.id", index=True)
    address: str | None = Field(default=None, max_length=254, index=True)
    channel: Channel = Field(sa_type=str_enum(Channel))
    action: SuppressionAction = Field(sa_type=str_enum(SuppressionAction))
    reason: str = Field(default="", max_length=500)
    source: str = Field(max_length=64)  # inbound_sms, officer_outcome, email_unsubscribe, bounce, spam_report, ...
    at: datetime = _ts()
    created_at: datetime = _ts()


class InboundMessage(SQLModel, table=True):
    """Every text a borrower sent us, what we took it to mean, and the one reply we sent (if any)."""

    __tablename__ = "inbound_message"

    id: int | None = Field(default=None, primary_key=True)
    provider_id: str | None = Field(default=None, max_length=100, unique=True)  # Twilio MessageSid: retries dedupe
    from_address: str = Field(max_length=20, index=True)
    to_address: str = Field(max_length=20)
    body: str = Field(sa_type=sa.Text())
    received_at: datetime = _ts()
    kind: InboundKind = Field(sa_type=str_enum(InboundKind))
    lead_ids: str = Field(default="", max_length=500)  # comma-separated leads the sender's number belongs to
    reply_body: str | None = Field(default=None, sa_type=sa.Text())
    reply_status: str = Field(default="", max_length=300)
    created_at: datetime = _ts()


class EmailEvent(SQLModel, table=True):
    """Every unsubscribe, bounce, spam report and drop the email provider told us about, once per provider event id,
    and every email reply (keyed by its Message-ID)."""

    __tablename__ = "email_event"

    id: int | None = Field(default=None, primary_key=True)
    provider_id: str | None = Field(default=None, max_length=100, unique=True)  # SendGrid sg_event_id: retries dedupe
    event: str = Field(max_length=20)  # unsubscribe, bounce, spam_report, dropped; reply (an email reply)
    address: str = Field(max_length=254, index=True)
    received_at: datetime = _ts()
    lead_ids: str = Field(default="", sa_type=sa.Text())  # comma-separated leads with the address at the time
    outcome: str = Field(default="", max_length=300)  # what it changed, in words
    created_at: datetime = _ts()


class TwilioCallback(SQLModel, table=True):
    """Every Twilio status callback (message or call), once per sid and status: a retry inserts nothing."""

    __tablename__ = "twilio_callback"
    __table_args__ = (sa.UniqueConstraint("sid", "status", name="uq_twilio_callback_sid_status"),)

    id: int | None = Field(default=None, primary_key=True)
    sid: str = Field(max_length=64)  # MessageSid or CallSid
    status: str = Field(max_length=32)  # MessageStatus or CallStatus
    touch_key: str | None = Field(default=None, max_length=200)  # from the callback URL's ?touch=
    address: str | None = Field(default=None, max_length=20, index=True)  # the number we sent to (E.164)
    error_code: int | None = Field(default=None)  # Twilio's ErrorCode, when it gave one
    received_at: datetime = _ts()
    outcome: str = Field(default="", max_length=500)  # what it changed, in words


class PhoneFact(SQLModel, table=True):
    """What the carriers told us about a number: one that cannot take texts (a landline, error 30006, or too
    many unreachable errors) is not texted again; calls and voicemail are not affected."""

    __tablename__ = "phone_fact"

    number: str = Field(primary_key=True, max_length=20)  # E.164
    textable: bool = Field(default=True)
    reason: str = Field(default="", max_length=300)
    updated_at: datetime = _ts()


class GuidelineSnapshot(SQLModel, table=True):
    """One lender's programs as loaded from a feed. Every snapshot is kept; the newest per lender is in force."""

    __tablename__ = "guideline_snapshot"
    __table_args__ = (sa.Index("ix_guideline_snapshot_lender", "lender", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    lender: str = Field(max_length=120)
    digest: str = Field(max_length=64)  # of the programs in canonical form: the same snapshot twice is a no-op
    programs: str = Field(sa_type=sa.Text())  # canonical JSON of the lender's programs
    changes: str = Field(default="", sa_type=sa.Text())  # JSON list of changes against the previous snapshot
    previous_id: int | None = Field(default=None, foreign_key="guideline_snapshot.id")
    source: str = Field(default="", max_length=300)  # file name, or the feed endpoint
    loaded_by: str = Field(default="", max_length=120)
    loaded_at: datetime = _ts()


class FeedToken(SQLModel, table=True):
    """A lender's bearer token for posting its guideline feed to the web app (``POST /feeds/{lender}``). Only the
    token's sha256 is kept: the token itself is shown once, when ``dripline feeds token create`` makes it."""

    __tablename__ = "feed_token"

    id: int | None = Field(default=None, primary_key=True)
    lender: str = Field(max_length=120, index=True)  # as feeds name it (spaces collapsed)
    token_sha256: str = Field(max_length=64, unique=True)  # hex
    created_at: datetime = _ts()
    created_by: str = Field(default="", max_length=120)
    last_used_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)


class Reengagement(SQLModel, table=True):
    """A lead that a guideline change (or its credit event seasoning) made eligible, once per change."""

    __tablename__ = "reengagement"
    __table_args__ = (
        sa.UniqueConstraint("lead_id", "change_key", name="uq_reengagement_change"),
        sa.Index("ix_reengagement_due", "status", "scheduled_for"),
    )

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    change_key: str = Field(max_length=120)  # "snapshot:12" or "seasoning:2027-01-15"
    snapshot_id: int | None = Field(default=None, foreign_key="guideline_snapshot.id")
    lender: str = Field(default="", max_length=120)
    program: str = Field(default="", max_length=32)
    reason: str = Field(default="", sa_type=sa.Text())  # the change in plain words, for the message and the task
    status: str = Field(max_length=20)  # enrolled, scheduled, superseded, skipped
    score: float = Field(default=0.0)  # expected value of working the lead now (priority for the officer)
    scheduled_for: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()


def table(model: type[SQLModel]) -> sa.Table:
    """The Core table behind a model, for set-based statements (typed, unlike ``Model.__table__``)."""
    t = model.__table__  # type: ignore[attr-defined]
    assert isinstance(t, sa.Table)
    return t


class OfficerAlert(SQLModel, table=True):
    """The officers' outbox: one row per alert (a task due, an hourly digest, a reminder, a manager's notice).

    Sent through the same channels as borrower messages and under the same discipline: unique ``key`` (planned
    once), claimed under a lease, stamped before the provider request, recorded as the answer comes.
    """

    __tablename__ = "officer_alert"
    __table_args__ = (sa.Index("ix_officer_alert_due", "status", "scheduled_for"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    loan_officer_id: int = Field(foreign_key="loan_officer.id", index=True)
    kind: str = Field(max_length=16)  # due | digest | reminder | unassigned
    channel: Channel = Field(sa_type=str_enum(Channel))
    to_address: str = Field(max_length=254)
    subject: str | None = Field(default=None, max_length=300)
    body_text: str = Field(default="", sa_type=sa.Text())
    task_ids: str = Field(default="", sa_type=sa.Text())  # JSON list of the call tasks it is about
    scheduled_for: datetime = _ts()
    status: TouchStatus = Field(default=TouchStatus.PLANNED, sa_type=str_enum(TouchStatus))
    reason: str = Field(default="", max_length=500)
    attempts: int = Field(default=0)
    claimed_by: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = _ts(nullable=True)
    send_started_at: datetime | None = _ts(nullable=True)
    sent_at: datetime | None = _ts(nullable=True)
    provider_id: str | None = Field(default=None, max_length=100)
    created_at: datetime = _ts()


class TaskLog(SQLModel, table=True):
    """Append-only: what happened to a call task besides its outcome (alerted, reminded, reassigned, expired)."""

    __tablename__ = "task_log"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="call_task.id", index=True)
    at: datetime = _ts()
    action: str = Field(max_length=32)
    from_officer_id: int | None = Field(default=None, foreign_key="loan_officer.id", index=True)
    to_officer_id: int | None = Field(default=None, foreign_key="loan_officer.id")
    actor: str = Field(default="system", max_length=120)
    reason: str = Field(default="", max_length=500)


class SignInLink(SQLModel, table=True):
    """A magic sign-in link: only its token's sha256 is stored; used once, before it expires."""

    __tablename__ = "sign_in_link"

    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(max_length=64, unique=True)
    loan_officer_id: int = Field(foreign_key="loan_officer.id", index=True)
    next_path: str = Field(default="/calls", max_length=300)
    created_at: datetime = _ts()
    expires_at: datetime = _ts()
    used_at: datetime | None = _ts(nullable=True)


class WebSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds the token, the row its sha256, officer and CSRF token."""

    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(max_length=64, unique=True)
    loan_officer_id: int = Field(foreign_key="loan_officer.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _ts()
    expires_at: datetime = _ts()
    revoked_at: datetime | None = _ts(nullable=True)


class LeadEdit(SQLModel, table=True):
    """Append-only: one fact of a lead changed by a person, who, when, from what to what."""

    __tablename__ = "lead_edit"

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    field: str = Field(max_length=64)
    old_value: str | None = Field(default=None, max_length=200)
    new_value: str | None = Field(default=None, max_length=200)
    actor: str = Field(max_length=120)
    at: datetime = _ts()


class LeadNote(SQLModel, table=True):
    __tablename__ = "lead_note"

    id: int | None = Field(default=None, primary_key=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    loan_officer_id: int | None = Field(default=None, foreign_key="loan_officer.id")
    actor: str = Field(max_length=120)
    body: str = Field(max_length=2000)
    at: datetime = _ts()


class BridgeCall(SQLModel, table=True):
    """A click-to-call: Twilio rings the officer first, then connects the borrower with the company caller ID."""

    __tablename__ = "bridge_call"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    lead_id: int = Field(foreign_key="lead.id", index=True)
    loan_officer_id: int = Field(foreign_key="loan_officer.id", index=True)
    task_id: int | None = Field(default=None, foreign_key="call_task.id")
    call_sid: str | None = Field(default=None, max_length=64, index=True)
    status: str = Field(max_length=32)  # blocked | requested | ringing | connected | completed | failed | unknown
    outcome: Outcome | None = Field(default=None, sa_type=str_enum(Outcome))
    decisions: str = Field(default="", sa_type=sa.Text())  # the gate's rulings before the call, JSON lines
    created_at: datetime = _ts()
    updated_at: datetime = _ts()

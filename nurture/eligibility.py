"""Which lender programs an aged lead qualifies for today, what blocks it, when seasoning clears, and what
working it now is worth.

:func:`assess` runs small named rules, in order, against one :class:`~nurture.guidelines.ProgramRules`;
each rule returns a :class:`Blocker` (a kind, a reason in a loan officer's words and, for seasoning, the
date it clears) or ``None``. A lead is eligible under a program when no rule blocks it. Missing facts are
handled per rule: an unknown FICO, rent, loan amount (where a ratio needs it), assets or income blocks as
``*_unknown``; an unknown loan amount, property value, number of statement months, monthly debts (counted as
none) or state is not held against the lead.

The DSCR, asset and DTI tests need a payment, which leads do not carry: it is estimated from the loan amount
(:data:`nurture.income.PITIA_FACTOR`). The DSCR test is a linear inequality in it, in floating point evaluated
as its SQL copy evaluates it; the income tests (assets or documented income against the maximum DTI) and the
LTV test are exact, in whole cents and basis points (:mod:`nurture.income`), so the same filter can be written
in SQL. Pure: no clock, no IO.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

import pendulum

from nurture import economics
from nurture.guidelines import GuidelineSet, ProgramRules
from nurture.income import (
    DEFAULT_MAX_DTI,
    PITIA_FACTOR,
    STANDARD_EXPENSE_RATIO,
    StatementType,
    asset_income_cents,
    basis_points,
    dti_fits,
    income_1099_cents,
    payment_cents,
    percent_bp,
    pl_income_cents,
    statement_income_cents,
)
from nurture.products import CreditEventType, Product

MAX_DTI = float(DEFAULT_MAX_DTI)
STANDARD_EXPENSE_BP = basis_points(STANDARD_EXPENSE_RATIO)
DEFAULT_MAX_DTI_BP = basis_points(DEFAULT_MAX_DTI)
DEFAULT_1099_MONTHS = 12

PITIA_PER_DOLLAR = float(PITIA_FACTOR)
"""Estimated monthly PITIA per dollar of loan (0.00824215). The SQL copy of the DSCR test uses
``monthly_rent >= min_dscr * PITIA_PER_DOLLAR * loan_amount`` (evaluated left to right)."""

# Priority score: full weight while the inquiry is fresh, then down linearly to a floor.
FRESH_DAYS = 90
FLOOR_DAYS = 720
FLOOR_AGE_FACTOR = 0.4
ENGAGED_FACTOR = 1.5


def monthly_pitia(loan_amount: int) -> float:
    """Estimated monthly principal, interest, taxes and insurance for ``loan_amount`` (see ``PITIA_PER_DOLLAR``)."""
    return PITIA_PER_DOLLAR * loan_amount


def add_months(d: date, months: int) -> date:
    """``d`` plus calendar months, clamped to the month's end (Jan 31 + 1 month is Feb 28 or 29)."""
    p = pendulum.Date(d.year, d.month, d.day).add(months=months)
    return date(p.year, p.month, p.day)


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """What the eligibility rules need to know about one lead."""

    lead_id: int
    product: Product
    fico: int | None
    credit_event_type: CreditEventType | None
    credit_event_date: date | None
    loan_amount: int | None
    monthly_rent: int | None
    liquid_assets: int | None
    address_state: str | None
    inquiry_date: date
    monthly_deposits: int | None = None  # average over statement_months, whole dollars
    statement_type: StatementType | None = None
    statement_months: int | None = None  # 12 or 24
    expense_ratio_bp: int | None = None  # a CPA's figure for the business, in basis points
    gross_1099: int | None = None  # over gross_1099_months (12 when not given)
    gross_1099_months: int | None = None
    pl_net: int | None = None  # 12-month net profit
    property_value: int | None = None
    monthly_debts: int | None = None


INCOME_FACTS = (
    "monthly_deposits", "statement_type", "statement_months", "expense_ratio_bp", "gross_1099", "gross_1099_months",
    "pl_net", "property_value", "monthly_debts",
)  # fmt: skip
"""The optional facts behind the income, DTI and LTV rules, named as the lead's columns (``storage.models.Lead``)."""


class BlockerKind(enum.StrEnum):
    PROGRAM = "program"
    NOT_EFFECTIVE = "not_effective"
    FICO = "fico"
    FICO_UNKNOWN = "fico_unknown"
    SEASONING = "seasoning"
    EVENT_NOT_ACCEPTED = "event_not_accepted"
    DSCR = "dscr"
    DSCR_UNKNOWN = "dscr_unknown"
    ASSETS = "assets"
    ASSETS_UNKNOWN = "assets_unknown"
    STATEMENT_MONTHS = "statement_months"
    DTI = "dti"
    INCOME_UNKNOWN = "income_unknown"
    LTV = "ltv"
    LOAN_AMOUNT = "loan_amount"
    STATE = "state"


@dataclass(frozen=True, slots=True)
class Blocker:
    kind: BlockerKind
    text: str
    seasons_on: date | None = None  # seasoning only: the first day the event is seasoned; None if undated


@dataclass(frozen=True, slots=True)
class Assessment:
    eligible: bool
    blockers: tuple[Blocker, ...]
    rules: ProgramRules


Rule = Callable[[LeadFacts, ProgramRules, date], Blocker | None]
Rules = GuidelineSet | Iterable[ProgramRules]


def _event_words(event: CreditEventType) -> str:
    return event.value.replace("_", " ")


def _program(lead: LeadFacts, rules: ProgramRules, on: date) -> Blocker | None:
    """A program serves only leads matched to its product; a general lead matches none."""
    if lead.product is rules.program:
        return None
    return Blocker(BlockerKind.PROGRAM, f"a {lead.product.label} lead does not fit a {rules.program.label} program")


def _in_effect(lead: LeadFacts, rules: ProgramRules, on: date) -> Blocker | None:
    """Rules count only from their effective date."""
    if on >= rules.effective_date:
        return None
    return Blocker(BlockerKind.NOT_EFFECTIVE, f"these rules take effect on {rules.effective_date.isoformat()}")


def _fico(lead: LeadFacts, rules: ProgramRules, on: date) -> Blocker | None:
    """The score must reach the minimum; an unknown score cannot be shown to."""
    need = rules.min_fico
    if need is None:
        return None
    if lead.fico is None:
        return Blocker(BlockerKind.FICO_UNKNOWN, f"FICO unknown; the program needs {need}")
    if lead.fico < need:
        return Blocker(BlockerKind.FICO, f"FICO {lead.fico} is {need - lead.fico} points short of {need}")
    return None


def _credit_event(lead: LeadFacts, rules: ProgramRules, on: date) -> Blocker | None:
    """Any program (not only credit-event ones) must accept the lead's credit event, and the event must have
    seasoned: ``on`` is on or after the event date plus the program's months. An undated event cannot be
    shown to have seasoned."""
    event = lead.credit_event_type
    if event is None:
        return None
    words = _event_words(event)
    months = rules.seasoning_months.get(event)
    if months is None:
        return Blocker(BlockerKind.EVENT_NOT_ACCEPTED, f"this program does not accept a {words}")
    if lead.credit_event_date is None:
        return Blocker(BlockerKind.SEASONING, f"{words} date unknown; the program needs {months} months since it")
    seasons_on = add_months(lead.credit_event_date, months)
    if on >= seasons_on:
        return None
    text = f"{words} seasons on {seasons_on.isoformat()} ({months} months after {lead.credit_event_date.isoformat()})"
    return Blocker(BlockerKind.SEASONING, text, seasons_on)


def _dscr(lead: LeadFacts, rules: ProgramRules, on: date) -> Blocker | None:
    """Rent must cover the estimated payment ``min_dscr`` times; without rent and loan amount it cannot."""
    need = rules.min_dscr
    if need is None:
        return None
    rent, loan = lead.monthly_rent, lead.loan_amount
    if rent is None or loan is None:
        missing = " and ".join(n for n, v in (("rent", rent), ("loan amount", loan)) if v is None)
        return Blocker(BlockerKind.DSCR_UNKNOWN, f"DSCR unknown without the {missing}; the program needs {need:.2f}")
    if rent >= need * PITIA_PER_DOLLAR * loan:
        return None
    shown = math.floor(rent / monthly_pitia(loan) * 100) / 100 if loan else 0.0
    return Blocker(BlockerKind.DSCR, f"DSCR {shown:.2f} is below {need:.2f}")


def _statement_months(lead: LeadFacts, rules: ProgramRules, on: date) -> Blocker | None:
    """Bank statements must cover the months the program averages (12 do not serve a 24-month program); a lead
    whose statement months are unknown is not held back."""
    need, have = rules.statement_months, lead.statement_months
    if need is None or have is None or have >= need:
        return None
    return Blocker(BlockerKind.STATEMENT_MONTHS, f"{have} months of bank statements; the program averages {need}")


def expense_bp(lead: LeadFacts, rules: ProgramRules) -> int:
    """The expense ratio taken off the lead's business deposits, in basis points: its CPA's figure when given,
    else the program's, else the standard 50%."""
    if lead.expense_ratio_bp is not None:
        return lead.expense_ratio_bp
    return STANDARD_EXPENSE_BP if rules.expense_ratio is None else percent_bp(rules.expense_ratio)


def documented_income_cents(lead: LeadFacts, rules: ProgramRules) -> tuple[int, str] | None:
    """The lead's monthly qualifying income in cents and what it rests on: bank statements when the deposits and
    their kind are known, else 1099s, else a 12-month P&L; ``None`` when none is known."""
    if lead.monthly_deposits is not None and lead.statement_type is not None:
        cents = statement_income_cents(lead.monthly_deposits, lead.statement_type, expense_bp(lead, rules))
        if lead.statement_type is StatementType.PERSONAL:
            return cents, "personal bank statements"
        return cents, f"business bank statements at a {expense_bp(lead, rules) / 100:g}% expense ratio"
    if lead.gross_1099 is not None:
        months = lead.gross_1099_months or DEFAULT_1099_MONTHS
        return income_1099_cents(lead.gross_1099, months), f"{months} months of 1099s"
    if lead.pl_net is not None:
        return pl_income_cents(lead.pl_net), "a 12-month P&L"
    return None


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _dollars(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}".removesuffix(".00")


def _income(lead: LeadFacts, rules: ProgramRules, on: date) -> Blocker | None:
    """The estimated payment plus the lead's monthly debts must stay within the program's maximum DTI of its
    qualifying income. A program with an asset divisor counts liquid assets / divisor a month as that income,
    at the maximum DTI or 50% when it sets none; any other program with a maximum DTI counts the lead's
    documented income (:func:`documented_income_cents`). Without the loan amount or that income it cannot be
    shown to."""
    if rules.asset_divisor is not None:
        return _asset_income(lead, rules.asset_divisor, _max_dti_bp(rules))
    if rules.max_dti is None:
        return None
    limit = _max_dti_bp(rules)
    documented, loan = documented_income_cents(lead, rules), lead.loan_amount
    if documented is None or loan is None:
        missing = " and ".join(n for n, v in (("income", documented), ("loan amount", loan)) if v is None)
        text = f"DTI unknown without the {missing}; the program allows up to {limit / 100:g}% DTI"
        return Blocker(BlockerKind.INCOME_UNKNOWN, text)
    (income, basis), payment, debts = documented, payment_cents(loan), (lead.monthly_debts or 0) * 100
    if dti_fits(payment, debts, income, limit):
        return None
    shown = f"{_ceil_div((payment + debts) * 10_000, income) / 100:.2f}% DTI" if income else "DTI (no income)"
    text = (
        f"estimated {shown} is above the {limit / 100:g}% DTI maximum: a {_dollars(payment)} payment"
        f"{f' and {_dollars(debts)} of debts' if debts else ''} on {_dollars(income)} a month from {basis}"
    )
    return Blocker(BlockerKind.DTI, text)


def _max_dti_bp(rules: ProgramRules) -> int:
    return DEFAULT_MAX_DTI_BP if rules.max_dti is None else percent_bp(rules.max_dti)


def _asset_income(lead: LeadFacts, divisor: int, limit: int) -> Blocker | None:
    assets, loan = lead.liquid_assets, lead.loan_amount
    if assets is None or loan is None:
        missing = " and ".join(n for n, v in (("liquid assets", assets), ("loan amount", loan)) if v is None)
        return Blocker(BlockerKind.ASSETS_UNKNOWN, f"asset income unknown without the {missing}")
    payment, debts = payment_cents(loan), (lead.monthly_debts or 0) * 100
    if dti_fits(payment, debts, asset_income_cents(assets, divisor), limit):
        return None
    needs = _ceil_div((payment + debts) * 100, limit)  # cents over basis points: whole dollars
    owed = f"the payment and {_dollars(debts)} of debts need" if debts else "the payment needs"
    text = (
        f"liquid assets of ${assets:,} support ${assets // divisor:,} a month at a {divisor}-month divisor;"
        f" {owed} ${needs:,}"
    )
    return Blocker(BlockerKind.ASSETS, text)


def _ltv(lead: LeadFacts, rules: ProgramRules, on: date) -> Blocker | None:
    """The loan may be at most ``max_ltv`` percent of the property's value (to a hundredth of a percent); an
    unknown loan amount or value is not held against the lead."""
    if rules.max_ltv is None or lead.loan_amount is None or lead.property_value is None:
        return None
    limit = percent_bp(rules.max_ltv)
    if lead.loan_amount * 10_000 <= limit * lead.property_value:
        return None
    value = lead.property_value
    shown = f"{_ceil_div(lead.loan_amount * 10_000, value) / 100:.2f}% loan-to-value" if value else "loan-to-value"
    return Blocker(BlockerKind.LTV, f"{shown} is above the {limit / 100:g}% LTV maximum")


def _loan_amount(lead: LeadFacts, rules: ProgramRules, on: date) -> Blocker | None:
    """The loan must reach the program's minimum; an unknown amount is not held against the lead."""
    need = rules.min_loan_amount
    if need is None or lead.loan_amount is None or lead.loan_amount >= need:
        return None
    return Blocker(BlockerKind.LOAN_AMOUNT, f"a loan of ${lead.loan_amount:,} is below the ${need:,} minimum")


def _state(lead: LeadFacts, rules: ProgramRules, on: date) -> Blocker | None:
    """The lender must lend in the lead's state; an unknown state is not held against the lead."""
    if rules.states is None or lead.address_state is None or lead.address_state in rules.states:
        return None
    return Blocker(BlockerKind.STATE, f"this lender does not lend in {lead.address_state}")


RULES: tuple[Rule, ...] = (
    _in_effect, _fico, _credit_event, _dscr, _statement_months, _income, _ltv, _loan_amount, _state,
)  # fmt: skip


def assess(lead: LeadFacts, rules: ProgramRules, on: date) -> Assessment:
    """Every reason ``lead`` does not qualify under ``rules`` on ``on``; eligible when there is none.

    A lead of another product gets the one ``program`` blocker and no other.
    """
    wrong_program = _program(lead, rules, on)
    if wrong_program is not None:
        return Assessment(False, (wrong_program,), rules)
    blockers = tuple(b for rule in RULES if (b := rule(lead, rules, on)) is not None)
    return Assessment(not blockers, blockers, rules)


def _programs(lead: LeadFacts, rules: Rules) -> list[ProgramRules]:
    programs = rules.programs if isinstance(rules, GuidelineSet) else rules
    return [p for p in programs if p.program is lead.product]


def assessments(lead: LeadFacts, rules: Rules, on: date) -> list[Assessment]:
    """The lead's assessment under each program of its product, eligible first, then by fewest blockers
    (ties keep the order given)."""
    found = [assess(lead, p, on) for p in _programs(lead, rules)]
    return sorted(found, key=lambda a: (not a.eligible, len(a.blockers)))


def eligible_anywhere(lead: LeadFacts, rules: Rules, on: date) -> bool:
    """Whether any program of the lead's product takes it on ``on``."""
    return any(assess(lead, p, on).eligible for p in _programs(lead, rules))


def seasoning_date(lead: LeadFacts, rules: Rules, on: date) -> date | None:
    """The first day after ``on`` the lead becomes eligible by seasoning alone: the earliest date under a program
    whose only blockers on ``on`` are dated seasoning ones. ``None`` if the lead is already eligible or no
    program is held back by seasoning alone (a program not yet in effect does not count)."""
    found = assessments(lead, rules, on)
    if any(a.eligible for a in found):
        return None
    dates = []
    for a in found:
        seasons = [b.seasons_on for b in a.blockers if b.kind is BlockerKind.SEASONING and b.seasons_on]
        if seasons and len(seasons) == len(a.blockers):
            dates.append(max(seasons))
    return min(dates, default=None)


def age_factor(inquiry_date: date, on: date) -> float:
    """1.0 for the first ``FRESH_DAYS`` after the inquiry, then down linearly to ``FLOOR_AGE_FACTOR`` at
    ``FLOOR_DAYS`` and flat after: older inquiries answer less often (DOMAIN benchmarks are for 30-90 days)."""
    days = (on - inquiry_date).days
    if days <= FRESH_DAYS:
        return 1.0
    if days >= FLOOR_DAYS:
        return FLOOR_AGE_FACTOR
    return 1.0 - (1.0 - FLOOR_AGE_FACTOR) * (days - FRESH_DAYS) / (FLOOR_DAYS - FRESH_DAYS)


def priority_score(lead: LeadFacts, *, on: date, engaged: bool, revenue_per_close: float | None = None) -> float:
    """Expected revenue, in dollars to the cent, of working ``lead`` now: the DOMAIN overall close rate for its
    product (midpoint; the four-product average for others), times revenue per close (given, or the lead's
    loan amount at its product's commission, else the product's average loan), times :func:`age_factor`,
    times ``ENGAGED_FACTOR`` when the lead has replied or been reached before."""
    close_rate = economics.benchmark_for(lead.product)[0].midpoint("overall")
    if revenue_per_close is None:
        revenue_per_close = economics.revenue_per_close(
            lead.product, purpose=None, property_type=None, loan_amount=lead.loan_amount
        )
    engagement = ENGAGED_FACTOR if engaged else 1.0
    return round(close_rate * revenue_per_close * age_factor(lead.inquiry_date, on) * engagement, 2)

"""A loan officer's worksheet for one lead: the borrower's own numbers, each with how it was worked out.

:func:`worksheet` takes a lead's facts, the lender programs in force and a date, and returns the estimated
qualifying monthly income (for a rental, the DSCR), the estimated DTI, the earliest date a credit event seasons,
the programs that take the lead on that date (or the earliest date one will), and what a non-QM rate premium
costs a month. A figure whose inputs are missing carries no number, only the question that gets them.

The arithmetic is :mod:`nurture.income`'s and the program tests are :mod:`nurture.eligibility`'s; this module
picks what applies and words it. What applies is table-driven by product value (:data:`INCOME_ORDER`,
:data:`QUALIFIES_ON_RENT`, :data:`PREMIUM_POINTS`, :data:`INCOME_ASK`), with a default for every other product,
so a product added later gets a sensible worksheet before it gets a row. Pure: no clock, no IO.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

from nurture import income as calc
from nurture.eligibility import (
    DEFAULT_1099_MONTHS,
    STANDARD_EXPENSE_BP,
    Assessment,
    BlockerKind,
    LeadFacts,
    add_months,
    assessments,
)
from nurture.guidelines import GuidelineSet, ProgramRules
from nurture.products import Product

# A conventional loan's rate in the premium comparison: the payment estimate's non-QM rate less one point, the
# typical bank-statement premium, so the estimate's payment is the conventional one plus a typical premium.
CONVENTIONAL_RATE = calc.ASSUMED_RATE - Decimal("0.01")

# Points above conventional a product usually prices at (DOMAIN: bank statement 0.75-1.25; non-QM 0.5-2.0).
PREMIUM_POINTS: Mapping[str, tuple[Decimal, Decimal]] = {
    Product.BANK_STATEMENT.value: (Decimal("0.75"), Decimal("1.25")),
}
DEFAULT_PREMIUM_POINTS = (Decimal("0.5"), Decimal("2.0"))

# Products that qualify on the property's rent, not on the borrower's income.
QUALIFIES_ON_RENT = frozenset({Product.DSCR.value})


@dataclass(frozen=True, slots=True)
class Figure:
    """One number on the worksheet, as said aloud, with its basis; or, with no value, what to ask for.

    ``basis`` is how it was worked out, in words a borrower may read; ``note`` adds what is for the loan officer
    only (which lender, what the programs want). ``amount`` is the exact number behind ``value`` where there is
    one (dollars a month, a ratio, a percent). ``for_borrower`` marks the borrower's own estimates, which a
    message to the borrower may show with their basis.
    """

    label: str
    value: str = ""
    basis: str = ""
    ask: str = ""
    amount: Decimal | None = None
    when: date | None = None
    for_borrower: bool = False
    note: str = ""

    @property
    def known(self) -> bool:
        return bool(self.value)


@dataclass(frozen=True, slots=True)
class Worksheet:
    on: date
    income: Figure | None  # None for a product that qualifies on rent
    other_ratios: tuple[Figure, ...]  # the same business income at each other expense ratio a program in force uses
    dscr: Figure | None  # only for a product that qualifies on rent
    dti: Figure | None  # only when the income and the loan amount are known
    seasoning: Figure | None  # only with a credit event
    fit: Figure
    premium: Figure
    lenders: tuple[str, ...]  # whose programs take the lead on ``on``

    @property
    def figures(self) -> tuple[Figure, ...]:
        """Every figure, in the order a loan officer reads them."""
        found = (self.income, *self.other_ratios, self.dscr, self.dti, self.seasoning, self.fit, self.premium)
        return tuple(f for f in found if f is not None)

    @property
    def estimates(self) -> tuple[Figure, ...]:
        """The borrower's own estimates that are known: what an email may show, with its basis."""
        return tuple(f for f in self.figures if f.for_borrower and f.known)

    @property
    def asks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.ask for f in self.figures if f.ask))


Rules = GuidelineSet | Iterable[ProgramRules]
IncomeMethod = Callable[[LeadFacts, tuple[ProgramRules, ...]], Figure | None]


def worksheet(lead: LeadFacts, rules: Rules, on: date, *, conventional_rate: Decimal = CONVENTIONAL_RATE) -> Worksheet:
    """The numbers a loan officer needs for ``lead`` on ``on``, under the programs in ``rules``."""
    programs = tuple(rules.programs if isinstance(rules, GuidelineSet) else rules)
    mine = tuple(p for p in programs if p.program is lead.product)
    on_rent = lead.product.value in QUALIFIES_ON_RENT
    income, method = (None, None) if on_rent else _income(lead, mine)
    found = assessments(lead, mine, on)
    lenders = tuple(a.rules.lender for a in found if a.eligible)
    lends_here = tuple(a.rules for a in found if all(b.kind is not BlockerKind.STATE for b in a.blockers))
    return Worksheet(
        on=on,
        income=income,
        other_ratios=_other_ratios(lead, mine) if method is _statements else (),
        dscr=_dscr(lead, mine) if on_rent else None,
        dti=_dti(lead, income, mine),
        seasoning=_seasoning(lead, mine, lends_here, on),
        fit=_fit(lead, found, lenders),
        premium=_premium(lead, conventional_rate),
        lenders=lenders,
    )


def dollars(amount: Decimal | int) -> str:
    """``$10,000``: an amount to the dollar, rounded half up."""
    return f"${calc.whole_dollars(Decimal(amount)):,}"


def long_date(d: date) -> str:
    return f"{d:%B} {d.day}, {d.year}"


INCOME_LABEL = "Estimated qualifying income"


def _income(lead: LeadFacts, programs: tuple[ProgramRules, ...]) -> tuple[Figure, IncomeMethod | None]:
    """The income figure of the first method of the lead's product whose inputs it has, and that method."""
    for method in INCOME_ORDER.get(lead.product.value, DEFAULT_INCOME_ORDER):
        figure = method(lead, programs)
        if figure is not None:
            return figure, method
    ask = INCOME_ASK.get(lead.product.value, DEFAULT_INCOME_ASK)
    return Figure(INCOME_LABEL, basis="no income figures on file", ask=ask), None


def _months_words(months: int | None) -> str:
    return f"{months} months of " if months else ""


def _ratio_bp(lead: LeadFacts) -> tuple[int, str]:
    if lead.expense_ratio_bp is not None:
        return lead.expense_ratio_bp, "the CPA's"
    return STANDARD_EXPENSE_BP, "the standard"


def _statement_figure(lead: LeadFacts, ratio_bp: int, whose: str, label: str = INCOME_LABEL) -> Figure | None:
    deposits, kind, months = lead.monthly_deposits, lead.statement_type, lead.statement_months
    if deposits is None or kind is None:
        return None
    each = [deposits] * (months or 12)  # the average is what the lead carries; any 12 or 24 months of it give it
    if kind is calc.StatementType.PERSONAL:
        amount = calc.personal_statement_income(each)
        basis = f"{_months_words(months)}personal deposits averaging {dollars(deposits)} a month, all counted"
    else:
        amount = calc.business_statement_income(each, expense_ratio=Decimal(ratio_bp).scaleb(-4))
        basis = (
            f"{_months_words(months)}business deposits averaging {dollars(deposits)} a month"
            f" at {whose} {_percent(ratio_bp)} expense ratio"
        )
    ask = "" if months else "Ask whether the statements cover 12 or 24 months."
    return Figure(label, f"{dollars(amount)} a month", basis, ask, amount, for_borrower=True)


def _statements(lead: LeadFacts, programs: tuple[ProgramRules, ...]) -> Figure | None:
    return _statement_figure(lead, *_ratio_bp(lead))


def _other_ratios(lead: LeadFacts, programs: tuple[ProgramRules, ...]) -> tuple[Figure, ...]:
    """The business-statement income at each program's own expense ratio, where it differs from the one used;
    none when a CPA's ratio applies (it overrides the programs')."""
    if lead.expense_ratio_bp is not None or lead.statement_type is not calc.StatementType.BUSINESS:
        return ()
    by_ratio: dict[int, list[str]] = {}
    for p in programs:
        if p.expense_ratio is not None and calc.percent_bp(p.expense_ratio) != STANDARD_EXPENSE_BP:
            by_ratio.setdefault(calc.percent_bp(p.expense_ratio), []).append(p.lender)
    found = []
    for ratio, lenders in sorted(by_ratio.items()):
        whose = f"{_names(lenders)}'s"
        label = f"Qualifying income at {whose} ratio"
        figure = _statement_figure(lead, ratio, whose, label)
        if figure is not None:
            found.append(Figure(label, figure.value, figure.basis, "", figure.amount))
    return tuple(found)


def _form_1099(lead: LeadFacts, programs: tuple[ProgramRules, ...]) -> Figure | None:
    if lead.gross_1099 is None:
        return None
    months = lead.gross_1099_months or DEFAULT_1099_MONTHS
    amount = calc.income_1099(lead.gross_1099, months=months)
    basis = f"{dollars(lead.gross_1099)} of 1099 income over {months} months, with no expense ratio taken off"
    return Figure(INCOME_LABEL, f"{dollars(amount)} a month", basis, "", amount, for_borrower=True)


def _pl(lead: LeadFacts, programs: tuple[ProgramRules, ...]) -> Figure | None:
    if lead.pl_net is None:
        return None
    amount = calc.pl_income(lead.pl_net)
    shown = f"{dollars(lead.pl_net)} of net profit" if lead.pl_net >= 0 else "a net loss, which counts as no income"
    basis = f"a 12-month CPA-prepared profit and loss statement showing {shown}"
    return Figure(INCOME_LABEL, f"{dollars(amount)} a month", basis, "", amount, for_borrower=True)


def _assets(lead: LeadFacts, programs: tuple[ProgramRules, ...]) -> Figure | None:
    """Liquid assets over the shortest divisor a program in force uses (the most income any of them counts),
    else the agency's 360 months."""
    if lead.liquid_assets is None:
        return None
    divisors = sorted((p.asset_divisor, p.lender) for p in programs if p.asset_divisor is not None)
    if divisors:
        divisor = divisors[0][0]
        note = f"the shortest divisor in force, {_names(lender for d, lender in divisors if d == divisor)}'s"
    else:
        divisor, note = calc.AGENCY_ASSET_DIVISOR, "the agency divisor; no program in force sets one (non-QM: 48-84)"
    amount = calc.asset_depletion_income(lead.liquid_assets, divisor=divisor)
    basis = f"{dollars(lead.liquid_assets)} of liquid assets spread over {divisor} months"
    return Figure(INCOME_LABEL, f"{dollars(amount)} a month", basis, "", amount, for_borrower=True, note=note)


DEFAULT_INCOME_ORDER: tuple[IncomeMethod, ...] = (_statements, _form_1099, _pl)
# Where a product's income comes from, in the order tried: the first whose inputs the lead has is the estimate.
INCOME_ORDER: Mapping[str, tuple[IncomeMethod, ...]] = {
    Product.ASSET_DEPLETION.value: (_assets,),
    "1099": (_form_1099, _statements, _pl),
    "pnl": (_pl, _statements, _form_1099),
}
DEFAULT_INCOME_ASK = (
    "Ask how income is shown: monthly deposits (business or personal, 12 or 24 months), 1099 totals or a CPA's P&L."
)
INCOME_ASK: Mapping[str, str] = {
    Product.BANK_STATEMENT.value: (
        "Ask roughly what is deposited each month, into a business or a personal account, over 12 or 24 months."
    ),
    Product.ASSET_DEPLETION.value: "Ask what the checking, savings, brokerage and retirement accounts hold together.",
    Product.FOREIGN_NATIONAL.value: "Ask what a year brings in at home and how it is documented.",
    "1099": "Ask what the 1099s paid in total over the last 12 or 24 months.",
    "pnl": "Ask for the net profit on a CPA-prepared 12-month profit and loss statement.",
}


def _pitia(loan: int) -> Decimal:
    """The estimated PITIA the eligibility tests use for ``loan`` (:func:`nurture.income.payment_cents`)."""
    return Decimal(calc.payment_cents(loan)).scaleb(-2)


def _dscr(lead: LeadFacts, programs: tuple[ProgramRules, ...]) -> Figure:
    label = "Estimated DSCR (rent over payment)"
    rent, loan = lead.monthly_rent, lead.loan_amount
    if rent is None or loan is None:
        missing = [what for what, v in (("monthly rent", rent), ("loan amount", loan)) if v is None]
        asks = {
            "monthly rent": "what the property rents for, or would (a lease or market rent)",
            "loan amount": "the price and the loan amount they have in mind",
        }
        ask = "Ask " + " and ".join(asks[m] for m in missing) + "."
        return Figure(label, basis=f"needs the {' and the '.join(missing)}", ask=ask)
    ratio = calc.dscr(rent, _pitia(loan))
    minimums = sorted({p.min_dscr for p in programs if p.min_dscr is not None})
    need = f"programs in force want at least {minimums[0]:.2f}" if minimums else ""
    basis = (
        f"rent of {dollars(rent)} a month over an estimated {dollars(_pitia(loan))} a month of principal, interest,"
        f" taxes and insurance on a {dollars(loan)} loan"
    )
    return Figure(label, f"{ratio:.2f}", basis, "", ratio, for_borrower=True, note=need)


def _dti(lead: LeadFacts, income: Figure | None, programs: tuple[ProgramRules, ...]) -> Figure | None:
    if income is None or income.amount is None or lead.loan_amount is None:
        return None
    label = "Estimated DTI"
    debts = lead.monthly_debts or 0
    owed = f"{dollars(_pitia(lead.loan_amount))} estimated payment" + (
        f" and {dollars(debts)} of other debts" if debts else ""
    )
    if income.amount == 0:
        return Figure(label, basis=f"{owed} against no income")
    ratio = calc.dti(_pitia(lead.loan_amount), debts, income.amount)
    limits = sorted({calc.percent_bp(p.max_dti) for p in programs if p.max_dti is not None})
    allowed = f"programs in force allow up to {_percent(limits[-1])} of income" if limits else ""
    if limits:
        fits = calc.largest_loan(income.amount, max_dti=Decimal(limits[-1]).scaleb(-4), monthly_debts=debts)
        if fits < lead.loan_amount:
            allowed += (
                f"; within that this income carries a loan of up to {dollars(fits)}, so a down payment"
                f" {dollars(lead.loan_amount - fits)} larger"
            )
    ask = "" if lead.monthly_debts is not None else "Ask what other debts they pay each month (cards, cars, loans)."
    return Figure(label, f"{ratio:.2f}% of income", f"{owed} on {income.value}", ask, ratio, note=allowed)


def _seasoning(
    lead: LeadFacts, programs: tuple[ProgramRules, ...], lends_here: tuple[ProgramRules, ...], on: date
) -> Figure | None:
    """The first day a program in force counts the lead's credit event as seasoned: "eligible now" once past.
    Only ``lends_here``, the programs that lend in the lead's state, count: another state's wait is no date for
    this borrower."""
    event = lead.credit_event_type
    if event is None:
        return None
    words = event.value.replace("_", " ")
    label = f"Earliest eligible date after the {words}"
    if lead.credit_event_date is None:
        ask = f"Ask when the {words} was discharged or completed."
        return Figure(label, basis=f"the {words} date is not on file", ask=ask)
    accepting = sorted(
        (add_months(lead.credit_event_date, months), months, p.lender)
        for p in lends_here
        if (months := p.seasoning_months.get(event)) is not None
    )
    if not accepting:
        if not programs:
            return Figure(label, basis=f"no {lead.product.label.lower()} program is loaded")
        if not lends_here:
            return Figure(label, basis=f"no program in force lends in {lead.address_state}")
        return Figure(label, basis=f"no program in force takes a {words}")
    seasons_on, months, _ = accepting[0]
    note = f"the shortest wait in force: {_names(lender for d, _, lender in accepting if d == seasons_on)}"
    since = f"{months} months after the {words} of {long_date(lead.credit_event_date)}"
    if seasons_on <= on:
        basis = f"seasoned since {long_date(seasons_on)}, {since}"
        return Figure(label, "eligible now", basis, when=seasons_on, note=note)
    return Figure(label, long_date(seasons_on), since, when=seasons_on, for_borrower=True, note=note)


_UNKNOWN = frozenset(
    {BlockerKind.FICO_UNKNOWN, BlockerKind.DSCR_UNKNOWN, BlockerKind.ASSETS_UNKNOWN, BlockerKind.INCOME_UNKNOWN}
)


def _fit(lead: LeadFacts, found: list[Assessment], lenders: tuple[str, ...]) -> Figure:
    label = "Programs that fit today"
    if lead.product is Product.GENERAL:
        return Figure(label, basis="the product is not known yet", ask="Find the product in discovery.")
    if not found:
        return Figure(label, basis=f"no {lead.product.label.lower()} program is loaded")
    if lenders:
        return Figure(label, _names(lenders), "every rule of their programs passes on what is on file")
    timed = [(d, a) for a in found if (d := _clears_on(a)) is not None]
    if timed:
        when, first = min(timed, key=lambda pair: pair[0])
        value = f"none today; {first.rules.lender} from {long_date(when)}"
        return Figure(label, value, _blockers(first), "", when=when)
    closest = found[0]
    unknown = [b.text for b in closest.blockers if b.kind in _UNKNOWN]
    ask = f"Ask for what is missing: {'; '.join(unknown)}." if unknown else ""
    return Figure(label, "none today", f"closest is {closest.rules.lender}: {_blockers(closest)}", ask)


def _clears_on(a: Assessment) -> date | None:
    """The day time alone clears every blocker of ``a`` (dated seasoning, an effective date to come); else None."""
    dates = []
    for b in a.blockers:
        if b.kind is BlockerKind.SEASONING and b.seasons_on is not None:
            dates.append(b.seasons_on)
        elif b.kind is BlockerKind.NOT_EFFECTIVE:
            dates.append(a.rules.effective_date)
        else:
            return None
    return max(dates, default=None)


def _blockers(a: Assessment) -> str:
    return "; ".join(b.text for b in a.blockers)


def _premium(lead: LeadFacts, conventional_rate: Decimal) -> Figure:
    low, high = PREMIUM_POINTS.get(lead.product.value, DEFAULT_PREMIUM_POINTS)
    label = "Rate premium over a conventional loan"
    usual = f"{lead.product.label} loans usually price {low:g}-{high:g} points above conventional"
    loan = lead.loan_amount
    if loan is None:
        return Figure(label, basis=usual, ask="Ask the loan amount they have in mind.")

    point, lowest, highest = _premium_costs(loan, conventional_rate, low, high)
    value = f"about {dollars(lowest)}-{dollars(highest)} a month"
    basis = (
        f"{usual}; on a {dollars(loan)} {calc.ASSUMED_TERM_MONTHS // 12}-year loan each point is about"
        f" {dollars(point)} a month ({dollars(point * 12)} a year)"
    )
    return Figure(label, value, basis, "", point)


@lru_cache(maxsize=4096)
def _premium_costs(loan: int, rate: Decimal, low: Decimal, high: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """What one point, ``low`` points and ``high`` points over ``rate`` cost a month on ``loan`` (cached: the
    amortized payments are exact rationals, and a batch of leads repeats a few loan amounts)."""
    return tuple(  # type: ignore[return-value]
        calc.rate_premium_cost(loan, base_rate=rate, premium=points.scaleb(-2)) for points in (Decimal(1), low, high)
    )


def _percent(bp: int) -> str:
    return f"{bp / 100:g}%"


def _names(names: Iterable[str]) -> str:
    unique = list(dict.fromkeys(names))
    return ", ".join(unique[:-1]) + " and " + unique[-1] if len(unique) > 1 else "".join(unique)

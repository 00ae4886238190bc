"""A borrower's qualifying income, payment and ratios, exactly as a loan officer's worksheet works them out.

Amounts are dollars given as ``int`` or ``Decimal`` and ratios as ``Decimal`` fractions (``Decimal("0.50")`` is
50%); a ``float`` is refused, since binary fractions are not cents. Each function computes with exact rationals
and rounds once, at the end, to the cent, half up: ``$1,500,000 / 360`` is ``$4,166.67`` (``$4,167`` to the
dollar). Two exceptions, each stated where it applies: a DSCR is rounded *down* to two decimals, so it never
shows more coverage than there is, and the largest loan is rounded down to the dollar.

The eligibility rules (:mod:`nurture.eligibility`) and their SQL copy (:mod:`storage.eligibility_sql`) need the
same numbers in arithmetic SQLite and PostgreSQL compute exactly: whole cents in integers. The ``*_cents``
functions are that form, round half up like the rest, and equal their ``Decimal`` counterparts times 100 (a
property test holds them together). Their estimated payment is linear in the loan amount (:data:`PITIA_FACTOR`,
the payment per dollar rounded to 8 decimals), so SQL can compute it; it differs from the amortized figure of
:func:`estimated_pitia` by at most a cent plus half a cent per $1,000,000 of loan. Pure: no clock, no IO.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

Amount = int | Decimal
Ratio = int | Decimal | Fraction


class StatementType(enum.StrEnum):
    """Whose bank statements show the income: the business's (less its expenses) or the borrower's own."""

    BUSINESS = "business"
    PERSONAL = "personal"


STANDARD_EXPENSE_RATIO = Decimal("0.50")  # of business deposits, unless a CPA letter gives the business's own
STATEMENT_MONTHS = (12, 24)  # months of statements (or of 1099s) a program averages
AGENCY_ASSET_DIVISOR = 360  # non-QM lenders often use 48-84
PL_MONTHS = 12

# The payment estimate behind every DSCR and DTI test: a 30-year fixed non-QM loan at 7.5%, plus taxes and
# insurance of 1.5% of the loan amount a year.
ASSUMED_RATE = Decimal("0.075")
ASSUMED_TERM_MONTHS = 360
TAXES_INSURANCE_RATE = Decimal("0.015")
DEFAULT_MAX_DTI = Decimal("0.50")  # an asset-depletion program that sets no maximum DTI

BASIS_POINTS = 10_000  # ratios in the integer form are whole basis points: 5000 is 50%
_CENT = Decimal("0.01")


def _number(value: object, what: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | Fraction):
        raise TypeError(f"{what} must be an int or a Decimal, not {type(value).__name__} ({value!r})")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"{what} must be finite, not {value}")
    return Fraction(value)


def _amount(value: object, what: str) -> Fraction:
    exact = _number(value, what)
    if exact < 0:
        raise ValueError(f"{what} must not be negative, got {value}")
    return exact


def _ratio(value: object, what: str) -> Fraction:
    exact = _number(value, what)
    if not 0 <= exact <= 1:
        raise ValueError(f"{what} must be a fraction from 0 to 1 (Decimal('0.50') for 50%), got {value}")
    return exact


def _months(months: int, what: str = "months") -> int:
    if months not in STATEMENT_MONTHS:
        raise ValueError(f"{what} must be 12 or 24, got {months}")
    return months


def to_cents(value: Fraction) -> Decimal:
    """``value`` dollars rounded to the cent, half up (away from zero on a tie)."""
    cents = math.floor(abs(value) * 100 + Fraction(1, 2))
    return Decimal(cents if value >= 0 else -cents).scaleb(-2)


def whole_dollars(amount: Decimal) -> int:
    """An amount rounded to the dollar, half up, as a person would say it (``4166.67`` -> ``4167``)."""
    return int(amount.to_integral_value(ROUND_HALF_UP))


def _average(deposits: Sequence[Amount], what: str) -> Fraction:
    _months(len(deposits), f"the number of monthly {what}")
    return sum((_amount(d, what) for d in deposits), Fraction(0)) / len(deposits)


def business_statement_income(monthly_deposits: Sequence[Amount], *, expense_ratio: Ratio | None = None) -> Decimal:
    """Monthly income from 12 or 24 months of business deposits: their average times (1 - expense ratio).

    ``expense_ratio`` is a CPA's figure for the business when there is one; without it the standard 50%
    (:data:`STANDARD_EXPENSE_RATIO`): $20,000 a month of deposits qualify $10,000 a month.
    """
    ratio = STANDARD_EXPENSE_RATIO if expense_ratio is None else expense_ratio
    return to_cents(_average(monthly_deposits, "deposits") * (1 - _ratio(ratio, "expense_ratio")))


def personal_statement_income(
    monthly_deposits: Sequence[Amount], *, excluded: Sequence[Amount] | None = None
) -> Decimal:
    """Monthly income from 12 or 24 months of personal deposits: all of them, less what is not income.

    ``excluded`` gives, month by month, the transfers between the borrower's own accounts and other deposits
    that are not income (a loan, a sale of a car); a month cannot exclude more than it took in.
    """
    months = len(monthly_deposits)
    _months(months, "the number of monthly deposits")
    out = [Fraction(0)] * months if excluded is None else [_amount(x, "excluded") for x in excluded]
    if len(out) != months:
        raise ValueError(f"excluded gives {len(out)} months for {months} months of deposits")
    net = []
    for month, (deposit, less) in enumerate(zip(monthly_deposits, out, strict=True), 1):
        amount = _amount(deposit, "deposits")
        if less > amount:
            raise ValueError(f"month {month}: excluded {less} is more than the deposits {amount}")
        net.append(amount - less)
    return to_cents(sum(net, Fraction(0)) / months)


def income_1099(gross: Amount, *, months: int = 12, expense_ratio: Ratio | None = None) -> Decimal:
    """Monthly income from 1099s: the gross paid over the last 12 or 24 ``months``, per month, less an expense
    ratio when the lender applies one (none by default)."""
    ratio = _ratio(0 if expense_ratio is None else expense_ratio, "expense_ratio")
    return to_cents(_amount(gross, "gross") / _months(months) * (1 - ratio))


def pl_income(net_profit: int | Decimal) -> Decimal:
    """Monthly income from a CPA-prepared 12-month profit and loss statement: the net profit over 12 months. A
    net loss qualifies no income (``0.00``)."""
    return to_cents(max(_number(net_profit, "net_profit"), Fraction(0)) / PL_MONTHS)


def asset_depletion_income(liquid_assets: Amount, *, divisor: int = AGENCY_ASSET_DIVISOR) -> Decimal:
    """Monthly income imputed from eligible liquid assets: assets / ``divisor`` months (agency-style 360;
    non-QM lenders often 48-84). $1,500,000 over 360 months is $4,166.67."""
    if isinstance(divisor, bool) or not isinstance(divisor, int) or not 1 <= divisor <= 600:
        raise ValueError(f"divisor must be a whole number of months from 1 to 600, got {divisor!r}")
    return to_cents(_amount(liquid_assets, "liquid_assets") / divisor)


def _payment(principal: Fraction, rate: Fraction, months: int) -> Fraction:
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}")
    if rate == 0:
        return principal / months
    monthly = rate / 12
    growth = (1 + monthly) ** months
    return principal * monthly * growth / (growth - 1)


def monthly_payment(principal: Amount, *, annual_rate: Ratio, months: int = ASSUMED_TERM_MONTHS) -> Decimal:
    """Principal and interest of a fully amortizing fixed-rate loan: P r (1+r)^n / ((1+r)^n - 1) with r the
    monthly rate; $400,000 at 6% over 30 years is $2,398.20."""
    return to_cents(_payment(_amount(principal, "principal"), _ratio(annual_rate, "annual_rate"), months))


def estimated_pitia(
    loan_amount: Amount,
    *,
    annual_rate: Ratio = ASSUMED_RATE,
    term_months: int = ASSUMED_TERM_MONTHS,
    taxes_insurance_rate: Ratio = TAXES_INSURANCE_RATE,
) -> Decimal:
    """Estimated monthly principal, interest, taxes and insurance: the amortized payment plus a twelfth of
    ``taxes_insurance_rate`` times the loan a year (the defaults: 7.5%, 30 years, 1.5%)."""
    loan = _amount(loan_amount, "loan_amount")
    taxes = loan * _ratio(taxes_insurance_rate, "taxes_insurance_rate") / 12
    return to_cents(_payment(loan, _ratio(annual_rate, "annual_rate"), term_months) + taxes)


def pitia_factor(
    *,
    annual_rate: Ratio = ASSUMED_RATE,
    term_months: int = ASSUMED_TERM_MONTHS,
    taxes_insurance_rate: Ratio = TAXES_INSURANCE_RATE,
) -> Decimal:
    """Estimated PITIA per dollar of loan, rounded half up to 8 decimals (0.00824215 for the defaults)."""
    exact = _payment(Fraction(1), _ratio(annual_rate, "annual_rate"), term_months)
    exact += _ratio(taxes_insurance_rate, "taxes_insurance_rate") / 12
    return Decimal(math.floor(exact * 10**8 + Fraction(1, 2))).scaleb(-8)


PITIA_FACTOR = pitia_factor()
PITIA_FACTOR_UNITS = int(PITIA_FACTOR.scaleb(8))  # PITIA_FACTOR in units of 1e-8 dollars per dollar: 824215


def dscr(monthly_rent: Amount, pitia: Amount) -> Decimal:
    """Debt service coverage: monthly market rent over monthly PITIA, rounded down to two decimals ($2,500 of rent
    on a $2,000 payment is 1.25; most lenders want at least 1.00)."""
    payment = _amount(pitia, "pitia")
    if payment == 0:
        raise ValueError("pitia must be more than 0")
    hundredths = math.floor(_amount(monthly_rent, "monthly_rent") / payment * 100)
    return Decimal(hundredths).scaleb(-2)


def rate_premium_cost(
    principal: Amount, *, base_rate: Ratio, premium: Ratio, months: int = ASSUMED_TERM_MONTHS
) -> Decimal:
    """What a rate premium costs a month: the payment at ``base_rate + premium`` less the payment at
    ``base_rate``, each rounded to the cent as the borrower would see it. One point on $400,000 over 30 years
    from 5% is $250.91 a month, about $3,000 a year."""
    rate = _ratio(base_rate, "base_rate")
    higher = rate + _ratio(premium, "premium")
    return monthly_payment(principal, annual_rate=higher, months=months) - monthly_payment(
        principal, annual_rate=rate, months=months
    )


def dti(monthly_payment: Amount, monthly_debts: Amount, monthly_income: Amount) -> Decimal:
    """Debt-to-income as a percent rounded half up to two decimals: (payment + other debts) / income."""
    income = _amount(monthly_income, "monthly_income")
    if income == 0:
        raise ValueError("monthly_income must be more than 0")
    owed = _amount(monthly_payment, "monthly_payment") + _amount(monthly_debts, "monthly_debts")
    hundredths = math.floor(owed / income * 10_000 + Fraction(1, 2))
    return Decimal(hundredths).scaleb(-2)


def largest_loan(monthly_income: Amount, *, max_dti: Ratio, monthly_debts: Amount = 0) -> int:
    """The largest whole-dollar loan whose estimated payment (:func:`payment_cents`), with ``monthly_debts``,
    stays within ``max_dti`` of ``monthly_income``; 0 when the debts alone use it up."""
    income_cents = _cents_of(monthly_income, "monthly_income")
    debts_cents = _cents_of(monthly_debts, "monthly_debts")
    limit = basis_points(_ratio(max_dti, "max_dti"))
    room = Fraction(limit * income_cents, BASIS_POINTS) - debts_cents  # the payment may be this many cents
    if room < 0:
        return 0
    loan = math.floor(room * 10**6 / PITIA_FACTOR_UNITS)
    while dti_fits(payment_cents(loan + 1), debts_cents, income_cents, limit):
        loan += 1
    while loan > 0 and not dti_fits(payment_cents(loan), debts_cents, income_cents, limit):
        loan -= 1
    return loan


def down_payment_needed(price: int, *, monthly_income: Amount, max_dti: Ratio, monthly_debts: Amount = 0) -> int:
    """The smallest down payment, in whole dollars, that brings the loan on a ``price`` home down to
    :func:`largest_loan`: a larger down payment means a smaller loan and so less income needed."""
    loan = largest_loan(monthly_income, max_dti=max_dti, monthly_debts=monthly_debts)
    return max(int(_amount(price, "price")) - loan, 0)


# The integer form: whole cents, ratios in basis points, every division rounded half up. SQL copies these.


def round_div(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up, for a numerator >= 0 and a denominator > 0, in integers:
    ``(2n + d) // (2d)``, which SQLite and PostgreSQL compute the same way."""
    return (2 * numerator + denominator) // (2 * denominator)


def basis_points(value: Ratio | float) -> int:
    """A fraction as whole basis points, rounded half up (``Decimal("0.375")`` -> 3750)."""
    exact = Fraction(Decimal(repr(value))) if isinstance(value, float) else Fraction(value)
    return math.floor(exact * BASIS_POINTS + Fraction(1, 2))


def percent_bp(percent: float | int | Decimal) -> int:
    """A percent as the feed gives it (``40``, ``37.5``) in whole basis points, rounded half up (4000, 3750)."""
    exact = Fraction(Decimal(repr(percent))) if isinstance(percent, float) else Fraction(percent)
    return math.floor(exact * 100 + Fraction(1, 2))


def _cents_of(amount: Amount, what: str) -> int:
    return int(to_cents(_amount(amount, what)).scaleb(2))


def payment_cents(loan_amount: int) -> int:
    """Estimated monthly PITIA of a whole-dollar loan, in cents: ``loan x PITIA_FACTOR`` rounded half up."""
    return round_div(loan_amount * PITIA_FACTOR_UNITS, 10**6)


def statement_income_cents(monthly_deposits: int, kind: StatementType, expense_ratio_bp: int) -> int:
    """Monthly income in cents from average monthly deposits in whole dollars (:func:`business_statement_income`,
    :func:`personal_statement_income` with nothing excluded)."""
    if kind is StatementType.PERSONAL:
        return monthly_deposits * 100
    return round_div(monthly_deposits * (BASIS_POINTS - expense_ratio_bp), 100)


def income_1099_cents(gross: int, months: int) -> int:
    """:func:`income_1099` without an expense ratio, in cents, from whole dollars."""
    return round_div(gross * 100, months)


def pl_income_cents(net_profit: int) -> int:
    """:func:`pl_income` in cents, from a whole-dollar net profit (a loss counts as 0)."""
    return round_div(max(net_profit, 0) * 100, PL_MONTHS)


def asset_income_cents(liquid_assets: int, divisor: int) -> int:
    """:func:`asset_depletion_income` in cents, from whole dollars."""
    return round_div(liquid_assets * 100, divisor)


def dti_fits(payment: int, debts: int, income: int, max_dti_bp: int) -> bool:
    """Whether (payment + debts) / income, all in cents, is at most ``max_dti_bp`` basis points, exactly."""
    return (payment + debts) * BASIS_POINTS <= max_dti_bp * income

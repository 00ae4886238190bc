"""The lead CSV's optional income columns (docs/leads-csv.md, "Income"): their types, the rules between them, the
lead values they set and their part of the row digest.

``storage.import_parse`` adds these fields to :class:`~storage.import_parse.LeadCsvRow` and calls the three
functions below; everything the income columns mean is here, so the row model stays about the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, get_args

from pydantic import PlainValidator

from nurture.income import STATEMENT_MONTHS, StatementType
from nurture.text import checked
from storage.import_csv import INCOME_COLUMNS, header_key
from storage.import_fields import Dollars

# A month's deposits, debts or a year's 1099s or net profit above a billion dollars is a typo; the cap also keeps the
# cents-and-basis-points arithmetic of the eligibility SQL far inside 64 bits.
MAX_MONTHLY = 10**9
_DOLLARS: Callable[[str], int] = next(m.func for m in get_args(Dollars)[1:] if isinstance(m, PlainValidator))  # type: ignore[assignment]
# The lead columns the income columns fill: the same names, except the expense ratio, stored in basis points.
INCOME_FIELDS = tuple("expense_ratio_bp" if c == "expense_ratio" else c for c in INCOME_COLUMNS)


def _capped(text: str) -> int:
    value = _DOLLARS(text)
    if value > MAX_MONTHLY:
        raise ValueError(f"{text!r} is more than ${MAX_MONTHLY:,}")
    return value


def _statement_type(text: str) -> StatementType:
    try:
        return StatementType(header_key(text))
    except ValueError:
        raise ValueError(f"{text!r} is not business or personal") from None


def _months(text: str) -> int:
    if not text.isdigit() or int(text) not in STATEMENT_MONTHS:
        raise ValueError(f"{text!r} is not 12 or 24 months")
    return int(text)


def _percent_bp(text: str) -> int:
    """A percent (``35``, ``35%``, ``37.5``) as whole basis points; a fraction such as ``0.35`` is refused, not
    read as a third of a percent."""
    try:
        value = Decimal(text.removesuffix("%").strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or not 0 <= value <= 100:
        raise ValueError(f"{text!r} is not a percent from 0 to 100")
    if 0 < value < 1:
        percent = f"{float(value * 100):g}"
        raise ValueError(f"{text!r} looks like a fraction; give the percent ({percent} for {percent}%)")
    if value != value.quantize(Decimal("0.01")):
        raise ValueError(f"{text!r} has more than two decimals")
    return int(value * 100)


def _one_line(parse: Callable[[str], Any]) -> PlainValidator:
    return PlainValidator(lambda text: parse(checked(text)))


Monthly = Annotated[int | None, _one_line(_capped)]  # whole dollars, at most a billion
StatementKind = Annotated[StatementType | None, _one_line(_statement_type)]
StatementMonths = Annotated[int | None, _one_line(_months)]  # 12 or 24
ExpenseRatio = Annotated[int | None, _one_line(_percent_bp)]  # basis points


def income_problems(raw: dict[str, str], parsed: dict[str, Any]) -> list[tuple[str, str]]:
    """(column, reason) for each income column that cannot be used as given: deposits whose kind or months are
    missing, 1099 months without the 1099 income, and an expense ratio on personal statements."""
    problems = []
    if "monthly_deposits" in raw:
        missing = [c for c in ("statement_type", "statement_months") if c not in raw]
        if missing:
            why = f"is given without {' and '.join(missing)}; deposits count only with their kind and months"
            problems.append(("monthly_deposits", why))
    if "gross_1099_months" in raw and "gross_1099" not in raw:
        problems.append(("gross_1099_months", "is given without gross_1099"))
    if "expense_ratio" in raw and parsed["statement_type"] is StatementType.PERSONAL:
        problems.append(("expense_ratio", "applies to business statements; personal deposits count in full"))
    return problems


def income_values(parsed: dict[str, Any]) -> dict[str, Any]:
    """The lead columns the row's income columns set (a blank one sets its column to NULL)."""
    return {field: parsed[column] for column, field in zip(INCOME_COLUMNS, INCOME_FIELDS, strict=True)}


def income_digest(parsed: dict[str, Any]) -> str:
    """The income columns' part of the row digest: nothing when they are all blank, so a row that leaves them blank
    hashes as it did before they existed and re-importing it changes nothing."""
    if all(parsed[c] is None for c in INCOME_COLUMNS):
        return ""
    return "\x1d" + "\x1f".join("" if parsed[c] is None else str(parsed[c]) for c in INCOME_COLUMNS)

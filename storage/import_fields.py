"""What the text of each lead CSV column becomes (formats: docs/leads-csv.md).

Each type pairs a column's value with its parser, a pydantic plain validator: non-blank text in, the value out,
or ``ValueError`` with the reason. Every parser first refuses control characters (``nurture.text``); text kept as
given is also held to the length of the column it is stored in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import PlainValidator

from nurture.geo import normalize_phone, normalize_zip, state_code
from nurture.products import CreditEventType, LoanPurpose, Product, PropertyType
from nurture.text import checked
from storage.import_csv import header_key
from storage.limits import DISCLOSURE_MAX_CHARS, text_for
from storage.models import Consent, Lead, table
from storage.officers import normalize_email

_lead, _consent = table(Lead), table(Consent)

# Each field parser takes non-blank text and raises ValueError with the reason.
_TRUE, _FALSE = {"yes", "y", "true", "t", "1"}, {"no", "n", "false", "f", "0"}


def _bool(text: str) -> bool:
    low = text.lower()
    if low not in _TRUE and low not in _FALSE:
        raise ValueError(f"{text!r} is not yes/no, true/false, y/n or 1/0")
    return low in _TRUE


# Amounts are stored in 64-bit integer columns (whole dollars, or cents for the lead's cost). The caps sit far below
# 2**63 so that any sum SQL takes over them stays exact (SQLite's SUM fails on overflow): a trillion dollars, or a
# million for one lead's cost, is a typo already.
MAX_DOLLARS = Decimal(10**12)
MAX_LEAD_COST = Decimal(10**6)


def _money(text: str, limit: Decimal) -> Decimal:
    try:
        value = Decimal(text.replace("$", "").replace(",", "").strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise ValueError(f"{text!r} is not an amount of money")
    if value > limit:
        raise ValueError(f"{text!r} is more than ${limit:,}")
    if value != value.quantize(Decimal("0.01")):
        raise ValueError(f"{text!r} has fractions of a cent")
    return value


def _dollars(text: str) -> int:
    return int(_money(text, MAX_DOLLARS).to_integral_value(ROUND_HALF_UP))


def _cents(text: str) -> int:
    return int(_money(text, MAX_LEAD_COST) * 100)


def _date(text: str) -> date:
    try:
        if "/" not in text:
            return date.fromisoformat(text)
        month, day, year = text.split("/")
        if len(year) == 4:
            return date(int(year), int(month), int(day))
    except ValueError:
        pass
    raise ValueError(f"{text!r} is not a date (YYYY-MM-DD or M/D/YYYY)")


def _moment(text: str) -> datetime | date:
    """A date-time, aware or naive (read later in the lead's zone), or a bare date (midnight there)."""
    try:
        if "T" not in text.upper() and " " not in text:
            return _date(text)
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    raise ValueError(f"{text!r} is not an ISO 8601 date-time (2026-01-05T14:30:00-05:00) or a date")


def _fico(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a whole number")
    if not 300 <= int(text) <= 850:
        raise ValueError(f"{int(text)} is outside 300-850")
    return int(text)


def _enum(cls: type[StrEnum]) -> Callable[[str], StrEnum]:
    def parse(text: str) -> StrEnum:
        try:
            return cls(header_key(text))
        except ValueError:
            raise ValueError(f"{text!r} is not one of {', '.join(m.value for m in cls)}") from None

    return parse


def _state(text: str) -> str:
    if (code := state_code(text)) is None:
        raise ValueError(f"{text!r} is not a US state or territory")
    return code


def _disclosure(text: str) -> str:
    return checked(text, limit=DISCLOSURE_MAX_CHARS, multiline=True)  # a consent's wording, paragraphs and all


def _one_line(parse: Callable[[str], Any]) -> PlainValidator:
    """``parse`` behind the check every field gets first: no control character (nurture.text)."""

    def run(text: str) -> Any:
        return parse(checked(text))

    return PlainValidator(run)


def _stored(column: sa.Column[Any]) -> PlainValidator:
    """Text kept as given: one line, no longer than ``column`` holds."""
    return PlainValidator(text_for(column))


# Each column's type: what its text becomes and the parser that checks it (a plain validator: the text in,
# the value out or a ValueError with the reason). Blank fields never reach a parser; they stay None.
Name = Annotated[str | None, _stored(_lead.c.last_name)]
Phone = Annotated[str | None, _one_line(normalize_phone)]  # E.164
Email = Annotated[str | None, _one_line(normalize_email)]  # lower-cased
State = Annotated[str | None, _one_line(_state)]  # USPS code
Zip = Annotated[str | None, _one_line(normalize_zip)]
Flag = Annotated[bool | None, _one_line(_bool)]
Dollars = Annotated[int | None, _one_line(_dollars)]  # whole dollars
Cents = Annotated[int | None, _one_line(_cents)]
Day = Annotated[date | None, _one_line(_date)]
Fico = Annotated[int | None, _one_line(_fico)]  # 300-850
ExternalId = Annotated[str | None, _stored(_lead.c.external_id)]
FirstName = Annotated[str, _stored(_lead.c.first_name)]
Source = Annotated[str | None, _stored(_lead.c.source)]  # the vendor
CreditEvent = Annotated[CreditEventType | None, _one_line(_enum(CreditEventType))]
ProductName = Annotated[Product | None, _one_line(_enum(Product))]
Purpose = Annotated[LoanPurpose | None, _one_line(_enum(LoanPurpose))]
Property = Annotated[PropertyType | None, _one_line(_enum(PropertyType))]
InquiryDate = Annotated[date, _one_line(_date)]
Moment = Annotated[datetime | date | None, _one_line(_moment)]  # aware, naive or a bare date
ConsentSource = Annotated[str | None, _stored(_consent.c.source)]
Disclosure = Annotated[str | None, PlainValidator(_disclosure)]
Seller = Annotated[str | None, _stored(_consent.c.seller)]

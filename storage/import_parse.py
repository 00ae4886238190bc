"""Read and check lead CSV rows (columns, formats and rules: docs/leads-csv.md).

No database access: text in, lead column values and the row's consent record out,
or a :class:`RowError` naming every bad field. ``storage.importer`` writes the results.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from nurture.geo import lead_timezone, normalize_phone, normalize_zip, state_code
from nurture.products import CreditEventType, LoanPurpose, Product, PropertyType, Situation, match_product
from storage.officers import normalize_email

# fmt: off
COLUMNS = (
    "external_id", "first_name", "last_name", "phone", "alt_phone", "email", "address_state", "zip",
    "self_employed", "investment_property", "foreign_national", "high_dti", "liquid_assets", "credit_event_type",
    "credit_event_date", "product", "fico", "loan_amount", "loan_purpose", "property_type", "monthly_rent",
    "source", "cost", "inquiry_date", "loan_officer_email", "dnc", "dnc_scrubbed_on",
    "consent_at", "consent_source", "consent_text", "consent_seller", "consent_phone",
)
# fmt: on
REQUIRED = ("first_name", "inquiry_date")
CONSENT_COLUMNS = ("consent_at", "consent_source", "consent_text", "consent_seller", "consent_phone")
CONSENT_REQUIRED = CONSENT_COLUMNS[:4]
# Columns added with the compliance facts. A row that leaves them all blank keeps the digest it had before
# they existed, so upgrading does not turn the next re-import into an update of every lead.
_ADDED = ("alt_phone", "dnc", "dnc_scrubbed_on", *CONSENT_COLUMNS)
_DIGESTED = tuple(c for c in COLUMNS if c not in _ADDED)
_FLAGS = ("self_employed", "investment_property", "foreign_national", "high_dti")
_NOT_LEAD = ("cost", "loan_officer_email", "dnc", *CONSENT_COLUMNS)
# The lead columns a parsed row sets: what an update rewrites.
LEAD_FIELDS = (*[c for c in COLUMNS if c not in _NOT_LEAD], "cost_cents", "product_matched", "timezone",
               "dnc_listed", "dnc_scrubbed_on", "row_digest")  # fmt: skip
EARLIEST_CONSENT = datetime(2000, 1, 1, tzinfo=UTC)


class ImportFileError(ValueError):
    """The whole file was refused before anything was written."""


class RowError(ValueError):
    """A row was refused; the message names each bad field."""


def header_key(name: str) -> str:
    """Header names match ignoring case and spacing: " Loan Officer-Email" -> "loan_officer_email"."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


# Each field parser takes non-blank text and raises ValueError with the reason.
_TRUE, _FALSE = {"yes", "y", "true", "t", "1"}, {"no", "n", "false", "f", "0"}


def _text(limit: int) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if len(text) > limit:
            raise ValueError(f"is longer than {limit} characters")
        return text

    return parse


def _bool(text: str) -> bool:
    low = text.lower()
    if low not in _TRUE and low not in _FALSE:
        raise ValueError(f"{text!r} is not yes/no, true/false, y/n or 1/0")
    return low in _TRUE


def _money(text: str) -> Decimal:
    try:
        value = Decimal(text.replace("$", "").replace(",", "").strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise ValueError(f"{text!r} is not an amount of money")
    if value != value.quantize(Decimal("0.01")):
        raise ValueError(f"{text!r} has fractions of a cent")
    return value


def _dollars(text: str) -> int:
    return int(_money(text).to_integral_value(ROUND_HALF_UP))


def _cents(text: str) -> int:
    return int(_money(text) * 100)


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


# fmt: off
PARSERS: dict[str, Callable[[str], Any]] = {
    "external_id": _text(100), "first_name": _text(80), "last_name": _text(80), "phone": normalize_phone,
    "alt_phone": normalize_phone, "email": normalize_email, "address_state": _state, "zip": normalize_zip,
    "self_employed": _bool, "investment_property": _bool, "foreign_national": _bool, "high_dti": _bool,
    "liquid_assets": _dollars, "credit_event_type": _enum(CreditEventType), "credit_event_date": _date,
    "product": _enum(Product), "fico": _fico, "loan_amount": _dollars, "loan_purpose": _enum(LoanPurpose),
    "property_type": _enum(PropertyType), "monthly_rent": _dollars, "source": _text(100), "cost": _cents,
    "inquiry_date": _date, "loan_officer_email": normalize_email, "dnc": _bool, "dnc_scrubbed_on": _date,
    "consent_at": _moment, "consent_source": _text(300), "consent_text": _text(10_000),
    "consent_seller": _text(200), "consent_phone": normalize_phone,
}
# fmt: on
_BLANK = dict.fromkeys(COLUMNS, "")


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """The prior express written consent a row carries, before it is tied to a lead."""

    phone: str | None  # E.164; None: the lead's phone
    seller: str
    disclosure: str
    source: str
    consented_at: datetime  # UTC


@dataclass(slots=True)
class Row:
    line: int
    fields: list[str]
    values: dict[str, Any]  # LEAD_FIELDS
    officer_id: int | None  # named by the row
    consent: ConsentRecord | None
    lead_id: int | None = None  # set once the row is written


class RowParser:
    """Turns the fields of one CSV record into a :class:`Row`, or raises :class:`RowError`."""

    def __init__(self, *, now: datetime, default_product: Product | None, officers: dict[str, tuple[int, bool]]):
        self.now, self.today, self.default_product, self.officers = now, now.date(), default_product, officers

    def parse(self, line: int, fields: list[str], columns: list[str | None]) -> Row:
        if len(fields) != len(columns):
            raise RowError(f"row: has {len(fields)} fields; the header has {len(columns)}")
        raw = dict(_BLANK)
        raw.update((c, f.strip()) for c, f in zip(columns, fields, strict=True) if c)
        parsed: dict[str, Any] = dict.fromkeys(COLUMNS)
        errors = [f"{name}: is required" for name in REQUIRED if not raw[name]]
        for name, text in raw.items():
            if text:
                try:
                    parsed[name] = PARSERS[name](text)
                except ValueError as exc:
                    errors.append(f"{name}: {exc}")
        if not raw["phone"] and not raw["email"]:
            errors.append("phone/email: at least one is required")
        for name in ("inquiry_date", "credit_event_date", "dnc_scrubbed_on"):
            if parsed[name] and parsed[name] > self.today:
                errors.append(f"{name}: {parsed[name]} is in the future")
        if raw["dnc"] and not raw["dnc_scrubbed_on"]:
            errors.append("dnc: is given without dnc_scrubbed_on; a Do Not Call flag needs the date of its scrub")
        officer_id = None
        if email := parsed["loan_officer_email"]:
            officer_id, active = self.officers.get(email, (None, False))
            if not active:
                errors.append(f"loan_officer_email: {'an inactive' if officer_id else 'no'} loan officer has {email}")
        zone = lead_timezone(state=parsed["address_state"], zip=parsed["zip"], phone=parsed["phone"])
        consent = self._consent(raw, parsed, zone, errors)
        if errors:
            raise RowError("; ".join(errors))
        return Row(line, fields, self._lead_values(parsed, zone), officer_id, consent)

    def _consent(
        self, raw: dict[str, str], parsed: dict[str, Any], zone: str, errors: list[str]
    ) -> ConsentRecord | None:
        """The row's consent; ``parsed["consent_at"]`` becomes the UTC instant. Problems go to ``errors``."""
        if not any(raw[c] for c in CONSENT_COLUMNS):
            return None
        errors.extend(f"{name}: is required when any consent column is filled" for name in CONSENT_REQUIRED
                      if not raw[name])  # fmt: skip
        at = parsed["consent_at"]
        if at is None:
            return None
        if not isinstance(at, datetime):
            at = datetime.combine(at, time(), tzinfo=_zone(zone))
        elif at.tzinfo is None:
            at = at.replace(tzinfo=_zone(zone))
        at = parsed["consent_at"] = at.astimezone(UTC)
        if at > self.now:
            errors.append(f"consent_at: {at.isoformat()} is in the future")
        elif at < EARLIEST_CONSENT:
            errors.append(f"consent_at: {at.isoformat()} is before 2000")
        if not all(parsed[c] for c in CONSENT_REQUIRED):
            return None
        return ConsentRecord(
            phone=parsed["consent_phone"],
            seller=parsed["consent_seller"],
            disclosure=parsed["consent_text"],
            source=parsed["consent_source"],
            consented_at=at,
        )

    def _lead_values(self, parsed: dict[str, Any], zone: str) -> dict[str, Any]:
        parsed["product"] = parsed["product"] or self.default_product
        for same_as_phone in ("alt_phone", "consent_phone"):  # blank means the phone: hash them alike
            if parsed[same_as_phone] == parsed["phone"]:
                parsed[same_as_phone] = None
        scrubbed = parsed["dnc_scrubbed_on"]
        parsed["dnc"] = bool(parsed["dnc"]) if scrubbed else None  # blank with a scrub date: not listed
        values = {name: parsed[name] for name in COLUMNS if name not in _NOT_LEAD}
        values.update({flag: bool(parsed[flag]) for flag in _FLAGS}, last_name=parsed["last_name"] or "",
                      cost_cents=parsed["cost"], product_matched=parsed["product"] is None, timezone=zone,
                      dnc_listed=bool(parsed["dnc"]), dnc_scrubbed_on=scrubbed, row_digest=_digest(parsed))  # fmt: skip
        if values["product_matched"]:
            situation = Situation(**{k: values[k] for k in Situation.__slots__})  # type: ignore[attr-defined]
            values["product"] = match_product(situation, as_of=self.today)
        return values


def _digest(parsed: dict[str, Any]) -> str:
    text = "\x1f".join("" if parsed[c] is None else str(parsed[c]) for c in _DIGESTED)
    if any(parsed[c] is not None for c in _ADDED):
        text += "\x1e" + "\x1f".join("" if parsed[c] is None else str(parsed[c]) for c in _ADDED)
    return hashlib.sha256(text.encode()).hexdigest()


def records(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, fields) of each non-blank ``csv.reader`` record; quoted fields span lines."""
    line = reader.line_num
    for fields in reader:
        start, line = line + 1, reader.line_num
        if any(f.strip() for f in fields):
            yield start, fields


def header_columns(header: list[str] | None) -> list[str | None]:
    """The documented column behind each header cell (None for a blank one), or ImportFileError."""
    if not header:
        raise ImportFileError("the file is empty: expected a header row")
    keys = [header_key(h) or None for h in header]
    named = [k for k in keys if k]
    if unknown := [h.strip() for h, k in zip(header, keys, strict=True) if k and k not in PARSERS]:
        raise ImportFileError(f"unknown columns: {', '.join(unknown)} (see docs/leads-csv.md)")
    if doubled := sorted({k for k in named if named.count(k) > 1}):
        raise ImportFileError(f"columns given twice: {', '.join(doubled)}")
    missing = [c for c in REQUIRED if c not in named] + ([] if {"phone", "email"} & set(named) else ["phone or email"])
    if missing:
        raise ImportFileError(f"missing required columns: {', '.join(missing)}")
    return keys


def count_rows(path: Path) -> int:
    """Data rows, fast: physical lines after the header (a quoted line break counts one more)."""
    lines, last = 0, b"\n"
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            lines, last = lines + chunk.count(b"\n"), chunk[-1:]
    return max(lines + (last != b"\n") - 1, 0)

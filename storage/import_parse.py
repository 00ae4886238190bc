"""Check lead CSV rows (columns, formats and rules: docs/leads-csv.md).

No database access: text in, lead column values and the row's consent record out, or a :class:`RowError`
naming every bad field. Each row is a :class:`LeadCsvRow`, a frozen pydantic model whose field types are those of
``storage.import_fields``. ``storage.importer`` writes the results.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from nurture.geo import lead_timezone
from nurture.products import Product, Situation, match_product
from nurture.text import from_spreadsheet_cell
from storage.import_csv import COLUMNS, INCOME_COLUMNS
from storage.import_fields import (
    Cents,
    ConsentSource,
    CreditEvent,
    Day,
    Disclosure,
    Dollars,
    Email,
    ExternalId,
    Fico,
    FirstName,
    Flag,
    InquiryDate,
    Moment,
    Name,
    Phone,
    ProductName,
    Property,
    Purpose,
    Seller,
    Source,
    State,
    Zip,
)
from storage.import_income import (
    INCOME_FIELDS,
    ExpenseRatio,
    Monthly,
    StatementKind,
    StatementMonths,
    income_digest,
    income_problems,
    income_values,
)
from storage.limits import too_long
from storage.models import Lead, table

CONSENT_COLUMNS = ("consent_at", "consent_source", "consent_text", "consent_seller", "consent_phone")
CONSENT_REQUIRED = CONSENT_COLUMNS[:4]
# Columns added with the compliance facts. A row that leaves them all blank keeps the digest it had before
# they existed, so upgrading does not turn the next re-import into an update of every lead.
_ADDED = ("alt_phone", "dnc", "dnc_scrubbed_on", *CONSENT_COLUMNS)
_DIGESTED = tuple(c for c in COLUMNS if c not in _ADDED and c not in INCOME_COLUMNS)  # those: income_digest
_FLAGS = ("self_employed", "investment_property", "foreign_national", "high_dti")
_NOT_LEAD = ("cost", "loan_officer_email", "dnc", *CONSENT_COLUMNS, *INCOME_COLUMNS)
# The lead columns a parsed row sets: what an update rewrites.
LEAD_FIELDS = (*[c for c in COLUMNS if c not in _NOT_LEAD], "cost_cents", "product_matched", "timezone",
               "dnc_listed", "dnc_scrubbed_on", "row_digest", *INCOME_FIELDS)  # fmt: skip
EARLIEST_CONSENT = datetime(2000, 1, 1, tzinfo=UTC)
_lead = table(Lead)


class RowError(ValueError):
    """A row was refused; the message names each bad field."""


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


@dataclass(frozen=True, slots=True)
class RowContext:
    """What checking a row needs beyond its text: the import time and the loan-officer roster."""

    now: datetime
    officers: dict[str, tuple[int, bool]]  # email -> (id, active)


class LeadCsvRow(BaseModel):
    """One record of a lead CSV, checked: every field parsed (blank fields are absent and stay None), then the
    rules across fields. Validate with ``context={"row": RowContext(...)}``; a ``ValidationError`` lists every
    problem of the row, each located at the column it is about (``phone/email`` for the pair)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    external_id: ExternalId = None
    first_name: FirstName
    last_name: Name = None
    phone: Phone = None
    alt_phone: Phone = None
    email: Email = None
    address_state: State = None
    zip: Zip = None
    self_employed: Flag = None
    investment_property: Flag = None
    foreign_national: Flag = None
    high_dti: Flag = None
    liquid_assets: Dollars = None
    credit_event_type: CreditEvent = None
    credit_event_date: Day = None
    product: ProductName = None
    fico: Fico = None
    loan_amount: Dollars = None
    loan_purpose: Purpose = None
    property_type: Property = None
    monthly_rent: Dollars = None
    source: Source = None
    cost: Cents = None
    inquiry_date: InquiryDate
    loan_officer_email: Email = None
    dnc: Flag = None
    dnc_scrubbed_on: Day = None
    consent_at: Moment = None  # ``consented_at``: in UTC
    consent_source: ConsentSource = None
    consent_text: Disclosure = None
    consent_seller: Seller = None
    consent_phone: Phone = None
    monthly_deposits: Monthly = None
    statement_type: StatementKind = None
    statement_months: StatementMonths = None
    expense_ratio: ExpenseRatio = None  # basis points
    gross_1099: Monthly = None
    gross_1099_months: StatementMonths = None
    pl_net: Monthly = None
    property_value: Dollars = None
    monthly_debts: Monthly = None

    _timezone: str = PrivateAttr("")
    _consented_at: datetime | None = PrivateAttr(None)
    _officer_id: int | None = PrivateAttr(None)

    @model_validator(mode="wrap")
    @classmethod
    def _whole_row(cls, data: Any, handler: Any, info: ValidationInfo) -> LeadCsvRow:
        """Fields first, then the rules across them; a row with bad fields is still checked against the rules
        (on the fields that did parse), so one pass reports every problem."""
        ctx: RowContext = (info.context or {})["row"]
        try:
            row: LeadCsvRow | None = handler(data)
            problems: list[InitErrorDetails] = []
            parsed = row.__dict__  # type: ignore[union-attr]
        except ValidationError as exc:
            errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "missing")  # required first
            row, problems = None, [_detail(e["loc"], _reason(e), data) for e in errors]
            parsed = _partial(data, bad={e["loc"][0] for e in errors if e["loc"]})
        rules = _Rules(data, parsed, ctx)
        problems += [_detail((name,), why, data) for name, why in rules.problems]
        if problems:
            raise ValidationError.from_exception_data(cls.__name__, problems)
        assert row is not None
        row._timezone, row._consented_at, row._officer_id = rules.zone, rules.consented_at, rules.officer_id
        return row

    @property
    def timezone(self) -> str:
        return self._timezone

    @property
    def officer_id(self) -> int | None:
        return self._officer_id

    @property
    def consented_at(self) -> datetime | None:
        return self._consented_at


# Each column's parser, from the model: for the rules on a refused row, and to know the columns.
PARSERS: dict[str, Callable[[str], Any]] = {
    name: next(m.func for m in f.metadata if isinstance(m, PlainValidator))  # type: ignore[misc]
    for name, f in LeadCsvRow.model_fields.items()
}
assert tuple(PARSERS) == COLUMNS


def _reason(error: Any) -> str:
    if error["type"] == "missing":
        return "is required"
    return str(error["msg"]).removeprefix("Value error, ")


def _detail(loc: tuple[Any, ...], why: str, data: Any) -> InitErrorDetails:
    kind = "missing" if why == "is required" else "row"
    return InitErrorDetails(type=PydanticCustomError(kind, "{why}", {"why": why}), loc=loc, input=data)


def _partial(data: dict[str, str], bad: set[Any]) -> dict[str, Any]:
    """The fields of a refused row that do parse (for the rules), the rest None."""
    parsed: dict[str, Any] = dict.fromkeys(COLUMNS)
    for name, text in data.items():
        if name not in bad and name in PARSERS:
            parsed[name] = PARSERS[name](text)
    return parsed


class _Rules:
    """The rules across a row's fields. ``problems``: (field, reason); also the lead's time zone, the consent
    instant in UTC and the loan officer the row names."""

    def __init__(self, raw: dict[str, str], parsed: dict[str, Any], ctx: RowContext) -> None:
        self.problems: list[tuple[str, str]] = []
        today = ctx.now.date()
        if "phone" not in raw and "email" not in raw:
            self.problems.append(("phone/email", "at least one is required"))
        for name in ("inquiry_date", "credit_event_date", "dnc_scrubbed_on"):
            if parsed[name] and parsed[name] > today:
                self.problems.append((name, f"{parsed[name]} is in the future"))
        if "dnc" in raw and "dnc_scrubbed_on" not in raw:
            self.problems.append(
                ("dnc", "is given without dnc_scrubbed_on; a Do Not Call flag needs the date of its scrub")
            )
        self.officer_id = None
        if email := parsed["loan_officer_email"]:
            self.officer_id, active = ctx.officers.get(email, (None, False))
            if not active:
                self.problems.append(
                    ("loan_officer_email", f"{'an inactive' if self.officer_id else 'no'} loan officer has {email}")
                )
        self.problems += income_problems(raw, parsed)
        self.zone = lead_timezone(state=parsed["address_state"], zip=parsed["zip"], phone=parsed["phone"])
        self.consented_at = self._consent(raw, parsed, ctx.now)

    def _consent(self, raw: dict[str, str], parsed: dict[str, Any], now: datetime) -> datetime | None:
        if not any(c in raw for c in CONSENT_COLUMNS):
            return None
        self.problems.extend((name, "is required when any consent column is filled") for name in CONSENT_REQUIRED
                             if name not in raw)  # fmt: skip
        at = parsed["consent_at"]
        if at is None:
            return None
        if not isinstance(at, datetime):
            at = datetime.combine(at, time(), tzinfo=_zone(self.zone))
        elif at.tzinfo is None:
            at = at.replace(tzinfo=_zone(self.zone))
        at = at.astimezone(UTC)
        if at > now:
            self.problems.append(("consent_at", f"{at.isoformat()} is in the future"))
        elif at < EARLIEST_CONSENT:
            self.problems.append(("consent_at", f"{at.isoformat()} is before 2000"))
        return at


class RowParser:
    """Turns the fields of one CSV record into a :class:`Row` through :class:`LeadCsvRow`, or raises
    :class:`RowError` naming each bad field (``field: reason; field: reason``)."""

    def __init__(self, *, now: datetime, default_product: Product | None, officers: dict[str, tuple[int, bool]]):
        self.now, self.today, self.default_product = now, now.date(), default_product
        self.context = {"row": RowContext(now=now, officers=officers)}

    def parse(self, line: int, fields: list[str], columns: list[str | None]) -> Row:
        if len(fields) != len(columns):
            raise RowError(f"row: has {len(fields)} fields; the header has {len(columns)}")
        raw = {
            c: text for c, f in zip(columns, fields, strict=True) if c and (text := from_spreadsheet_cell(f.strip()))
        }
        try:
            row = LeadCsvRow.model_validate(raw, context=self.context)
        except ValidationError as exc:
            raise RowError("; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors(include_url=False))) from None
        consent = None
        if row.consented_at is not None:
            consent = ConsentRecord(phone=row.consent_phone, seller=row.consent_seller or "",
                                    disclosure=row.consent_text or "", source=row.consent_source or "",
                                    consented_at=row.consented_at)  # fmt: skip
        values = self._lead_values(row)
        if long := too_long(_lead, values):  # normalizing can lengthen text (lower-casing some letters does)
            raise RowError("; ".join(f"{name}: is longer than {limit:,} characters" for name, limit in long))
        return Row(line, fields, values, row.officer_id, consent)

    def _lead_values(self, row: LeadCsvRow) -> dict[str, Any]:
        parsed = dict(row.__dict__)
        parsed["consent_at"] = row.consented_at
        parsed["product"] = parsed["product"] or self.default_product
        for same_as_phone in ("alt_phone", "consent_phone"):  # blank means the phone: hash them alike
            if parsed[same_as_phone] == parsed["phone"]:
                parsed[same_as_phone] = None
        scrubbed = parsed["dnc_scrubbed_on"]
        parsed["dnc"] = bool(parsed["dnc"]) if scrubbed else None  # blank with a scrub date: not listed
        values = {name: parsed[name] for name in COLUMNS if name not in _NOT_LEAD}
        values.update(income_values(parsed))
        values.update({flag: bool(parsed[flag]) for flag in _FLAGS}, last_name=parsed["last_name"] or "",
                      cost_cents=parsed["cost"], product_matched=parsed["product"] is None, timezone=row.timezone,
                      dnc_listed=bool(parsed["dnc"]), dnc_scrubbed_on=scrubbed, row_digest=_digest(parsed))  # fmt: skip
        if values["product_matched"]:
            situation = Situation(**{k: values[k] for k in Situation.__slots__})  # type: ignore[attr-defined]
            values["product"] = match_product(situation, as_of=self.today)
        return values


def _digest(parsed: dict[str, Any]) -> str:
    text = "\x1f".join("" if parsed[c] is None else str(parsed[c]) for c in _DIGESTED)
    if any(parsed[c] is not None for c in _ADDED):
        text += "\x1e" + "\x1f".join("" if parsed[c] is None else str(parsed[c]) for c in _ADDED)
    text += income_digest(parsed)
    return hashlib.sha256(text.encode()).hexdigest()

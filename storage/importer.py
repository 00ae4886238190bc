"""Import a lead CSV (columns, formats and rules: docs/leads-csv.md).

The file is streamed. Each batch of rows is validated, matched against stored
leads with chunked ``IN`` lookups, and written with Core executemany in one
transaction. Rejected rows go to ``<name>.rejects.csv`` with their line and reason.
"""

from __future__ import annotations

import csv
import hashlib
import re
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from nurture.geo import lead_timezone, normalize_phone, normalize_zip, state_code
from nurture.products import CreditEventType, LoanPurpose, Product, PropertyType, Situation, match_product
from nurture.states import Stage
from storage.models import Lead, LoanOfficer, table
from storage.officers import RoundRobin, normalize_email

# fmt: off
COLUMNS = (
    "external_id", "first_name", "last_name", "phone", "email", "address_state", "zip", "self_employed",
    "investment_property", "foreign_national", "high_dti", "liquid_assets", "credit_event_type",
    "credit_event_date", "product", "fico", "loan_amount", "loan_purpose", "property_type", "monthly_rent",
    "source", "cost", "inquiry_date", "loan_officer_email",
)
# fmt: on
REQUIRED = ("first_name", "inquiry_date")
KEYS = ("external_id", "phone", "email")
MAX_ERRORS = 1000
LOOKUP_CHUNK = 5000

_lead = table(Lead)
_officer = table(LoanOfficer)


class ImportFileError(ValueError):
    """The whole file was refused before anything was written."""


@dataclass
class ImportSummary:
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    unassigned: int = 0  # new leads left without a loan officer because none was active
    rejects_path: Path | None = None
    errors: list[str] = field(default_factory=list)  # the first MAX_ERRORS "line N: field: reason"


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
    "email": normalize_email, "address_state": _state, "zip": normalize_zip, "self_employed": _bool,
    "investment_property": _bool, "foreign_national": _bool, "high_dti": _bool, "liquid_assets": _dollars,
    "credit_event_type": _enum(CreditEventType), "credit_event_date": _date, "product": _enum(Product),
    "fico": _fico, "loan_amount": _dollars, "loan_purpose": _enum(LoanPurpose),
    "property_type": _enum(PropertyType), "monthly_rent": _dollars, "source": _text(100), "cost": _cents,
    "inquiry_date": _date, "loan_officer_email": normalize_email,
}
# fmt: on
_BLANK = dict.fromkeys(COLUMNS, "")
_FLAGS = ("self_employed", "investment_property", "foreign_national", "high_dti")
# Columns an update rewrites: the imported facts, never stage, officer, cadence or created_at.
_UPDATED = (*[c for c in COLUMNS if c not in ("cost", "loan_officer_email")], "cost_cents", "product_matched",
            "timezone", "row_digest", "phone_ok", "updated_at")  # fmt: skip
_UPDATE = sa.update(_lead).where(_lead.c.id == sa.bindparam("lead_id")).values({c: sa.bindparam(c) for c in _UPDATED})
_MATCH_COLUMNS = [_lead.c[k] for k in ("id", *KEYS, "row_digest", "phone_ok")]
_NEXT_IDS = sa.text("SELECT nextval(pg_get_serial_sequence('lead', 'id')) FROM generate_series(1, :n)")


class _RowError(ValueError):
    pass


@dataclass(slots=True)
class _Row:
    line: int
    fields: list[str]
    values: dict[str, Any]  # lead columns
    officer_id: int | None  # named by the row


class _Index:
    """What a row may be: stored leads (by id), then rows already placed in this batch."""

    def __init__(self) -> None:
        self.ext: dict[str, int | _Row] = {}
        self.by: dict[str, dict[str, list[tuple[int | _Row, str | None]]]] = {"phone": {}, "email": {}}

    def add(self, target: int | _Row, values: Any) -> None:
        ext = values["external_id"]
        if ext:
            self.ext.setdefault(ext, target)
        for key, index in self.by.items():
            if values[key]:
                index.setdefault(values[key], []).append((target, ext))

    def find(self, values: dict[str, Any]) -> tuple[int | _Row, str] | None:
        """The match and the field it matched on: external_id, else phone, else email.

        A row carrying an external_id falls back only to leads without one, so it
        never takes over another vendor record.
        """
        ext = values["external_id"]
        if ext and ext in self.ext:
            return self.ext[ext], "external_id"
        for key, index in self.by.items():
            for target, target_ext in index.get(values[key] or "", ()):
                if not ext or target_ext is None:
                    return target, key
        return None


class _Import:
    def __init__(self, *, engine: Engine, path: Path, header: list[str], now: datetime,
                 default_product: Product | None) -> None:  # fmt: skip
        self.engine, self.now, self.default_product, self.header = engine, now, default_product, header
        self.summary = ImportSummary()
        self.rejects_path = path.with_name(f"{path.stem}.rejects.csv")
        self._rejects: tuple[TextIO, Any] | None = None
        self.seen = array("I")  # lead id -> the line of this file that created or matched it
        with engine.connect() as conn:
            self.officers = {r.email: (r.id, r.active) for r in conn.execute(sa.select(_officer))}
            self.robin = RoundRobin.load(conn)

    def parse(self, line: int, fields: list[str], columns: list[str | None]) -> _Row:
        if len(fields) != len(columns):
            raise _RowError(f"row: has {len(fields)} fields; the header has {len(columns)}")
        raw = dict(_BLANK)
        raw.update((c, f.strip()) for c, f in zip(columns, fields, strict=True) if c)
        parsed: dict[str, Any] = dict.fromkeys(COLUMNS)
        errors = [f"{name}: is required" for name in REQUIRED if not raw[name]]
        for name, text in raw.items():
            try:
                parsed[name] = PARSERS[name](text) if text else None
            except ValueError as exc:
                errors.append(f"{name}: {exc}")
        if not raw["phone"] and not raw["email"]:
            errors.append("phone/email: at least one is required")
        for name in ("inquiry_date", "credit_event_date"):
            if parsed[name] and parsed[name] > self.now.date():
                errors.append(f"{name}: {parsed[name]} is in the future")
        officer_id = None
        if email := parsed["loan_officer_email"]:
            officer_id, active = self.officers.get(email, (None, False))
            if not active:
                errors.append(f"loan_officer_email: {'an inactive' if officer_id else 'no'} loan officer has {email}")
        if errors:
            raise _RowError("; ".join(errors))
        return _Row(line, fields, self._lead_values(parsed), officer_id)

    def _lead_values(self, parsed: dict[str, Any]) -> dict[str, Any]:
        parsed["product"] = parsed["product"] or self.default_product
        values = {name: parsed[name] for name in COLUMNS if name not in ("cost", "loan_officer_email")}
        values.update({flag: bool(parsed[flag]) for flag in _FLAGS}, last_name=parsed["last_name"] or "",
                      cost_cents=parsed["cost"], product_matched=parsed["product"] is None,
                      row_digest=_digest(parsed))  # fmt: skip
        if values["product_matched"]:
            situation = Situation(**{k: values[k] for k in Situation.__slots__})  # type: ignore[attr-defined]
            values["product"] = match_product(situation, as_of=self.now.date())
        values["timezone"] = lead_timezone(state=values["address_state"], zip=values["zip"], phone=values["phone"])
        return values

    def reject(self, line: int, fields: list[str], reason: str) -> None:
        self.summary.rejected += 1
        if len(self.summary.errors) < MAX_ERRORS:
            self.summary.errors.append(f"line {line}: {reason}")
        if self._rejects is None:
            handle = self.rejects_path.open("w", newline="", encoding="utf-8")
            self._rejects = (handle, csv.writer(handle))
            self._rejects[1].writerow([*self.header, "line", "reason"])
        width = len(self.header)
        self._rejects[1].writerow([*fields[:width], *[""] * (width - len(fields)), line, reason])

    def close(self) -> None:
        if self._rejects is not None:
            self._rejects[0].close()
            self.summary.rejects_path = self.rejects_path
        else:
            self.rejects_path.unlink(missing_ok=True)  # one left by an earlier import would mislead

    def _mark(self, lead_id: int, line: int) -> None:
        if lead_id >= len(self.seen):
            self.seen.frombytes(bytes(self.seen.itemsize * (lead_id + 1024 - len(self.seen))))
        self.seen[lead_id] = line

    def flush(self, rows: list[_Row]) -> None:
        if not rows:
            return
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # psycopg prepares repeated lookups; a generic plan chosen while the table was
                # small would scan it whole for the rest of a large import.
                conn.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))
            stored = _lookup(conn, rows)
            index = _Index()
            for lead in sorted(stored.values(), key=lambda r: r.id):
                index.add(lead.id, lead._mapping)
            creates: list[_Row] = []
            updates: list[dict[str, Any]] = []
            for row in rows:
                target: int | _Row = row
                if hit := index.find(row.values):
                    target, on = hit
                    if isinstance(target, _Row) or (target < len(self.seen) and self.seen[target]):
                        earlier = target.line if isinstance(target, _Row) else self.seen[target]
                        self.reject(row.line, row.fields, f"{on}: {row.values[on]} is also on line {earlier}")
                        continue
                    self._mark(target, row.line)
                    if stored[target].row_digest == row.values["row_digest"]:
                        self.summary.unchanged += 1
                    else:
                        updates.append(self._update(row.values, stored[target]))
                else:
                    row.values.update(self._new_lead_fields(row.officer_id))
                    creates.append(row)
                index.add(target, row.values)
            if creates:
                for lead_id, row in zip(_insert(conn, [r.values for r in creates]), creates, strict=True):
                    self._mark(lead_id, row.line)
            if updates:
                conn.execute(_UPDATE, updates)
        self.summary.created += len(creates)
        self.summary.updated += len(updates)

    def _new_lead_fields(self, officer_id: int | None) -> dict[str, Any]:
        if officer_id is not None:
            self.robin.took(officer_id)
        else:
            officer_id = self.robin.next()
            self.summary.unassigned += officer_id is None
        return {"loan_officer_id": officer_id, "stage": Stage.NEW_LEAD, "phone_ok": True,
                "created_at": self.now, "updated_at": self.now}  # fmt: skip

    def _update(self, values: dict[str, Any], lead: sa.Row[Any]) -> dict[str, Any]:
        """The row's facts; a key the row leaves blank keeps its stored value."""
        changed = dict(values, lead_id=lead.id, updated_at=self.now)
        changed.update({key: values[key] or getattr(lead, key) for key in KEYS})
        changed["phone_ok"] = lead.phone_ok or changed["phone"] != lead.phone  # a new number deserves a try
        return changed


def _digest(parsed: dict[str, Any]) -> str:
    text = "\x1f".join("" if parsed[c] is None else str(parsed[c]) for c in COLUMNS)
    return hashlib.sha256(text.encode()).hexdigest()


def _lookup(conn: Connection, rows: list[_Row]) -> dict[int, sa.Row[Any]]:
    """Stored leads sharing an external_id, phone or email with any of ``rows``, by id."""
    found: dict[int, sa.Row[Any]] = {}
    for key in KEYS:
        wanted = sorted({r.values[key] for r in rows if r.values[key]})
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            query = sa.select(*_MATCH_COLUMNS).where(_lead.c[key].in_(wanted[start : start + LOOKUP_CHUNK]))
            found.update((r.id, r) for r in conn.execute(query))
    return found


def _insert(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    """Insert new leads and return their ids, in order.

    PostgreSQL: ids from the sequence, then a plain pipelined executemany (a
    many-row INSERT .. RETURNING costs more in psycopg's query parsing than the
    insert). SQLite: unordered RETURNING, paired back by digest, which no two
    new rows of a batch share.
    """
    if conn.dialect.name == "postgresql":
        ids = list(conn.execute(_NEXT_IDS, {"n": len(rows)}).scalars())
        conn.execute(sa.insert(_lead), [dict(r, id=i) for r, i in zip(rows, ids, strict=True)])
        return ids
    returned = conn.execute(sa.insert(_lead).returning(_lead.c.row_digest, _lead.c.id), rows)
    by_digest = {digest: lead_id for digest, lead_id in returned}
    return [by_digest[r["row_digest"]] for r in rows]


def _records(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, fields) of each non-blank ``csv.reader`` record; quoted fields span lines."""
    line = reader.line_num
    for fields in reader:
        start, line = line + 1, reader.line_num
        if any(f.strip() for f in fields):
            yield start, fields


def _columns(header: list[str] | None) -> list[str | None]:
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


def import_leads(
    *, engine: Engine, path: Path, now: datetime, default_product: Product | None = None,
    progress: Callable[[int, int], None] | None = None, batch_size: int = 5000,
) -> ImportSummary:  # fmt: skip
    """Import the lead CSV at ``path`` as of ``now`` (created_at / updated_at; product seasoning).

    ``default_product`` fills a blank product column before matching would.
    ``progress(done, total)`` is called after each batch; ``total`` starts as a
    line count estimate. Raises :class:`ImportFileError`, writing nothing, when
    the header is wrong.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    estimate = count_rows(path) if progress else 0
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        columns = _columns(header)
        job = _Import(engine=engine, path=path, header=header or [], now=now, default_product=default_product)
        batch: list[_Row] = []
        try:
            for line, fields in _records(reader):
                job.summary.total += 1
                try:
                    batch.append(job.parse(line, fields, columns))
                except _RowError as exc:
                    job.reject(line, fields, str(exc))
                if len(batch) >= batch_size:
                    job.flush(batch)
                    batch = []
                    if progress:
                        progress(job.summary.total, max(estimate, job.summary.total))
            job.flush(batch)
        finally:
            job.close()
    if progress:
        progress(job.summary.total, job.summary.total)
    return job.summary

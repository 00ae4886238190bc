"""The lead CSV as a file (docs/leads-csv.md): its encoding, its header, its records, and the rejects file.

Nothing here knows what a column means: ``storage.import_parse`` checks the rows, ``storage.importer`` writes them.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from nurture.text import spreadsheet_cell

# fmt: off
# The borrower's numbers for income and DTI, all optional (storage.import_income).
INCOME_COLUMNS = (
    "monthly_deposits", "statement_type", "statement_months", "expense_ratio", "gross_1099", "gross_1099_months",
    "pl_net", "property_value", "monthly_debts",
)
COLUMNS = (
    "external_id", "first_name", "last_name", "phone", "alt_phone", "email", "address_state", "zip",
    "self_employed", "investment_property", "foreign_national", "high_dti", "liquid_assets", "credit_event_type",
    "credit_event_date", "product", "fico", "loan_amount", "loan_purpose", "property_type", "monthly_rent",
    "source", "cost", "inquiry_date", "loan_officer_email", "dnc", "dnc_scrubbed_on",
    "consent_at", "consent_source", "consent_text", "consent_seller", "consent_phone", *INCOME_COLUMNS,
)
# fmt: on
REQUIRED = ("first_name", "inquiry_date")


class ImportFileError(ValueError):
    """The whole file was refused before anything was written."""


def header_key(name: str) -> str:
    """Header names match ignoring case and spacing: " Loan Officer-Email" -> "loan_officer_email"."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def records(reader: Any) -> Iterator[tuple[int, list[str] | None, str]]:
    """(first physical line, fields, problem) of each non-blank ``csv.reader`` record; quoted fields span lines.

    A record the csv module cannot read (a field longer than its limit) comes with no fields and the reason;
    reading goes on at the next line.
    """
    line = reader.line_num
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            start, line = line + 1, reader.line_num
            yield start, None, _csv_problem(exc)
            continue
        start, line = line + 1, reader.line_num
        if any(f.strip() for f in fields):
            yield start, fields, ""


def _csv_problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return f"row: a field is longer than {csv.field_size_limit():,} characters (no column takes that much)"
    return f"row: not readable as CSV ({exc})"


def header_columns(header: list[str] | None) -> list[str | None]:
    """The documented column behind each header cell (None for a blank one), or ImportFileError."""
    if not header:
        raise ImportFileError("the file is empty: expected a header row")
    keys = [header_key(h) or None for h in header]
    named = [k for k in keys if k]
    if named and not any(k in COLUMNS for k in named):
        raise ImportFileError(
            "line 1 is not a header row: it names no lead column; the first line must name the columns "
            "(first_name, phone, email, inquiry_date, ...: see docs/leads-csv.md)"
        )
    if unknown := [h.strip() for h, k in zip(header, keys, strict=True) if k and k not in COLUMNS]:
        raise ImportFileError(f"unknown columns: {', '.join(unknown)} (see docs/leads-csv.md)")
    if doubled := sorted({k for k in named if named.count(k) > 1}):
        raise ImportFileError(f"columns given twice: {', '.join(doubled)}")
    missing = [c for c in REQUIRED if c not in named] + ([] if {"phone", "email"} & set(named) else ["phone or email"])
    if missing:
        raise ImportFileError(f"missing required columns: {', '.join(missing)}")
    return keys


def count_rows(path: Path) -> int:
    """Data rows, fast: physical lines after the header (a quoted line break counts one more).

    Also checks the whole file is UTF-8 text before anything is written, or raises :class:`ImportFileError`
    saying what the file is instead (binary, UTF-16, latin-1 ...) and where.
    """
    lines, last = 0, b"\n"
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as f:
        first = True
        while chunk := f.read(1 << 20):
            if first:
                _check_start(chunk)
                first = False
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line = lines + chunk.count(b"\n", 0, exc.start) + 1
                raise ImportFileError(
                    f"line {line} is not UTF-8 text (byte 0x{chunk[exc.start]:02x}; latin-1 or Windows-1252?): "
                    "save the file as CSV UTF-8"
                ) from None
            lines, last = lines + chunk.count(b"\n"), chunk[-1:]
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise ImportFileError(
                f"line {lines + 1} is not UTF-8 text (cut off at the end): save the file as CSV UTF-8"
            ) from None
    return max(lines + (last != b"\n") - 1, 0)


def _check_start(chunk: bytes) -> None:
    if chunk.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError("the file is UTF-16 text: save it as CSV UTF-8")
    if b"\x00" in chunk.split(b"\n", 1)[0]:  # a NUL further down is one row's problem: it rejects that row
        raise ImportFileError(
            "not a CSV text file (its first line holds NUL bytes: binary, or UTF-16): save it as CSV UTF-8"
        )


class RejectsFile:
    """``<name>.rejects.csv`` beside the input: the header, then each rejected row with its line and reason.

    A person opens it in a spreadsheet, so a cell that would run as a formula there (``=``, ``+``, ``-``, ``@``)
    is written with a ``'`` before it; the import reads such a cell back as the value it protects.

    Opened at the first reject; closing a file that had none deletes one left by an earlier import (it would
    mislead).
    """

    def __init__(self, source: Path, header: list[str]) -> None:
        self.path = source.with_name(f"{source.stem}.rejects.csv")
        self.header = header
        self._out: tuple[TextIO, Any] | None = None

    def write(self, line: int, fields: list[str], reason: str) -> None:
        if self._out is None:
            handle = self.path.open("w", newline="", encoding="utf-8")
            self._out = (handle, csv.writer(handle))
            self._write([*self.header, "line", "reason"])
        width = len(self.header)
        self._write([*fields[:width], *[""] * (width - len(fields)), str(line), reason])

    def _write(self, cells: list[str]) -> None:
        assert self._out is not None
        self._out[1].writerow([spreadsheet_cell(c) for c in cells])

    def close(self) -> Path | None:
        """The path when rows were written, else None."""
        if self._out is None:
            self.path.unlink(missing_ok=True)
            return None
        self._out[0].close()
        return self.path

"""Reading a lender guideline feed, JSON or CSV (docs/guidelines-feed.md), into :class:`ProgramRules`.

Every problem is collected, each naming where it is (``lenders[1].programs[0].min_fico: ...`` in JSON,
``line 4: min_fico: ...`` in CSV), and any problem rejects the whole feed with :class:`FeedError`.
Both formats go through the same field checks, so they accept exactly the same values.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

from nurture.geo import STATES
from nurture.guidelines import PROGRAMS, FeedError, ProgramRules
from nurture.products import CreditEventType, Product

LENDER_MAX_CHARS = 120
LIMITS = ("min_fico", "min_dscr", "asset_divisor", "max_ltv", "min_loan_amount")
PROGRAM_KEYS = ("program", "effective_date", "min_fico", "seasoning_months", *LIMITS[1:], "states")
CSV_COLUMNS = (
    "lender",
    "program",
    "effective_date",
    "min_fico",
    *(f"seasoning_{e.value}" for e in CreditEventType),
    *LIMITS[1:],
    "states",
)

Check = Callable[[object], Any]  # a field's value -> the parsed value; raises ValueError saying what is wrong


def read_feed(text: str, *, format: str) -> list[ProgramRules]:
    """See :func:`nurture.guidelines.parse_feed`."""
    if format not in ("json", "csv"):
        raise ValueError(f"format must be 'json' or 'csv', not {format!r}")
    if not text.strip():
        raise FeedError(["the feed is empty"])
    feed = _Feed()
    (feed.read_json if format == "json" else feed.read_csv)(text)
    if not feed.errors and not feed.programs:
        feed.errors.append("the feed has no programs")
    if feed.errors:
        raise FeedError(feed.errors)
    return feed.programs


def _show(value: object) -> str:
    if value == "":
        return "blank"
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _lender(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{_show(value)} is not a name")
    name = " ".join(value.split())
    if not name:
        raise ValueError("must not be blank")
    if len(name) > LENDER_MAX_CHARS:
        raise ValueError(f"{len(name)} characters; at most {LENDER_MAX_CHARS}")
    return name


def _program(value: object) -> Product:
    for product in PROGRAMS:
        if isinstance(value, str) and value.strip().lower() == product.value:
            return product
    raise ValueError(f"{_show(value)} is not a program (use one of {', '.join(p.value for p in PROGRAMS)})")


def _date(value: object) -> date:
    if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{_show(value)} is not a date like 2026-06-01")


def _whole(low: int, high: int | None, what: str) -> Check:
    def check(value: object) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{_show(value)} is not a whole number")
        if value < low or (high is not None and value > high):
            raise ValueError(f"{value} is not {what}")
        return value

    return check


def _positive(high: int, what: str) -> Check:
    def check(value: object) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{_show(value)} is not a number")
        if not 0 < value <= high:
            raise ValueError(f"{_show(value)} is not {what}")
        return float(value)

    return check


def _states(value: object) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise ValueError(f'{_show(value)}: expected a list of state codes such as ["FL", "TX"], or null for all')
    codes = {item.strip().upper() for item in value if isinstance(item, str)}
    bad = [_show(item) for item in value if not isinstance(item, str) or item.strip().upper() not in STATES]
    if bad:
        raise ValueError(f"{', '.join(bad)} {'is not a US state code' if len(bad) == 1 else 'are not US state codes'}")
    return frozenset(codes)


CHECKS: dict[str, Check] = {
    "lender": _lender,
    "program": _program,
    "effective_date": _date,
    "min_fico": _whole(300, 850, "a credit score (300-850)"),
    "min_dscr": _positive(5, "a DSCR (above 0, at most 5)"),
    "asset_divisor": _whole(1, 600, "a divisor (1-600 months)"),
    "max_ltv": _positive(100, "a loan-to-value (above 0, at most 100 percent)"),
    "min_loan_amount": _whole(0, None, "a loan amount (0 or more dollars)"),
    "states": _states,
}
_SEASONING = _whole(0, 240, "a waiting period (0-240 months)")
_EVENTS = {e.value: e for e in CreditEventType}
_HINTS = {"seasoning_months": "{} when no credit event is accepted", "states": "null for every state"}


class _Object(dict[str, Any]):
    """A JSON object that remembers keys given more than once (``json`` keeps only the last silently)."""

    repeated: list[str]

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, Any]]) -> _Object:
        obj = cls(pairs)
        keys = [k for k, _ in pairs]
        obj.repeated = [k for k in obj if keys.count(k) > 1]
        return obj


def _unknown(key: str, known: Iterable[str], noun: str = "field") -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f"unknown {noun}" + (f" (did you mean {close[0]}?)" if close else "")


class _Feed:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.programs: list[ProgramRules] = []
        self._seen: dict[tuple[str, Product], str] = {}

    def take(self, where: str, check: Check, value: object) -> Any:
        try:
            return check(value)
        except ValueError as exc:
            self.errors.append(f"{where}: {exc}")
            return None

    def add(self, where: str, fields: Mapping[str, Any], ok: bool) -> None:
        """Keep the program at ``where`` if ``ok`` (its fields are all valid); flag a repeated lender and program."""
        lender, program = fields.get("lender"), fields.get("program")
        if lender is not None and program is not None:
            first = self._seen.setdefault((lender, program), where)
            if first != where:
                self.errors.append(f"{where}: {lender} / {program.value} is already given at {first}")
        if ok:
            self.programs.append(ProgramRules(**fields))

    def read_json(self, text: str) -> None:
        try:
            data = json.loads(text, object_pairs_hook=_Object.from_pairs)
        except json.JSONDecodeError as exc:
            self.errors.append(f"not valid JSON: {exc}")
            return
        if not self.shape(data, "", ("lenders", "source"), ("lenders",)):
            return
        if "source" in data and not isinstance(data["source"], str):
            self.errors.append(f"source: {_show(data['source'])} is not text")
        if "lenders" not in data:
            return
        lenders = data["lenders"]
        if not isinstance(lenders, list):
            self.errors.append(f"lenders: expected a list of lenders, got {_show(lenders)}")
            return
        for i, raw in enumerate(lenders):
            self.json_lender(raw, f"lenders[{i}]")

    def json_lender(self, raw: object, where: str) -> None:
        if not self.shape(raw, where, ("lender", "programs"), ("lender", "programs")):
            return
        assert isinstance(raw, _Object)
        lender = self.take(f"{where}.lender", _lender, raw["lender"]) if "lender" in raw else None
        if "programs" not in raw:
            return
        programs = raw["programs"]
        if not isinstance(programs, list) or not programs:
            self.errors.append(f"{where}.programs: expected a non-empty list of programs, got {_show(programs)}")
            return
        for j, item in enumerate(programs):
            self.json_program(item, f"{where}.programs[{j}]", lender)

    def json_program(self, raw: object, where: str, lender: str | None) -> None:
        before = len(self.errors)
        if not self.shape(raw, where, PROGRAM_KEYS, PROGRAM_KEYS):
            return
        assert isinstance(raw, _Object)
        fields = {k: self.take(f"{where}.{k}", CHECKS[k], raw[k]) for k in PROGRAM_KEYS if k in CHECKS and k in raw}
        seasoning, at = raw.get("seasoning_months"), f"{where}.seasoning_months"
        months: dict[CreditEventType, int] = {}
        if isinstance(seasoning, _Object):
            self.repeats(seasoning, at)
            for key, value in seasoning.items():
                if key not in _EVENTS:
                    self.errors.append(f"{at}.{key}: not a credit event (use one of {', '.join(_EVENTS)})")
                elif (m := self.take(f"{at}.{key}", _SEASONING, value)) is not None:
                    months[_EVENTS[key]] = m
        elif "seasoning_months" in raw:
            self.errors.append(f'{at}: {_show(seasoning)}: expected an object like {{"chapter_7": 24}}, or {{}}')
        fields["seasoning_months"] = months
        self.add(where, {"lender": lender, **fields}, ok=lender is not None and len(self.errors) == before)

    def shape(self, raw: object, where: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> bool:
        """Whether ``raw`` is an object; reports its unknown, missing and repeated keys."""
        if not isinstance(raw, _Object):
            self.errors.append(f"{where or 'the feed'}: expected an object with {', '.join(required)}")
            return False
        prefix = f"{where}." if where else ""
        self.errors += [f"{prefix}{k}: {_unknown(k, allowed)}" for k in raw if k not in allowed]
        for key in required:
            if key not in raw:
                hint = _HINTS.get(key, "null for no limit" if key in LIMITS else "")
                self.errors.append(f"{where or 'the feed'}: missing {key}" + (f" (give {hint})" if hint else ""))
        self.repeats(raw, where)
        return True

    def repeats(self, raw: _Object, where: str) -> None:
        prefix = f"{where}." if where else ""
        self.errors += [f"{prefix}{k}: given more than once" for k in dict.fromkeys(raw.repeated)]

    def read_csv(self, text: str) -> None:
        reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
        try:
            header = [cell.strip().lower() for cell in next(reader, [])]
            self.csv_header(header)
            start = reader.line_num + 1
            for cells in reader:
                where, start = f"line {start}", reader.line_num + 1
                if not any(cell.strip() for cell in cells):
                    continue
                if len(cells) != len(header):
                    self.errors.append(f"{where}: {len(cells)} cells, but the header has {len(header)}")
                    continue
                self.csv_row(header, cells, where)
        except csv.Error as exc:
            self.errors.append(f"line {reader.line_num}: {exc}")

    def csv_header(self, header: list[str]) -> None:
        for name in dict.fromkeys(n for n in header if n):
            if header.count(name) > 1:
                self.errors.append(f"line 1: column {name} is given more than once")
            elif name not in CSV_COLUMNS:
                self.errors.append(f"line 1: {name}: {_unknown(name, CSV_COLUMNS, 'column')}")
        self.errors += [f"line 1: missing column {name}" for name in CSV_COLUMNS if name not in header]

    def csv_row(self, header: list[str], cells: list[str], where: str) -> None:
        before = len(self.errors)
        row = {name: cell.strip() for name, cell in zip(header, cells, strict=True) if name}
        self.errors += [
            f"{where}: {_show(cell.strip())} is in column {i + 1}, which has no name in the header"
            for i, (name, cell) in enumerate(zip(header, cells, strict=True))
            if not name and cell.strip()
        ]
        fields: dict[str, Any] = {}
        for name in CHECKS:
            if name in row:
                cell = row[name]
                value = _split_states(cell) if name == "states" else _cell(cell) if name in LIMITS else cell
                fields[name] = self.take(f"{where}: {name}", CHECKS[name], value)
        months: dict[CreditEventType, int] = {}
        for event in CreditEventType:
            column = f"seasoning_{event.value}"
            if (m := self.take(f"{where}: {column}", _SEASONING, _cell(row.get(column, "")))) is not None:
                months[event] = m
        fields["seasoning_months"] = months
        self.add(where, fields, ok=len(self.errors) == before and all(c in row for c in CSV_COLUMNS))


def _cell(text: str) -> object:
    """A number cell: blank -> None, digits -> int or float; anything else stays text for the check to refuse."""
    if not text:
        return None
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if re.fullmatch(r"-?([0-9]+\.[0-9]*|\.[0-9]+)", text):
        return float(text)
    return text


def _split_states(text: str) -> list[str] | None:
    return [code for code in re.split(r"[\s,;]+", text) if code] or None

"""A lender guideline feed, JSON or CSV (docs/guidelines-feed.md), read into :class:`ProgramRules`.

Both formats are validated by the same pydantic models (:class:`FeedLender` holding :class:`FeedProgram`
rows), so they accept exactly the same values. Every problem is collected, each naming where it is
(``lenders[1].programs[0].min_fico: ...`` in JSON, ``line 4: min_fico: ...`` in CSV), and any problem
rejects the whole feed with :class:`FeedError`: a feed is accepted whole or not at all. Hostile input
(nesting too deep, huge numbers, NaN, control characters, megabyte strings) is refused the same way.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictStr,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import ErrorDetails

from nurture.geo import STATES
from nurture.model_errors import Loc, place, shown, unknown
from nurture.products import CreditEventType, Product

PROGRAMS = (
    Product.BANK_STATEMENT,
    Product.DSCR,
    Product.ASSET_DEPLETION,
    Product.CREDIT_EVENT,
    Product.FOREIGN_NATIONAL,
)


@dataclass(frozen=True, slots=True)
class ProgramRules:
    """One lender's program. ``None`` means the program sets no such limit.

    ``seasoning_months`` lists the credit events the program accepts and how many months must have passed
    since each; an event type it does not list is not accepted at all.
    """

    lender: str
    program: Product
    effective_date: date
    min_fico: int | None = None
    seasoning_months: Mapping[CreditEventType, int] = field(default_factory=dict)
    min_dscr: float | None = None
    asset_divisor: int | None = None  # months of liquid assets counted as one month of income
    max_ltv: float | None = None  # percent
    min_loan_amount: int | None = None  # dollars
    states: frozenset[str] | None = None  # None: every state
    expense_ratio: float | None = None  # percent of business deposits; None: the standard 50%
    statement_months: int | None = None  # months of bank statements averaged: 12 or 24
    max_dti: float | None = None  # percent

    @property
    def key(self) -> tuple[str, Product]:
        return (self.lender, self.program)


@dataclass(frozen=True, slots=True)
class FeedProblem:
    """One problem of a feed and where it is: the CSV file line (the header is line 1; a JSON syntax error's line
    too), the field (a CSV column, a place in the JSON document such as ``lenders[0].programs[1].min_fico``), either
    one None when the problem has no such place."""

    message: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = ([f"line {self.line}"] if self.line is not None else []) + ([self.field] if self.field else [])
        return ": ".join([*where, self.message])


class FeedError(ValueError):
    """The feed is not valid and was rejected whole; ``problems`` names every problem and where it is, ``errors``
    says each in one line."""

    def __init__(self, errors: Sequence[str | FeedProblem]) -> None:
        self.problems = [e if isinstance(e, FeedProblem) else FeedProblem(e) for e in errors]
        self.errors = [str(p) for p in self.problems]
        lines = "\n".join(f"- {e}" for e in self.errors)
        super().__init__(f"guideline feed rejected, {len(self.errors)} error(s):\n{lines}")


def _show(value: object) -> str:
    return "blank" if value == "" else shown(value, lambda v: json.dumps(v, allow_nan=True))


def lender_name(value: str) -> str:
    """A lender's name as feeds and tokens hold it (runs of spaces made one); ``ValueError`` says what is wrong."""
    name = " ".join(value.split())
    if not name:
        raise ValueError("must not be blank")
    if len(name) > LENDER_MAX_CHARS:
        raise ValueError(f"{len(name)} characters; at most {LENDER_MAX_CHARS}")
    if not name.isprintable():
        raise ValueError(f"{_show(name)} has a control character")
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


def _event(value: object) -> CreditEventType:
    if isinstance(value, str) and value in _EVENTS:
        return _EVENTS[value]
    raise ValueError(f"not a credit event (use one of {', '.join(_EVENTS)})")


def _hundredths(value: float) -> float:
    """A percent is given to at most a hundredth (``37.5``, ``43.25``): the rules count in basis points."""
    if round(value, 2) != value:
        raise ValueError(f"{_show(value)} has more than two decimals; give the percent to a hundredth at most")
    return value


def _statement_months(value: int) -> int:
    if value not in (12, 24):
        raise ValueError(f"{_show(value)} is not a number of statement months (12 or 24)")
    return value


def _states(value: object) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise ValueError(f'{_show(value)}: expected a list of state codes such as ["FL", "TX"], or null for all')
    bad = [_show(item) for item in value if not isinstance(item, str) or item.strip().upper() not in STATES]
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        plural = "is not a US state code" if len(bad) == 1 else "are not US state codes"
        raise ValueError(f"{', '.join(bad[:3])}{more} {plural}")
    return frozenset(item.strip().upper() for item in value)


_EVENTS = {e.value: e for e in CreditEventType}
LENDER_MAX_CHARS = 120
LenderName = Annotated[StrictStr, AfterValidator(lender_name)]
Months = Annotated[int, Field(strict=True, ge=0, le=240)]
Percent = Annotated[float, Field(strict=True, ge=0, le=100, allow_inf_nan=False), AfterValidator(_hundredths)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeedProgram(_Model):
    """One program of a lender, as the feed gives it. Every key is required; ``null`` means no limit."""

    program: Annotated[Product, PlainValidator(_program)]
    effective_date: Annotated[date, PlainValidator(_date)]
    min_fico: Annotated[int, Field(strict=True, ge=300, le=850)] | None
    seasoning_months: dict[Annotated[CreditEventType, PlainValidator(_event)], Months | None]
    min_dscr: Annotated[float, Field(strict=True, gt=0, le=5, allow_inf_nan=False)] | None
    asset_divisor: Annotated[int, Field(strict=True, ge=1, le=600)] | None
    max_ltv: Annotated[float, Field(strict=True, gt=0, le=100, allow_inf_nan=False)] | None
    min_loan_amount: Annotated[int, Field(strict=True, ge=0, le=1_000_000_000)] | None
    states: Annotated[frozenset[str] | None, PlainValidator(_states)]
    # Added after the first feeds were written: optional, a missing key or column is null (docs/guidelines-feed.md).
    expense_ratio: Percent | None = None
    statement_months: Annotated[int, Field(strict=True), AfterValidator(_statement_months)] | None = None
    max_dti: Annotated[Percent, Field(gt=0)] | None = None

    def rules(self, lender: str) -> ProgramRules:
        months = {e: m for e in CreditEventType if (m := self.seasoning_months.get(e)) is not None}
        return ProgramRules(lender=lender, **{**dict(self), "seasoning_months": months})


class FeedLender(_Model):
    lender: LenderName
    programs: Annotated[list[FeedProgram], Field(min_length=1)]


class _Document(_Model):
    source: StrictStr | None = None
    lenders: list[FeedLender]


LIMITS = ("min_fico", "min_dscr", "asset_divisor", "max_ltv", "min_loan_amount")
INCOME_FIELDS = ("expense_ratio", "statement_months", "max_dti")  # optional, in JSON and in CSV
CSV_COLUMNS = (
    "lender",
    "program",
    "effective_date",
    "min_fico",
    *(f"seasoning_{e.value}" for e in CreditEventType),
    *LIMITS[1:],
    "states",
)
_WHAT = {  # what a number out of range is not
    "min_fico": "a credit score (300-850)",
    "seasoning_months": "a waiting period (0-240 months)",
    "min_dscr": "a DSCR (above 0, at most 5)",
    "asset_divisor": "a divisor (1-600 months)",
    "max_ltv": "a loan-to-value (above 0, at most 100 percent)",
    "min_loan_amount": "a loan amount (0 to 1,000,000,000 dollars)",
    "expense_ratio": "an expense ratio (0 to 100 percent)",
    "max_dti": "a debt-to-income ratio (above 0, at most 100 percent)",
}
_EXPECTED = {  # what a container of the wrong kind should have been
    "lenders": "a list of lenders",
    "programs": "a non-empty list of programs",
    "seasoning_months": 'an object like {"chapter_7": 24}, or {}',
}
_HINTS = {"seasoning_months": "{} when no credit event is accepted", "states": "null for every state"}
_MODELS: dict[int, type[_Model]] = {0: _Document, 2: FeedLender, 4: FeedProgram}  # by depth of the object's place
_FIELDS = {name for model in _MODELS.values() for name in model.model_fields}
_CSV_KNOWN = (*CSV_COLUMNS, *INCOME_FIELDS)
_RANGE = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_KEY = TypeAdapter(tuple[LenderName, Annotated[Product, PlainValidator(_program)]])


def parse_feed(text: str, *, format: str, lender: str | None = None) -> list[ProgramRules]:
    """Every program in a feed's text (``format`` "json" or "csv"), in feed order; with ``lender`` (a feed one
    lender sent about itself), a row of any other lender is a problem.

    Raises :class:`FeedError` listing every problem if there is any, and :class:`ValueError` for an unknown
    ``format``.
    """
    if format not in ("json", "csv"):
        raise ValueError(f"format must be 'json' or 'csv', not {format!r}")
    if not text.strip():
        raise FeedError(["the feed is empty"])
    errors, programs = (_read_json if format == "json" else _read_csv)(text, _Sender(lender))
    if not errors and not programs:
        errors.append(FeedProblem("the feed has no programs"))
    if errors:
        raise FeedError(errors)
    return programs


def _words(err: ErrorDetails) -> str:
    """A field's problem, in the feed's words (the place is added by the caller)."""
    kind, value = err["type"], err["input"]
    name = next((str(p) for p in reversed(err["loc"]) if p in _FIELDS), "")
    if kind == "value_error":
        return str(err.get("ctx", {})["error"])
    if kind == "int_type":
        return f"{_show(value)} is not a whole number"
    if kind in _RANGE | {"float_type"} and name in _WHAT and isinstance(value, int) and not isinstance(value, bool):
        return f"{_show(value)} is not {_WHAT[name]}"  # a whole number out of range, or too large for a float
    if kind in ("float_type", "finite_number"):
        return f"{_show(value)} is not a number"
    if kind == "string_type":
        return f"{_show(value)} is not text"
    if kind in _RANGE and name in _WHAT:
        return f"{_show(value)} is not {_WHAT[name]}"
    if name in _EXPECTED and kind in ("list_type", "dict_type", "too_short"):
        return f"expected {_EXPECTED[name]}, got {_show(value)}"
    return f"{_show(value)}: {err['msg']}"


def _where(loc: Loc) -> str | None:
    """A place in the JSON document (``lenders[0].programs[1].min_fico``); None for the document itself."""
    return place(tuple(p if isinstance(p, int) else shown(p, str) for p in loc)) or None


def _json_error(err: ErrorDetails) -> FeedProblem:
    loc, kind = err["loc"], err["type"]
    if kind == "missing":
        hint = _HINTS.get(str(loc[-1]), "null for no limit" if loc[-1] in LIMITS else "")
        return FeedProblem(f"missing {loc[-1]}" + (f" (give {hint})" if hint else ""), field=_where(loc[:-1]))
    if kind == "model_type":
        required = [n for n, f in _MODELS[len(loc)].model_fields.items() if f.is_required()]
        return FeedProblem(f"expected an object with {', '.join(required)}", field=_where(loc))
    if kind == "extra_forbidden":
        return FeedProblem(unknown(str(loc[-1]), _MODELS[len(loc) - 1].model_fields), field=_where(loc))
    return FeedProblem(_words(err), field=_where(loc))


class _Object(dict[str, Any]):
    """A JSON object that remembers keys given more than once (``json`` keeps only the last silently)."""

    repeated: list[str]

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, Any]]) -> _Object:
        obj = cls(pairs)
        obj.repeated = [k for k, n in Counter(k for k, _ in pairs).items() if n > 1]
        return obj


def _repeated(data: object) -> Iterator[Loc]:
    """The place of every key given more than once, anywhere in the document (without recursion)."""
    stack: list[tuple[Loc, object]] = [((), data)]
    while stack:
        loc, node = stack.pop()
        if isinstance(node, _Object):
            yield from ((*loc, k) for k in node.repeated)
            stack += [((*loc, k), v) for k, v in reversed(node.items())]
        elif isinstance(node, list):
            stack += [((*loc, i), v) for i, v in reversed(list(enumerate(node)))]


def _row(loc: Loc) -> tuple[int, int]:
    """The (lender, program) position an error's place belongs to, for listing errors in feed order."""
    i = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else -1
    j = loc[3] if len(loc) > 3 and loc[2] == "programs" and isinstance(loc[3], int) else -1
    return (i, j)


class _Sender:
    """The one lender a feed may name, when it is given; a name that is not valid is left to the validation."""

    def __init__(self, lender: str | None) -> None:
        self.lender = lender

    def other(self, name: object, *, line: int | None = None, field: str = "lender") -> list[FeedProblem]:
        if self.lender is None or not isinstance(name, str):
            return []
        try:
            given = lender_name(name)
        except ValueError:
            return []
        if given == self.lender:
            return []
        return [FeedProblem(f"{_show(given)} is not {self.lender}, whose feed this is", line, field)]


class _FirstSeen:
    """Flags a lender and program given again; a row with other errors still counts if these two are valid."""

    def __init__(self) -> None:
        self.first: dict[tuple[str, Product], str] = {}

    def again(self, lender: object, program: object, *, line: int | None = None, field: str = "") -> list[FeedProblem]:
        """The row is CSV ``line`` or the JSON place ``field``."""
        try:
            key = _KEY.validate_python((lender, program))
        except ValidationError:
            return []
        where = f"line {line}" if line is not None else field
        first = self.first.setdefault(key, where)
        if first == where:
            return []
        return [FeedProblem(f"{key[0]} / {key[1].value} is already given at {first}", line, field)]


def _read_json(text: str, sender: _Sender) -> tuple[list[FeedProblem], list[ProgramRules]]:
    try:
        data = json.loads(text, object_pairs_hook=_Object.from_pairs)
    except RecursionError:
        return [FeedProblem("not valid JSON: nested too deeply")], []
    except json.JSONDecodeError as exc:
        return [FeedProblem(f"not valid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno)], []
    except ValueError as exc:  # a number of more than 4300 digits
        return [FeedProblem(f"not valid JSON: {str(exc).split(': value has')[0]}")], []
    found = [(_row(loc), FeedProblem("given more than once", field=_where(loc))) for loc in _repeated(data)]
    seen = _FirstSeen()
    lenders = data.get("lenders") if isinstance(data, dict) else None
    for i, entry in enumerate(lenders if isinstance(lenders, list) else ()):
        if isinstance(entry, dict):
            found += [((i, -1), msg) for msg in sender.other(entry.get("lender"), field=f"lenders[{i}].lender")]
        programs = entry.get("programs") if isinstance(entry, dict) else None
        for j, item in enumerate(programs if isinstance(programs, list) else ()):
            if isinstance(item, dict):
                again = seen.again(entry.get("lender"), item.get("program"), field=f"lenders[{i}].programs[{j}]")
                found += [((i, j), msg) for msg in again]
    try:
        doc = _Document.model_validate(data)
    except ValidationError as exc:
        found = [(_row(e["loc"]), _json_error(e)) for e in exc.errors(include_url=False)] + found
    if found:
        return [msg for _, msg in sorted(found, key=lambda f: f[0])], []
    return [], [p.rules(entry.lender) for entry in doc.lenders for p in entry.programs]


def _read_csv(text: str, sender: _Sender) -> tuple[list[FeedProblem], list[ProgramRules]]:
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    programs: list[ProgramRules] = []
    seen = _FirstSeen()
    try:
        header = [cell.strip().lower() for cell in next(reader, [])]
        errors = _header_errors(header)
        if errors and not set(header) & set(_CSV_KNOWN):
            return [FeedProblem(f"no header; the first line names the columns: {', '.join(CSV_COLUMNS)}", 1)], []
        start = reader.line_num + 1
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                errors.append(FeedProblem(f"{len(cells)} cells, but the header has {len(header)}", line))
                continue
            row = {name: cell.strip() for name, cell in zip(header, cells, strict=True) if name in _CSV_KNOWN}
            errors += [
                FeedProblem(f"{_show(cell.strip())} is in column {i + 1}, which has no name in the header", line)
                for i, (name, cell) in enumerate(zip(header, cells, strict=True))
                if not name and cell.strip()
            ]
            try:
                entry = FeedLender.model_validate(_csv_fields(row))
                programs.append(entry.programs[0].rules(entry.lender))
            except ValidationError as exc:  # a column missing from the header is reported once, above
                errors += [
                    FeedProblem(_words(e), line, _csv_name(e["loc"])) for e in exc.errors() if e["type"] != "missing"
                ]
            errors += seen.again(row.get("lender"), row.get("program"), line=line)
            errors += sender.other(row.get("lender"), line=line)
    except csv.Error as exc:
        errors.append(FeedProblem(str(exc), reader.line_num))
    return errors, programs


def _header_errors(header: list[str]) -> list[FeedProblem]:
    errors = []
    for name, n in Counter(n for n in header if n).items():
        if n > 1:
            errors.append(FeedProblem(f"column {shown(name, str)} is given more than once", 1))
        elif name not in _CSV_KNOWN:
            errors.append(FeedProblem(unknown(name, _CSV_KNOWN, "column"), 1, shown(name, str)))
    return errors + [FeedProblem(f"missing column {name}", 1) for name in CSV_COLUMNS if name not in header]


def _csv_fields(row: Mapping[str, str]) -> dict[str, Any]:
    """A CSV row in the JSON feed's shape: number cells as numbers, blank as null, states split."""
    program: dict[str, Any] = {
        k: _cell(v) if k in LIMITS or k in INCOME_FIELDS else v for k, v in row.items() if k in FeedProgram.model_fields
    }
    if "states" in row:
        program["states"] = [code for code in re.split(r"[\s,;]+", row["states"]) if code] or None
    program["seasoning_months"] = {e.value: _cell(row.get(f"seasoning_{e.value}", "")) for e in CreditEventType}
    return {**({"lender": row["lender"]} if "lender" in row else {}), "programs": [program]}


def _csv_name(loc: Loc) -> str:
    """``("programs", 0, "seasoning_months", "chapter_7")`` -> ``seasoning_chapter_7``: the CSV column."""
    if loc[-1] in _EVENTS:
        return f"seasoning_{loc[-1]}"
    return str(loc[-1] if loc[0] == "lender" else loc[2])


def _cell(text: str) -> object:
    """A number cell: blank -> None, digits -> int or float; anything else stays text for the check to refuse."""
    if not text:
        return None
    if re.fullmatch(r"-?[0-9]{1,30}", text):
        return int(text)
    if re.fullmatch(r"-?([0-9]+\.[0-9]*|\.[0-9]+)", text):
        return float(text)
    return text

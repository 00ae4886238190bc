"""Lender guidelines as data: what each lender's program requires, and what changed between two snapshots.

A feed (JSON or CSV, see docs/guidelines-feed.md) gives, per lender and program,
the minimum FICO, seasoning after each kind of credit event, minimum DSCR,
asset-depletion divisor, maximum LTV, minimum loan amount, allowed states and
the date the rules take effect. :func:`parse_feed` (from :mod:`nurture.guideline_feed`,
which also defines :class:`ProgramRules`) turns it into frozen dataclasses; a feed
with any error is rejected whole, with every error listed. :func:`diff`
classifies each change as loosening (more borrowers qualify), tightening or
neutral, and :func:`digest` fingerprints a snapshot so that loading the same
one twice can be recognised. Pure: no clock, no IO.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from nurture.guideline_feed import INCOME_FIELDS, PROGRAMS, FeedError, ProgramRules, parse_feed
from nurture.income import STANDARD_EXPENSE_RATIO
from nurture.products import CreditEventType, Product

__all__ = ["PROGRAMS", "FeedError", "ProgramRules", "parse_feed"]  # the feed's types, re-exported for callers

# Every field a change can name, in the order changes to one program are listed.
FIELDS = (
    "min_fico",
    *(f"seasoning_months.{event.value}" for event in CreditEventType),
    "min_dscr",
    "asset_divisor",
    "max_ltv",
    "min_loan_amount",
    "states",
    "statement_months",
    "expense_ratio",
    "max_dti",
    "effective_date",
)
_SEASONING = "seasoning_months."


@dataclass(frozen=True, slots=True)
class GuidelineSet:
    """Every program of every lender in force: the union of each lender's latest snapshot."""

    programs: tuple[ProgramRules, ...] = ()

    def by_key(self) -> dict[tuple[str, Product], ProgramRules]:
        return {p.key: p for p in self.programs}

    def for_product(self, product: Product) -> tuple[ProgramRules, ...]:
        return tuple(p for p in self.programs if p.program is product)


class Direction(enum.StrEnum):
    LOOSENING = "loosening"  # more borrowers qualify
    TIGHTENING = "tightening"
    NEUTRAL = "neutral"  # e.g. a new effective date alone


@dataclass(frozen=True, slots=True)
class Change:
    """One field of one program, before and after.

    ``old``/``new`` are the field's values (``None``: no limit; for seasoning, event not accepted). A program
    added is ``field="program"``, ``None`` -> ``"offered"``; withdrawn is ``"offered"`` -> ``"withdrawn"``.
    A state list is compared as whole sets: added states are one loosening change and dropped states one
    tightening change, both carrying the full old and new sets.
    """

    lender: str
    program: Product
    field: str  # "min_fico", "seasoning_months.chapter_7", "program" (added or withdrawn), ...
    old: object
    new: object
    direction: Direction

    def describe(self) -> str:
        """In a loan officer's words, without the lender's name: ``lowered its minimum credit score from 640 to
        600 for bank statement loans``. States facts only; never says anyone will be approved."""
        loans = f"{_product_words(self.program)} loans"
        if self.field == "program":
            return f"now offers {loans}" if self.new == "offered" else f"no longer offers {loans}"
        if self.field.startswith(_SEASONING):
            event = CreditEventType(self.field.removeprefix(_SEASONING))
            return _seasoning_words(event, self.old, self.new, loans)
        if self.field == "states":
            return _states_words(self.old, self.new, self.direction, loans)
        if self.field in _INCOME_WORDS:
            return _INCOME_WORDS[self.field](self.old, self.new, loans)
        if self.field == "effective_date":
            return f"changed the effective date from {_date_words(self.old)} to {_date_words(self.new)} for {loans}"
        return _limit_words(self.field, self.old, self.new, loans)


def diff(old: Sequence[ProgramRules], new: Sequence[ProgramRules]) -> list[Change]:
    """Every change from one lender's previous programs to its new ones, by program then field (as :data:`FIELDS`).

    A program only in ``new`` is one change, ``field="program"`` (offered), as is one only in ``old``
    (withdrawn); programs in both are compared field by field. Raises :class:`ValueError` if the programs
    belong to more than one lender or one side lists a program twice.
    """
    lenders = sorted({p.lender for p in (*old, *new)})
    if len(lenders) > 1:
        raise ValueError(f"diff compares one lender's programs, got {', '.join(map(repr, lenders))}")
    before, after = _by_program(old, "old"), _by_program(new, "new")
    changes: list[Change] = []
    for program in sorted(before.keys() | after.keys(), key=_ORDER.__getitem__):
        a, b = before.get(program), after.get(program)
        if a is not None and b is not None:
            changes += _field_changes(a, b)
        elif b is not None:
            changes.append(Change(b.lender, program, "program", None, "offered", Direction.LOOSENING))
        elif a is not None:
            changes.append(Change(a.lender, program, "program", "offered", "withdrawn", Direction.TIGHTENING))
    return changes


def in_force(snapshots: Sequence[Sequence[ProgramRules]], on: date) -> list[ProgramRules]:
    """One lender's programs in force on ``on``, from its snapshots newest first.

    Each program of the newest snapshot counts; while its effective date is still ahead, the same program
    of the newest older snapshot already in effect counts instead (a change announced ahead of time does
    not suspend the rules it will replace). A program the newest snapshot no longer lists is withdrawn.
    """
    if not snapshots:
        return []
    chosen = []
    for program in snapshots[0]:
        current = program
        if program.effective_date > on:
            for older in snapshots[1:]:
                same = next((p for p in older if p.program is program.program), None)
                if same is None:
                    break  # not offered before: nothing to fall back to
                if same.effective_date <= on:
                    current = same
                    break
        chosen.append(current)
    return chosen


def loosenings(changes: Iterable[Change]) -> list[Change]:
    """The changes that let more borrowers qualify, in their order."""
    return [c for c in changes if c.direction is Direction.LOOSENING]


def to_feed(programs: Iterable[ProgramRules]) -> dict[str, Any]:
    """The programs in the feed's JSON form, lenders sorted by name and each lender's programs by program.

    Numbers are normalised (``min_dscr``/``max_ltv`` as floats), so equal programs give equal documents
    whatever order or format they were read in; ``json.dumps`` of it parses back with :func:`parse_feed`.
    """
    by_lender: dict[str, list[dict[str, Any]]] = {}
    for p in programs:
        by_lender.setdefault(p.lender, []).append(_program_json(p))
    return {
        "lenders": [
            {"lender": lender, "programs": sorted(items, key=lambda i: (i["program"], json.dumps(i, sort_keys=True)))}
            for lender, items in sorted(by_lender.items())
        ]
    }


def digest(programs: Iterable[ProgramRules]) -> str:
    """SHA-256 of the programs' canonical JSON form (:func:`to_feed`): equal for the same snapshot read twice,
    in any order, from JSON or CSV."""
    text = json.dumps(to_feed(programs), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


_ORDER = {p: i for i, p in enumerate(Product)}


def _by_program(programs: Sequence[ProgramRules], side: str) -> dict[Product, ProgramRules]:
    out: dict[Product, ProgramRules] = {}
    for p in programs:
        if p.program in out:
            raise ValueError(f"{side}: {p.program.value} is listed twice for {p.lender!r}")
        out[p.program] = p
    return out


def _field_changes(a: ProgramRules, b: ProgramRules) -> list[Change]:
    changes: list[Change] = []
    assets = a.asset_divisor is not None and b.asset_divisor is not None
    for name in FIELDS:
        x, y = _value_of(a, name, assets), _value_of(b, name, assets)
        if x == y:
            continue
        if name == "states":
            changes += [Change(b.lender, b.program, name, x, y, d) for d in _states_directions(a.states, b.states)]
        else:
            changes.append(Change(b.lender, b.program, name, x, y, _direction(name, x, y)))
    return changes


def _value_of(p: ProgramRules, name: str, assets: bool) -> object:
    """The value of one of :data:`FIELDS` as the eligibility rules apply it: ``None`` for a credit event the
    program does not accept; the standard 50% for an expense ratio not given, and (with ``assets``: both sides
    set an asset divisor) for a maximum DTI not given, which the asset test then assumes (``nurture.eligibility``).
    A divisor added or dropped is a change of its own, so the maximum DTI it brings is not listed again."""
    if name.startswith(_SEASONING):
        return p.seasoning_months.get(CreditEventType(name.removeprefix(_SEASONING)))
    value = getattr(p, name)
    if value is None and (name == "expense_ratio" or (name == "max_dti" and assets)):
        return _STANDARD_PERCENT
    return value


def _direction(name: str, old: object, new: object) -> Direction:
    if name == "effective_date":
        return Direction.NEUTRAL
    if name.startswith(_SEASONING):  # None: the event is not accepted at all, the strictest value
        if old is None or new is None:
            return Direction.LOOSENING if old is None else Direction.TIGHTENING
        return Direction.LOOSENING if _number(new) < _number(old) else Direction.TIGHTENING
    if old is None or new is None:  # None: no limit, the loosest value
        return Direction.TIGHTENING if old is None else Direction.LOOSENING
    looser = _number(new) > _number(old) if name in _HIGHER_IS_LOOSER else _number(new) < _number(old)
    return Direction.LOOSENING if looser else Direction.TIGHTENING


_HIGHER_IS_LOOSER = ("max_ltv", "max_dti")
_STANDARD_PERCENT = float(STANDARD_EXPENSE_RATIO * 100)  # also the maximum DTI an asset divisor assumes


def _states_directions(old: frozenset[str] | None, new: frozenset[str] | None) -> list[Direction]:
    if old is None or new is None:
        return [Direction.TIGHTENING if old is None else Direction.LOOSENING]
    return [d for d, moved in ((Direction.LOOSENING, new - old), (Direction.TIGHTENING, old - new)) if moved]


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def _program_json(p: ProgramRules) -> dict[str, Any]:
    return {
        "program": p.program.value,
        "effective_date": p.effective_date.isoformat(),
        "min_fico": p.min_fico,
        "seasoning_months": {e.value: p.seasoning_months[e] for e in CreditEventType if e in p.seasoning_months},
        "min_dscr": None if p.min_dscr is None else float(p.min_dscr),
        "asset_divisor": p.asset_divisor,
        "max_ltv": None if p.max_ltv is None else float(p.max_ltv),
        "min_loan_amount": p.min_loan_amount,
        "states": None if p.states is None else sorted(p.states),
    } | {  # added later: written only when set, so the fingerprint of a snapshot without them is unchanged
        name: value if name == "statement_months" else float(value)
        for name in INCOME_FIELDS
        if (value := getattr(p, name)) is not None
    }


# describe() wording

_EVENTS = {  # (one, many)
    CreditEventType.CHAPTER_7: ("a chapter 7 bankruptcy", "chapter 7 bankruptcies"),
    CreditEventType.CHAPTER_13: ("a chapter 13 bankruptcy", "chapter 13 bankruptcies"),
    CreditEventType.FORECLOSURE: ("a foreclosure", "foreclosures"),
    CreditEventType.SHORT_SALE: ("a short sale", "short sales"),
    CreditEventType.DEED_IN_LIEU: ("a deed in lieu of foreclosure", "deeds in lieu of foreclosure"),
}


def _ratio(v: object) -> str:
    n = _number(v)
    return f"{n:.2f}" if round(n, 2) == n else f"{n:g}"


_LIMITS: dict[str, tuple[str, Callable[[object], str], str]] = {  # field: (noun, value, unit)
    "min_fico": ("minimum credit score", str, ""),
    "min_dscr": ("minimum DSCR", _ratio, ""),
    "asset_divisor": ("asset depletion divisor", str, " months"),
    "max_ltv": ("maximum loan-to-value", lambda v: f"{_number(v):g}%", ""),
    "min_loan_amount": ("minimum loan amount", lambda v: f"${_number(v):,.0f}", ""),
}


def _product_words(product: Product) -> str:
    label = product.label
    return label if label.split()[0].isupper() else label[0].lower() + label[1:]


def _limit_words(name: str, old: object, new: object, loans: str) -> str:
    noun, show, unit = _LIMITS[name]
    if new is None:
        return f"dropped its {noun} of {show(old)}{unit} for {loans}"
    if old is None:
        return f"now sets a {noun} of {show(new)}{unit} for {loans}"
    lower = _number(new) < _number(old)
    words = f"{'lowered' if lower else 'raised'} its {noun} from {show(old)} to {show(new)}{unit} for {loans}"
    if name == "asset_divisor":
        words += f" (the same assets now count as {'more' if lower else 'less'} monthly income)"
    return words


def _months(n: object) -> str:
    return "1 month" if n == 1 else f"{n} months"


def _seasoning_words(event: CreditEventType, old: object, new: object, loans: str) -> str:
    one, many = _EVENTS[event]
    if old is None:
        after = f"after {_months(new)}" if new else "with no waiting period"
        return f"now accepts {many} {after} for {loans}"
    if new is None:
        return f"no longer accepts {many} for {loans}"
    if new == 0:
        return f"no longer requires a wait after {one} (was {_months(old)}) for {loans}"
    if old == 0:
        return f"now requires a wait of {_months(new)} after {one} (none before) for {loans}"
    verb = "shortened" if _number(new) < _number(old) else "lengthened"
    return f"{verb} the wait after {one} from {old} to {_months(new)} for {loans}"


def _listed(codes: Iterable[str]) -> str:
    items = sorted(codes)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _states_words(old: object, new: object, direction: Direction, loans: str) -> str:
    if not isinstance(new, frozenset):
        return f"now lends in every state for {loans}"
    if not isinstance(old, frozenset):
        return f"now lends only in {_listed(new)} for {loans}"
    if direction is Direction.LOOSENING:
        return f"now lends in {_listed(new - old)} for {loans}"
    return f"no longer lends in {_listed(old - new)} for {loans}"


def _statement_months_words(old: object, new: object, loans: str) -> str:
    if new is None:
        return f"no longer sets how many months of bank statements it needs for {loans}"
    if old is None:
        return f"now needs {new} months of bank statements for {loans}"
    only = " only" if _number(new) < _number(old) else ""
    return f"now needs{only} {new} months of bank statements instead of {old} for {loans}"


def _expense_ratio_words(old: object, new: object, loans: str) -> str:
    before, after = _number(old), _number(new)
    verb = "lowered" if after < before else "raised"
    ratio = f"the expense ratio it takes off business bank statement deposits from {before:g}% to {after:g}%"
    return f"{verb} {ratio} for {loans}"


def _max_dti_words(old: object, new: object, loans: str) -> str:
    noun = "maximum debt-to-income ratio"
    if new is None:
        return f"dropped its {noun} of {_number(old):g}% for {loans}"
    if old is None:
        return f"now sets a {noun} of {_number(new):g}% for {loans}"
    verb = "raised" if _number(new) > _number(old) else "lowered"
    return f"{verb} its {noun} from {_number(old):g}% to {_number(new):g}% for {loans}"


_INCOME_WORDS: dict[str, Callable[[object, object, str], str]] = {
    "statement_months": _statement_months_words,
    "expense_ratio": _expense_ratio_words,
    "max_dti": _max_dti_words,
}


def _date_words(d: object) -> str:
    return f"{d:%B} {d.day}, {d.year}" if isinstance(d, date) else str(d)

"""A Do Not Call scrub result, checked row by row: accepted whole or refused with every problem named.

Pure: the caller reads the file and hands in its header and rows as text, with the day it is imported
(a scrub dated later is a typo). The format is in ``docs/dnc-scrub.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from nurture.geo import normalize_phone

COLUMNS = ("number", "listed", "scrubbed_on")
YES = frozenset({"yes", "y", "true", "1"})
NO = frozenset({"no", "n", "false", "0"})
MAX_PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class ScrubResult:
    number: str  # E.164
    listed: bool  # on the National Do Not Call registry
    scrubbed_on: date


class ScrubFileError(ValueError):
    """The file cannot be applied; ``problems`` holds one line per problem (the first ``MAX_PROBLEMS``)."""

    def __init__(self, problems: Sequence[str], total: int | None = None) -> None:
        self.problems = list(problems)
        self.total = len(self.problems) if total is None else total
        more = f" (and {self.total - len(self.problems)} more)" if self.total > len(self.problems) else ""
        super().__init__(f"{self.total} problem{'s' if self.total != 1 else ''}{more}: " + "; ".join(self.problems))


def parse_scrub(header: Sequence[str], rows: Iterable[Sequence[str]], *, today: date) -> list[ScrubResult]:
    """The results of a scrub file, one per number, or :class:`ScrubFileError` naming each bad line and field.

    Line numbers count the header as line 1 (a quoted line break inside a cell is not expected here). Header
    names are matched ignoring case, spaces and hyphens (``Scrubbed On``); columns other than the three are
    ignored; a number given twice must say the same both times.
    """
    names = ["_".join(h.lstrip("\ufeff").strip().lower().replace("-", " ").split()) for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        found = ", ".join(repr(n) for n in names) or "nothing"
        raise ScrubFileError([f"line 1: the header needs the columns {', '.join(missing)} (found {found})"])
    where = {c: names.index(c) for c in COLUMNS}
    problems: list[str] = []
    total = 0
    seen: dict[str, tuple[int, ScrubResult]] = {}

    def problem(text: str) -> None:
        nonlocal total
        total += 1
        if len(problems) < MAX_PROBLEMS:
            problems.append(text)

    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = {c: (row[i].strip() if i < len(row) else "") for c, i in where.items()}
        bad = len(problems), total
        try:
            number = normalize_phone(cells["number"])
        except ValueError:
            problem(f"line {line}, number: {cells['number']!r} is not a US phone number")
        listed_text = cells["listed"].lower()
        if listed_text not in YES | NO:
            problem(f"line {line}, listed: {cells['listed']!r} is not yes or no")
        try:
            scrubbed = date.fromisoformat(cells["scrubbed_on"])
            if scrubbed > today:
                problem(f"line {line}, scrubbed_on: {scrubbed} is after today ({today})")
        except ValueError:
            problem(f"line {line}, scrubbed_on: {cells['scrubbed_on']!r} is not a date like 2026-06-09")
        if (len(problems), total) != bad:
            continue
        result = ScrubResult(number, listed_text in YES, scrubbed)
        earlier = seen.get(number)
        if earlier is None:
            seen[number] = (line, result)
        elif earlier[1] != result:
            problem(f"line {line}, number: {number} is also on line {earlier[0]}, with another result")
    if total:
        raise ScrubFileError(problems, total)
    return [result for _, result in seen.values()]

"""How much each text column holds, read from the models, so every edge checks input against the column it is
stored in (a number repeated here would drift from the schema)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import sqlalchemy as sa

from nurture.text import checked

# A consent's disclosure is stored whole (a TEXT column); the wording a borrower agreed to is never longer.
DISCLOSURE_MAX_CHARS = 10_000


def max_length(column: sa.ColumnElement[Any]) -> int | None:
    """The most characters ``column`` holds (None for unbounded text, or a column that is not text)."""
    length = getattr(column.type, "length", None)
    return length if isinstance(length, int) else None


def text_for(column: sa.ColumnElement[Any], *, multiline: bool = False) -> Callable[[str], str]:
    """A check for text bound for ``column``: ``text`` back when it fits and holds no control character it may not
    (see :func:`nurture.text.checked`), else ``ValueError`` with the reason."""
    limit = max_length(column)

    def check(text: str) -> str:
        return checked(text, limit=limit, multiline=multiline)

    return check


def too_long(table: sa.Table, values: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(column, limit) for each text value in ``values`` longer than its column of ``table`` holds."""
    limits = _limits(table)
    return [(name, limits[name]) for name, value in values.items()
            if isinstance(value, str) and name in limits and len(value) > limits[name]]  # fmt: skip


@cache
def _limits(table: sa.Table) -> dict[str, int]:
    return {c.name: limit for c in table.c if (limit := max_length(c)) is not None}

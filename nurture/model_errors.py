"""A pydantic :class:`~pydantic.ValidationError` as short lines that name the place and the problem.

The loaders (cadence, compliance rule table, guideline feed) validate their input with pydantic models
and word each error through :func:`describe`; where an error is placed (``steps[3] (d2-call)``,
``line 4``, ``lenders[0].programs[1]``) is up to the loader.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable

from pydantic_core import ErrorDetails

Loc = tuple[int | str, ...]
SHOW_MAX = 40


def shown(value: object, render: Callable[[object], str] = repr) -> str:
    """``value`` as the input spelled it, cut short so that a message stays one readable line."""
    try:
        text = render(value)
    except (TypeError, ValueError, RecursionError):  # not JSON, more than 4300 digits, nested too deeply
        text = f"({type(value).__name__} too large to show)"
    return text if len(text) <= SHOW_MAX else text[: SHOW_MAX - 3] + "..."


def unknown(name: str, known: Iterable[str], noun: str = "field") -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"unknown {noun}" + (f" (did you mean {close[0]}?)" if close else "")


def place(loc: Loc) -> str:
    """``("lenders", 0, "programs")`` -> ``lenders[0].programs``; a dict key's ``[key]`` marker is dropped."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part != "[key]":
            out += f".{part}" if out else part
    return out


def describe(err: ErrorDetails, render: Callable[[object], str] = repr) -> str:
    """The problem in words, without its place: a validator's own message, or pydantic's with the input shown."""
    kind, ctx = err["type"], err.get("ctx", {})
    if kind in ("value_error", "assertion_error"):
        return str(ctx["error"])
    if kind == "enum":
        return f"{shown(err['input'], render)} is not one of {ctx['expected']}"
    return f"{shown(err['input'], render)}: {err['msg']}"

"""Text fit to store: the rules every edge applies to what a person, a file or a provider hands us.

PostgreSQL refuses a NUL character outright, and every other control character (escape sequences, form feeds, the
C1 range) breaks the CSV files, terminals and messages the text later goes into. A one-line field (a name, an id,
a number) takes none of them; a free-text field (a note, a consent disclosure, a text message) keeps tabs and line
breaks. Edges that must keep what arrived (a borrower's text message: a STOP is honoured whatever surrounds it) strip
the rest instead of refusing it.
"""

from __future__ import annotations

import re

LINE_BREAKS = "\n\r\u2028\u2029"
# C0 controls, DEL, C1 controls, and the Unicode line and paragraph separators.
_ANY_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# The same, less tab, line feed and carriage return.
_LAYOUT_KEPT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_NAMES = {"\x00": "NUL", "\x1b": "escape", "\x7f": "DEL"}
# A spreadsheet reads a cell starting with one of these as a formula (OWASP, CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def control_character(text: str, *, multiline: bool = False) -> tuple[int, str] | None:
    """The first control character ``text`` may not hold, as (0-based position, character), or None."""
    match = (_LAYOUT_KEPT if multiline else _ANY_CONTROL).search(text)
    return (match.start(), match.group()) if match else None


def checked(text: str, *, limit: int | None = None, multiline: bool = False) -> str:
    """``text`` when it may be stored, else ``ValueError`` saying what is wrong and what to do about it.

    ``limit`` is the most characters the text may have (None: no limit); ``multiline`` keeps tabs and line breaks.
    """
    if found := control_character(text, multiline=multiline):
        at, char = found
        where = f"at character {at + 1}"
        if char in LINE_BREAKS:
            raise ValueError(f"has a line break {where}: this field takes one line")
        if char == "\t":
            raise ValueError(f"has a tab {where}: use a space")
        name = _NAMES.get(char, f"U+{ord(char):04X}")
        raise ValueError(f"has a control character ({name}) {where}: remove it")
    if limit is not None and len(text) > limit:
        raise ValueError(f"is longer than {limit:,} characters")
    return text


def stripped(text: str, *, multiline: bool = True) -> tuple[str, int]:
    """``text`` without the control characters it may not hold, and how many were removed."""
    return (_LAYOUT_KEPT if multiline else _ANY_CONTROL).subn("", text)


def spreadsheet_cell(text: str) -> str:
    """``text`` safe to open in a spreadsheet: a leading ``= + - @``, tab or carriage return (after any quotes) gets
    a ``'`` before it, so the cell is shown as text, never run as a formula (OWASP's guidance on CSV injection)."""
    return "'" + text if text.lstrip("'").startswith(FORMULA_START) else text


def from_spreadsheet_cell(text: str) -> str:
    """The value :func:`spreadsheet_cell` protected: the ``'`` it added is dropped."""
    return text[1:] if text.startswith("'") and text.lstrip("'").startswith(FORMULA_START) else text

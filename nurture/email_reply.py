"""What a borrower wrote in an email reply, without the quoted history under it (pure).

Mail programs put the message being answered below (or, rarely, above) the new words: Gmail and Apple Mail after an
"On <date>, <name> wrote:" line, Outlook after a line of underscores or a "From: ... Sent: ..." block, older programs
after "-----Original Message-----", and nearly all quote with "> ". A signature starts at "-- ". Everything from the
first such marker on is dropped; what is left is trimmed and cut to ``limit`` characters. When nothing is left (a
reply written inline, under the quote), the quoted text is kept instead, unquoted, so a person still reads it.
"""

from __future__ import annotations

import re

from nurture.text import stripped

_WROTE = re.compile(r"^\s*On\b.{0,300}\bwrote:\s*$", re.IGNORECASE | re.DOTALL)
_MARKERS = (
    re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}", re.IGNORECASE),
    re.compile(r"^\s*_{10,}\s*$"),
    re.compile(r"^\s*-{2,}\s*Forwarded message\s*-{2,}", re.IGNORECASE),
    re.compile(r"^--\s?$"),  # the signature delimiter
    re.compile(r"^\s*Sent from my \w+", re.IGNORECASE),
)
_HEADER_BLOCK = re.compile(r"^\s*\*?From:\*?\s", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"^\s*\*?(Sent|Date|To|Subject):\*?\s", re.IGNORECASE)
_QUOTED = re.compile(r"^\s*>")


def reply_text(text: str, *, limit: int = 1000) -> str:
    """The new words of an email reply (see the module docstring), at most ``limit`` characters."""
    lines = stripped(text.replace("\r\n", "\n").replace("\r", "\n"))[0].split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        if _ends_reply(lines, i):
            break
        if not _QUOTED.match(line):
            kept.append(line.rstrip())
    words = _tidy(kept)
    if not words:
        words = _tidy([re.sub(r"^\s*(>\s?)+", "", line).rstrip() for line in lines])
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"


def _ends_reply(lines: list[str], i: int) -> bool:
    line = lines[i]
    if any(marker.match(line) for marker in _MARKERS):
        return True
    if line.lstrip().startswith("On ") and any(_WROTE.match(" ".join(lines[i : i + n])) for n in (1, 2, 3)):
        return True  # "On Mon, Mar 2, 2026 at 9:14 AM Dana <dana@...> wrote:", often wrapped over two lines
    nxt = lines[i + 1] if i + 1 < len(lines) else ""
    return bool(_HEADER_BLOCK.match(line) and _HEADER_NEXT.match(nxt))


def _tidy(lines: list[str]) -> str:
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return text.strip()

"""Charts drawn on the server as SVG text: no script, nothing fetched, readable on a 390 px phone screen.

Pure: numbers in, markup out. Every text in the drawing is escaped (and stripped of characters XML cannot hold),
so a label can never break the page it sits in; colours are SVG attributes, not inline styles, so the pages'
content security policy allows them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 360, 180
LEFT, RIGHT, TOP, BOTTOM = 30, 6, 26, 28
INK, MUTED, ACCENT, LIGHT = "#1b1f24", "#5b6470", "#0b5cad", "#b7cde6"
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: ``total`` tall, its lower ``part`` drawn darker (say, calls and the live contacts among them)."""

    label: str
    total: int
    part: int = 0


def _text(value: object) -> str:
    return str(escape(_NOT_XML.sub("", str(value))))


def bar_chart(bars: Sequence[Bar], *, title: str, legend: tuple[str, str]) -> Markup:
    """A bar chart of ``bars`` in order, with ``title`` for screen readers and a two-entry ``legend`` (the whole
    bar, its darker part). Negative numbers count as 0; a part larger than its bar as the whole bar."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    clean = [Bar(b.label, max(b.total, 0), min(max(b.part, 0), max(b.total, 0))) for b in bars]
    top = max((b.total for b in clean), default=0)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="{_text(title)}" font-family="system-ui, sans-serif" font-size="12">',
        f"<title>{_text(title)}</title>",
        f'<rect x="{LEFT}" y="6" width="10" height="10" fill="{LIGHT}"/>',
        f'<text x="{LEFT + 14}" y="15" fill="{INK}">{_text(legend[0])}</text>',
        f'<rect x="{LEFT + 150}" y="6" width="10" height="10" fill="{ACCENT}"/>',
        f'<text x="{LEFT + 164}" y="15" fill="{INK}">{_text(legend[1])}</text>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="{MUTED}"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end" fill="{MUTED}">{top}</text>',
        f'<text x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end" fill="{MUTED}">0</text>',
    ]
    if not clean or top == 0:
        out.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" '
                   f'fill="{MUTED}">Nothing logged yet</text>')  # fmt: skip
    slot = plot_w / max(len(clean), 1)
    width = max(slot * 0.7, 1.0)
    for i, bar in enumerate(clean if top else []):
        x = LEFT + i * slot + (slot - width) / 2
        whole, part = plot_h * bar.total / top, plot_h * bar.part / top
        tip = f"{bar.label}: {bar.total} {legend[0]}, {bar.part} {legend[1]}"
        out.append(f"<g><title>{_text(tip)}</title>")
        if whole:
            out.append(f'<rect x="{x:.1f}" y="{TOP + plot_h - whole:.1f}" width="{width:.1f}" height="{whole:.1f}" '
                       f'fill="{LIGHT}"/>')  # fmt: skip
        if part:
            out.append(f'<rect x="{x:.1f}" y="{TOP + plot_h - part:.1f}" width="{width:.1f}" height="{part:.1f}" '
                       f'fill="{ACCENT}"/>')  # fmt: skip
        out.append("</g>")
    for i in sorted({0, len(clean) // 2, len(clean) - 1} if clean else set()):
        anchor = "start" if i == 0 and len(clean) > 1 else "end" if i == len(clean) - 1 and i else "middle"
        x = LEFT + i * slot + (slot / 2 if anchor == "middle" else 0 if anchor == "start" else slot)
        out.append(f'<text x="{x:.1f}" y="{HEIGHT - 10}" text-anchor="{anchor}" fill="{MUTED}">'
                   f"{_text(clean[i].label)}</text>")  # fmt: skip
    out.append("</svg>")
    return Markup("".join(out))

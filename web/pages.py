"""Server-rendered pages: one Jinja2 environment (autoescaped, strict), the stylesheet, and the page response.

Templates live in ``web/templates/``; the only stylesheet and script are in ``web/static/`` (served from this
app, nothing from a CDN). Every page is built for a phone first (a 390 px wide screen) and works without script.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

HERE = Path(__file__).parent
_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
static_files = StaticFiles(directory=HERE / "static")

# Pages that show a borrower's details: never cached by the browser or anything in between, never framed.
PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
}


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``web/templates/{name}`` with ``context`` (``session`` and ``csrf`` come from the request when a
    signed-in officer made it)."""
    context.setdefault("session", getattr(request.state, "officer_session", None))
    session = context["session"]
    context.setdefault("csrf", session.csrf_token if session is not None else "")
    html = _env.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=PRIVATE_HEADERS)

"""``dripline roi``: what a lead purchase should bring back, worked out before buying it."""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Annotated, Any

import typer

from dripline.cli_common import console
from dripline.cli_errors import fail
from nurture.economics import (
    EXAMPLE_LEADS,
    EXAMPLE_PRICE,
    PurchaseEstimate,
    PurchaseInputError,
    purchase_defaults,
)
from nurture.products import Product

OPTIONS = {"leads": "--leads", "price": "--price", "close_rate": "--close-rate", "revenue": "--revenue"}
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def _number(text: str, option: str, *, what: str) -> float:
    """``text`` as a plain number, allowing a leading $ and thousands commas (``$1,250.50``)."""
    cleaned = text.strip().replace("$", "", 1).replace(",", "").strip()
    if not _NUMBER.fullmatch(cleaned):
        fail(f"dripline roi: {option}: {text!r} is not {what}")
    value = float(cleaned)
    if not math.isfinite(value):
        fail(f"dripline roi: {option}: {text!r} is too large")
    return value


def parse_leads(text: str) -> int:
    value = _number(text, "--leads", what="a number of leads, like 1000")
    if value != int(value):
        fail(f"dripline roi: --leads: {text!r} is not a whole number of leads")
    return int(value)


def parse_rate(text: str) -> float:
    """A close rate as a fraction (0.02) or a percent (2%); a bare number over 1 is refused as ambiguous."""
    stripped = text.strip()
    percent = stripped.endswith("%")
    value = _number(stripped.removesuffix("%"), "--close-rate", what="a close rate like 0.02 or 2%")
    if percent:
        return value / 100
    if value > 1:
        fail(f"dripline roi: --close-rate: {text!r} is over 1; give a fraction like 0.02 or a percent like 2%")
    return value


def roi(
    leads: Annotated[
        str | None, typer.Option("--leads", metavar="N", help=f"leads to buy (default {EXAMPLE_LEADS:,})")
    ] = None,
    price: Annotated[
        str | None, typer.Option("--price", metavar="DOLLARS", help=f"price per lead (default ${EXAMPLE_PRICE:g})")
    ] = None,
    close_rate: Annotated[
        str | None,
        typer.Option(
            "--close-rate",
            metavar="RATE",
            help="closes per lead bought, 0.02 or 2% (default: the product's benchmark midpoint, or 2%)",
        ),
    ] = None,
    revenue: Annotated[
        str | None,
        typer.Option(
            "--revenue",
            metavar="DOLLARS",
            help="revenue per close (default: the product's row of the revenue table, or $8,000)",
        ),
    ] = None,
    product: Annotated[
        str | None,
        typer.Option("--product", help="take the defaults for one product: " + ", ".join(p.value for p in Product)),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="the estimate as one JSON object")] = False,
) -> None:
    """Estimate a lead purchase before buying it: revenue, cost, ROI and how many leads one close pays for."""
    chosen: Product | None = None
    if product is not None:
        try:
            chosen = Product(product.strip().lower())
        except ValueError:
            fail(f"dripline roi: --product: {product!r} is not one of {', '.join(p.value for p in Product)}")
    defaults = purchase_defaults(chosen)
    try:
        estimate = PurchaseEstimate(
            leads=EXAMPLE_LEADS if leads is None else parse_leads(leads),
            price=EXAMPLE_PRICE if price is None else _number(price, "--price", what="a dollar amount like 5"),
            close_rate=defaults.close_rate if close_rate is None else parse_rate(close_rate),
            revenue_per_close=(
                defaults.revenue_per_close
                if revenue is None
                else _number(revenue, "--revenue", what="a dollar amount like 8000")
            ),
        )
    except PurchaseInputError as exc:
        fail(f"dripline roi: {OPTIONS[exc.field]}: {exc}")
    basis = {
        "leads": "given" if leads is not None else "the playbook's worked example",
        "price": "given" if price is not None else "the playbook's worked example",
        "close_rate": "given" if close_rate is not None else defaults.close_rate_basis,
        "revenue": "given" if revenue is not None else defaults.revenue_basis,
    }
    spread = defaults.close_range if close_rate is None else None
    if as_json:
        sys.stdout.write(json.dumps(_payload(estimate, basis, spread, chosen)) + "\n")
        return
    _print(estimate, basis, spread)


def _payload(
    e: PurchaseEstimate, basis: dict[str, str], spread: tuple[float, float] | None, product: Product | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "product": product.value if product else None,
        "leads": e.leads,
        "price": e.price,
        "close_rate": e.close_rate,
        "revenue_per_close": e.revenue_per_close,
        "closes": e.closes,
        "revenue": e.revenue,
        "cost": e.cost,
        "roi": e.roi,
        "leads_one_close_pays_for": e.leads_one_close_pays_for,
        "break_even_close_rate": e.break_even_close_rate,
        "basis": basis,
    }
    if spread is not None:
        low, high = (_with_rate(e, r) for r in spread)
        out["benchmark_range"] = {"close_rate": list(spread), "revenue": [low.revenue, high.revenue],
                                  "roi": [low.roi, high.roi]}  # fmt: skip
    return out


def _with_rate(e: PurchaseEstimate, rate: float) -> PurchaseEstimate:
    return PurchaseEstimate(e.leads, e.price, rate, e.revenue_per_close)


def _rate(x: float) -> str:
    return f"{x:.2%}".replace(".00%", "%")


def _print(e: PurchaseEstimate, basis: dict[str, str], spread: tuple[float, float] | None) -> None:
    def why(name: str) -> str:
        return "" if basis[name] == "given" else f"  [dim]({basis[name]})[/]"

    closes = f"{e.closes:,.1f}".removesuffix(".0")
    lines = [
        f"leads              {e.leads:,} at ${e.price:,.2f} each{why('leads') or why('price')}",
        f"close rate         {_rate(e.close_rate)}: {closes} closes{why('close_rate')}",
        f"revenue per close  ${e.revenue_per_close:,.0f}{why('revenue')}",
        f"[bold]revenue            ${e.revenue:,.0f}[/]",
        f"cost               ${e.cost:,.0f}",
        f"[bold]ROI                {e.roi:,.0%}[/]",
        f"one close pays for [bold]{e.leads_one_close_pays_for:,} leads[/] "
        f"(break-even close rate {_rate(e.break_even_close_rate)})",
    ]
    if spread is not None:
        low, high = (_with_rate(e, r) for r in spread)
        lines.append(
            f"[dim]across the benchmark's {_rate(spread[0])}-{_rate(spread[1])}: revenue ${low.revenue:,.0f}-"
            f"${high.revenue:,.0f}, ROI {low.roi:,.0%}-{high.roi:,.0%}[/]"
        )
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False)

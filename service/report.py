"""The report's numbers: the funnel by product beside the benchmark ranges, activity, gate and re-engagement counts.

The CLI prints them as tables, ``--json`` as they are; the daily flow publishes the funnel as an artifact.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from nurture.economics import benchmark_for
from nurture.products import Product
from storage import report
from storage.report import FunnelRow


def _pct(n: int, d: int) -> float | None:
    return n / d if d else None


def funnel_payload(rows: list[FunnelRow]) -> dict[str, Any]:
    products = []
    for row in rows:
        bench, published = benchmark_for(Product(row.product))
        products.append(
            {
                **row.as_dict(),
                "contact_rate": _pct(row.contacted, row.leads),
                "education_rate": _pct(row.educated, row.contacted),
                "docs_rate": _pct(row.docs_received, row.educated),
                "close_rate": _pct(row.closed, row.docs_received),
                "overall_close": _pct(row.closed, row.leads),
                "roi": (row.revenue - row.lead_cost) / row.lead_cost if row.lead_cost else None,
                "benchmark": {
                    "published": published,
                    "contact": bench.contact,
                    "education": bench.education,
                    "docs": bench.docs,
                    "close": bench.close,
                    "overall": bench.overall,
                },
            }
        )
    leads = sum(r.leads for r in rows)
    closed = sum(r.closed for r in rows)
    revenue = sum(r.revenue for r in rows)
    cost = sum(r.lead_cost for r in rows)
    totals = {
        "leads": leads,
        "contacted": sum(r.contacted for r in rows),
        "closed": closed,
        "overall_close": _pct(closed, leads),
        "revenue": revenue,
        "lead_cost": cost,
        "revenue_per_close": revenue / closed if closed else None,
        "roi": (revenue - cost) / cost if cost else None,
    }
    return {"products": products, "totals": totals}


def report_payload(engine: Engine, *, cost_per_lead: float | None = None) -> dict[str, Any]:
    """Everything ``dripline report`` shows: the funnel, activity, gate and re-engagement counts."""
    payload = funnel_payload(report.funnel(engine=engine, cost_per_lead=cost_per_lead))
    payload["touches"] = report.touch_counts(engine=engine)
    payload["tasks"] = report.task_counts(engine=engine)
    payload["reasons"] = report.reason_counts(engine=engine)
    payload["gate"] = report.gate_counts(engine=engine)
    payload["inbound"] = report.inbound_counts(engine=engine)
    payload["reengagement"] = report.reengagement_counts(engine=engine)
    return payload


def funnel_markdown(engine: Engine) -> str:
    """The funnel by product as a markdown table (the daily flow's artifact)."""
    payload = funnel_payload(report.funnel(engine=engine))
    rows = [
        "| product | leads | contacted | educated | docs in | closed | overall | benchmark overall |",
        "|---" * 8 + "|",
    ]
    for p in payload["products"]:
        low, high = p["benchmark"]["overall"]
        rate = "-" if p["overall_close"] is None else f"{p['overall_close']:.1%}"
        rows.append(
            f"| {Product(p['product']).label} | {p['leads']} | {p['contacted']} | {p['educated']} | "
            f"{p['docs_received']} | {p['closed']} | {rate} | {low:.1%}-{high:.1%} |"
        )
    t = payload["totals"]
    return "\n".join(rows) + f"\n\n{t['leads']} leads, {t['contacted']} contacted, {t['closed']} closed.\n"

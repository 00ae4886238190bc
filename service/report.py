"""The report's numbers: the funnel by product beside the benchmark ranges and by the leads' age at import, the
days from first contact to close, activity, gate, re-engagement and referral counts, what waits on a DNC scrub.

The CLI prints them as tables, ``--json`` as they are; the daily flow publishes the funnel as an artifact.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from nurture.economics import AGE_BANDS, BENCHMARK_BAND, benchmark_for, quantile, rate_interval
from nurture.products import Product
from storage import report
from storage.assignment import unassigned_counts
from storage.dnc import held_counts
from storage.referrals import referral_counts
from storage.report import FunnelRow


def _pct(n: int, d: int) -> float | None:
    return n / d if d else None


def _rates(row: FunnelRow) -> dict[str, float | None]:
    return {
        "contact_rate": _pct(row.contacted, row.leads),
        "education_rate": _pct(row.educated, row.contacted),
        "docs_rate": _pct(row.docs_received, row.educated),
        "close_rate": _pct(row.closed, row.docs_received),
        "overall_close": _pct(row.closed, row.leads),
        "roi": (row.revenue - row.lead_cost) / row.lead_cost if row.lead_cost else None,
    }


def days_summary(days: list[float]) -> dict[str, Any]:
    """How many funded leads have a first contact on record, and the median and 75th percentile of their days
    from that contact to funding."""
    median, p75 = quantile(days, 0.5), quantile(days, 0.75)
    return {
        "closed": len(days),
        "median": None if median is None else round(median, 1),
        "p75": None if p75 is None else round(p75, 1),
    }


def age_payload(rows: list[FunnelRow], days: dict[str, list[float]]) -> list[dict[str, Any]]:
    """The funnel by age at import, one entry per band of ``AGE_BANDS`` (``rows`` in that order)."""
    out = []
    for band, row in zip(AGE_BANDS, rows, strict=True):
        counts = {k: v for k, v in row.as_dict().items() if k != "product"}
        out.append(
            {
                "band": band.key,
                "label": band.label,
                "benchmarked": band.key == BENCHMARK_BAND,
                **counts,
                **_rates(row),
                "days_to_close": days_summary(days.get(band.key, [])),
            }
        )
    return out


def funnel_payload(rows: list[FunnelRow]) -> dict[str, Any]:
    products = []
    for row in rows:
        bench, published = benchmark_for(Product(row.product))
        products.append(
            {
                **row.as_dict(),
                **_rates(row),
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
    """Everything ``dripline report`` shows: the funnel by product and by age at import, the days from first
    contact to close, activity, gate, re-engagement and referral counts, what waits on a DNC scrub, call tasks
    expired or handed over per officer, the unassigned queue."""
    payload = funnel_payload(report.funnel(engine=engine, cost_per_lead=cost_per_lead))
    days = report.days_to_close(engine=engine)
    payload["by_age"] = age_payload(report.funnel_by_age(engine=engine, cost_per_lead=cost_per_lead), days)
    payload["totals"]["days_to_close"] = days_summary([d for band in days.values() for d in band])
    payload["touches"] = report.touch_counts(engine=engine)
    payload["tasks"] = report.task_counts(engine=engine)
    payload["reasons"] = report.reason_counts(engine=engine)
    payload["gate"] = report.gate_counts(engine=engine)
    payload["inbound"] = report.inbound_counts(engine=engine)
    payload["reengagement"] = report.reengagement_counts(engine=engine)
    payload["reengagement"]["contact"] = reengagement_contact(payload["reengagement"]["leads_called_by_product"])
    payload["referrals"] = referral_counts(engine=engine)
    payload["dnc_scrub_due"] = held_counts(engine=engine)
    payload["expirations_by_officer"] = report.expirations_by_officer(engine=engine)
    with engine.connect() as conn:
        payload["unassigned"] = unassigned_counts(conn)
    return payload


def reengagement_contact(leads_by_product: dict[str, dict[str, int]]) -> dict[str, Any]:
    """The re-engaged leads whose sequence calls were logged, how many were spoken with, and the benchmark contact
    range for the same mix of products (each product's range weighted by its leads)."""
    leads = sum(c["leads"] for c in leads_by_product.values())
    reached = sum(c["reached"] for c in leads_by_product.values())
    low = high = 0.0
    for product, counts in leads_by_product.items():
        bench, _ = benchmark_for(Product(product))
        low += bench.contact[0] * counts["leads"] / leads
        high += bench.contact[1] * counts["leads"] / leads
    interval = rate_interval(reached, leads)
    return {
        "leads": leads,
        "reached": reached,
        "rate": _pct(reached, leads),
        "interval": list(interval) if interval else None,  # 95%: how far a sample this small can be trusted
        "benchmark": [low, high] if leads else None,
    }


def funnel_markdown(engine: Engine) -> str:
    """The funnel by product and by age at import as markdown tables (the daily flow's artifact)."""
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
    days = report.days_to_close(engine=engine)
    ages = [
        "| age at import | leads | contacted | docs in | closed | overall | days from first contact to close |",
        "|---" * 7 + "|",
    ]
    for a in age_payload(report.funnel_by_age(engine=engine), days):
        rate = "-" if a["overall_close"] is None else f"{a['overall_close']:.1%}"
        ages.append(
            f"| {a['label']} | {a['leads']} | {a['contacted']} | {a['docs_received']} | {a['closed']} | {rate} "
            f"| {days_text(a['days_to_close'])} |"
        )
    return (
        "\n".join(rows)
        + f"\n\n{t['leads']} leads, {t['contacted']} contacted, {t['closed']} closed.\n\n"
        + "\n".join(ages)
        + "\n"
    )


def days_text(summary: dict[str, Any]) -> str:
    """``median 41 days, p75 52 (12 loans)``, or ``-`` when no funded lead has a first contact on record."""
    if not summary["closed"]:
        return "-"
    loans = f"{summary['closed']} loan{'s' if summary['closed'] != 1 else ''}"
    return f"median {summary['median']:g} days, p75 {summary['p75']:g} ({loans})"

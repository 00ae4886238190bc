"""Print the funnel report beside the benchmark ranges (Rich table or JSON)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from nurture.products import Product
from service.report import days_text


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _range(r: tuple[float, float]) -> str:
    return f"{r[0]:.1%}-{r[1]:.1%}".replace(".0%", "%")


def _roi(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0%}"


def print_funnel(payload: dict[str, Any], console: Console) -> None:
    table = Table(title="Funnel by product; below each rate, the benchmark range for aged 30-90 day leads")
    for col in ("product", "leads", "contact", "educated", "docs in", "closed", "overall", "revenue", "ROI"):
        table.add_column(col, justify="left" if col == "product" else "right")
    for p in payload["products"]:
        b = p["benchmark"]
        mark = "" if b["published"] else "*"
        table.add_row(
            Product(p["product"]).label,
            str(p["leads"]),
            f"{_fmt(p['contact_rate'])}\n[dim]{_range(b['contact'])}{mark}[/]",
            f"{_fmt(p['education_rate'])}\n[dim]{_range(b['education'])}{mark}[/]",
            f"{_fmt(p['docs_rate'])}\n[dim]{_range(b['docs'])}{mark}[/]",
            f"{p['closed']} ({_fmt(p['close_rate'])})\n[dim]{_range(b['close'])}{mark}[/]",
            f"{_fmt(p['overall_close'])}\n[dim]{_range(b['overall'])}{mark}[/]",
            f"${p['revenue']:,.0f}",
            _roi(p["roi"]),
        )
    console.print(table)
    console.print(
        "[dim]contact: of all leads; educated: of contacts; docs in: of educated; closed: of docs received; "
        "overall: closes of all leads. * no published range for this product: the average of the four.[/]"
    )
    t = payload["totals"]
    rpc = f"${t['revenue_per_close']:,.0f}" if t["revenue_per_close"] else "-"
    roi = _roi(t["roi"])
    console.print(
        f"[bold]{t['leads']}[/] leads, {t['contacted']} contacted, [bold]{t['closed']}[/] closed "
        f"({_fmt(t['overall_close'])}); revenue ${t['revenue']:,.0f} ({rpc} per close); "
        f"lead cost ${t['lead_cost']:,.0f}; ROI {roi}"
    )


def print_age_funnel(bands: list[dict[str, Any]], days_to_close: dict[str, Any], console: Console) -> None:
    """The funnel by the leads' age at import; the benchmarks are for the 30-90 day band."""
    table = Table(title="Funnel by lead age at import (inquiry to import); the benchmarks above are for 30-90 days")
    for col in ("age at import", "leads", "contact", "educated", "docs in", "closed", "overall", "revenue", "ROI",
                "days to close"):  # fmt: skip
        table.add_column(col, justify="left" if col == "age at import" else "right")
    for b in bands:
        table.add_row(
            b["label"] + (" *" if b["benchmarked"] else ""),
            str(b["leads"]),
            _fmt(b["contact_rate"]),
            _fmt(b["education_rate"]),
            _fmt(b["docs_rate"]),
            f"{b['closed']} ({_fmt(b['close_rate'])})",
            _fmt(b["overall_close"]),
            f"${b['revenue']:,.0f}",
            _roi(b["roi"]),
            _days(b["days_to_close"]),
        )
    console.print(table)
    console.print(
        "[dim]* the band the benchmarks describe. days to close: from the first contact (a conversation or a "
        "reply) to funding, median / 75th percentile (funded loans).[/]"
    )
    console.print(f"First contact to close, every funded loan: {days_text(days_to_close)}")


def _days(summary: dict[str, Any]) -> str:
    if not summary["closed"]:
        return "-"
    return f"{summary['median']:.0f} / {summary['p75']:.0f} ({summary['closed']})"


def print_activity(
    touches: dict[str, dict[str, int]],
    tasks: dict[str, dict[str, int]],
    reasons: dict[str, int],
    gates: dict[str, dict[str, int]],
    inbound: dict[str, int],
    console: Console,
) -> None:
    table = Table(title="Outbox and call tasks")
    table.add_column("what")
    table.add_column("counts")
    for channel, counts in sorted(touches.items()):
        table.add_row(f"{channel} touches", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for kind, counts in sorted(tasks.items()):
        table.add_row(f"{kind} call tasks", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if inbound:
        table.add_row("texts from borrowers", ", ".join(f"{k} {v}" for k, v in sorted(inbound.items())))
    console.print(table)
    if reasons:
        why = Table(title="Touches not sent as planned, by reason")
        why.add_column("status: reason")
        why.add_column("touches", justify="right")
        for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
            why.add_row(reason, str(n))
        console.print(why)
    rulings = sorted(set(gates.get("touches", {})) | set(gates.get("call tasks", {})))
    if rulings:
        gate = Table(title="Compliance gate: touches and call tasks each rule deferred, held or blocked")
        gate.add_column("ruling: rule")
        gate.add_column("touches", justify="right")
        gate.add_column("call tasks", justify="right")
        for ruling in sorted(rulings, key=lambda r: -(gates["touches"].get(r, 0) + gates["call tasks"].get(r, 0))):
            gate.add_row(ruling, str(gates["touches"].get(ruling, 0)), str(gates["call tasks"].get(ruling, 0)))
        console.print(gate)


OTHER_REENGAGEMENT = {
    "skipped": "not contacted (opted out of every channel)",
    "scheduled": "waiting for their credit event to season",
    "superseded": "seasoning date no longer due (guidelines changed or lead moved on)",
}


def print_reengagement(counts: dict[str, Any], console: Console) -> None:
    """Who was re-engaged because guidelines changed in their favour, and why (as the loan officer says it)."""
    rows, other = counts["reengaged"], counts["other"]
    if not rows and not other:
        return
    total = sum(r["leads"] for r in rows)
    table = Table(title=f"Aged leads re-engaged by guideline changes: {total}")
    table.add_column("leads", justify="right")
    table.add_column("since spoke with us", justify="right")
    table.add_column("why (the message names the change)")
    for r in rows:
        who = r["lender"] or "seasoning"
        table.add_row(str(r["leads"]), str(r["contacted"]), f"{who}: {r['reason']}")
    for status, n in sorted(other.items()):
        table.add_row(str(n), "", OTHER_REENGAGEMENT.get(status, status))
    console.print(table)
    messages, calls = counts.get("messages", {}), counts.get("call_tasks", {})
    if messages or calls:
        console.print(
            f"Re-engagement messages: {_by_status(messages)}; cancelled because a cadence ended: "
            f"{counts.get('cadence_ended', 0)}. Call tasks: {_by_status(calls)}.",
            soft_wrap=True,
        )
    contact = counts.get("contact") or {}
    if contact.get("leads"):
        low, high = contact["benchmark"]
        least, most = contact["interval"]
        console.print(
            f"Re-engaged leads called: {contact['leads']}, spoken with on a re-engagement call: {contact['reached']} "
            f"({contact['rate']:.0%}, 95% interval {least:.0%}-{most:.0%}; benchmark contact rate for these products "
            f"{low:.0%}-{high:.0%}).",
            soft_wrap=True,
        )


def print_scrubs(scrubs: Sequence[dict[str, Any]], console: Console) -> None:
    """The demo's weekly DNC re-scrubs: files out and back, and what each released or blocked."""
    if not scrubs:
        return
    total = {k: sum(s[k] for s in scrubs) for k in ("numbers", "released_tasks", "released_touches",
                                                    "blocked_tasks", "blocked_touches", "still_held")}  # fmt: skip
    console.print(
        f"DNC re-scrub: {len(scrubs)} weekly imports of {total['numbers']} numbers (`dnc due --csv` out, "
        f"`dnc import` back; files in dnc/): released {total['released_tasks']} call tasks and "
        f"{total['released_touches']} texts or voicemails, blocked {total['blocked_tasks']} calls and "
        f"{total['blocked_touches']} messages to newly listed numbers, {total['still_held']} still held.",
        soft_wrap=True,
    )


def _by_status(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items(), key=lambda kv: -kv[1])) or "none"


def print_referrals(counts: dict[str, Any], console: Console) -> None:
    """Funded borrowers asked for referrals: the emails that went and the loan officers' calls."""
    if not counts["asked"]:
        return
    emails, calls = counts["emails"], counts["calls"]
    done = {k: v for k, v in calls.items() if k not in ("open", "blocked", "expired", "cancelled")}
    waiting = {k: v for k, v in calls.items() if k not in done}

    def listed(counts: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"

    console.print(
        f"Referral asks: {counts['asked']} funded borrowers asked (at funding and 30 days later); "
        f"emails sent {emails.get('sent', 0)} ({listed(emails)}); "
        f"referral calls done {sum(done.values())} ({listed(done)}), not done: {listed(waiting)}",
        soft_wrap=True,
    )


def print_assignment(payload: dict[str, Any], console: Console) -> None:
    """Call tasks that expired (or were handed over first) per officer, and the unassigned queue."""
    by_officer = payload.get("expirations_by_officer") or {}
    if by_officer:
        table = Table(title="Call tasks left unworked, by the officer who held them")
        for col in ("officer", "expired", "handed over before expiry"):
            table.add_column(col, justify="left" if col == "officer" else "right")
        for email, counts in by_officer.items():
            table.add_row(email, str(counts["expired"]), str(counts["handed_over"]))
        console.print(table)
    queue = payload.get("unassigned") or {}
    if queue.get("leads") or queue.get("call_tasks"):
        console.print(
            f"[bold]unassigned queue[/]: {queue['leads']} lead(s) and {queue['call_tasks']} call task(s) without a "
            "loan officer (nobody licensed in their state had room)",
            soft_wrap=True,
        )


def print_report(payload: dict[str, Any], console: Console, *, guideline_loads: Sequence[dict[str, Any]] = ()) -> None:
    """The report as tables; ``guideline_loads`` (the demo's) are listed before the re-engagement table."""
    print_funnel(payload, console)
    print_age_funnel(payload["by_age"], payload["totals"]["days_to_close"], console)
    print_activity(
        payload["touches"], payload["tasks"], payload["reasons"], payload["gate"], payload["inbound"], console
    )
    for load in guideline_loads:
        console.print(f"{load['at'][:10]}: loaded guideline feed {load['file']}: {load['reengaged']} leads re-engaged")
    print_reengagement(payload["reengagement"], console)
    print_referrals(payload["referrals"], console)
    print_assignment(payload, console)
    scrub = payload.get("dnc_scrub_due") or {}
    if scrub.get("numbers"):
        console.print(
            f"[bold]{scrub['numbers']} phone number(s) wait on a DNC scrub[/]: {scrub['touches']} text(s) or "
            f"voicemail(s) and {scrub['call_tasks']} call task(s) held; `dripline dnc due --csv FILE` exports them, "
            "`dripline dnc import RESULTS.csv` releases them",
            soft_wrap=True,
        )
    else:
        console.print("nothing waits on a DNC scrub")
    unknown = sum(by_status.get("unknown", 0) for by_status in payload["touches"].values())
    if unknown:
        console.print(
            f"[bold]{unknown} message(s) whose outcome is unknown[/] (the send began, no answer was recorded): "
            "`dripline outbox --status unknown` lists them; `dripline outbox settle KEY --sent|--not-sent` settles one",
            soft_wrap=True,
        )

"""Benchmarks and revenue per close for aged (30-90 day) non-QM leads (DOMAIN.md)."""

from __future__ import annotations

from dataclasses import dataclass

from nurture.products import LoanPurpose, Product, PropertyType

Range = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Benchmark:
    contact: Range  # of all leads
    education: Range  # of contacts
    docs: Range  # of educated
    close: Range  # of docs received
    overall: Range  # closes of all leads

    def midpoint(self, name: str) -> float:
        lo, hi = getattr(self, name)
        return (lo + hi) / 2


BENCHMARKS: dict[Product, Benchmark] = {
    Product.BANK_STATEMENT: Benchmark((0.12, 0.22), (0.35, 0.50), (0.40, 0.55), (0.50, 0.65), (0.01, 0.03)),
    Product.DSCR: Benchmark((0.12, 0.20), (0.40, 0.55), (0.45, 0.60), (0.55, 0.70), (0.015, 0.035)),
    Product.CREDIT_EVENT: Benchmark((0.15, 0.25), (0.30, 0.45), (0.35, 0.50), (0.45, 0.60), (0.008, 0.02)),
    Product.ASSET_DEPLETION: Benchmark((0.10, 0.18), (0.40, 0.55), (0.50, 0.65), (0.55, 0.70), (0.01, 0.025)),
}


def benchmark_for(product: Product) -> tuple[Benchmark, bool]:
    """The product's published benchmark, or the average of the four published ones (second value False)."""
    if product in BENCHMARKS:
        return BENCHMARKS[product], True
    fields = ("contact", "education", "docs", "close", "overall")
    avg = {
        f: tuple(sum(getattr(b, f)[i] for b in BENCHMARKS.values()) / len(BENCHMARKS) for i in (0, 1)) for f in fields
    }
    return Benchmark(**avg), False  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Revenue:
    avg_loan: int
    bps: int

    @property
    def per_close(self) -> float:
        return self.avg_loan * self.bps / 10_000


REVENUE: dict[str, Revenue] = {
    "bank_statement_purchase": Revenue(450_000, 200),
    "bank_statement_refi": Revenue(400_000, 175),
    "dscr_single_family": Revenue(350_000, 175),
    "dscr_multi_unit": Revenue(600_000, 175),
    "credit_event_purchase": Revenue(300_000, 200),
    "asset_depletion_purchase": Revenue(750_000, 200),
}
DEFAULT_BPS = 175


def revenue_per_close(
    product: Product, *, purpose: LoanPurpose | None, property_type: PropertyType | None, loan_amount: int | None
) -> float:
    """Revenue for one closed loan: the lead's own loan amount at the table's commission where known,
    else the table's average loan for its product and purpose."""
    refi = purpose in (LoanPurpose.REFINANCE, LoanPurpose.CASH_OUT)
    key = {
        Product.BANK_STATEMENT: "bank_statement_refi" if refi else "bank_statement_purchase",
        Product.DSCR: "dscr_multi_unit" if property_type is PropertyType.MULTI_UNIT else "dscr_single_family",
        Product.CREDIT_EVENT: "credit_event_purchase",
        Product.ASSET_DEPLETION: "asset_depletion_purchase",
    }.get(product)
    row = REVENUE.get(key) if key else None
    bps = row.bps if row else DEFAULT_BPS
    if loan_amount:
        return loan_amount * bps / 10_000
    if row:
        return row.per_close
    return sum(r.per_close for r in REVENUE.values()) / len(REVENUE)

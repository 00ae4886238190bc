"""Benchmarks and revenue per close for aged (30-90 day) non-QM leads (DOMAIN.md), and the estimate of a lead
purchase before it is made."""

from __future__ import annotations

import math
from collections.abc import Sequence
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
class AgeBand:
    """Leads whose age at import (days from the borrower's inquiry to the day we imported the lead) is
    ``low`` to ``high`` days, both included; None: no end on that side."""

    key: str
    label: str
    low: int | None
    high: int | None

    def holds(self, days: int) -> bool:
        return (self.low is None or days >= self.low) and (self.high is None or days <= self.high)


# The benchmarks above describe the middle band; fresher and older leads are reported beside it. A lead dated
# after its import (a vendor's error) counts as fresh.
AGE_BANDS: tuple[AgeBand, ...] = (
    AgeBand("under_30", "under 30 days", None, 29),
    AgeBand("30_90", "30-90 days", 30, 90),
    AgeBand("over_90", "over 90 days", 91, None),
)
BENCHMARK_BAND = "30_90"


def age_band(days: int) -> AgeBand:
    """The band a lead imported ``days`` after its inquiry falls in."""
    return next(b for b in AGE_BANDS if b.holds(days))


def quantile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0-1) of ``values``, interpolating between the two nearest ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def rate_interval(hits: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval (95% by default) of a rate observed as ``hits`` of ``n``: what a small sample
    can and cannot say (0 of 9 is still consistent with a 20% rate). None when ``n`` is 0."""
    if n <= 0:
        return None
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


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


def _revenue_row(
    product: Product, purpose: LoanPurpose | None, property_type: PropertyType | None
) -> tuple[str, Revenue] | None:
    refi = purpose in (LoanPurpose.REFINANCE, LoanPurpose.CASH_OUT)
    key = {
        Product.BANK_STATEMENT: "bank_statement_refi" if refi else "bank_statement_purchase",
        Product.DSCR: "dscr_multi_unit" if property_type is PropertyType.MULTI_UNIT else "dscr_single_family",
        Product.CREDIT_EVENT: "credit_event_purchase",
        Product.ASSET_DEPLETION: "asset_depletion_purchase",
    }.get(product)
    return (key, REVENUE[key]) if key else None


def revenue_per_close(
    product: Product, *, purpose: LoanPurpose | None, property_type: PropertyType | None, loan_amount: int | None
) -> float:
    """Revenue for one closed loan: the lead's own loan amount at the table's commission where known,
    else the table's average loan for its product and purpose."""
    found = _revenue_row(product, purpose, property_type)
    bps = found[1].bps if found else DEFAULT_BPS
    if loan_amount:
        return loan_amount * bps / 10_000
    if found:
        return found[1].per_close
    return sum(r.per_close for r in REVENUE.values()) / len(REVENUE)


# The playbook's worked example: 1,000 aged leads at $5, 2% of them close, $8,000 average revenue per close.
EXAMPLE_LEADS, EXAMPLE_PRICE, EXAMPLE_CLOSE_RATE, EXAMPLE_REVENUE = 1_000, 5.0, 0.02, 8_000.0


class PurchaseInputError(ValueError):
    """A purchase estimate's input that makes no sense; ``field`` names it (leads, price, close_rate, revenue)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field


@dataclass(frozen=True, slots=True)
class PurchaseEstimate:
    """What buying ``leads`` aged leads at ``price`` each should bring back at ``close_rate`` (closes per lead
    bought) and ``revenue_per_close``. Money in dollars."""

    leads: int
    price: float
    close_rate: float
    revenue_per_close: float

    def __post_init__(self) -> None:
        if isinstance(self.leads, bool) or not isinstance(self.leads, int) or self.leads < 1:
            raise PurchaseInputError("leads", f"must be a whole number of leads, at least 1 (got {self.leads})")
        for name, value in (("price", self.price), ("revenue", self.revenue_per_close)):
            if not math.isfinite(value) or value <= 0:
                raise PurchaseInputError(name, f"must be an amount of dollars above 0 (got {value:g})")
        if not math.isfinite(self.close_rate) or not 0 < self.close_rate <= 1:
            raise PurchaseInputError(
                "close_rate", f"must be above 0 and at most 1, like 0.02 or 2% (got {self.close_rate:g})"
            )

    @property
    def cost(self) -> float:
        return self.leads * self.price

    @property
    def closes(self) -> float:
        return self.leads * self.close_rate

    @property
    def revenue(self) -> float:
        return self.closes * self.revenue_per_close

    @property
    def roi(self) -> float:
        """Net return on the money spent on leads: (revenue - cost) / cost."""
        return (self.revenue - self.cost) / self.cost

    @property
    def leads_one_close_pays_for(self) -> int:
        """How many leads the revenue of a single close buys (whole leads)."""
        return math.floor(self.revenue_per_close / self.price + 1e-9)

    @property
    def break_even_close_rate(self) -> float:
        """The close rate at which revenue equals the cost of the leads."""
        return self.price / self.revenue_per_close


@dataclass(frozen=True, slots=True)
class PurchaseDefaults:
    """What an estimate assumes when it is not told: the close rate and revenue per close, and where each is from."""

    close_rate: float
    close_rate_basis: str
    close_range: Range | None  # the benchmark range the close rate is the midpoint of
    revenue_per_close: float
    revenue_basis: str


def purchase_defaults(product: Product | None) -> PurchaseDefaults:
    """The playbook's worked example (2%, $8,000) for a mixed purchase; for one product, the midpoint of its
    overall close benchmark and its row of the revenue table (purchase, single-family), or the average of the
    published ones where the playbook has none."""
    if product is None:
        return PurchaseDefaults(
            EXAMPLE_CLOSE_RATE, "the playbook's worked example", None, EXAMPLE_REVENUE, "the playbook's worked example"
        )
    bench, published = benchmark_for(product)
    which = f"the {product.label} benchmark" if published else "the average of the published benchmarks"
    found = _revenue_row(product, None, None)
    if found:
        row = found[1]
        revenue, basis = row.per_close, f"the revenue table: a ${row.avg_loan:,} loan at {row.bps} bps"
    else:
        revenue = sum(r.per_close for r in REVENUE.values()) / len(REVENUE)
        basis = "the average of the revenue table"
    return PurchaseDefaults(bench.midpoint("overall"), f"midpoint of {which}", bench.overall, revenue, basis)

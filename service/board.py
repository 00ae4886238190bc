"""The manager's board: the team's call lists and the week's work per officer, the funnel by product against the
published benchmarks (DOMAIN.md, ``nurture.economics``; the same funnel ``dripline report`` shows), and the calls
logged over the last 30 days as a chart (days on the manager's own clock)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy.engine import Engine

from nurture.actions import LIVE_OUTCOMES, Outcome
from nurture.products import Product
from service.charts import Bar, bar_chart
from service.report import funnel_payload
from storage import report
from storage.board import OfficerCounts, calls_logged, officer_counts, officer_timezone

WEEK = timedelta(days=7)
CHART_DAYS = 30
# The funnel's steps: what the payload calls the rate, its benchmark, and how the board names it (each rate
# is of the leads that reached the step before; overall: closes of all leads).
STEPS = (
    ("contact_rate", "contact", "Contacted"),
    ("education_rate", "education", "Educated"),
    ("docs_rate", "docs", "Docs in"),
    ("close_rate", "close", "Closed"),
    ("overall_close", "overall", "Overall"),
)


@dataclass(frozen=True, slots=True)
class StepLine:
    name: str
    rate: float | None  # None: nobody reached the step before it
    low: float
    high: float

    @property
    def verdict(self) -> str:
        """below, within or above the benchmark range; ``-`` with no rate."""
        if self.rate is None:
            return "-"
        return "below" if self.rate < self.low else "above" if self.rate > self.high else "within"


@dataclass(frozen=True, slots=True)
class ProductLine:
    product: str  # its label
    leads: int
    published: bool  # False: no published benchmark, the average of the four published ones stands in
    steps: tuple[StepLine, ...]


@dataclass(frozen=True, slots=True)
class Board:
    officers: list[OfficerCounts]
    outcomes: list[str]  # the outcomes anyone logged this week, in the order they are listed
    funnel: list[ProductLine]
    chart: Markup
    zone: str  # the manager's time zone (the chart's days)
    since: datetime

    @property
    def totals(self) -> dict[str, int]:
        return {
            "open": sum(o.open for o in self.officers),
            "overdue": sum(o.overdue for o in self.officers),
            "expired": sum(o.expired for o in self.officers),
            "logged": sum(sum(o.outcomes.values()) for o in self.officers),
        }


def team_board(engine: Engine, *, manager_id: int, now: datetime) -> Board:
    """Everything the board shows, as of ``now``; the week is the seven days before it."""
    since = now - WEEK
    with engine.connect() as conn:
        officers = officer_counts(conn, now=now, since=since)
        zone = officer_timezone(conn, manager_id)
        first_day = now.astimezone(ZoneInfo(zone)).date() - timedelta(days=CHART_DAYS - 1)
        calls = calls_logged(conn, since=now - timedelta(days=CHART_DAYS + 1), until=now)
    logged: Counter[str] = Counter()
    for o in officers:
        logged.update(o.outcomes)
    order = [o.value for o in Outcome if logged[o.value]]
    return Board(officers, order, funnel_lines(engine), calls_chart(calls, first_day, zone), zone, since)


def funnel_lines(engine: Engine) -> list[ProductLine]:
    """The funnel by product (``dripline report``'s), each step's rate beside its benchmark range."""
    lines = []
    for p in funnel_payload(report.funnel(engine=engine))["products"]:
        bench = p["benchmark"]
        steps = tuple(StepLine(name, p[rate], *bench[key]) for rate, key, name in STEPS)
        lines.append(ProductLine(Product(p["product"]).label, p["leads"], bench["published"], steps))
    return lines


def calls_chart(calls: list[tuple[datetime, str | None]], first_day: date, zone: str) -> Markup:
    """Calls logged per day from ``first_day`` on (``CHART_DAYS`` days on ``zone``'s clock), the live contacts
    among them darker."""
    tz = ZoneInfo(zone)
    days = [first_day + timedelta(days=i) for i in range(CHART_DAYS)]
    total: Counter[date] = Counter()
    live: Counter[date] = Counter()
    live_values = {o.value for o in LIVE_OUTCOMES}
    for at, outcome in calls:
        day = at.astimezone(tz).date()
        total[day] += 1
        live[day] += outcome in live_values
    bars = [Bar(f"{d:%b} {d.day}", total[d], live[d]) for d in days]
    title = f"Calls logged per day, the last {CHART_DAYS} days ({zone}), and the live contacts among them"
    return bar_chart(bars, title=title, legend=("calls logged", "live contacts"))

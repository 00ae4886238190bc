"""Non-QM products and matching a borrower's situation to one."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date


class Product(enum.StrEnum):
    BANK_STATEMENT = "bank_statement"
    DSCR = "dscr"
    CREDIT_EVENT = "credit_event"
    ASSET_DEPLETION = "asset_depletion"
    FOREIGN_NATIONAL = "foreign_national"
    GENERAL = "general"
    TEN99 = "1099"  # 1099-only: gross 1099 income of the last one or two years
    PNL = "pnl"  # P&L-only: a CPA-prepared 12-month profit and loss statement

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Product.BANK_STATEMENT: "Bank statement",
    Product.DSCR: "DSCR",
    Product.CREDIT_EVENT: "Credit event",
    Product.ASSET_DEPLETION: "Asset depletion",
    Product.FOREIGN_NATIONAL: "Foreign national",
    Product.GENERAL: "General non-QM",
    Product.TEN99: "1099-only",
    Product.PNL: "P&L-only",
}


class CreditEventType(enum.StrEnum):
    CHAPTER_7 = "chapter_7"
    CHAPTER_13 = "chapter_13"
    FORECLOSURE = "foreclosure"
    SHORT_SALE = "short_sale"
    DEED_IN_LIEU = "deed_in_lieu"


class LoanPurpose(enum.StrEnum):
    PURCHASE = "purchase"
    REFINANCE = "refinance"
    CASH_OUT = "cash_out"


class PropertyType(enum.StrEnum):
    SINGLE_FAMILY = "single_family"
    CONDO = "condo"
    TOWNHOUSE = "townhouse"
    MULTI_UNIT = "multi_unit"


# Liquid assets at or above this, with no documentable self-employment story,
# point to asset depletion.
ASSET_DEPLETION_MIN_ASSETS = 500_000
# A credit event older than this no longer drives the product choice.
CREDIT_EVENT_RELEVANT_MONTHS = 84


@dataclass(frozen=True, slots=True)
class Situation:
    """What the borrower told the lead vendor, as far as product choice goes."""

    self_employed: bool = False
    investment_property: bool = False
    foreign_national: bool = False
    liquid_assets: int | None = None
    credit_event_type: CreditEventType | None = None
    credit_event_date: date | None = None
    high_dti: bool = False
    # The income the borrower can document, when the lead file says (whole dollars): monthly bank deposits, gross
    # 1099 income, a 12-month P&L's net profit.
    monthly_deposits: int | None = None
    gross_1099: int | None = None
    pl_net: int | None = None


def months_between(earlier: date, later: date) -> int:
    """Whole calendar months from ``earlier`` to ``later`` (never negative)."""
    months = (later.year - earlier.year) * 12 + (later.month - earlier.month)
    if later.day < earlier.day:
        months -= 1
    return max(months, 0)


def match_product(situation: Situation, *, as_of: date) -> Product:
    """Pick the program that answers "can I get approved at all" for this borrower.

    Order matters: citizenship and property use decide the program outright;
    a recent credit event outranks the income story; then how income is shown:
    bank deposits keep the bank statement loan, else 1099s alone make a 1099-only
    loan and a P&L alone a P&L-only loan; then the borrower's own account of it.
    """
    if situation.foreign_national:
        return Product.FOREIGN_NATIONAL
    if situation.investment_property:
        return Product.DSCR
    if situation.credit_event_type is not None and (
        situation.credit_event_date is None
        or months_between(situation.credit_event_date, as_of) < CREDIT_EVENT_RELEVANT_MONTHS
    ):
        return Product.CREDIT_EVENT
    if situation.monthly_deposits is None and situation.gross_1099 is not None:
        return Product.TEN99
    if situation.monthly_deposits is None and situation.pl_net is not None:
        return Product.PNL
    if situation.self_employed:
        return Product.BANK_STATEMENT
    if (situation.liquid_assets or 0) >= ASSET_DEPLETION_MIN_ASSETS:
        return Product.ASSET_DEPLETION
    if situation.high_dti:
        return Product.BANK_STATEMENT
    return Product.GENERAL

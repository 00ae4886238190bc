"""What a borrower gathers after the education call, and by when: pure data and date arithmetic, no IO.

Each product's checklist is split in two: the first part, due a few business days after the checklist goes
out, and the rest, due a few days later (small deadlines get documents in faster than one bare list). The
checklist email, its text message and the loan officer's call scripts all print from :data:`CHECKLISTS`.
The documents cadence (``cadences/documents.yaml``) counts its days in business days from the same day 0,
so its reminders name the dates :func:`deadlines` gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from nurture.cadence import business_day
from nurture.products import Product

CADENCE = "documents"  # the name of the documents cadence (cadences/documents.yaml)
FIRST_PART_DAYS = 3  # business days after day 0: the first part is due by then
ALL_DAYS = 7  # and the rest by then
PREQUAL_BUSINESS_DAYS = "2-3"  # once every document is in: from submission to a pre-qualification
CLOSING_DAYS = "60-90"  # a typical non-QM loan from here to closing


@dataclass(frozen=True, slots=True)
class Checklist:
    """One product's documents. ``first_part`` names the first part in a few words, for a text message."""

    first_part: str
    first: tuple[str, ...]
    rest: tuple[str, ...]

    @property
    def items(self) -> tuple[str, ...]:
        return self.first + self.rest


@dataclass(frozen=True, slots=True)
class Deadlines:
    """Day 0 of a documents sequence and the dates its two parts are due."""

    start: date
    first_due: date
    all_due: date


def deadlines(start: date) -> Deadlines:
    """The due dates of a documents sequence whose day 0 is ``start`` (the borrower's calendar)."""
    return Deadlines(start, business_day(start, FIRST_PART_DAYS), business_day(start, ALL_DAYS))


_ID = "A government-issued photo ID"
_CREDIT = "Your permission for us to check your credit"
_PROPERTY = "The address or details of the property"

CHECKLISTS: dict[Product, Checklist] = {
    Product.BANK_STATEMENT: Checklist(
        "your last 12 months of bank statements",
        first=(
            "12 or 24 months of complete bank statements, business or personal, every page; the latest 12 first",
            _ID,
        ),
        rest=(
            "Proof of at least two years in business: a business license or a letter from your CPA",
            "A profit and loss statement from your CPA, only if you want a smaller expense share than the standard one",
            "Your company documents if the business is an LLC or S-Corp",
            _CREDIT,
            _PROPERTY,
        ),
    ),
    Product.DSCR: Checklist(
        "the property address, price and lease or rent estimate",
        first=(
            "The property address and the purchase price (or its estimated value, for a refinance)",
            "The lease if the property is rented, or a rent schedule from the appraiser showing market rent",
        ),
        rest=("Your company documents if you are buying in an LLC", _ID, _CREDIT),
    ),
    Product.CREDIT_EVENT: Checklist(
        "your discharge or completion papers",
        first=("Your discharge or completion papers, showing the dates", _ID),
        rest=("A short letter explaining what happened and what has changed since", _CREDIT),
    ),
    Product.ASSET_DEPLETION: Checklist(
        "recent statements for each account you want counted",
        first=("Recent statements for every account you want counted: checking, savings, brokerage and retirement",),
        rest=("Social Security or pension award letters, if you receive either", _ID, _CREDIT),
    ),
    Product.FOREIGN_NATIONAL: Checklist(
        "your passport and visa",
        first=("Your passport", "Your visa, if you have one"),
        rest=(
            "Proof of income from your home country, such as an employer or accountant letter",
            "Bank statements showing the down payment and reserves",
        ),
    ),
    Product.TEN99: Checklist(
        "your 1099s for the last one or two years",
        first=("Every 1099 you received for the last one or two years", _ID),
        rest=(
            "A recent statement from the account your 1099 income is paid into",
            "A letter from your CPA or tax preparer, only if some of the 1099 income goes on business costs",
            _CREDIT,
            _PROPERTY,
        ),
    ),
    Product.PNL: Checklist(
        "your 12-month profit and loss statement",
        first=("A profit and loss statement for the last 12 months, prepared and signed by your CPA", _ID),
        rest=(
            "A letter from the CPA confirming they prepared it and that you have been in business at least two years",
            "Two or three recent business bank statements that back up the P&L",
            _CREDIT,
            _PROPERTY,
        ),
    ),
    Product.GENERAL: Checklist(
        "a photo ID and what shows your income best",
        first=(_ID, "Whatever shows your income best: recent bank statements, 1099s or a profit and loss statement"),
        rest=(_CREDIT, _PROPERTY),
    ),
}
assert set(CHECKLISTS) == set(Product), "a checklist for every product"


def checklist(product: Product) -> Checklist:
    return CHECKLISTS[product]

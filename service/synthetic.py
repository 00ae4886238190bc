"""Seeded synthetic aged non-QM leads, in the lead CSV format (docs/leads-csv.md).

Used by the demo and the benchmark. The same seed and ``as_of`` give the same
rows. Phone numbers carry real area codes (valid for ``phonenumbers``), of the
lead's state except for about 5% of leads who kept a number from another state;
zips share the address's area-code region; emails and web forms use reserved
example domains.

The compliance columns (second phone, Do Not Call scrub, consent) come from a
second random stream, so the other columns of a seed do not depend on them.
"""

from __future__ import annotations

import csv
import random
from bisect import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path
from typing import TypeVar

from service.settings import Settings
from storage.importer import COLUMNS

T = TypeVar("T")

# fmt: off
# state -> (share of leads, [(area code, three-digit zip prefix of the same region), ...])
STATES: dict[str, tuple[float, list[tuple[int, str]]]] = {
    "CA": (12.0, [(213, "900"), (310, "902"), (415, "941"), (619, "921"), (714, "926"), (818, "913"),
                  (916, "958"), (408, "951"), (510, "946")]),
    "TX": (9.0, [(214, "752"), (713, "770"), (512, "787"), (210, "782"), (817, "761"), (915, "799")]),
    "FL": (7.0, [(305, "331"), (407, "328"), (813, "336"), (904, "322"), (561, "334"), (850, "325")]),
    "NY": (6.0, [(212, "100"), (718, "112"), (516, "115"), (716, "142"), (518, "122")]),
    "PA": (3.9, [(215, "191"), (412, "152"), (717, "171")]),
    "IL": (3.8, [(312, "606"), (773, "606"), (630, "605"), (217, "627")]),
    "OH": (3.5, [(216, "441"), (614, "432"), (513, "452")]),
    "GA": (3.3, [(404, "303"), (770, "300"), (912, "314")]),
    "NC": (3.2, [(704, "282"), (919, "276"), (336, "274")]),
    "MI": (3.0, [(313, "482"), (616, "495"), (248, "480")]),
    "NJ": (2.8, [(201, "070"), (732, "088"), (973, "071")]),
    "VA": (2.6, [(703, "220"), (804, "232"), (757, "234")]),
    "WA": (2.3, [(206, "981"), (509, "992"), (253, "984")]),
    "AZ": (2.3, [(602, "850"), (520, "857"), (480, "852")]),
    "TN": (2.1, [(615, "372"), (901, "381"), (865, "379"), (423, "374")]),
    "MA": (2.1, [(617, "021"), (508, "017"), (413, "011")]),
    "IN": (2.0, [(317, "462"), (219, "463"), (812, "477")]),
    "MO": (1.8, [(314, "631"), (816, "641"), (417, "658")]),
    "MD": (1.8, [(410, "212"), (301, "208")]),
    "WI": (1.8, [(414, "532"), (608, "537")]),
    "CO": (1.8, [(303, "802"), (719, "809"), (970, "805")]),
    "MN": (1.7, [(612, "554"), (651, "551")]),
    "SC": (1.6, [(803, "292"), (843, "294"), (864, "296")]),
    "AL": (1.5, [(205, "352"), (256, "358"), (334, "361")]),
    "LA": (1.4, [(504, "701"), (225, "708"), (318, "711")]),
    "KY": (1.3, [(502, "402"), (859, "405"), (270, "421")]),
    "OR": (1.3, [(503, "972"), (541, "974")]),
    "OK": (1.2, [(405, "731"), (918, "741")]),
    "CT": (1.1, [(203, "065"), (860, "061")]),
    "UT": (1.0, [(801, "841"), (435, "847")]),
    "NV": (1.0, [(702, "891"), (775, "895")]),
    "IA": (0.9, [(515, "503"), (319, "522")]),
    "AR": (0.9, [(501, "722")]),
    "MS": (0.9, [(601, "392")]),
    "KS": (0.9, [(316, "672"), (913, "662")]),
    "NM": (0.6, [(505, "871")]),
    "NE": (0.6, [(402, "681"), (308, "693")]),
    "ID": (0.6, [(208, "837"), (208, "838")]),
    "WV": (0.5, [(304, "253")]),
    "HI": (0.4, [(808, "968")]),
    "NH": (0.4, [(603, "031")]),
    "ME": (0.4, [(207, "041")]),
    "MT": (0.3, [(406, "591")]),
    "RI": (0.3, [(401, "029")]),
    "DE": (0.3, [(302, "197")]),
    "SD": (0.3, [(605, "571"), (605, "577")]),
    "ND": (0.2, [(701, "581"), (701, "586")]),
    "AK": (0.2, [(907, "995")]),
    "DC": (0.2, [(202, "200")]),
    "VT": (0.2, [(802, "054")]),
    "WY": (0.2, [(307, "820")]),
}
FIRST_NAMES = (
    "Maria", "James", "Wei", "Aisha", "Carlos", "Emily", "Daniel", "Priya", "Jose", "Olivia", "Michael",
    "Fatima", "David", "Sofia", "Kevin", "Linh", "Robert", "Camila", "Andre", "Hannah", "Luis", "Grace",
    "Omar", "Nicole", "Anthony", "Mei", "Brian", "Valentina", "Tyrone", "Rachel", "Hector", "Yuki", "Samuel",
    "Leah", "Dmitri", "Ana", "Marcus", "Keisha", "Raj", "Elena", "Thomas", "Gabriela", "Jamal", "Laura",
    "Victor", "Ngozi",
)
LAST_NAMES = (
    "Garcia", "Smith", "Nguyen", "Johnson", "Rodriguez", "Williams", "Chen", "Brown", "Martinez", "Patel",
    "Jones", "Hernandez", "Kim", "Davis", "Lopez", "Miller", "Gonzalez", "Wilson", "Okafor", "Anderson",
    "Perez", "Taylor", "Singh", "Thomas", "Rivera", "Moore", "Cohen", "Jackson", "Ramirez", "White", "Ali",
    "Harris", "Torres", "Clark", "Ivanova", "Lewis", "Flores", "Walker", "Tanaka", "Young", "Morales",
    "Baptiste",
)
# fmt: on
DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")
SOURCES = ("Harbor Lead Co", "Aged Lead Exchange", "Summit Data", "Keystone Leads")
SELLER: str = Settings.model_fields["company_name"].default  # the demo company the borrowers agreed to hear from
# The consent language on each vendor's form, naming the seller; {seller} is filled in.
DISCLOSURES = (
    "By submitting this form I agree that {seller} may contact me about mortgage options at the number I gave, "
    "including with automated text messages and prerecorded or artificial-voice calls, even if that number is on a "
    "Do Not Call list. Agreeing is not a condition of buying any property, loan or service. Msg & data rates may "
    "apply. Reply STOP to opt out at any time.",
    "I give {seller} my express written consent to send me marketing texts using an automatic dialing system and to "
    "leave prerecorded voice messages at the phone number above. I understand this consent is not a condition of "
    "purchase and that I can take it back at any time.",
)
# States with stricter calling hours: half of the out-of-state numbers come from their area codes.
STRICT_STATES = ("FL", "OK", "MD")
CREDIT_EVENTS = {"chapter_7": 40, "chapter_13": 15, "foreclosure": 25, "short_sale": 15, "deed_in_lieu": 5}
PURPOSES = {"purchase": 65, "refinance": 25, "cash_out": 10}
PROPERTY_TYPES = {"single_family": 62, "condo": 15, "townhouse": 10, "multi_unit": 13}

# situation -> (share, FICO mean, FICO spread, typical loan amount)
SITUATIONS: dict[str, tuple[float, int, int, int]] = {
    "bank_statement": (30, 715, 40, 450_000),
    "dscr": (22, 730, 35, 375_000),
    "credit_event": (18, 625, 35, 300_000),
    "asset_depletion": (10, 760, 30, 750_000),
    "foreign_national": (7, 725, 40, 500_000),
    "high_dti": (5, 690, 40, 400_000),
    "general": (8, 680, 45, 350_000),
}


class _Draw:
    """Fast draws over one ``random.Random``: ``choices`` and ``randint`` dominate at a million rows."""

    def __init__(self, seed: int | str) -> None:
        self.rng = random.Random(seed)
        self.random, self.gauss = self.rng.random, self.rng.gauss

    def int(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low + 1))

    def pick(self, items: Sequence[T]) -> T:
        return items[int(self.random() * len(items))]

    def weighted(self, table: _Weighted) -> str:
        items, cum = table
        return items[bisect(cum, self.random() * cum[-1])]


_Weighted = tuple[list[str], list[float]]


def _weighted(weights: Mapping[str, float]) -> _Weighted:
    return list(weights), list(accumulate(weights.values()))


_STATE_W = _weighted({code: share for code, (share, _) in STATES.items()})
_SITUATION_W = _weighted({kind: s[0] for kind, s in SITUATIONS.items()})
_NO = dict.fromkeys(("self_employed", "investment_property", "foreign_national", "high_dti"), "no")
_BLANK = dict.fromkeys(COLUMNS, "") | _NO
_EVENT_W, _PURPOSE_W, _PTYPE_W = _weighted(CREDIT_EVENTS), _weighted(PURPOSES), _weighted(PROPERTY_TYPES)
_AREA_CODES = [(npa, state) for state, (_, areas) in STATES.items() for npa, _ in areas]
_STRICT_AREA_CODES = [(npa, state) for npa, state in _AREA_CODES if state in STRICT_STATES]
_FORMS = {vendor: f"https://apply.{''.join(ch for ch in vendor.lower() if ch.isalnum())}.example/form"
          for vendor in SOURCES}  # fmt: skip


def _phone(d: _Draw, npa: int) -> str:
    nxx = d.int(200, 999)
    while nxx % 100 == 11 or nxx == 555:  # N11 service codes and 555 are not issued to subscribers
        nxx = d.int(200, 999)
    line, style = d.int(0, 9999), d.random()
    if style < 0.5:
        return f"({npa}) {nxx}-{line:04d}"
    if style < 0.8:
        return f"{npa}-{nxx}-{line:04d}"
    return f"+1{npa}{nxx}{line:04d}"


def _money(d: _Draw, mean: int, *, step: int = 5_000, floor: int = 100_000) -> int:
    return max(floor, round(d.gauss(mean, mean * 0.25) / step) * step)


def _situation(d: _Draw, kind: str, event_dates: list[str], row: dict[str, str]) -> None:
    """Fill the borrower's situation into ``row`` (booleans start at "no")."""
    _, fico_mean, fico_spread, loan_mean = SITUATIONS[kind]
    purpose, ptype = d.weighted(_PURPOSE_W), d.weighted(_PTYPE_W)
    loan = _money(d, loan_mean)
    if kind in ("bank_statement", "high_dti"):
        row["self_employed" if kind == "bank_statement" else "high_dti"] = "yes"
        if kind == "bank_statement" and purpose != "purchase":
            loan = _money(d, 400_000)
    elif kind == "dscr":
        row["investment_property"] = "yes"
        row["self_employed"] = "yes" if d.random() < 0.3 else "no"
        if ptype == "multi_unit":
            loan = _money(d, 600_000)
        row["monthly_rent"] = str(round(loan * (0.0065 + 0.003 * d.random()) / 25) * 25)
    elif kind == "credit_event":
        row["credit_event_type"] = d.weighted(_EVENT_W)
        row["credit_event_date"] = d.pick(event_dates)
        row["self_employed"] = "yes" if d.random() < 0.25 else "no"
    elif kind == "asset_depletion":
        row["liquid_assets"] = f"${_money(d, 1_400_000, step=10_000, floor=500_000):,}"
    elif kind == "foreign_national":
        row["foreign_national"] = "yes"
    no_us_credit = kind == "foreign_national" and d.random() < 0.6
    score = min(850, max(500, round(d.gauss(fico_mean, fico_spread))))
    fico = "" if no_us_credit or d.random() < 0.05 else str(score)
    row.update(fico=fico, loan_amount=str(loan), loan_purpose=purpose, property_type=ptype)


def _documented_income(d: _Draw, row: dict[str, str]) -> None:
    """About a third of the leads whose situation says nothing else were paid on 1099s, a quarter have a CPA's P&L."""
    story = d.random()
    if story < 0.35:
        months = 24 if d.random() < 0.5 else 12
        yearly = max(30_000, round(d.gauss(110_000, 30_000) / 1_000) * 1_000)
        row.update(gross_1099=str(yearly * months // 12), gross_1099_months=str(months))
    elif story < 0.6:
        row["pl_net"] = str(max(25_000, round(d.gauss(140_000, 40_000) / 1_000) * 1_000))


def _compliance(c: _Draw, row: dict[str, str], *, inquiry: date, as_of: date) -> None:
    """Fill the second phone, the Do Not Call scrub and the consent into ``row`` (phone and source already set)."""
    state = row["address_state"]
    if not row["phone"]:
        return
    if c.random() < 0.05:  # a number kept from another state: area-code and address rules disagree
        pool = _STRICT_AREA_CODES if c.random() < 0.5 else _AREA_CODES
        npa, npa_state = c.pick(pool)
        while npa_state == state:
            npa, npa_state = c.pick(pool)
        row["phone"] = _phone(c, npa)
    if c.random() < 0.15:
        row["alt_phone"] = _phone(c, c.pick(STATES[state][1])[0])
    listed, scrub = c.random() < 0.08, c.random()
    if listed or scrub >= 0.03:  # about 3% never scrubbed; a listed number always was
        age = c.int(32, 120) if 0.03 <= scrub < 0.08 else c.int(0, 30)  # about 5% older than 31 days
        day = as_of - timedelta(days=age)
        row["dnc"] = "yes" if listed else "no"
        row["dnc_scrubbed_on"] = day.isoformat() if c.random() < 0.8 else f"{day.month}/{day.day}/{day.year}"
    if c.random() < 0.833:  # of leads with a phone: about 80% of all leads
        vendor = row["source"]
        day = inquiry - timedelta(days=0 if c.random() < 0.7 else c.int(1, 2))
        hour, minute, second, style = c.int(12, 23), c.int(0, 59), c.int(0, 59), c.random()
        if style < 0.55:  # UTC: 12:00-23:59Z falls on the same calendar day everywhere in the US
            consent_at = f"{day.isoformat()}T{hour:02d}:{minute:02d}:{second:02d}Z"
        elif style < 0.85:  # the vendor's local clock: read in the lead's zone
            consent_at = f"{day.isoformat()} {hour - 4:02d}:{minute:02d}"
        else:
            consent_at = day.isoformat()
        row.update(
            consent_at=consent_at,
            consent_source=_FORMS[vendor] if c.random() < 0.8 else vendor,
            consent_text=c.pick(DISCLOSURES).format(seller=SELLER),
            consent_seller=SELLER,
        )
        if row["alt_phone"] and c.random() < 0.1:
            row["consent_phone"] = row["alt_phone"]  # the borrower typed the second number into the form


def _days_before(as_of: date, low: int, high: int) -> list[date]:
    return [as_of - timedelta(days=days) for days in range(low, high + 1)]


# Aged leads are sold in tiers by age; a tier is (its share of the leads, the fewest and the most days from the
# inquiry to ``as_of``). The default is one purchase of 30-90 day leads, the age the benchmarks describe; the
# demo buys from three tiers so its report has every age band.
AgeTiers = tuple[tuple[float, int, int], ...]
AGED_30_90: AgeTiers = ((1.0, 30, 90),)
MIXED_AGES: AgeTiers = ((0.2, 7, 29), (0.6, 30, 90), (0.2, 91, 180))


def iter_leads(n: int, *, seed: int, as_of: date, ages: AgeTiers = AGED_30_90) -> Iterator[dict[str, str]]:
    """``n`` lead rows (every CSV column, as text), inquiries ``ages`` before ``as_of`` (default 30-90 days).

    The tier of each lead is drawn from a stream of its own, so the tiers change the inquiry dates and nothing
    else: the other columns of a seed are the same for any ``ages``. So are the 1099 and P&L figures of the
    leads whose situation says nothing else (they make 1099-only and P&L-only leads)."""
    d, c, a = _Draw(seed), _Draw(f"compliance-{seed}"), _Draw(f"ages-{seed}")
    income = _Draw(f"income-{seed}")
    tiers = [
        [(day, day.isoformat(), f"{day.month}/{day.day}/{day.year}") for day in _days_before(as_of, low, high)]
        for _, low, high in ages
    ]
    tier_w = _weighted({str(i): share for i, (share, _, _) in enumerate(ages)})
    event_dates = [day.isoformat() for day in _days_before(as_of, 365, 6 * 365)]  # 1-6 years back
    for i in range(n):
        state = d.weighted(_STATE_W)
        npa, zip3 = d.pick(STATES[state][1])
        first, last = d.pick(FIRST_NAMES), d.pick(LAST_NAMES)
        inquiry_dates = tiers[0] if len(tiers) == 1 else tiers[int(a.weighted(tier_w))]
        inquiry, iso_date, us_date = d.pick(inquiry_dates)
        row = dict(
            _BLANK,
            external_id=f"S{seed}-{i + 1:07d}",
            first_name=first,
            last_name=last,
            phone=_phone(d, npa),
            email=f"{first.lower()}.{last.lower()}{d.int(1, 9999)}@{d.pick(DOMAINS)}",
            address_state=state,
            zip=f"{zip3}{d.int(0, 99):02d}",
            source=d.pick(SOURCES),
            cost=f"${3 + 5 * d.random():.2f}",
            inquiry_date=iso_date if d.random() < 0.8 else us_date,
        )
        if d.random() < 0.08:
            row["email" if d.random() < 0.5 else "phone"] = ""  # vendors send partial contact data
        kind = d.weighted(_SITUATION_W)
        _situation(d, kind, event_dates, row)
        if kind == "general":
            _documented_income(income, row)
        _compliance(c, row, inquiry=inquiry, as_of=as_of)
        yield row


def generate_leads(n: int, *, seed: int, as_of: date, ages: AgeTiers = AGED_30_90) -> list[dict[str, str]]:
    return list(iter_leads(n, seed=seed, as_of=as_of, ages=ages))


def write_csv(rows: Iterable[dict[str, str]], path: Path) -> int:
    """Write rows with the documented header; returns how many were written."""
    count = 0
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count

"""Compliance lint: render every template for every product and check it against the rules that apply.

Each rule is a function taking one :class:`Sample` (a template rendered for one
sample lead) and returning its problems as sentences; a rule that does not
apply to the sample's channel returns none. :func:`lint_templates` renders
every template file of a folder for every product, for a lead with every
optional field and a lead with only the required ones (templates branch on
both), each with its worksheet of numbers under sample lender programs, and
runs every rule in :data:`RULES` over each rendering.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import date
from pathlib import Path

from jinja2 import TemplateError

from channels.messages import EmailMessage, SmsMessage, VoicemailMessage
from channels.render import (
    Brand,
    LeadView,
    OfficerView,
    RenderContext,
    render,
    render_call_script,
    sms_segments,
    template_names,
)
from nurture.actions import Channel
from nurture.cadence import Cadence
from nurture.documents import deadlines
from nurture.eligibility import LeadFacts
from nurture.guidelines import PROGRAMS, ProgramRules
from nurture.income import StatementType
from nurture.products import CreditEventType, LoanPurpose, Product, PropertyType
from nurture.worksheet import Worksheet, worksheet

SAMPLE_OFFICER = OfficerView(
    name="Jordan Ellis", phone="+13125550142", email="jordan.ellis@example.com", nmls_id="1234567"
)
_SAMPLE_LEAD = LeadView(
    id=1001,
    first_name="Maria",
    last_name="Lopez",
    email="maria.lopez@example.com",
    phone="+13125550199",
    product=Product.GENERAL,
    address_state="IL",
    fico=655,
    credit_event_type=CreditEventType.CHAPTER_7,
    credit_event_date=date(2022, 3, 15),
    loan_purpose=LoanPurpose.PURCHASE,
    property_type=PropertyType.SINGLE_FAMILY,
    monthly_rent=2400,
    loan_amount=350_000,
    liquid_assets=1_200_000,
)
_SPARSE_LEAD = LeadView(
    id=1002,
    first_name="Sam",
    last_name="Okafor",
    email="sam.okafor@example.com",
    phone="+13125550188",
    product=Product.GENERAL,
)
# The sample leads' numbers are worked out on SAMPLE_DAY under one sample lender's programs (one per product):
# the full lead's chapter 7 seasons after the day, so the scripts and emails show a date still to come.
SAMPLE_DAY = date(2026, 6, 1)
SAMPLE_PROGRAMS = tuple(
    ProgramRules(
        lender="Sample Lending",
        program=program,
        effective_date=date(2026, 1, 1),
        min_fico=620,
        seasoning_months={CreditEventType.CHAPTER_7: 60},
        min_dscr=1.0 if program is Product.DSCR else None,
        asset_divisor=72 if program is Product.ASSET_DEPLETION else None,
        max_dti=50.0,
    )
    for program in PROGRAMS
)
_SAMPLE_INCOME = {
    "monthly_deposits": 18_400, "statement_type": StatementType.BUSINESS, "statement_months": 12, "monthly_debts": 450,
}  # fmt: skip
# The guideline change each product's sample re-engagement names, as the lender-update feed words it.
SAMPLE_REASONS: dict[Product, str] = {
    Product.BANK_STATEMENT: "lowered its minimum credit score from 660 to 620 for bank statement loans",
    Product.DSCR: "lowered its minimum debt service coverage ratio from 1.0 to 0.75 for DSCR loans",
    Product.CREDIT_EVENT: "shortened the wait after a chapter 7 bankruptcy from 48 to 24 months for credit event loans",
    Product.ASSET_DEPLETION: "shortened its asset depletion divisor from 84 to 60 months for asset depletion loans",
    Product.FOREIGN_NATIONAL: "lowered its minimum loan amount from $250,000 to $150,000 for foreign national loans",
    Product.GENERAL: "lowered its minimum credit score from 680 to 640 for 1099 income loans",
    Product.TEN99: "lowered its minimum credit score from 680 to 640 for 1099 income loans",
    Product.PNL: "shortened the time in business it asks of P&L borrowers from 24 to 12 months for P&L loans",
}
# The due dates a sample documents sequence names: day 0 on a Thursday, so they fall after a weekend.
SAMPLE_DEADLINES = deadlines(date(2026, 3, 5))


@dataclass(frozen=True, slots=True)
class Finding:
    template: str  # channel/name, e.g. "sms/intro"
    product: Product
    rule: str
    message: str


@dataclass(frozen=True, slots=True)
class Sample:
    """One template rendered for one sample lead. ``output`` is the message, or the script for a call."""

    channel: str
    name: str
    ctx: RenderContext
    output: EmailMessage | SmsMessage | VoicemailMessage | str
    first_sms: bool = False  # the first text the cadence sends

    @property
    def template(self) -> str:
        return f"{self.channel}/{self.name}"

    @property
    def words(self) -> str:
        """Everything a borrower or loan officer reads: subject and text part, text body, script."""
        out = self.output
        if isinstance(out, EmailMessage):
            return f"{out.subject}\n\n{out.text}"
        if isinstance(out, SmsMessage):
            return out.body
        if isinstance(out, VoicemailMessage):
            return out.script
        return out


Rule = Callable[[Sample], list[str]]

_HREF = re.compile(r"""<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_EQUAL_HOUSING = re.compile(r"\bequal\s+housing\s+(?:opportunity|lender)\b", re.IGNORECASE)
_STOP_INSTRUCTION = re.compile(r"\b(?i:reply|text|send)\b[^.!?]{0,20}\bSTOP\b")
_LOOKALIKES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "`": "'", "\u00b4": "'", "\u2010": "-"})
_APPROVAL = re.compile(
    r"\byou'?re\s+approved\b|\byou\s+are\s+approved\b|\byou(?:'ve|\s+have)\s+been\s+approved\b"
    r"|\bguarant(?:ee|y)\w*|\bpre[-\s]?approved\b",
    re.IGNORECASE,
)
_PERCENT = re.compile(r"(?<![\w.])(?:\d+(?:\.\d+)?|\.\d+)\s*(?:%|per\s?cent\b)", re.IGNORECASE)
_RATE_WORDS = frozenset({"rate", "rates", "interest"})
_NOT_RATE_WORDS = frozenset(
    {"down", "of", "expense", "expenses", "ratio", "ltv", "loan-to-value", "dti", "debt-to-income"}
    | {"deposit", "deposits", "equity", "ownership", "occupancy", "vacancy"}
)
_APR = re.compile(r"\bAPR\b|(?i:\bannual\s+percentage\s+rate\b)")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\s*\n\s*\n\s*|\s*\n(?=\s*- )")
_URL = re.compile(r"\b(?:https?://|mailto:|tel:)\S+", re.IGNORECASE)
_NOT_AN_APPROVAL = re.compile(r"\bestimates?\b[^.!?]{0,80}?\bnot\s+(?:an?\s+)?approval\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def email_unsubscribe_link(sample: Sample) -> list[str]:
    """CAN-SPAM: every email carries a working unsubscribe link, an ``<a>`` pointing at the lead's own URL."""
    if not isinstance(sample.output, EmailMessage):
        return []
    hrefs = {html.unescape(a or b) for a, b in _HREF.findall(sample.output.html)}
    if sample.ctx.unsubscribe_url in hrefs:
        return []
    return ["no link to the lead's unsubscribe URL (an <a> whose href is unsubscribe_url)"]


def email_one_click_headers(sample: Sample) -> list[str]:
    """RFC 8058 one-click unsubscribe, which large mailbox providers require: List-Unsubscribe with the
    lead's https unsubscribe URL, and List-Unsubscribe-Post set to ``List-Unsubscribe=One-Click``."""
    if not isinstance(sample.output, EmailMessage):
        return []
    headers = {k.lower(): v for k, v in sample.output.headers.items()}
    problems = []
    url = sample.ctx.unsubscribe_url
    if f"<{url}>" not in headers.get("list-unsubscribe", ""):
        problems.append("the List-Unsubscribe header is missing or does not carry the unsubscribe URL")
    elif not url.lower().startswith("https://"):
        problems.append(f"one-click unsubscribe needs an https URL, not {url!r} (DRIPLINE_UNSUBSCRIBE_BASE_URL)")
    if headers.get("list-unsubscribe-post", "").strip() != "List-Unsubscribe=One-Click":
        problems.append("the List-Unsubscribe-Post header must be 'List-Unsubscribe=One-Click'")
    return problems


def email_postal_address(sample: Sample) -> list[str]:
    """CAN-SPAM: every email shows the company's physical postal address."""
    if not isinstance(sample.output, EmailMessage):
        return []
    address = " ".join(sample.ctx.brand.company_address.split())
    if not address:
        return ["no company postal address is configured (DRIPLINE_COMPANY_ADDRESS)"]
    if address not in " ".join(sample.output.text.split()):
        return [f"the company postal address ({address!r}) is not in the email"]
    return []


def email_nmls_ids(sample: Sample) -> list[str]:
    """Mortgage advertising: a solicitation shows the company's NMLS ID and the loan officer's, each after "NMLS"."""
    if not isinstance(sample.output, EmailMessage):
        return []
    problems = []
    for whose, nmls_id in (("company", sample.ctx.brand.company_nmls_id), ("loan officer", sample.ctx.officer.nmls_id)):
        if not nmls_id.strip():
            problems.append(f"the sample {whose} has no NMLS ID to show")
        elif not re.search(rf"NMLS\D{{0,12}}{re.escape(nmls_id.strip())}(?!\d)", sample.output.text):
            problems.append(f"the {whose}'s NMLS ID ({nmls_id}) is not in the email")
    return problems


def email_equal_housing_legend(sample: Sample) -> list[str]:
    """Fair lending advertising: every email carries "Equal Housing Opportunity" or "Equal Housing Lender"."""
    if not isinstance(sample.output, EmailMessage) or _EQUAL_HOUSING.search(sample.output.text):
        return []
    return ["no Equal Housing Opportunity (or Equal Housing Lender) legend"]


def first_sms_names_sender(sample: Sample) -> list[str]:
    """The cadence's first text identifies who sends it: the company, by name (with or without the officer's)."""
    if not sample.first_sms or not isinstance(sample.output, SmsMessage):
        return []
    company = sample.ctx.brand.company_name.strip()
    if not company:
        return ["no company name is configured (DRIPLINE_COMPANY_NAME)"]
    if company.casefold() not in sample.output.body.casefold():
        return [f"the cadence's first text does not name the company ({company!r})"]
    return []


def first_sms_says_how_to_opt_out(sample: Sample) -> list[str]:
    """The cadence's first text says how to opt out: "STOP" after "reply", "text" or "send" in one sentence."""
    if (
        not sample.first_sms
        or not isinstance(sample.output, SmsMessage)
        or _STOP_INSTRUCTION.search(sample.output.body)
    ):
        return []
    return ["the cadence's first text does not say how to opt out (e.g. 'Reply STOP to opt out')"]


def sms_within_two_segments(sample: Sample) -> list[str]:
    """Every text fits in two SMS segments, so it arrives whole and costs what the plan expects."""
    if not isinstance(sample.output, SmsMessage):
        return []
    body = sample.output.body
    segments = sms_segments(body)
    if segments <= 2:
        return []
    return [f"{segments} segments ({len(body)} characters); keep texts within 2 GSM-7 segments (306 characters)"]


def no_approval_promise(sample: Sample) -> list[str]:
    """No misleading claim of approval, on any channel: "you're approved", "you are approved", "you've been
    approved", "guarantee" in any form, "pre-approved" (case-insensitive, curly apostrophes and hyphens alike)."""
    phrases = dict.fromkeys(
        " ".join(m.group().lower().split()) for m in _APPROVAL.finditer(sample.words.translate(_LOOKALIKES))
    )
    return [f"promises approval: {phrase!r}" for phrase in phrases]


def email_estimate_is_not_an_approval(sample: Sample) -> list[str]:
    """An email that shows the borrower's own estimate (a figure of ``ctx.numbers.estimates``: income, DSCR, a
    seasoning date) shows what it rests on, its basis, and says in one sentence that it is an estimate and not
    an approval ("This is an estimate ..., not an approval"), so a number is never read as an offer."""
    if not isinstance(sample.output, EmailMessage) or sample.ctx.numbers is None:
        return []
    text = " ".join(sample.output.text.split())
    shown = [f for f in sample.ctx.numbers.estimates if f.value in text]
    problems = [f"shows {f.value!r} without its basis ({f.basis!r})" for f in shown if f.basis not in text]
    if shown and not _NOT_AN_APPROVAL.search(text):
        values = ", ".join(repr(f.value) for f in shown)
        problems.append(f"shows the borrower's estimate ({values}) without saying it is an estimate, not an approval")
    return problems


def no_rate_without_apr(sample: Sample) -> list[str]:
    """A rate is shown only with its APR, on any channel. See :func:`rates_without_apr` for what reads as a rate."""
    return [
        f"{pct!r} reads as a rate with no APR in its sentence: {sentence!r}"
        for pct, sentence in rates_without_apr(sample.words)
    ]


def rates_without_apr(text: str) -> list[tuple[str, str]]:
    """Each percentage in ``text`` that reads as an interest rate with no APR in its sentence, with the sentence.

    A percentage is a number followed by ``%``, "percent" or "per cent" ("6.5%", "7 %", "6.25 percent").
    It reads as a rate when a rate word ("rate", "rates", "interest") is among the four words before it or
    the four after it, or when neither of the two words right after it names another quantity: "down",
    "of", "expense(s)", "ratio", "LTV", "loan-to-value", "DTI", "debt-to-income", "deposit(s)", "equity",
    "ownership", "occupancy", "vacancy". So a bare "6.5%" reads as a rate; "50% expense ratio", "100% of
    deposits" and "20% down" do not, unless a rate word is close by. Such a percentage passes when its
    sentence says "APR" (upper case) or "annual percentage rate". A sentence ends at ".", "!" or "?"
    followed by white space, at a blank line and before a "- " list item; other line breaks are soft
    wraps (call scripts are wrapped at 90 columns). Web, mailto and tel links are ignored.
    """
    found: list[tuple[str, str]] = []
    for sentence in _SENTENCE_BREAK.split(_URL.sub(" ", text)):
        if _APR.search(sentence):
            continue
        for match in _PERCENT.finditer(sentence):
            before = [w.lower() for w in _WORD.findall(sentence[: match.start()])][-4:]
            after = [w.lower() for w in _WORD.findall(sentence[match.end() :])][:4]
            near_rate_word = not _RATE_WORDS.isdisjoint(before + after)
            names_other_quantity = not _NOT_RATE_WORDS.isdisjoint(after[:2])
            if near_rate_word or not names_other_quantity:
                found.append((match.group(), _shorten(sentence)))
    return found


RULES: tuple[Rule, ...] = (
    email_unsubscribe_link,
    email_one_click_headers,
    email_postal_address,
    email_nmls_ids,
    email_equal_housing_legend,
    first_sms_names_sender,
    first_sms_says_how_to_opt_out,
    sms_within_two_segments,
    no_approval_promise,
    no_rate_without_apr,
    email_estimate_is_not_an_approval,
)
RENDERS = "renders"  # the rule name of a template that fails to render at all


def lint_templates(*, templates_dir: Path, cadence: Cadence, brand: Brand, unsubscribe_base_url: str) -> list[Finding]:
    """Render every template in ``templates_dir`` for every product and run every rule.

    The first-text rules apply to the template of ``cadence``'s first SMS step.
    For each template and product a rule is reported once, for the first sample lead it fires on.
    """
    first_sms = first_sms_template(cadence)
    names = [(channel, name) for channel, names in template_names(templates_dir).items() for name in names]
    if first_sms is not None and ("sms", first_sms) not in names:
        names.append(("sms", first_sms))
    findings: list[Finding] = []
    for channel, name in names:
        for product in Product:
            fired: set[str] = set()
            for ctx in sample_contexts(brand, unsubscribe_base_url, product):
                checked = _check(channel, name, ctx, templates_dir, first_sms=(channel, name) == ("sms", first_sms))
                new = [f for f in checked if f.rule not in fired]
                findings.extend(new)
                fired.update(f.rule for f in new)
    return findings


def first_sms_template(cadence: Cadence) -> str | None:
    """The template of the cadence's first text message, if it sends any."""
    step = next((s for s in cadence.steps if s.channel is Channel.SMS), None)
    return step.templates[0] if step else None


def sample_contexts(brand: Brand, unsubscribe_base_url: str, product: Product) -> tuple[RenderContext, ...]:
    """Realistic contexts for ``product``: a lead with every optional field, and one with none, each with the
    product's sample guideline change for the re-engagement templates to name and its worksheet."""
    return tuple(
        RenderContext(
            lead=replace(lead, product=product),
            officer=SAMPLE_OFFICER,
            brand=brand,
            unsubscribe_url=f"{unsubscribe_base_url}?lead={lead.id}&token=0123456789abcdef01234567",
            reason=SAMPLE_REASONS[product],
            numbers=sample_numbers(lead, product, income=lead is _SAMPLE_LEAD),
            deadlines=SAMPLE_DEADLINES,
        )
        for lead in (_SAMPLE_LEAD, _SPARSE_LEAD)
    )


def sample_numbers(lead: LeadView, product: Product, *, income: bool) -> Worksheet:
    """The worksheet of a sample lead as ``product``, on :data:`SAMPLE_DAY` under :data:`SAMPLE_PROGRAMS`; with
    ``income``, the lead also carries bank-statement deposits and monthly debts."""
    known = {f.name: getattr(lead, f.name) for f in fields(LeadFacts) if hasattr(lead, f.name)}
    extra = {"lead_id": lead.id or 0, "product": product, "inquiry_date": date(2025, 11, 1)}
    facts = LeadFacts(**known | extra | (_SAMPLE_INCOME if income else {}))
    return worksheet(facts, SAMPLE_PROGRAMS, SAMPLE_DAY)


def _check(channel: str, name: str, ctx: RenderContext, templates_dir: Path, *, first_sms: bool) -> list[Finding]:
    template, product = f"{channel}/{name}", ctx.lead.product
    try:
        output: EmailMessage | SmsMessage | VoicemailMessage | str
        if channel == "call":
            output = render_call_script(name, ctx, templates_dir=templates_dir)
        else:
            output = render(channel, name, ctx, templates_dir=templates_dir)
    except (TemplateError, LookupError, ValueError, TypeError, ArithmeticError) as exc:
        return [Finding(template, product, RENDERS, f"{type(exc).__name__}: {exc}")]
    sample = Sample(channel, name, ctx, output, first_sms=first_sms)
    return [Finding(template, product, rule.__name__, message) for rule in RULES for message in rule(sample)]


def _shorten(sentence: str, limit: int = 100) -> str:
    sentence = " ".join(sentence.split())
    return sentence if len(sentence) <= limit else sentence[: limit - 3] + "..."

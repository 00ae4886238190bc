"""Render a lead's messages and call scripts from Jinja2 templates, apart from sending them.

Templates live in a templates folder (the caller's, or the one dripline ships), found by channel and name:

- ``email/<name>.html.j2``: the HTML, autoescaped. Its ``<title>`` (the
  ``subject`` block of the shared layout) is the subject, and the plain-text
  part is derived from the HTML, so each email's copy is written once.
- ``sms/<name>.txt.j2``, ``voicemail/<name>.txt.j2``, ``calls/<name>.txt.j2``.

Every renderer takes an optional ``templates_dir``; without it, the templates that ship with
dripline. Each folder gets one shared environment, so a rendering reads its own folder. The
template names are the files' names: adding a template is adding a file (names starting with
``_`` are layouts and partials, not templates).

Every template tailors itself to ``lead.product``; the plain-text program facts
all channels share (names, explanations, checklists) are in ``email/_products.j2``.

``RenderContext.numbers`` is the lead's worksheet (:mod:`nurture.worksheet`): call scripts show it as
``numbers``; an email that shows the borrower's own figures uses ``estimates`` through
``email/_estimate.html.j2``, which gives each figure's basis and says it is an estimate, not an approval.
Every template sees its product's document checklist as ``checklist`` (``nurture.documents``); the documents
sequence's templates also see its due dates, ``RenderContext.deadlines``, as ``deadlines``
(``{% set deadlines = deadlines|required("deadlines") %}``).

The re-engagement templates name a lender's guideline change, ``RenderContext.reason``,
which they see as ``why``. A template that needs it says so with
``{% set why = why|required("reason") %}``: without a reason it raises ``ValueError``
naming the template, instead of rendering a sentence with a hole in it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import phonenumbers
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, Undefined, pass_context, select_autoescape
from jinja2.runtime import Context

from channels.messages import EmailMessage, SmsMessage, VoicemailMessage
from channels.plaintext import html_to_text
from nurture.documents import CLOSING_DAYS, PREQUAL_BUSINESS_DAYS, Deadlines, checklist
from nurture.products import CreditEventType, LoanPurpose, Product, PropertyType
from nurture.worksheet import Worksheet

if TYPE_CHECKING:
    from storage.models import Lead

# Replies to STOP, START and HELP. The inbound-text handler sends them; no cadence step does.
SYSTEM_SMS: tuple[str, ...] = ("opt_out_confirmation", "opt_in_confirmation", "help")
_PATHS = {
    "email": "email/{}.html.j2",
    "sms": "sms/{}.txt.j2",
    "voicemail": "voicemail/{}.txt.j2",
    "call": "calls/{}.txt.j2",
}

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
# The closing "for bank statement loans" of a guideline change, which a message about that product can spare.
_PROGRAM_CLAUSE = re.compile(r"\s+for\s+(?:its\s+|their\s+)?(?:[\w-]+\s+){0,3}(?:loans?|programs?)$", re.IGNORECASE)


class UnknownTemplate(LookupError):
    """No template answers to this channel and name."""


def shipped_templates() -> Path:
    """The templates that ship with dripline: ``templates/`` beside the packages in a checkout, or the copy
    inside this package in an installed wheel (pyproject maps it there)."""
    here = Path(__file__).resolve().parent
    installed = here / "_templates"
    return installed if installed.is_dir() else here.parent / "templates"


def template_names(templates_dir: Path | None = None) -> dict[str, tuple[str, ...]]:
    """Every template by channel, read from the files: ``{"email": ("check_in", ...), "sms": (...), ...}``."""
    return _template_names(_folder(templates_dir))


@lru_cache(maxsize=16)
def _template_names(folder: Path) -> dict[str, tuple[str, ...]]:
    names: dict[str, tuple[str, ...]] = {}
    for channel, pattern in _PATHS.items():
        directory, suffix = pattern.split("/")
        suffix = suffix.removeprefix("{}")
        found = (f.name.removesuffix(suffix) for f in (folder / directory).glob(f"*{suffix}"))
        names[channel] = tuple(sorted(n for n in found if not n.startswith("_")))
    return names


@dataclass(frozen=True, slots=True)
class Brand:
    company_name: str
    company_nmls_id: str
    company_address: str
    company_phone: str
    support_email: str


@dataclass(frozen=True, slots=True)
class OfficerView:
    name: str
    phone: str
    email: str
    nmls_id: str


@dataclass(frozen=True, slots=True)
class LeadView:
    id: int | None
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    product: Product
    address_state: str | None = None
    fico: int | None = None
    credit_event_type: CreditEventType | None = None
    credit_event_date: date | None = None
    loan_purpose: LoanPurpose | None = None
    property_type: PropertyType | None = None
    monthly_rent: int | None = None
    loan_amount: int | None = None
    liquid_assets: int | None = None

    @classmethod
    def from_model(cls, lead: Lead) -> LeadView:
        values = {f.name: getattr(lead, f.name) for f in fields(cls)}
        return cls(**values | {"product": Product(lead.product)})


@dataclass(frozen=True, slots=True)
class RenderContext:
    lead: LeadView
    officer: OfficerView
    brand: Brand
    unsubscribe_url: str
    # The guideline change a re-engagement names, in plain words and without the lender's name:
    # "lowered its minimum credit score from 640 to 600 for bank statement loans". Empty for other messages.
    reason: str = ""
    # The borrower's own numbers on the day of rendering (nurture.worksheet); None when not worked out, and
    # templates then show none. Scripts print every figure; emails may print ``estimates`` with their basis.
    numbers: Worksheet | None = None
    # The due dates of the lead's documents sequence, which its messages name. None for other messages.
    deadlines: Deadlines | None = None

    @property
    def sender(self) -> str:
        """Who a message says it is from, naming the company once even when the officer is its team."""
        if self.brand.company_name.casefold() in self.officer.name.casefold():
            return self.officer.name
        return f"{self.officer.name} at {self.brand.company_name}"


def get_environment(templates_dir: Path | None = None) -> Environment:
    """The shared environment for ``templates_dir`` (default: the templates dripline ships)."""
    return _environment(_folder(templates_dir))


def _folder(templates_dir: Path | None) -> Path:
    return _shipped() if templates_dir is None else _resolved(Path(templates_dir))


@cache
def _shipped() -> Path:
    return shipped_templates()


@lru_cache(maxsize=64)
def _resolved(templates_dir: Path) -> Path:
    return templates_dir.resolve()  # resolving reads the file system: once per path given


@cache
def _environment(templates_dir: Path) -> Environment:
    env = Environment(
        loader=FileSystemLoader(templates_dir),
        undefined=StrictUndefined,
        autoescape=select_autoescape(("html.j2",), default_for_string=False, default=False),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        money=_money,
        phone=_phone,
        month_year=_month_year,
        weekday=_weekday,
        short_weekday=_short_weekday,
        one_line=_one_line,
        required=_required,
        without_program=without_program,
        first_fitting=_first_fitting,
    )
    env.globals.update(prequal_business_days=PREQUAL_BUSINESS_DAYS, closing_days=CLOSING_DAYS)
    return env


def render(
    channel: str, template: str, ctx: RenderContext, *, templates_dir: Path | None = None
) -> EmailMessage | SmsMessage | VoicemailMessage:
    """Render an automated message; call scripts are not messages (see :func:`render_call_script`)."""
    if channel == "email":
        return render_email(template, ctx, templates_dir=templates_dir)
    if channel == "sms":
        return render_sms(template, ctx, templates_dir=templates_dir)
    if channel == "voicemail":
        return render_voicemail(template, ctx, templates_dir=templates_dir)
    raise UnknownTemplate(f"no message channel {channel!r}: expected email, sms or voicemail")


def render_email(template: str, ctx: RenderContext, *, templates_dir: Path | None = None) -> EmailMessage:
    page = _template("email", template, templates_dir).render(_variables(ctx))
    parsed = html_to_text(page)
    if not parsed.subject:
        raise ValueError(f"email template {template!r} rendered an empty subject")
    return EmailMessage(
        to=_address(ctx.lead.email, "email address", ctx),
        subject=parsed.subject,
        html=page,
        text=parsed.text,
        headers={
            "List-Unsubscribe": f"<{ctx.unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def render_sms(template: str, ctx: RenderContext, *, templates_dir: Path | None = None) -> SmsMessage:
    body = _one_line(_template("sms", template, templates_dir).render(_variables(ctx)))
    return SmsMessage(to=_address(ctx.lead.phone, "phone number", ctx), body=body)


def render_voicemail(template: str, ctx: RenderContext, *, templates_dir: Path | None = None) -> VoicemailMessage:
    script = _one_line(_template("voicemail", template, templates_dir).render(_variables(ctx)))
    return VoicemailMessage(to=_address(ctx.lead.phone, "phone number", ctx), script=script)


def render_call_script(
    template: str, ctx: RenderContext, *, reply_text: str = "", templates_dir: Path | None = None
) -> str:
    """The loan officer's script for a call; ``reply_text`` is what the borrower wrote, for ``reply``."""
    text = _template("call", template, templates_dir).render(_variables(ctx, reply_text=reply_text.strip()))
    lines = "\n".join(line.rstrip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", lines).strip() + "\n"


def sms_segments(body: str) -> int:
    """How many SMS segments ``body`` is sent as.

    GSM-7 when every character is in the GSM alphabet: 160 in one segment, 153
    per segment once split, extended characters (``{ } [ ] ~ ^ | \\ €``) taking
    two. Otherwise UCS-2: 70, then 67 per segment, characters outside the
    Basic Multilingual Plane (most emoji) taking two. A character's units are
    never split across segments.
    """
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in body):
        units, single, part = [2 if c in _GSM_EXTENDED else 1 for c in body], 160, 153
    else:
        units, single, part = [2 if ord(c) > 0xFFFF else 1 for c in body], 70, 67
    if not units:
        return 0
    if sum(units) <= single:
        return 1
    segments, used = 1, 0
    for unit in units:
        if used + unit > part:
            segments, used = segments + 1, 0
        used += unit
    return segments


def without_program(change: str) -> str:
    """``change`` without its closing program clause: "lowered its minimum credit score from 640 to 600 for bank
    statement loans" becomes "lowered its minimum credit score from 640 to 600". Unchanged when it has none."""
    return _PROGRAM_CLAUSE.sub("", change.strip())


def _template(channel: str, name: str, templates_dir: Path | None) -> Template:
    if channel not in _PATHS:
        raise UnknownTemplate(f"unknown channel {channel!r}; known: {', '.join(_PATHS)}")
    names = template_names(templates_dir)[channel]
    if name not in names:
        raise UnknownTemplate(f"no {channel} template named {name!r}; known: {', '.join(names)}")
    return get_environment(templates_dir).get_template(_PATHS[channel].format(name))


def _variables(ctx: RenderContext, **extra: Any) -> dict[str, Any]:
    why = " ".join(ctx.reason.split()).rstrip(" .")
    return {
        "lead": ctx.lead,
        "officer": ctx.officer,
        "brand": ctx.brand,
        "unsubscribe_url": ctx.unsubscribe_url,
        "product": ctx.lead.product,
        "name": ctx.lead.first_name.strip() or "there",
        "sender": ctx.sender,
        "numbers": ctx.numbers,
        "estimates": ctx.numbers.estimates if ctx.numbers else (),
        **({"why": why} if why else {}),  # left undefined when empty, so any use of it fails loudly
        "checklist": checklist(ctx.lead.product),
        **({"deadlines": ctx.deadlines} if ctx.deadlines else {}),  # likewise
        **extra,
    }


@pass_context
def _required(context: Context, value: object, field: str) -> object:
    """``value``, or a ValueError naming the template being rendered when the RenderContext ``field`` is empty."""
    if isinstance(value, Undefined) or not str(value).strip():
        raise ValueError(f"template {context.name!r} needs a {field}, and RenderContext.{field} is empty")
    return value


def _first_fitting(bodies: Sequence[str]) -> str:
    """The first of ``bodies`` (fullest first) that is sent in at most two SMS segments; else the last."""
    flat = [_one_line(body) for body in bodies]
    return next((body for body in flat if sms_segments(body) <= 2), flat[-1])


def _address(value: str | None, what: str, ctx: RenderContext) -> str:
    if not value:
        raise ValueError(f"lead {ctx.lead.id} has no {what}")
    return value


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _money(value: float) -> str:
    return f"${value:,.0f}"


def _month_year(value: date) -> str:
    return value.strftime("%B %Y")


def _weekday(value: date) -> str:
    """``Thursday, March 5``."""
    return f"{value:%A, %B} {value.day}"


def _short_weekday(value: date) -> str:
    """``Thu 3/5``, for a text message."""
    return f"{value:%a} {value.month}/{value.day}"


@lru_cache(maxsize=4096)
def _phone(value: str) -> str:
    """A readable phone number: national format for US numbers, international otherwise."""
    try:
        number = phonenumbers.parse(value, "US")
    except phonenumbers.NumberParseException:
        return value
    style = phonenumbers.PhoneNumberFormat
    return phonenumbers.format_number(number, style.NATIONAL if number.country_code == 1 else style.INTERNATIONAL)

"""Render a lead's messages and call scripts from Jinja2 templates, apart from sending them.

Templates live under ``Settings.templates_dir``, found by channel and name:

- ``email/<name>.html.j2``: the HTML, autoescaped. Its ``<title>`` (the
  ``subject`` block of the shared layout) is the subject, and the plain-text
  part is derived from the HTML, so each email's copy is written once.
- ``sms/<name>.txt.j2``, ``voicemail/<name>.txt.j2``, ``calls/<name>.txt.j2``.

Every renderer takes an optional ``templates_dir``; without it, the configured
one. Each folder gets one shared environment, so a rendering reads its own folder.

Every template tailors itself to ``lead.product``; the plain-text program facts
all channels share (names, explanations, checklists) are in ``email/_products.j2``.

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
from dripline.settings import Settings, get_settings
from nurture.products import CreditEventType, LoanPurpose, Product, PropertyType

if TYPE_CHECKING:
    from storage.models import Lead

# Replies to STOP, START and HELP. The inbound-text handler sends them; no cadence step does.
SYSTEM_SMS: tuple[str, ...] = ("opt_out_confirmation", "opt_in_confirmation", "help")
TEMPLATES: dict[str, tuple[str, ...]] = {
    "email": (
        "education",
        "documents",
        "success_story",
        "market_update",
        "check_in",
        "program_update",
        "monthly_program_updates",
        "monthly_market_analysis",
        "monthly_seasonal_tips",
        "reengage",
        "reengage_followup",
    ),
    "sms": ("intro", "evening_followup", "reengage", *SYSTEM_SMS),
    "voicemail": ("breakup",),
    "call": ("intro", "evening", "final", "handoff", "reply", "manual", "reengage"),
}
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


@dataclass(frozen=True, slots=True)
class Brand:
    company_name: str
    company_nmls_id: str
    company_address: str
    company_phone: str
    support_email: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Brand:
        return cls(
            company_name=settings.company_name,
            company_nmls_id=settings.company_nmls_id,
            company_address=settings.company_address,
            company_phone=settings.company_phone,
            support_email=settings.support_email,
        )


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

    @property
    def sender(self) -> str:
        """Who a message says it is from, naming the company once even when the officer is its team."""
        if self.brand.company_name.casefold() in self.officer.name.casefold():
            return self.officer.name
        return f"{self.officer.name} at {self.brand.company_name}"


def get_environment(templates_dir: Path | None = None) -> Environment:
    """The shared environment for ``templates_dir`` (default: the configured templates folder)."""
    folder = Path(templates_dir or get_settings().templates_dir)
    return _environment_at(folder) if folder.is_absolute() else _environment(folder.resolve())


@lru_cache(maxsize=64)
def _environment_at(templates_dir: Path) -> Environment:
    return _environment(templates_dir.resolve())  # resolving reads the file system: once per path given


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
        one_line=_one_line,
        required=_required,
        without_program=without_program,
        first_fitting=_first_fitting,
    )
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
    if channel not in TEMPLATES:
        raise UnknownTemplate(f"unknown channel {channel!r}; known: {', '.join(TEMPLATES)}")
    if name not in TEMPLATES[channel]:
        known = ", ".join(TEMPLATES[channel])
        raise UnknownTemplate(f"no {channel} template named {name!r}; known: {known}")
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
        **({"why": why} if why else {}),  # left undefined when empty, so any use of it fails loudly
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


@lru_cache(maxsize=4096)
def _phone(value: str) -> str:
    """A readable phone number: national format for US numbers, international otherwise."""
    try:
        number = phonenumbers.parse(value, "US")
    except phonenumbers.NumberParseException:
        return value
    style = phonenumbers.PhoneNumberFormat
    return phonenumbers.format_number(number, style.NATIONAL if number.country_code == 1 else style.INTERNATIONAL)

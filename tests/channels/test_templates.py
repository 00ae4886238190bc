"""Every template renders for every product, says what compliance requires, and nothing it forbids."""

from __future__ import annotations

import html
import math
import re
from dataclasses import replace
from datetime import date

import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.messages import EmailMessage, SmsMessage, VoicemailMessage
from channels.render import (
    SYSTEM_SMS,
    Brand,
    LeadView,
    OfficerView,
    RenderContext,
    UnknownTemplate,
    get_environment,
    render,
    render_call_script,
    render_email,
    render_sms,
    render_voicemail,
    sms_segments,
    template_names,
)
from nurture.cadence import load_cadence
from nurture.documents import CHECKLISTS, deadlines
from nurture.products import CreditEventType, LoanPurpose, Product, PropertyType
from service.senders import brand
from service.settings import Settings
from storage.models import Lead

TEMPLATES = template_names()

BRAND = Brand(
    company_name="Harbor Light Lending",
    company_nmls_id="1122334",
    company_address="200 Lake Street, Suite 4, Madison, WI 53703",
    company_phone="+18005550100",
    support_email="help@harbor.test",
)
OFFICER = OfficerView(name="Dana Whitfield", phone="+13125550101", email="dana@harbor.test", nmls_id="998877")
UNSUBSCRIBE = "https://mail.harbor.test/unsubscribe?lead=41&token=f00d"
REASON = "lowered its minimum credit score from 640 to 600 for bank statement loans"  # what re-engagements name
DEADLINES = deadlines(date(2026, 3, 5))  # what the documents sequence names: a Thursday, due Tue 3/10 and Mon 3/16
SPARSE_LEAD = LeadView(
    id=41,
    first_name="",
    last_name="",
    email="maria@example.test",
    phone="+13125550199",
    product=Product.GENERAL,
)
FULL_LEAD = replace(
    SPARSE_LEAD,
    first_name="Maria",
    last_name="Lopez",
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
EVERY_TEMPLATE = [(channel, name) for channel, names in TEMPLATES.items() for name in names]
TAILORED_TEMPLATES = [(channel, name) for channel, name in EVERY_TEMPLATE if name not in SYSTEM_SMS or channel != "sms"]

FORBIDDEN = re.compile(
    r"you'?re approved|you are approved|guarantee|pre-?approved|pre-?qualified|no credit check", re.IGNORECASE
)
RATE_NUMBER = re.compile(r"\d(\.\d+)?\s*(%|percent)", re.IGNORECASE)


def context(
    product: Product, lead: LeadView = FULL_LEAD, officer: OfficerView = OFFICER, reason: str = REASON
) -> RenderContext:
    return RenderContext(
        lead=replace(lead, product=product),
        officer=officer,
        brand=BRAND,
        unsubscribe_url=UNSUBSCRIBE,
        reason=reason,
        deadlines=DEADLINES,
    )


def outputs(channel: str, name: str, ctx: RenderContext) -> list[str]:
    """Every piece of text a borrower or loan officer would read."""
    if channel == "call":
        return [render_call_script(name, ctx, reply_text="Is this still available?")]
    message = render(channel, name, ctx)
    if isinstance(message, EmailMessage):
        return [message.subject, message.html, message.text]
    if isinstance(message, SmsMessage):
        return [message.body]
    return [message.script]


@pytest.mark.parametrize("lead", [FULL_LEAD, SPARSE_LEAD], ids=["full", "sparse"])
@pytest.mark.parametrize("product", list(Product))
@pytest.mark.parametrize(("channel", "name"), EVERY_TEMPLATE)
def test_every_template_renders_clean_for_every_product(channel: str, name: str, product: Product, lead: LeadView):
    for text in outputs(channel, name, context(product, lead)):
        assert text.strip()
        assert "{{" not in text and "{%" not in text
        assert not FORBIDDEN.search(text), FORBIDDEN.search(text)
        assert not RATE_NUMBER.search(text), RATE_NUMBER.search(text)


@pytest.mark.parametrize(("channel", "name"), TAILORED_TEMPLATES)
def test_every_template_says_something_different_for_each_product(channel: str, name: str):
    rendered = {product: "\n".join(outputs(channel, name, context(product))) for product in Product}
    assert len(set(rendered.values())) == len(Product)


@pytest.mark.parametrize("name", SYSTEM_SMS)
def test_replies_to_stop_start_and_help_are_the_same_for_every_product(name: str):
    assert len({render_sms(name, context(product)).body for product in Product}) == 1


def test_opt_out_confirmation_says_texts_stop_and_how_to_resubscribe_and_nothing_else():
    body = render_sms("opt_out_confirmation", context(Product.DSCR)).body
    assert body.startswith(f"{BRAND.company_name}:")
    assert "no more texts" in body and "Reply START" in body
    assert not re.search(r"https?:|www\.|\.com|call|loan|mortgage|\$|rate", body, re.IGNORECASE)
    assert sms_segments(body) == 1


def test_opt_in_confirmation_says_texts_resume_and_how_to_stop():
    body = render_sms("opt_in_confirmation", context(Product.DSCR)).body
    assert body.startswith(f"{BRAND.company_name}:")
    for phrase in ("texts will resume", "Reply HELP", "STOP to opt out", "Msg & data rates may apply"):
        assert phrase in body


def test_help_reply_gives_brand_support_contact_opt_out_rates_and_frequency():
    body = render_sms("help", context(Product.DSCR)).body
    assert body.startswith(BRAND.company_name)
    for phrase in (
        BRAND.support_email,
        "(800) 555-0100",
        "Reply STOP to opt out",
        "Msg & data rates may apply",
        "Msg frequency varies",
    ):
        assert phrase in body


def test_manual_call_script_replaces_an_automated_message_and_forbids_personal_texts():
    script = render_call_script("manual", context(Product.BANK_STATEMENT))
    flat = " ".join(script.split())
    assert "no written consent on file" in flat
    assert "replaces the automated message" in flat
    assert "Do not text the lead from your personal phone" in flat
    assert script.index("WHY THIS IS A CALL") < script.index("OPENER")
    assert "Hi Maria, this is Dana Whitfield with Harbor Light Lending" in flat


@pytest.mark.parametrize("product", list(Product))
@pytest.mark.parametrize("name", TEMPLATES["email"])
def test_email_carries_the_compliance_footer_in_both_parts(name: str, product: Product):
    message = render_email(name, context(product))
    assert message.to == FULL_LEAD.email
    assert message.headers == {
        "List-Unsubscribe": f"<{UNSUBSCRIBE}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert f'href="{html.escape(UNSUBSCRIBE)}"' in message.html
    assert UNSUBSCRIBE in message.text
    for part in (message.html, message.text):
        assert BRAND.company_address in part
        assert f"NMLS #{BRAND.company_nmls_id}" in part
        assert f"NMLS #{OFFICER.nmls_id}" in part
        assert "Equal Housing Opportunity" in part


@pytest.mark.parametrize("name", TEMPLATES["email"])
def test_email_subject_is_one_plain_line_and_text_part_has_no_markup(name: str):
    message = render_email(name, context(Product.BANK_STATEMENT))
    assert message.subject == message.subject.strip() and "\n" not in message.subject
    assert not re.match(r"(re|fwd?):", message.subject, re.IGNORECASE)
    assert not re.search(r"</?[a-z][a-z0-9]*[\s>/]|&[a-z]+;|&#\d+;", message.text)
    assert message.text.startswith("Hi Maria,\n\n")


def test_html_escapes_the_lead_name_and_text_keeps_it_verbatim():
    hostile = replace(FULL_LEAD, first_name="<script>alert(1)</script>")
    message = render_email("education", context(Product.DSCR, hostile))
    assert "<script>" not in message.html
    assert "Hi &lt;script&gt;alert(1)&lt;/script&gt;," in message.html
    assert "Hi <script>alert(1)</script>," in message.text


def test_email_without_officer_nmls_shows_the_company_nmls_only():
    officer = replace(OFFICER, nmls_id="")
    message = render_email("check_in", context(Product.DSCR, officer=officer))
    assert message.text.count("NMLS #") == 1
    assert f"NMLS #{BRAND.company_nmls_id}" in message.text


@pytest.mark.parametrize(
    ("product", "expected"),
    [
        (Product.BANK_STATEMENT, ["12 or 24 months", "CPA", "business license"]),
        (Product.DSCR, ["lease", "rent schedule", "no tax returns", "LLC"]),
        (Product.CREDIT_EVENT, ["discharge", "letter explaining"]),
        (Product.ASSET_DEPLETION, ["every account", "award letters"]),
        (Product.FOREIGN_NATIONAL, ["passport", "visa", "income from your home country"]),
        (Product.GENERAL, ["photo ID", "bank statements"]),
    ],
)
def test_documents_email_lists_the_products_checklist(product: Product, expected: list[str]):
    message = render_email("documents", context(product))
    for part in (message.html.lower(), message.text.lower()):
        for phrase in expected:
            assert phrase.lower() in part, phrase
    assert "simpler than" in message.text


def test_documents_checklist_is_a_list_in_both_parts():
    message = render_email("documents", context(Product.DSCR))
    assert "<li>The lease if the property is rented" in message.html
    assert "\n- The lease if the property is rented" in message.text


DOCUMENT_EMAILS = ("documents_checklist", "documents_reminder", "documents_rest")


@pytest.mark.parametrize("product", list(Product))
def test_the_checklist_email_lists_both_parts_under_their_dates_and_what_happens_next(product: Product):
    message = render_email("documents_checklist", context(product))
    checklist = CHECKLISTS[product]
    first, rest = message.text.index("First, by Tuesday, March 10"), message.text.index("the rest, by Monday, March 16")
    assert first < rest
    for item in checklist.first:
        assert first < message.text.index(f"- {item}") < rest
    for item in checklist.rest:
        assert rest < message.text.index(f"- {item}")
    assert "pre-qualification" in message.text and "within 2-3 business days" in message.text
    assert "take 60-90 days to close" in message.text
    assert message.subject.endswith("first part by Tuesday, March 10")


@pytest.mark.parametrize("product", list(Product))
def test_the_reminders_name_their_part_and_its_date(product: Product):
    checklist = CHECKLISTS[product]
    reminder = render_email("documents_reminder", context(product))
    assert reminder.subject == f"A reminder: {checklist.first_part} by Tuesday, March 10"
    assert all(f"- {item}" in reminder.text for item in checklist.first)
    rest = render_email("documents_rest", context(product))
    assert rest.subject == "Almost there: the rest of your documents by Monday, March 16"
    assert all(f"- {item}" in rest.text for item in checklist.rest) and "60-90 days" in rest.text
    for name in ("documents_checklist", "documents_reminder"):
        body = render_sms(name, context(product)).body
        assert f"{checklist.first_part} by Tue 3/10." in body and "Reply STOP to opt out." in body


@pytest.mark.parametrize("name", DOCUMENT_EMAILS)
def test_the_documents_emails_refuse_to_render_without_their_dates(name: str):
    with pytest.raises(ValueError, match=f"template 'email/{name}.html.j2' needs a deadlines"):
        render_email(name, replace(context(Product.DSCR), deadlines=None))


def test_the_check_in_script_lists_the_checklist_with_or_without_the_sequences_dates():
    script = render_call_script("documents", context(Product.TEN99))
    assert "the first part was due Tuesday, March 10" in " ".join(script.split())
    assert all(f"  - {item}" in script for item in CHECKLISTS[Product.TEN99].items)
    assert "How long have you been paid on 1099s" not in script, "the check-in asks its own questions"
    undated = render_call_script("documents", replace(context(Product.PNL), deadlines=None))
    assert "was due" not in undated and "after your education call" in undated


@pytest.mark.parametrize(
    ("product", "asks"),
    [
        (Product.TEN99, "What did your 1099s add up to last year"),
        (Product.PNL, "Does your CPA prepare a profit and loss statement"),
    ],
)
def test_the_new_products_have_their_own_discovery_questions(product: Product, asks: str):
    assert asks.lower() in render_call_script("intro", context(product)).lower()


def test_first_sms_names_the_company_and_how_to_opt_out():
    for product in Product:
        body = render_sms("intro", context(product)).body
        assert BRAND.company_name in body
        assert OFFICER.name in body
        assert "Reply STOP to opt out" in body


def test_sender_names_the_company_once_when_the_officer_is_the_team():
    team = OfficerView(name=f"the {BRAND.company_name} team", phone="+18005550100", email="t@x.test", nmls_id="")
    body = render_sms("intro", context(Product.DSCR, officer=team)).body
    assert body.count(BRAND.company_name) == 1
    assert f"it's the {BRAND.company_name} team." in body


LONG_FIRST_NAME = "Bartholomew-Jonathan"
LONG_OFFICER_NAME = "Christopher Alexander Whitmore"
LONG_COMPANY_NAME = "Lakeshore Community Home Loans"
LONG_REASON = (
    "raised its maximum loan-to-value from 75% to 80% of the home's value and lowered its minimum credit score"
    " from 700 to 680 for foreign national loans"
)


@pytest.mark.parametrize("product", list(Product))
@pytest.mark.parametrize("name", TEMPLATES["sms"])
def test_sms_fits_two_gsm_segments_with_long_names(name: str, product: Product):
    assert (len(LONG_FIRST_NAME), len(LONG_OFFICER_NAME), len(LONG_COMPANY_NAME)) == (20, 30, 30)
    ctx = RenderContext(
        lead=replace(FULL_LEAD, first_name=LONG_FIRST_NAME, last_name="Featherstonehaugh-Worthington", product=product),
        officer=replace(OFFICER, name=LONG_OFFICER_NAME),
        brand=replace(BRAND, company_name=LONG_COMPANY_NAME),
        unsubscribe_url=UNSUBSCRIBE,
        reason=LONG_REASON,
        deadlines=DEADLINES,
    )
    body = render_sms(name, ctx).body
    assert body.isascii() and "`" not in body, "SMS must stay in the GSM-7 alphabet"
    assert len(body) <= 306
    assert sms_segments(body) <= 2


def test_breakup_voicemail_names_the_caller_first_and_gives_the_callback_number():
    message = render_voicemail("breakup", context(Product.CREDIT_EVENT))
    assert isinstance(message, VoicemailMessage)
    assert message.to == FULL_LEAD.phone
    assert message.script.startswith(f"Hi Maria, this is {OFFICER.name} at {BRAND.company_name}")
    assert message.script.count("(312) 555-0101") == 2
    assert "last call for now" in message.script


@pytest.mark.parametrize("product", list(Product))
@pytest.mark.parametrize("name", TEMPLATES["call"])
def test_call_script_has_every_section(name: str, product: Product):
    script = render_call_script(name, context(product))
    positions = [script.index(heading) for heading in ("OPENER", "DISCOVERY", "PROGRAM IN PLAIN WORDS", "NEXT STEP")]
    assert positions == sorted(positions)
    assert '"I was turned down before."' in script and '"I need to talk to my CPA."' in script
    assert "Maria Lopez" in script


def test_reply_script_shows_what_the_borrower_wrote():
    script = render_call_script("reply", context(Product.BANK_STATEMENT), reply_text="  Can we talk Friday?  ")
    assert 'THEY WROTE\n  "Can we talk Friday?"' in script
    assert "(message text not available)" in render_call_script("reply", context(Product.BANK_STATEMENT))


def test_call_script_lists_what_is_known_about_the_lead():
    script = render_call_script("intro", context(Product.CREDIT_EVENT))
    assert "Chapter 7 bankruptcy (March 2022)" in script
    assert "rent about $2,400/month" in script
    assert "Known: nothing beyond the inquiry" in render_call_script("intro", context(Product.DSCR, SPARSE_LEAD))


def test_messages_go_to_the_leads_addresses():
    ctx = context(Product.DSCR)
    assert render("sms", "intro", ctx).to == FULL_LEAD.phone
    with pytest.raises(ValueError, match="has no email address"):
        render_email("education", replace(ctx, lead=replace(ctx.lead, email=None)))
    with pytest.raises(ValueError, match="has no phone number"):
        render_sms("intro", replace(ctx, lead=replace(ctx.lead, phone=None)))


@pytest.mark.parametrize(
    ("call", "needles"),
    [
        (lambda ctx: render("sms", "welcome", ctx), ["sms", "welcome"]),
        (lambda ctx: render("email", "intro", ctx), ["email", "intro"]),
        (lambda ctx: render("fax", "intro", ctx), ["fax"]),
        (lambda ctx: render("call", "intro", ctx), ["call"]),
        (lambda ctx: render_call_script("breakup", ctx), ["call", "breakup"]),
    ],
)
def test_unknown_template_names_channel_and_template(call, needles: list[str]):
    with pytest.raises(UnknownTemplate) as raised:
        call(context(Product.DSCR))
    for needle in needles:
        assert needle in str(raised.value)


def test_strict_undefined_raises_through_the_shared_environment():
    env = get_environment()
    assert env is get_environment()
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("sms/intro.txt.j2").render(name="Maria", sender="Dana")
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("Hi {{ lead.nickname }}").render(lead=FULL_LEAD)


def test_templates_on_disk_are_exactly_the_listed_ones():
    root = Settings().templates_dir
    folders = {"email": "email", "sms": "sms", "voicemail": "voicemail", "call": "calls"}
    for channel, folder in folders.items():
        on_disk = {p.name.split(".")[0] for p in (root / folder).iterdir() if not p.name.startswith("_")}
        assert on_disk == set(TEMPLATES[channel]), channel


def test_every_template_the_cadence_names_exists():
    cadence = load_cadence(Settings().cadence_file.read_text())
    for channel, name in cadence.templates:
        assert name in TEMPLATES[channel], (channel, name)


def test_views_are_built_from_settings_and_models():
    settings = Settings()
    made = brand(settings)
    assert (made.company_name, made.company_nmls_id, made.company_address) == (
        settings.company_name,
        settings.company_nmls_id,
        settings.company_address,
    )
    model = Lead(
        id=5,
        first_name="Ana",
        last_name="Ruiz",
        email="ana@example.test",
        phone="+13125550100",
        timezone="America/Chicago",
        product="dscr",
        monthly_rent=2100,
        inquiry_date=date(2024, 1, 2),
    )
    view = LeadView.from_model(model)
    assert view.product is Product.DSCR
    assert (view.id, view.first_name, view.monthly_rent, view.fico) == (5, "Ana", 2100, None)


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("", 0),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("{" * 80, 1),
        ("{" * 81, 2),
        ("a" * 152 + "{" + "a" * 153, 3),
        ("\u2019" * 70, 1),
        ("\u2019" * 71, 2),
        ("\u2019" * 134, 2),
        ("\u2019" * 135, 3),
        ("a" * 69 + "\N{GRINNING FACE}", 2),
        ("a" * 66 + "\N{GRINNING FACE}" + "a" * 67, 3),
    ],
)
def test_sms_segments_at_the_boundaries(body: str, segments: int):
    assert sms_segments(body) == segments


@given(st.text(alphabet="abcXYZ 0123456789.,!?'@$", max_size=1000))
def test_gsm_segments_match_the_160_153_rule(body: str):
    expected = 0 if not body else 1 if len(body) <= 160 else math.ceil(len(body) / 153)
    assert sms_segments(body) == expected


@given(st.text(alphabet="abc \u2019\u2014\u4e2d", min_size=1, max_size=500).filter(lambda s: not s.isascii()))
def test_ucs2_segments_match_the_70_67_rule(body: str):
    assert sms_segments(body) == (1 if len(body) <= 70 else math.ceil(len(body) / 67))

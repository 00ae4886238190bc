"""Re-engagement templates name the lender's guideline change on every channel, keep the text within two
segments, and refuse to render without a change to name."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import jinja2
import pytest

from channels.messages import EmailMessage, SmsMessage
from channels.render import (
    LeadView,
    RenderContext,
    get_environment,
    render,
    render_call_script,
    render_email,
    render_sms,
    sms_segments,
    template_names,
    without_program,
)
from nurture.cadence import load_cadence
from nurture.products import Product
from service.settings import Settings
from service.templates import lint
from tests.channels.test_templates import (
    BRAND,
    DEADLINES,
    FORBIDDEN,
    FULL_LEAD,
    LONG_COMPANY_NAME,
    LONG_FIRST_NAME,
    LONG_OFFICER_NAME,
    LONG_REASON,
    OFFICER,
    SPARSE_LEAD,
    context,
)

TEMPLATES = template_names()

REENGAGE = [("sms", "reengage"), ("email", "reengage"), ("email", "reengage_followup"), ("call", "reengage")]
FILES = {
    ("sms", "reengage"): "sms/reengage.txt.j2",
    ("email", "reengage"): "email/reengage.html.j2",
    ("email", "reengage_followup"): "email/reengage_followup.html.j2",
    ("call", "reengage"): "calls/reengage.txt.j2",
}
# Changes as the lender-update feed words them, shortest to longest.
WHYS = [
    "lowered its minimum DSCR from 1.0 to 0.75 for DSCR loans",
    "lowered its minimum credit score from 640 to 600 for bank statement loans",
    "now divides liquid assets over 60 months instead of 84 for asset depletion loans",
    "shortened the wait after a chapter 7 bankruptcy from 48 to 24 months for credit event loans",
    "shortened the wait after a foreclosure, short sale or deed in lieu from 36 to 24 months for credit event loans",
    LONG_REASON,
]
NAMES = {
    "realistic": ("Maria", OFFICER.name, BRAND.company_name),
    "long": (LONG_FIRST_NAME, LONG_OFFICER_NAME, LONG_COMPANY_NAME),
}


def words(channel: str, name: str, ctx: RenderContext) -> str:
    """What the borrower or loan officer reads, on one line (call scripts wrap at 90 columns)."""
    if channel == "call":
        text = render_call_script(name, ctx)
    else:
        message = render(channel, name, ctx)
        if isinstance(message, EmailMessage):
            text = f"{message.subject}\n{message.text}"
        else:
            text = message.body if isinstance(message, SmsMessage) else message.script
    return " ".join(text.split())


def sms_context(product: Product, why: str, names: tuple[str, str, str]) -> RenderContext:
    first_name, officer_name, company_name = names
    return RenderContext(
        lead=replace(FULL_LEAD, first_name=first_name, product=product),
        officer=replace(OFFICER, name=officer_name),
        brand=replace(BRAND, company_name=company_name),
        unsubscribe_url="https://mail.harbor.test/u",
        reason=why,
    )


def test_the_reengage_cadence_sends_exactly_the_reengage_templates():
    cadence = load_cadence((Settings().cadence_file.parent / "reengage.yaml").read_text())
    assert {(channel.value, name) for channel, name in cadence.templates} == set(REENGAGE)
    for channel, name in REENGAGE:
        assert name in TEMPLATES[channel]


@pytest.mark.parametrize("why", WHYS[:4])
@pytest.mark.parametrize("lead", [FULL_LEAD, SPARSE_LEAD], ids=["full", "sparse"])
@pytest.mark.parametrize("product", list(Product))
@pytest.mark.parametrize(("channel", "name"), REENGAGE)
def test_every_reengage_template_names_the_change_for_every_product(
    channel: str, name: str, product: Product, lead: LeadView, why: str
):
    text = words(channel, name, context(product, lead, reason=why))
    assert why in text
    assert "{{" not in text and "{%" not in text
    assert not FORBIDDEN.search(text), FORBIDDEN.search(text)


@pytest.mark.parametrize("names", NAMES.values(), ids=list(NAMES))
@pytest.mark.parametrize("product", list(Product))
@pytest.mark.parametrize("why", WHYS)
def test_reengage_sms_fits_two_segments_names_the_sender_the_change_and_stop(
    why: str, product: Product, names: tuple[str, str, str]
):
    body = render_sms("reengage", sms_context(product, why, names)).body
    assert body.isascii(), "SMS must stay in the GSM-7 alphabet"
    assert sms_segments(body) <= 2, (sms_segments(body), len(body), body)
    _, officer_name, company_name = names
    assert f"{officer_name} at {company_name}" in body
    assert f"one of our lenders just {without_program(why)}".lower() in body.lower()
    assert body.endswith("Reply STOP to opt out.")


@pytest.mark.parametrize("why", WHYS[:-1])
def test_reengage_sms_keeps_the_whole_change_and_the_product_line_when_they_fit(why: str):
    body = render_sms("reengage", sms_context(Product.BANK_STATEMENT, why, NAMES["realistic"])).body
    assert body.startswith("Hi Maria, it's Dana Whitfield at Harbor Light Lending. One of our lenders just ")
    assert f"just {why}. As a self-employed borrower, this may open a door for you." in body


def test_reengage_sms_drops_the_program_clause_rather_than_run_to_three_segments():
    body = render_sms("reengage", sms_context(Product.FOREIGN_NATIONAL, LONG_REASON, NAMES["realistic"])).body
    assert "for foreign national loans" not in body and "open a door" not in body
    assert f"just {without_program(LONG_REASON)}. Open to a quick call?" in body
    assert sms_segments(body) == 2


def test_reengage_sms_drops_the_greeting_as_a_last_resort():
    why = (
        "shortened the wait after a bankruptcy, a foreclosure or a short sale from 48 to 24 months and lowered its"
        " minimum credit score from 660 to 620 for credit event loans"
    )
    assert len(without_program(why)) == 142, "too long for the greeting with 30-character names, short enough without"
    body = render_sms("reengage", sms_context(Product.CREDIT_EVENT, why, NAMES["long"])).body
    assert body.startswith(f"{LONG_OFFICER_NAME} at {LONG_COMPANY_NAME}: one of our lenders just shortened")
    assert body.endswith("620. Open to a quick call? Reply STOP to opt out.")
    assert sms_segments(body) == 2


def test_first_fitting_sends_the_last_body_when_none_fits():
    env = get_environment()
    assert env.from_string("{{ ['a' * 307, 'b' * 306]|first_fitting }}").render() == "b" * 306
    assert env.from_string("{{ ['a' * 400, 'b' * 400]|first_fitting }}").render() == "b" * 400
    assert env.from_string("{{ ['a  b', 'c']|first_fitting }}").render() == "a b"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (WHYS[1], "lowered its minimum credit score from 640 to 600"),
        (WHYS[0], "lowered its minimum DSCR from 1.0 to 0.75"),
        ("now lends in Florida for its DSCR program", "now lends in Florida"),
        (
            "lowered its minimum credit score from 660 to 620 for 1099 income loans ",
            "lowered its minimum credit score from 660 to 620",
        ),
        (
            "now accepts borrowers with a foreclosure behind them",
            "now accepts borrowers with a foreclosure behind them",
        ),
        ("now lends for foreign nationals", "now lends for foreign nationals"),
    ],
)
def test_without_program_drops_only_a_closing_program_clause(change: str, expected: str):
    assert without_program(change) == expected


EFFECTS = {
    Product.BANK_STATEMENT: "New options for self-employed borrowers",
    Product.DSCR: "New options for rental property investors",
    Product.CREDIT_EVENT: "New options after a credit event",
    Product.ASSET_DEPLETION: "New options for borrowers with strong savings",
    Product.FOREIGN_NATIONAL: "New options for buyers from outside the US",
    Product.GENERAL: "New options if a bank said no",
    Product.TEN99: "New options for borrowers paid on 1099s",
    Product.PNL: "New options for business owners with a CPA's P&L",
}


@pytest.mark.parametrize("product", list(Product))
def test_reengage_email_subject_names_the_effect_and_the_change_and_the_body_the_whole_change(product: Product):
    why = WHYS[3]
    message = render_email("reengage", context(product, reason=why))
    assert message.subject == f"{EFFECTS[product]}: a lender {without_program(why)}"
    assert f"one of the lenders we work with {why}." in message.text
    assert f"one of the lenders we work with {why}." in message.html
    assert "Why this may matter for you" in message.text


@pytest.mark.parametrize("product", list(Product))
def test_reengage_followup_subject_and_body_carry_the_change(product: Product):
    why = WHYS[1]
    message = render_email("reengage_followup", context(product, reason=why))
    assert message.subject == f"Following up: a lender {without_program(why)}"
    assert f"my note last week, in case it got buried: one of the lenders we work with {why}." in message.text
    assert len(message.text) < len(render_email("reengage", context(product, reason=why)).text)


def test_reengage_email_escapes_the_change_in_html_and_keeps_it_in_text():
    why = "now accepts <b>ITIN</b> borrowers & co-signers for foreign national loans"
    message = render_email("reengage", context(Product.FOREIGN_NATIONAL, reason=why))
    assert (
        "<b>" not in message.html and "now accepts &lt;b&gt;ITIN&lt;/b&gt; borrowers &amp; co-signers" in message.html
    )
    assert why in message.text
    assert "a lender now accepts <b>ITIN</b> borrowers & co-signers" in message.subject


def test_the_reason_is_one_clean_phrase_whatever_the_whitespace_or_full_stop():
    body = render_sms("reengage", context(Product.DSCR, reason=f"  {WHYS[0].replace(' ', '  ', 3)}. \n")).body
    assert f"just {WHYS[0]}. If a rental" in body


@pytest.mark.parametrize("reason", ["", "   ", " . \n"], ids=["empty", "blank", "full-stop"])
@pytest.mark.parametrize(("channel", "name"), REENGAGE)
def test_a_reengage_template_without_a_reason_raises_naming_it(channel: str, name: str, reason: str):
    with pytest.raises(ValueError, match=rf"template '{FILES[channel, name]}' needs a reason") as raised:
        words(channel, name, context(Product.BANK_STATEMENT, reason=reason))
    assert "RenderContext.reason is empty" in str(raised.value)


@pytest.mark.parametrize(
    ("channel", "name"),
    [(channel, name) for channel, names in TEMPLATES.items() for name in names if (channel, name) not in REENGAGE],
)
def test_every_other_template_renders_without_a_reason(channel: str, name: str):
    ctx = RenderContext(lead=FULL_LEAD, officer=OFFICER, brand=BRAND, unsubscribe_url="https://mail.harbor.test/u",
                        deadlines=DEADLINES)  # fmt: skip  # the documents sequence's templates need their dates
    assert words(channel, name, ctx)


def test_a_template_using_why_without_requiring_it_still_fails_when_there_is_none(tmp_path: Path):
    templates = Path(shutil.copytree(Settings().templates_dir, tmp_path / "templates"))
    path = templates / "sms" / "reengage.txt.j2"
    text = path.read_text()
    assert text.count('{% set why = why|required("reason") %}\n') == 1
    path.write_text(text.replace('{% set why = why|required("reason") %}\n', ""))
    ctx = context(Product.DSCR)
    assert WHYS[1] in render_sms("reengage", ctx, templates_dir=templates).body
    with pytest.raises(jinja2.UndefinedError, match="'why' is undefined"):
        render_sms("reengage", replace(ctx, reason=""), templates_dir=templates)


def test_reengage_call_script_gives_the_change_the_fit_two_questions_and_the_objections():
    script = render_call_script("reengage", context(Product.CREDIT_EVENT, reason=WHYS[3]))
    headings = ["WHAT CHANGED", "WHY THEY MAY FIT NOW", "OPENER", "DISCOVERY", "URGENCY", "PROGRAM IN PLAIN WORDS"]
    headings += ["NEXT STEP", "IF YOU HEAR", "REMEMBER"]
    positions = [script.index(heading) for heading in headings]
    assert positions == sorted(positions)
    flat = " ".join(script.split())
    assert f"WHAT CHANGED One of our lenders {WHYS[3]}. WHY THEY MAY FIT NOW" in flat
    assert "Rebuilding after a Chapter 7 bankruptcy in March 2022:" in flat
    assert f"one of the lenders we work with just {WHYS[3]}, and" in flat
    discovery = script[script.index("DISCOVERY") : script.index("URGENCY")]
    assert [line for line in discovery.splitlines() if line.startswith("- ")] == [
        "- Is buying a home still on your mind, and what is your timing?",
        "- How have your payments gone since the Chapter 7 bankruptcy?",
    ]
    answers = script[script.index("IF YOU HEAR") :]
    quoted = [line for line in answers.splitlines() if line.startswith('"')]
    assert quoted[:3] == [
        '"Why are you calling me now?"',
        '"So does this mean I will get the loan?"',
        '"Your rates are higher than my bank\'s."',
    ]


@pytest.mark.parametrize(
    ("product", "fit"),
    [
        (Product.BANK_STATEMENT, "Self-employed: a bank most likely judged them on tax returns."),
        (Product.DSCR, "the property's rent (about $2,400/month on file), not on their income."),
        (Product.ASSET_DEPLETION, "Strong savings (about $1,200,000 on file) but modest or irregular income"),
        (Product.FOREIGN_NATIONAL, "qualifies on passport, visa and home-country income rather than US credit"),
        (Product.GENERAL, "Program not pinned down yet"),
    ],
)
def test_reengage_call_script_says_why_this_borrower_may_fit(product: Product, fit: str):
    script = render_call_script("reengage", context(product))
    section = script[script.index("WHY THEY MAY FIT NOW") : script.index("OPENER")]
    assert fit in " ".join(section.split())


def test_other_call_scripts_do_not_carry_the_reengagement_objections():
    for name in TEMPLATES["call"]:
        script = render_call_script(name, context(Product.DSCR))
        assert ("Why are you calling me now?" in script) is (name == "reengage"), name


def test_the_lint_renders_the_reengage_templates_and_catches_a_promise_in_them(tmp_path: Path):
    templates = Path(shutil.copytree(Settings().templates_dir, tmp_path / "templates"))
    path = templates / "email" / "reengage.html.j2"
    old = "<p>To be clear about what this is:"
    assert path.read_text().count(old) == 1
    path.write_text(path.read_text().replace(old, "<p>You are pre-approved. " + old[3:]))
    findings = lint(Settings(templates_dir=templates), load_cadence(Settings().cadence_file.read_text()))
    assert {(f.template, f.rule) for f in findings} == {("email/reengage", "no_approval_promise")}
    assert {f.product for f in findings} == set(Product)

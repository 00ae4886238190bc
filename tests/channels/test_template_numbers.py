"""The borrower's own numbers in call scripts and emails, and the lint that holds an email's estimate to its
basis and to the line that it is not an approval."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings

from channels.lint import (
    RULES,
    SAMPLE_DAY,
    Finding,
    Sample,
    email_estimate_is_not_an_approval,
    rates_without_apr,
    sample_contexts,
    sample_numbers,
)
from channels.render import LeadView, RenderContext, render_call_script, render_email, template_names
from nurture.products import LoanPurpose, Product
from nurture.worksheet import worksheet
from service.settings import Settings
from service.templates import lint as lint_with_settings
from tests.channels.test_templates import BRAND, FULL_LEAD, OFFICER, REASON, SPARSE_LEAD, UNSUBSCRIBE
from tests.nurture.test_worksheet import ON, leads, programs

CALLS = template_names()["call"]
ESTIMATE_EMAILS = ("documents", "education", "program_update", "reengage")
NOT_AN_APPROVAL = "This is an estimate from the figures you gave us, not an approval or a commitment to lend."


def ctx(product: Product, lead: LeadView = FULL_LEAD, *, income: bool = True, numbers: bool = True) -> RenderContext:
    lead = replace(lead, product=product)
    worksheet = sample_numbers(lead, product, income=income) if numbers else None
    return RenderContext(lead, OFFICER, BRAND, UNSUBSCRIBE, reason=REASON, numbers=worksheet)


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("product", list(Product))
@pytest.mark.parametrize("name", [n for n in CALLS if n != "referral"])
def test_every_call_script_shows_the_numbers_with_their_basis_and_asks_about_urgency(name: str, product: Product):
    context = ctx(product)
    script = render_call_script(name, context, reply_text="Is this still open?")
    text = flat(script)
    assert "THE NUMBERS (estimates from what is on file" in script
    assert context.numbers is not None
    for f in context.numbers.figures:
        assert f"- {f.label}: {f.value if f.known else 'not worked out'}" in text
        assert flat(f.basis) in text and flat(f.note) in text and flat(f.ask) in text
    assert "URGENCY" in script and "under contract" in text and "closing date" in text and "slips" in text
    sample = Sample("call", name, context, script)
    assert [m for rule in RULES for m in rule(sample)] == []


def test_the_bank_statement_script_reads_like_a_worksheet():
    script = flat(render_call_script("intro", ctx(Product.BANK_STATEMENT)))
    assert (
        "- Estimated qualifying income: $9,200 a month 12 months of business deposits averaging $18,400 a month"
        " at the standard 50% expense ratio"
    ) in script
    assert "- Programs that fit today: none today; Sample Lending from March 15, 2027" in script
    assert "- Earliest eligible date after the chapter 7: March 15, 2027" in script
    assert "- Rate premium over a conventional loan: about $" in script and "each point is about $" in script
    assert "- Estimated DTI: " in script and "% of income" in script


def test_a_sparse_lead_gets_questions_where_numbers_would_be():
    script = flat(render_call_script("intro", ctx(Product.BANK_STATEMENT, SPARSE_LEAD, income=False)))
    assert "- Estimated qualifying income: not worked out no income figures on file -> Ask roughly what" in script
    assert "- Rate premium over a conventional loan: not worked out" in script
    assert "-> Ask the loan amount they have in mind." in script


def test_a_rental_script_shows_the_dscr_not_an_income():
    script = flat(render_call_script("intro", ctx(Product.DSCR)))
    assert "- Estimated DSCR (rent over payment): 0.83 rent of $2,400 a month over an estimated $2,885" in script
    assert "programs in force want at least 1.00" in script and "Estimated qualifying income" not in script


def test_a_refinance_is_asked_about_its_deadline_not_a_contract():
    lead = replace(FULL_LEAD, loan_purpose=LoanPurpose.REFINANCE)
    script = flat(render_call_script("intro", ctx(Product.BANK_STATEMENT, lead)))
    assert "a date the refinance has to be done by" in script and "under contract" not in script


def test_a_script_rendered_without_numbers_has_no_numbers_block_and_the_referral_call_has_neither():
    assert "THE NUMBERS" not in render_call_script("intro", ctx(Product.DSCR, numbers=False))
    referral = render_call_script("referral", ctx(Product.DSCR))
    assert "THE NUMBERS" not in referral and "URGENCY" not in referral


@pytest.mark.parametrize("name", ESTIMATE_EMAILS)
def test_emails_show_the_borrowers_estimate_with_its_basis_and_that_it_is_not_an_approval(name: str):
    email = render_email(name, ctx(Product.BANK_STATEMENT))
    text = flat(email.text)
    assert "Income a lender may count each month: $9,200 a month (12 months of business deposits" in text
    assert NOT_AN_APPROVAL in text
    credit = flat(render_email(name, ctx(Product.CREDIT_EVENT)).text)
    assert "counts the Chapter 7 bankruptcy far enough behind you: March 15, 2027 (60 months after" in credit
    rental = flat(render_email(name, ctx(Product.DSCR)).text)
    assert "How well the rent covers the monthly payment (DSCR): 0.83 (rent of $2,400 a month" in rental


@pytest.mark.parametrize("name", ESTIMATE_EMAILS)
def test_emails_without_an_estimate_show_no_numbers_block(name: str):
    for context in (ctx(Product.BANK_STATEMENT, numbers=False), ctx(Product.BANK_STATEMENT, SPARSE_LEAD, income=False)):
        text = render_email(name, context).text
        assert "Your own numbers" not in text and NOT_AN_APPROVAL not in flat(text)


def test_the_estimate_is_never_shown_in_a_script_as_a_borrower_offer_lenders_are_named_only_for_the_officer():
    context = ctx(Product.ASSET_DEPLETION)
    assert context.numbers is not None
    income = context.numbers.income
    assert income is not None and income.basis == "$1,200,000 of liquid assets spread over 72 months"
    assert "Sample Lending" in income.note
    assert "Sample Lending" not in render_email("education", context).text


# The lint rule.


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    return Path(shutil.copytree(Settings().templates_dir, tmp_path / "templates"))


def lint(templates_dir: Path) -> list[Finding]:
    settings = Settings(templates_dir=templates_dir)
    from nurture.cadence import load_cadence

    return lint_with_settings(settings, load_cadence(settings.cadence_file.read_text()))


def fired_on(findings: list[Finding], rule: str) -> set[str]:
    return {f.template for f in findings if f.rule == rule}


RULE = email_estimate_is_not_an_approval.__name__


def test_the_real_templates_pass_the_estimate_rule():
    assert fired_on(lint(Settings().templates_dir), RULE) == set()


def test_an_estimate_without_the_not_an_approval_line_fails_templates_check(templates: Path):
    partial = templates / "email" / "_estimate.html.j2"
    text = partial.read_text()
    assert text.count("This is an estimate") == 1
    partial.write_text(text.replace("This is an estimate", "These figures come"))
    findings = lint(templates)
    assert fired_on(findings, RULE) == {f"email/{name}" for name in ESTIMATE_EMAILS}
    assert any("without saying it is an estimate, not an approval" in f.message for f in findings if f.rule == RULE)


def test_an_estimate_printed_without_its_basis_fails(templates: Path):
    (templates / "email" / "bare_number.html.j2").write_text(
        '{% extends "email/_layout.html.j2" %}{% block subject %}Your number{% endblock %}'
        "{% block body %}{% for f in estimates %}<p>{{ f.value }}: an estimate, not an approval.</p>"
        "{% endfor %}{% endblock %}"
    )
    findings = [f for f in lint(templates) if f.rule == RULE]
    assert {f.template for f in findings} == {"email/bare_number"}
    assert all("without its basis" in f.message for f in findings)
    assert {f.product for f in findings} >= {Product.BANK_STATEMENT, Product.DSCR, Product.ASSET_DEPLETION}


def test_the_rule_does_not_apply_without_numbers_or_when_no_estimate_is_shown():
    context = ctx(Product.BANK_STATEMENT, numbers=False)
    email = render_email("education", context)
    assert email_estimate_is_not_an_approval(Sample("email", "education", context, email)) == []
    quiet = ctx(Product.BANK_STATEMENT)
    check_in = render_email("check_in", quiet)  # mentions no estimate
    assert email_estimate_is_not_an_approval(Sample("email", "check_in", quiet, check_in)) == []


def test_lint_samples_carry_a_worksheet_on_the_sample_day():
    full, sparse = sample_contexts(BRAND, "https://mail.harbor.test/u", Product.BANK_STATEMENT)
    assert full.numbers is not None and full.numbers.on == SAMPLE_DAY and full.numbers.estimates
    assert sparse.numbers is not None and not sparse.numbers.estimates


@settings(max_examples=200, deadline=None)
@given(lead=leads, rules=programs)
def test_no_figure_of_any_worksheet_reads_as_a_rate_without_its_apr(lead, rules):
    for f in worksheet(lead, rules, ON).figures:
        script_lines = f"- {f.label}: {f.value}\n    {f.basis}; {f.note}\n    -> {f.ask}"
        assert rates_without_apr(script_lines) == [], script_lines

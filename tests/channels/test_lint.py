"""The template lint: the real templates pass, and each rule fires on a copy broken for it and not on a near miss."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from channels.lint import (
    RENDERS,
    Finding,
    Sample,
    email_one_click_headers,
    rates_without_apr,
    sample_contexts,
    sms_within_two_segments,
)
from channels.messages import SmsMessage
from channels.render import render_email, template_names
from dripline.cli import app
from nurture.cadence import load_cadence
from nurture.products import Product
from service.senders import brand
from service.settings import Settings, get_settings
from service.templates import lint as lint_with_settings
from service.templates import missing_compliance_settings

REAL_TEMPLATES = Settings().templates_dir
TEMPLATES = template_names(REAL_TEMPLATES)
REAL_CADENCE = Settings().cadence_file
EMAILS = {f"email/{name}" for name in TEMPLATES["email"]}
CALLS = {f"call/{name}" for name in TEMPLATES["call"]}
TEMPLATE_COUNT = sum(len(names) for names in TEMPLATES.values())


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """A private copy of the real templates, to break."""
    return Path(shutil.copytree(REAL_TEMPLATES, tmp_path / "templates"))


def edit(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {relative} exactly once"
    path.write_text(text.replace(old, new))


def lint(templates_dir: Path, **overrides: object) -> list[Finding]:
    settings = Settings(templates_dir=templates_dir, **overrides)  # type: ignore[arg-type]
    return lint_with_settings(settings, load_cadence(settings.cadence_file.read_text()))


def fired(findings: list[Finding]) -> dict[str, set[str]]:
    """Rule name -> the templates it fired on."""
    out: dict[str, set[str]] = {}
    for f in findings:
        out.setdefault(f.rule, set()).add(f.template)
    return out


def test_every_real_template_passes_every_rule_for_every_product():
    assert lint(REAL_TEMPLATES) == []


def test_a_broken_copy_is_linted_from_its_own_folder_not_the_cached_real_one(templates: Path):
    edit(templates, "sms/help.txt.j2", "Msg frequency varies.", "We guarantee it. Msg frequency varies.")
    findings = lint(templates)
    assert fired(findings) == {"no_approval_promise": {"sms/help"}}
    assert {f.product for f in findings} == set(Product)
    assert lint(REAL_TEMPLATES) == []
    assert lint(templates) == findings


@pytest.mark.parametrize(
    ("rule", "old", "new", "needle"),
    [
        (
            "email_unsubscribe_link",
            '<a href="{{ unsubscribe_url }}">Unsubscribe</a>',
            "Visit {{ unsubscribe_url }}",
            "unsubscribe URL",
        ),
        ("email_postal_address", "{{ brand.company_address }}</p>", "</p>", "postal address"),
        ("email_nmls_ids", ", NMLS #{{ brand.company_nmls_id }}<br>", "<br>", "company's NMLS ID"),
        ("email_nmls_ids", "Loan officer, NMLS #{{ officer.nmls_id }}<br>", "Loan officer<br>", "loan officer's NMLS"),
        ("email_equal_housing_legend", "<p>Equal Housing Opportunity. ", "<p>", "Equal Housing"),
    ],
)
def test_each_email_footer_rule_fires_on_every_email_when_the_layout_drops_it(
    templates: Path, rule: str, old: str, new: str, needle: str
):
    edit(templates, "email/_layout.html.j2", old, new)
    findings = lint(templates)
    assert fired(findings) == {rule: EMAILS}
    assert len(findings) == len(EMAILS) * len(Product)
    assert all(needle in f.message for f in findings)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("<p>Equal Housing Opportunity. ", "<p>Equal Housing Lender. "),
        (", NMLS #{{ brand.company_nmls_id }}", ", NMLS ID {{ brand.company_nmls_id }}"),
        ('<a href="{{ unsubscribe_url }}">Unsubscribe</a>', "<a class=\"u\" href='{{ unsubscribe_url }}'>Opt out</a>"),
    ],
)
def test_email_footer_rules_accept_other_wordings_of_the_same_thing(templates: Path, old: str, new: str):
    edit(templates, "email/_layout.html.j2", old, new)
    assert lint(templates) == []


def test_one_click_headers_rule_fires_on_a_plain_http_unsubscribe_url():
    findings = lint(REAL_TEMPLATES, unsubscribe_base_url="http://example.com/unsubscribe")
    assert fired(findings) == {"email_one_click_headers": EMAILS}
    assert "https" in findings[0].message


def test_one_click_headers_rule_fires_on_missing_headers_and_not_on_the_rendered_ones():
    ctx = sample_contexts(brand(Settings()), Settings().unsubscribe_base_url, Product.DSCR)[0]
    message = render_email("check_in", ctx, templates_dir=REAL_TEMPLATES)
    assert email_one_click_headers(Sample("email", "check_in", ctx, message)) == []
    lowercase = replace(message, headers={k.lower(): v for k, v in message.headers.items()})
    assert email_one_click_headers(Sample("email", "check_in", ctx, lowercase)) == []
    problems = email_one_click_headers(Sample("email", "check_in", ctx, replace(message, headers={})))
    assert len(problems) == 2
    assert "List-Unsubscribe header" in problems[0] and "List-Unsubscribe-Post" in problems[1]
    wrong_post = replace(message, headers=message.headers | {"List-Unsubscribe-Post": "yes"})
    assert email_one_click_headers(Sample("email", "check_in", ctx, wrong_post)) == [problems[1]]


def test_first_sms_must_name_the_company(templates: Path):
    edit(templates, "sms/intro.txt.j2", "it's {{ sender }}.", "it's {{ officer.name }}.")
    findings = lint(templates)
    assert fired(findings) == {"first_sms_names_sender": {"sms/intro"}}
    assert Settings().company_name in findings[0].message


def test_first_sms_must_say_how_to_opt_out(templates: Path):
    edit(templates, "sms/intro.txt.j2", "Reply STOP to opt out.", "Reply any time.")
    assert fired(lint(templates)) == {"first_sms_says_how_to_opt_out": {"sms/intro"}}


def test_later_texts_need_neither_the_company_nor_the_opt_out(templates: Path):
    edit(templates, "sms/evening_followup.txt.j2", "{{ sender }} again", "{{ officer.name }} again")
    edit(templates, "sms/evening_followup.txt.j2", ", or STOP to opt out.", ".")
    assert lint(templates) == []


def cadence_starting_with(tmp_path: Path, template: str) -> Path:
    """A copy of the real cadence whose first text sends ``template``."""
    body = REAL_CADENCE.read_text()
    first_sms = "    channel: sms\n    template: intro\n"
    assert body.count(first_sms) == 1
    cadence = tmp_path / "cadence.yaml"
    cadence.write_text(body.replace(first_sms, f"    channel: sms\n    template: {template}\n"))
    return cadence


def test_the_first_sms_is_whichever_the_cadence_sends_first(templates: Path, tmp_path: Path):
    cadence = cadence_starting_with(tmp_path, "evening_followup")
    edit(templates, "sms/intro.txt.j2", "Reply STOP to opt out.", "Reply any time.")
    edit(templates, "sms/evening_followup.txt.j2", ", or STOP to opt out.", ".")
    assert fired(lint(templates, cadence_file=cadence)) == {"first_sms_says_how_to_opt_out": {"sms/evening_followup"}}


def test_a_first_sms_template_that_does_not_exist_is_reported(tmp_path: Path):
    findings = lint(REAL_TEMPLATES, cadence_file=cadence_starting_with(tmp_path, "welcome"))
    assert fired(findings) == {RENDERS: {"sms/welcome"}}
    assert "UnknownTemplate" in findings[0].message


def test_a_text_over_two_segments_is_flagged(templates: Path):
    edit(
        templates,
        "sms/evening_followup.txt.j2",
        "Sorry I missed you today.",
        "Sorry I missed you today. " + "Hi! " * 40,
    )
    findings = lint(templates)
    assert fired(findings) == {"sms_within_two_segments": {"sms/evening_followup"}}
    assert findings[0].message.startswith("3 segments")


@pytest.mark.parametrize(("length", "flagged"), [(306, False), (307, True)])
def test_two_segments_is_306_gsm_characters(length: int, flagged: bool):
    ctx = sample_contexts(brand(Settings()), Settings().unsubscribe_base_url, Product.DSCR)[0]
    sample = Sample("sms", "x", ctx, SmsMessage(to="+13125550199", body="a" * length))
    assert bool(sms_within_two_segments(sample)) is flagged


@pytest.mark.parametrize(
    ("relative", "old", "new", "phrase", "expected"),
    [
        (
            "calls/manual.txt.j2",
            "If not, ask for a better time",
            "Tell them you\u2019re approved. If not, ask for a better time",
            "you're approved",
            {"call/manual"},
        ),
        ("calls/_script.txt.j2", "REMEMBER\n", "REMEMBER\n- Closing dates are guaranteed.\n", "guaranteed", CALLS),
        ("voicemail/breakup.txt.j2", "Take care.", "Your loan is Guaranteed. Take care.", "guaranteed", None),
        (
            "email/check_in.html.j2",
            "No pressure at all",
            "You are pre-approved. No pressure at all",
            "pre-approved",
            None,
        ),
        ("sms/help.txt.j2", "Msg frequency varies.", "You are PREAPPROVED.", "preapproved", None),
        ("sms/opt_out_confirmation.txt.j2", "Reply START", "You are approved. Reply START", "you are approved", None),
    ],
)
def test_approval_promises_are_flagged_on_every_channel(
    templates: Path, relative: str, old: str, new: str, phrase: str, expected: set[str] | None
):
    edit(templates, relative, old, new)
    findings = lint(templates)
    channel, name = relative.replace("calls/", "call/").split(".")[0].split("/")
    assert fired(findings) == {"no_approval_promise": expected or {f"{channel}/{name}"}}
    assert all(phrase in f.message for f in findings)


def test_talking_about_approval_without_promising_it_passes(templates: Path):
    edit(
        templates,
        "calls/manual.txt.j2",
        "If not, ask for a better time",
        "Whether they get approved is the lender's call; underwriting decides approval. If not, ask for a better time",
    )
    assert lint(templates) == []


def test_a_rate_without_its_apr_is_flagged_in_a_call_script(templates: Path):
    edit(templates, "calls/_script.txt.j2", "  Never quote a rate", "  Today's rate is 6.5%. Never quote a rate")
    findings = lint(templates)
    assert fired(findings) == {"no_rate_without_apr": CALLS}
    assert "'6.5%'" in findings[0].message


def test_a_rate_with_its_apr_and_percentages_that_are_not_rates_pass(templates: Path):
    edit(
        templates,
        "email/education.html.j2",
        "<p>These loans usually cost",
        "<p>A 6.5% rate comes with a 6.71% APR. Lenders count deposits at a 50% expense ratio, personal accounts"
        " at 100% of deposits, and many buyers put 20% down.</p>\n<p>These loans usually cost",
    )
    assert lint(templates) == []


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("Rates start at 6.5%.", ["6.5%"]),
        ("A 6.5% rate is typical.", ["6.5%"]),
        ("Think 7 % or so.", ["7 %"]),
        ("About 6.25 percent interest.", ["6.25 percent"]),
        ("A rate of 6.5 per cent.", ["6.5 per cent"]),
        ("Only 6.5%!", ["6.5%"]),
        ("The rate is 6.5%. The APR is higher.", ["6.5%"]),
        ("Put 20% down and lock a 6.5% rate.", ["6.5%"]),
        ("20% down lowers your rate.", ["20%"]),
        ("Apr 6.5% rate", ["6.5%"]),
        ("A 6.5% rate (6.71% APR).", []),
        ("6.5% fixed, annual percentage rate 6.71%.", []),
        ("We use a 50% expense ratio.", []),
        ("Personal accounts count 100% of deposits.", []),
        ("Put 20% down.", []),
        ("Most lenders want 80% LTV or less.", []),
        ("Unsubscribe at https://x.test/u?a=12%20b", []),
        ("Msg & data rates may apply.", []),
    ],
)
def test_what_reads_as_a_rate(text: str, flagged: list[str]):
    assert [pct for pct, _ in rates_without_apr(text)] == flagged


def test_a_rate_in_one_paragraph_or_list_item_is_not_excused_by_an_apr_in_the_next():
    assert rates_without_apr("Rates from 6.5%\n\n6.71% APR") == [("6.5%", "Rates from 6.5%")]
    assert rates_without_apr("- Rates from 6.5%\n- 6.71% APR") == [("6.5%", "- Rates from 6.5%")]


def test_a_sentence_wrapped_over_lines_is_one_sentence():
    assert rates_without_apr("I can quote a 6.5% rate on this\nprogram, 6.71% APR. Fine?") == []


def test_a_template_that_fails_to_render_is_a_finding_not_a_crash(templates: Path):
    edit(templates, "sms/help.txt.j2", "Msg frequency varies.", "{{ lead.nickname }}")
    findings = lint(templates)
    assert fired(findings) == {RENDERS: {"sms/help"}}
    assert "UndefinedError" in findings[0].message


@pytest.mark.parametrize(
    ("field", "needle"),
    [
        ("company_name", "company name"),
        ("company_address", "company postal address"),
        ("company_nmls_id", "company NMLS ID"),
    ],
)
def test_missing_compliance_settings_names_each_blank_company_setting(field: str, needle: str):
    problems = missing_compliance_settings(Settings(**{field: "  "}), [("Dana Whitfield", "998877")])  # type: ignore[arg-type]
    assert len(problems) == 1
    assert needle in problems[0] and f"DRIPLINE_{field.upper()}" in problems[0]


def test_missing_compliance_settings_names_each_officer_without_an_nmls_id():
    officers = [("Dana Whitfield", None), ("Lee Park", " "), ("Ana Ruiz", "1234567")]
    assert missing_compliance_settings(Settings(), officers) == [
        "loan officer Dana Whitfield has no NMLS ID",
        "loan officer Lee Park has no NMLS ID",
    ]


def test_nothing_is_missing_when_everything_is_set():
    assert missing_compliance_settings(Settings(), [("Ana Ruiz", "1234567")]) == []


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def check(templates_dir: Path, *args: str):
    env = {"DRIPLINE_TEMPLATES_DIR": str(templates_dir)}
    return CliRunner().invoke(app, ["templates", "check", *args], env=env, catch_exceptions=False)


@pytest.mark.usefixtures("fresh_settings")
def test_templates_check_passes_on_the_real_templates():
    result = check(REAL_TEMPLATES)
    assert result.exit_code == 0, result.output
    assert f"all {TEMPLATE_COUNT} templates pass for all {len(Product)} products" in result.output


@pytest.mark.usefixtures("fresh_settings")
def test_templates_check_fails_on_a_broken_copy_and_lists_the_findings(templates: Path):
    edit(templates, "sms/intro.txt.j2", "Reply STOP to opt out.", "Reply any time.")
    result = check(templates)
    assert result.exit_code == 1
    assert "first_sms_says_how_to_opt_out" in result.output and "sms/intro" in result.output
    assert f"{len(Product)} findings in 1 of {TEMPLATE_COUNT} templates" in result.output

    as_json = check(templates, "--json")
    assert as_json.exit_code == 1
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert {row["product"] for row in rows} == {p.value for p in Product}
    assert all(
        row.keys() == {"template", "product", "rule", "message"} and row["rule"] == "first_sms_says_how_to_opt_out"
        for row in rows
    )

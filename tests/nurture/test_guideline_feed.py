"""Hostile feed input: each is refused with a FeedError whose errors are short single lines, never a crash."""

import subprocess
import sys

import pytest

from nurture import guideline_feed, guidelines
from nurture.guidelines import FeedError, parse_feed
from tests.nurture.test_guidelines import ROW, _csv, _json, _program

AT = "lenders[0].programs[0]"


def _only_error(text: str, format: str) -> str:
    with pytest.raises(FeedError) as caught:
        parse_feed(text, format=format)
    [error] = caught.value.errors
    assert "\n" not in error and len(error) < 300, error
    return error


@pytest.mark.parametrize(
    ("text", "format", "error"),
    [
        ("[" * 100_000, "json", "not valid JSON: nested too deeply"),
        ('{"lenders": ' + "[" * 100_000 + "]" * 100_000 + "}", "json", "not valid JSON: nested too deeply"),
        (
            _json(_program()).replace('"min_fico": 620', '"min_fico": ' + "[" * 900 + "]" * 900),
            "json",
            f"{AT}.min_fico: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[... is not a whole number",
        ),
        (
            _json(_program()).replace('"min_dscr": null', '"min_dscr": 1e400'),
            "json",
            f"{AT}.min_dscr: Infinity is not a number",
        ),
        (
            _json(_program(min_fico=10**400)),
            "json",
            f"{AT}.min_fico: 1000000000000000000000000000000000000... is not a credit score (300-850)",
        ),
        (
            _json(_program(min_loan_amount=10**400)),
            "json",
            f"{AT}.min_loan_amount: 1000000000000000000000000000000000000... is not a loan amount "
            "(0 to 1,000,000,000 dollars)",
        ),
        (
            _json(_program(min_dscr=10**400)),
            "json",
            f"{AT}.min_dscr: 1000000000000000000000000000000000000... is not a DSCR (above 0, at most 5)",
        ),
        (
            '{"lenders": [' + "9" * 5000 + "]}",
            "json",
            "not valid JSON: Exceeds the limit (4300 digits) for integer string conversion",
        ),
        (
            _json(_program()).replace('"max_ltv": 80', '"max_ltv": -Infinity'),
            "json",
            f"{AT}.max_ltv: -Infinity is not a number",
        ),
        ('{"source": NaN, "lenders": []}', "json", "source: NaN is not text"),
        (
            _json(_program(seasoning_months={"chapter_7": float("nan")})),
            "json",
            f"{AT}.seasoning_months.chapter_7: NaN is not a whole number",
        ),
        (
            _json(_program(), lender="Harbor\x00Capital"),
            "json",
            'lenders[0].lender: "Harbor\\u0000Capital" has a control character',
        ),
        ('{"lenders": \x00}', "json", "line 1: not valid JSON: Expecting value (column 13)"),
        (
            _csv(ROW | {"lender": "Harbor\x00Capital"}),
            "csv",
            'line 2: lender: "Harbor\\u0000Capital" has a control character',
        ),
        (_json(_program(), lender="x" * 1_000_000), "json", "lenders[0].lender: 1000000 characters; at most 120"),
        (
            _json(_program(program="x" * 1_000_000)),
            "json",
            f'{AT}.program: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... is not a program '
            "(use one of bank_statement, dscr, asset_depletion, credit_event, foreign_national)",
        ),
        (
            _json(_program(**{"x" * 1_000_000: 1})),
            "json",
            f"{AT}.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...: unknown field",
        ),
        (
            _json(_program(states=["x"] * 100_000)),
            "json",
            f'{AT}.states: "x", "x", "x" and 99997 more are not US state codes',
        ),
        (_csv(ROW | {"program": "x" * 1_000_000}), "csv", "line 2: field larger than field limit (131072)"),
        ("", "json", "the feed is empty"),
        (" \n\n", "csv", "the feed is empty"),
    ],
)
def test_hostile_input_is_one_short_error(text, format, error):
    assert _only_error(text, format) == error


@pytest.mark.parametrize("text", ["Harbor Capital,dscr,2026-06-01\n", "x" * 100_000 + "\n", "\x00,\x00\n"])
def test_a_csv_without_a_header_is_one_error(text):
    assert _only_error(text, "csv").startswith("line 1: no header; the first line names the columns: lender, program")


def test_a_csv_with_repeated_columns_names_each_once():
    text = _csv(ROW, columns=(*guideline_feed.CSV_COLUMNS, "lender", "states", "states"))
    with pytest.raises(FeedError) as caught:
        parse_feed(text, format="csv")
    assert caught.value.errors == [
        "line 1: column lender is given more than once",
        "line 1: column states is given more than once",
    ]


def test_imports_flow_one_way_from_guidelines_to_the_parser():
    assert guidelines.parse_feed is guideline_feed.parse_feed
    assert guidelines.ProgramRules is guideline_feed.ProgramRules
    check = "import sys, nurture.guideline_feed; assert 'nurture.guidelines' not in sys.modules"
    subprocess.run([sys.executable, "-c", check], check=True)


def _problems(text: str, format: str, lender: str | None = None) -> list[tuple[int | None, str | None, str]]:
    with pytest.raises(FeedError) as caught:
        parse_feed(text, format=format, lender=lender)
    assert caught.value.errors == [str(p) for p in caught.value.problems]
    return [(p.line, p.field, p.message) for p in caught.value.problems]


def test_each_problem_carries_its_line_and_field_apart_from_its_words():
    bad = ROW | {"min_fico": "abc"}
    assert _problems(_csv(ROW, ROW | {"program": "dscr"}, bad | {"program": "asset_depletion"}), "csv") == [
        (4, "min_fico", '"abc" is not a whole number'),
    ]
    assert _problems(_csv(ROW, columns=(*guideline_feed.CSV_COLUMNS, "min_fcio")), "csv") == [
        (1, "min_fcio", "unknown column (did you mean min_fico?)"),
    ]
    assert _problems(_json(_program(min_fico=900)), "json") == [
        (None, f"{AT}.min_fico", "900 is not a credit score (300-850)"),
    ]
    assert _problems('{"lenders":\n\n []', "json") == [(3, None, "not valid JSON: Expecting ',' delimiter (column 4)")]


def test_a_feed_for_one_lender_refuses_every_row_of_another():
    harbor, bayline = ROW, ROW | {"lender": "Bayline   Mortgage"}
    assert parse_feed(_csv(harbor), format="csv", lender="Harbor Capital")
    assert _problems(_csv(harbor, bayline), "csv", lender="Harbor Capital") == [
        (3, "lender", '"Bayline Mortgage" is not Harbor Capital, whose feed this is'),
    ]
    assert _problems(_json(_program(), lender="Bayline Mortgage"), "json", lender="Harbor Capital") == [
        (None, "lenders[0].lender", '"Bayline Mortgage" is not Harbor Capital, whose feed this is'),
    ]
    assert _problems(_csv(ROW | {"lender": ""}), "csv", lender="Harbor Capital") == [
        (2, "lender", "must not be blank"),
    ]

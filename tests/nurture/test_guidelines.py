import csv
import io
import json
import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nurture.geo import STATES
from nurture.guideline_feed import CSV_COLUMNS, INCOME_FIELDS
from nurture.guidelines import (
    FIELDS,
    PROGRAMS,
    Change,
    Direction,
    FeedError,
    ProgramRules,
    diff,
    digest,
    in_force,
    loosenings,
    parse_feed,
    to_feed,
)
from nurture.products import CreditEventType, Product

EXAMPLES = Path(__file__).resolve().parents[2] / "guidelines" / "examples"
L, T, N = Direction.LOOSENING, Direction.TIGHTENING, Direction.NEUTRAL
BANK, DSCR, CE, ASSETS = Product.BANK_STATEMENT, Product.DSCR, Product.CREDIT_EVENT, Product.ASSET_DEPLETION
CH7, FC = CreditEventType.CHAPTER_7, CreditEventType.FORECLOSURE
HARBOR = "Harbor Capital"


def _rules(**fields: Any) -> ProgramRules:
    base: dict[str, Any] = {"lender": HARBOR, "program": BANK, "effective_date": date(2026, 5, 1)}
    return ProgramRules(**(base | fields))


def _program(**fields: Any) -> dict[str, Any]:
    base = {
        "program": "bank_statement",
        "effective_date": "2026-06-01",
        "min_fico": 620,
        "seasoning_months": {"chapter_7": 24},
        "min_dscr": None,
        "asset_divisor": None,
        "max_ltv": 80,
        "min_loan_amount": 100000,
        "states": ["FL", "TX"],
    }
    return base | fields


def _json(*programs: dict[str, Any], lender: str = HARBOR) -> str:
    return json.dumps({"lenders": [{"lender": lender, "programs": list(programs)}]})


ROW = {c: "" for c in CSV_COLUMNS} | {
    "lender": HARBOR,
    "program": "bank_statement",
    "effective_date": "2026-06-01",
    "min_fico": "620",
    "seasoning_chapter_7": "24",
    "max_ltv": "80",
    "min_loan_amount": "100000",
    "states": "FL;TX",
}


def _csv(*rows: dict[str, str], columns: tuple[str, ...] = CSV_COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([[row.get(c, "") for c in columns] for row in rows])
    return out.getvalue()


def _errors(text: str, format: str) -> list[str]:
    with pytest.raises(FeedError) as caught:
        parse_feed(text, format=format)
    return caught.value.errors


# Parsing: happy paths


def test_example_feeds_parse():
    may = parse_feed((EXAMPLES / "harbor-2026-02.json").read_text(), format="json")
    june = parse_feed((EXAMPLES / "harbor-2026-06.csv").read_text(), format="csv")
    assert [p.key for p in may] == [p.key for p in june]
    assert {p.lender for p in may} == {HARBOR, "Bayline Mortgage"} and len(may) == 7
    dscr = next(p for p in may if p.key == (HARBOR, DSCR))
    assert dscr == _rules(
        program=DSCR,
        effective_date=date(2026, 2, 1),
        min_fico=660,
        seasoning_months={CH7: 36, FC: 36, CreditEventType.SHORT_SALE: 24},
        min_dscr=1.0,
        max_ltv=75.0,
        min_loan_amount=150000,
    )


def test_june_example_loosens_one_lender_two_ways():
    may = parse_feed((EXAMPLES / "harbor-2026-02.json").read_text(), format="json")
    june = parse_feed((EXAMPLES / "harbor-2026-06.csv").read_text(), format="csv")
    harbor = diff([p for p in may if p.lender == HARBOR], [p for p in june if p.lender == HARBOR])
    assert [(c.program, c.field, c.old, c.new, c.direction) for c in harbor] == [
        (BANK, "min_fico", 640, 600, L),
        (BANK, "effective_date", date(2026, 2, 1), date(2026, 6, 1), N),
        (CE, "seasoning_months.chapter_7", 48, 24, L),
        (CE, "effective_date", date(2026, 2, 1), date(2026, 6, 1), N),
    ]
    assert [c.describe() for c in loosenings(harbor)] == [
        "lowered its minimum credit score from 640 to 600 for bank statement loans",
        "shortened the wait after a chapter 7 bankruptcy from 48 to 24 months for credit event loans",
    ]
    bayline = [p for p in may if p.lender == "Bayline Mortgage"]
    assert diff(bayline, [p for p in june if p.lender == "Bayline Mortgage"]) == []


def test_json_and_csv_of_the_same_content_are_equal():
    from_json = parse_feed(
        _json(_program(), _program(program="dscr", min_dscr=1, max_ltv=75.5, states=None, seasoning_months={})),
        format="json",
    )
    dscr_row = ROW | {"program": "dscr", "min_dscr": "1.0", "max_ltv": "75.5", "states": "", "seasoning_chapter_7": ""}
    from_csv = parse_feed(_csv(ROW, dscr_row), format="csv")
    assert from_json == from_csv
    assert from_json[1] == _rules(
        program=DSCR, effective_date=date(2026, 6, 1), min_fico=620, min_dscr=1.0, max_ltv=75.5, min_loan_amount=100000
    )
    assert digest(from_json) == digest(from_csv)


@pytest.mark.parametrize("cell", ["FL;TX", "FL TX", "FL, TX", " fl ; tx ", "TX;FL;tx"])
def test_csv_states_separators_and_case(cell):
    [rules] = parse_feed(_csv(ROW | {"states": cell}), format="csv")
    assert rules.states == frozenset({"FL", "TX"})


def test_blank_csv_cells_mean_no_limit_and_event_not_accepted():
    blank = ROW | {"min_fico": "", "max_ltv": "", "min_loan_amount": "", "states": "", "seasoning_chapter_7": ""}
    [rules] = parse_feed(_csv(blank), format="csv")
    assert rules == _rules(effective_date=date(2026, 6, 1))


def test_names_are_trimmed_and_codes_normalised():
    text = _json(_program(program=" Bank_Statement ", states=["fl", " tx"]), lender="  Harbor   Capital ")
    [rules] = parse_feed(text, format="json")
    assert (rules.lender, rules.program, rules.states) == (HARBOR, BANK, frozenset({"FL", "TX"}))


def test_seasoning_null_means_not_accepted_and_zero_means_no_wait():
    [rules] = parse_feed(_json(_program(seasoning_months={"chapter_7": None, "foreclosure": 0})), format="json")
    assert rules.seasoning_months == {FC: 0}


@pytest.mark.parametrize(
    "fields",
    [
        {"min_fico": 300, "max_ltv": 100, "min_loan_amount": 0, "min_dscr": 5, "asset_divisor": 1},
        {"min_fico": 850, "max_ltv": 0.5, "min_dscr": 0.01, "asset_divisor": 600},
        {"seasoning_months": {e.value: m for e, m in zip(CreditEventType, (0, 240, 1, 2, 3), strict=True)}},
    ],
)
def test_boundary_values_are_accepted(fields):
    assert len(parse_feed(_json(_program(**fields)), format="json")) == 1


def test_csv_bom_header_case_blank_lines_and_a_trailing_empty_column():
    text = "\ufeff" + _csv(ROW, ROW | {"program": "dscr"}).replace("min_fico", "MIN_FICO ")
    text = text.replace("\n", ",\n").replace("TX,\n", "TX,\n\n,,,\n", 1)
    assert [p.program for p in parse_feed(text, format="csv")] == [BANK, DSCR]


# Parsing: every problem, named by place


def test_json_feed_with_five_problems_reports_all_five():
    feed = {
        "lenders": [
            {
                "lender": HARBOR,
                "programs": [
                    {k: v for k, v in _program().items() if k != "effective_date"},
                    _program(program="dscr", min_fico=-5),
                    _program(program="general"),
                    _program(program="dscr"),
                ],
            },
            {"lender": "Bayline Mortgage", "programs": [_program(max_ltv="80")]},
        ]
    }
    assert _errors(json.dumps(feed), "json") == [
        "lenders[0].programs[0]: missing effective_date",
        "lenders[0].programs[1].min_fico: -5 is not a credit score (300-850)",
        "lenders[0].programs[2].program: "
        '"general" is not a program (use one of bank_statement, dscr, asset_depletion, credit_event, foreign_national)',
        "lenders[0].programs[3]: Harbor Capital / dscr is already given at lenders[0].programs[1]",
        'lenders[1].programs[0].max_ltv: "80" is not a number',
    ]


def test_csv_feed_with_five_problems_reports_all_five():
    text = _csv(
        ROW | {"effective_date": ""},
        ROW | {"program": "dscr", "min_fico": "-5"},
        ROW | {"program": "general"},
        ROW | {"program": "dscr"},
        ROW | {"lender": "Bayline Mortgage", "max_ltv": "abc"},
    )
    assert _errors(text, "csv") == [
        "line 2: effective_date: blank is not a date like 2026-06-01",
        "line 3: min_fico: -5 is not a credit score (300-850)",
        'line 4: program: "general" is not a program '
        "(use one of bank_statement, dscr, asset_depletion, credit_event, foreign_national)",
        "line 5: Harbor Capital / dscr is already given at line 3",
        'line 6: max_ltv: "abc" is not a number',
    ]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"min_fico": 851}, "min_fico: 851 is not a credit score (300-850)"),
        ({"min_fico": 299}, "min_fico: 299 is not a credit score (300-850)"),
        ({"min_fico": 620.5}, "min_fico: 620.5 is not a whole number"),
        ({"min_fico": 620.0}, "min_fico: 620.0 is not a whole number"),
        ({"min_fico": "620"}, 'min_fico: "620" is not a whole number'),
        ({"min_fico": True}, "min_fico: true is not a whole number"),
        (
            {"seasoning_months": {"chapter_7": 241}},
            "seasoning_months.chapter_7: 241 is not a waiting period (0-240 months)",
        ),
        (
            {"seasoning_months": {"chapter_7": -1}},
            "seasoning_months.chapter_7: -1 is not a waiting period (0-240 months)",
        ),
        ({"seasoning_months": {"foreclosure": "24"}}, 'seasoning_months.foreclosure: "24" is not a whole number'),
        (
            {"seasoning_months": {"chapter_11": 12}},
            "seasoning_months.chapter_11: not a credit event "
            "(use one of chapter_7, chapter_13, foreclosure, short_sale, deed_in_lieu)",
        ),
        ({"seasoning_months": None}, 'seasoning_months: expected an object like {"chapter_7": 24}, or {}, got null'),
        ({"seasoning_months": [24]}, 'seasoning_months: expected an object like {"chapter_7": 24}, or {}, got [24]'),
        ({"min_dscr": 0}, "min_dscr: 0 is not a DSCR (above 0, at most 5)"),
        ({"min_dscr": 5.01}, "min_dscr: 5.01 is not a DSCR (above 0, at most 5)"),
        ({"min_dscr": False}, "min_dscr: false is not a number"),
        ({"asset_divisor": 0}, "asset_divisor: 0 is not a divisor (1-600 months)"),
        ({"asset_divisor": 601}, "asset_divisor: 601 is not a divisor (1-600 months)"),
        ({"asset_divisor": 60.5}, "asset_divisor: 60.5 is not a whole number"),
        ({"max_ltv": 0}, "max_ltv: 0 is not a loan-to-value (above 0, at most 100 percent)"),
        ({"max_ltv": 100.5}, "max_ltv: 100.5 is not a loan-to-value (above 0, at most 100 percent)"),
        ({"min_loan_amount": -1}, "min_loan_amount: -1 is not a loan amount (0 to 1,000,000,000 dollars)"),
        ({"min_loan_amount": 1.5}, "min_loan_amount: 1.5 is not a whole number"),
        ({"states": ["FL", "XX"]}, 'states: "XX" is not a US state code'),
        ({"states": ["ZZ", 3]}, 'states: "ZZ", 3 are not US state codes'),
        ({"states": []}, 'states: []: expected a list of state codes such as ["FL", "TX"], or null for all'),
        ({"states": "FL"}, 'states: "FL": expected a list of state codes such as ["FL", "TX"], or null for all'),
        ({"program": "heloc"}, 'program: "heloc" is not a program'),
        ({"program": None}, "program: null is not a program"),
        ({"effective_date": "2026-6-1"}, 'effective_date: "2026-6-1" is not a date like 2026-06-01'),
        ({"effective_date": "2026-02-30"}, 'effective_date: "2026-02-30" is not a date like 2026-06-01'),
        ({"effective_date": 20260601}, "effective_date: 20260601 is not a date like 2026-06-01"),
        ({"min_fcio": 600}, "min_fcio: unknown field (did you mean min_fico?)"),
        (
            {"expense_ratio": 37.555},
            "expense_ratio: 37.555 has more than two decimals; give the percent to a hundredth",
        ),
        ({"expense_ratio": 101}, "expense_ratio: 101 is not an expense ratio (0 to 100 percent)"),
        ({"expense_ratio": "40"}, 'expense_ratio: "40" is not a number'),
        ({"statement_months": 18}, "statement_months: 18 is not a number of statement months (12 or 24)"),
        ({"statement_months": 12.0}, "statement_months: 12.0 is not a whole number"),
        ({"max_dti": 0}, "max_dti: 0 is not a debt-to-income ratio (above 0, at most 100 percent)"),
        ({"max_dti": 100.5}, "max_dti: 100.5 is not a debt-to-income ratio (above 0, at most 100 percent)"),
    ],
)
def test_each_bad_json_value_is_named(fields, error):
    [message] = _errors(_json(_program(**fields)), "json")
    assert message.startswith(f"lenders[0].programs[0].{error}")


def test_the_income_fields_are_optional_in_json_and_csv():
    given = {"expense_ratio": 40, "statement_months": 12, "max_dti": 45.5}
    [with_them] = parse_feed(_json(_program(**given)), format="json")
    [without] = parse_feed(_json(_program()), format="json")
    assert (with_them.expense_ratio, with_them.statement_months, with_them.max_dti) == (40.0, 12, 45.5)
    assert (without.expense_ratio, without.statement_months, without.max_dti) == (None, None, None)
    columns = (*CSV_COLUMNS, "max_dti", "expense_ratio", "statement_months")
    [from_csv] = parse_feed(_csv(ROW | {k: str(v) for k, v in given.items()}, columns=columns), format="csv")
    assert from_csv == with_them
    [blank] = parse_feed(_csv(ROW, columns=columns), format="csv")
    assert blank == without == parse_feed(_csv(ROW), format="csv")[0]
    row = ROW | {"expense_ratio": "forty", "statement_months": "18"}
    assert _errors(_csv(row, columns=columns), "csv") == [
        'line 2: expense_ratio: "forty" is not a number',
        "line 2: statement_months: 18 is not a number of statement months (12 or 24)",
    ]


def test_nan_and_infinity_are_not_numbers():
    text = _json(_program()).replace('"max_ltv": 80', '"max_ltv": NaN').replace('"min_fico": 620', '"min_fico": 1e999')
    assert _errors(text, "json") == [
        "lenders[0].programs[0].min_fico: Infinity is not a whole number",
        "lenders[0].programs[0].max_ltv: NaN is not a number",
    ]


def test_missing_json_keys_are_errors_not_no_limit():
    program = {k: v for k, v in _program().items() if k not in ("min_fico", "states", "seasoning_months")}
    assert _errors(_json(program), "json") == [
        "lenders[0].programs[0]: missing min_fico (give null for no limit)",
        "lenders[0].programs[0]: missing seasoning_months (give {} when no credit event is accepted)",
        "lenders[0].programs[0]: missing states (give null for every state)",
    ]


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        ("", ["the feed is empty"]),
        ('{"lenders": []}', ["the feed has no programs"]),
        ("[]", ["expected an object with lenders"]),
        ('{"source": "x"}', ["missing lenders"]),
        ('{"lenders": {}, "source": 3}', ["source: 3 is not text", "lenders: expected a list of lenders, got {}"]),
        ('{"lenders": [], "lenders": []}', ["lenders: given more than once"]),
        (
            '{"lenders": [{"lender": "A", "programs": []}]}',
            ["lenders[0].programs: expected a non-empty list of programs, got []"],
        ),
        (
            '{"lenders": [{"lender": " ", "programs": [], "x": 1}]}',
            [
                "lenders[0].lender: must not be blank",
                "lenders[0].programs: expected a non-empty list of programs, got []",
                "lenders[0].x: unknown field",
            ],
        ),
        (
            '{"lenders": [{"lender": "' + "x" * 121 + '"}]}',
            [
                "lenders[0].lender: 121 characters; at most 120",
                "lenders[0]: missing programs",
            ],
        ),
        ('{"lenders": [7]}', ["lenders[0]: expected an object with lender, programs"]),
    ],
)
def test_json_document_shape_errors(text, errors):
    assert _errors(text, "json") == errors


def test_a_key_given_twice_in_a_program_is_an_error():
    text = _json(_program()).replace('"min_fico": 620', '"min_fico": 620, "min_fico": 600')
    assert _errors(text, "json") == ["lenders[0].programs[0].min_fico: given more than once"]


def test_invalid_json_is_one_error():
    [error] = _errors('{"lenders": [', "json")
    assert error.startswith("line 1: not valid JSON: ")


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        (_csv(ROW, columns=CSV_COLUMNS[:-1]), ["line 1: missing column states"]),
        (
            _csv(ROW, columns=(*CSV_COLUMNS, "min_fcio")),
            ["line 1: min_fcio: unknown column (did you mean min_fico?)"],
        ),
        (_csv(ROW, columns=(*CSV_COLUMNS, "lender")), ["line 1: column lender is given more than once"]),
        (_csv(ROW) + "Harbor Capital,dscr\n", ["line 3: 2 cells, but the header has 14"]),
        (_csv(ROW | {"min_loan_amount": "100,000"}), ['line 2: min_loan_amount: "100,000" is not a whole number']),
        (_csv(ROW | {"min_fico": "620.0"}), ["line 2: min_fico: 620.0 is not a whole number"]),
        (_csv(ROW | {"min_dscr": "true"}), ['line 2: min_dscr: "true" is not a number']),
        (_csv(ROW | {"states": "FL;Florida"}), ['line 2: states: "Florida" is not a US state code']),
        (
            _csv(ROW | {"seasoning_deed_in_lieu": "x"}),
            ['line 2: seasoning_deed_in_lieu: "x" is not a whole number'],
        ),
        (
            _csv(ROW).replace("\n", ",\n").replace("TX,\n", "TX,oops\n"),
            ['line 2: "oops" is in column 15, which has no name in the header'],
        ),
        (",".join(CSV_COLUMNS) + "\n\n", ["the feed has no programs"]),
    ],
)
def test_csv_errors(text, errors):
    assert _errors(text, "csv") == errors


def test_csv_errors_name_the_line_a_record_starts_on():
    text = _csv(ROW | {"lender": "Harbor\nCapital", "min_fico": "9"}, ROW | {"program": "dscr", "min_fico": "10"})
    assert _errors(text, "csv") == [
        "line 2: min_fico: 9 is not a credit score (300-850)",
        "line 4: min_fico: 10 is not a credit score (300-850)",
    ]


def test_feed_error_is_a_value_error_and_an_unknown_format_is_not_a_feed_error():
    assert issubclass(FeedError, ValueError)
    with pytest.raises(ValueError, match="format must be 'json' or 'csv'") as caught:
        parse_feed(_json(_program()), format="yaml")
    assert not isinstance(caught.value, FeedError)
    assert "2 error(s)" in str(FeedError(["a", "b"]))


# diff


@pytest.mark.parametrize(
    ("field", "before", "after", "old", "new", "direction"),
    [
        ("min_fico", {"min_fico": 640}, {"min_fico": 600}, 640, 600, L),
        ("min_fico", {"min_fico": 640}, {}, 640, None, L),
        ("seasoning_months.chapter_7", {"seasoning_months": {CH7: 48}}, {"seasoning_months": {CH7: 24}}, 48, 24, L),
        ("seasoning_months.foreclosure", {}, {"seasoning_months": {FC: 36}}, None, 36, L),
        ("min_dscr", {"min_dscr": 1.0}, {"min_dscr": 0.75}, 1.0, 0.75, L),
        ("min_dscr", {"min_dscr": 1.0}, {}, 1.0, None, L),
        ("asset_divisor", {"asset_divisor": 360}, {"asset_divisor": 60}, 360, 60, L),
        ("asset_divisor", {"asset_divisor": 60}, {}, 60, None, L),
        ("max_ltv", {"max_ltv": 80.0}, {"max_ltv": 85.0}, 80.0, 85.0, L),
        ("max_ltv", {"max_ltv": 80.0}, {}, 80.0, None, L),
        ("min_loan_amount", {"min_loan_amount": 150000}, {"min_loan_amount": 100000}, 150000, 100000, L),
        ("min_loan_amount", {"min_loan_amount": 0}, {}, 0, None, L),
        ("states", {"states": frozenset({"FL"})}, {"states": frozenset({"FL", "TX"})}, {"FL"}, {"FL", "TX"}, L),
        ("states", {"states": frozenset({"FL"})}, {}, {"FL"}, None, L),
        ("statement_months", {"statement_months": 24}, {"statement_months": 12}, 24, 12, L),
        ("statement_months", {"statement_months": 24}, {}, 24, None, L),
        ("expense_ratio", {"expense_ratio": 50.0}, {"expense_ratio": 40.0}, 50.0, 40.0, L),
        ("expense_ratio", {"expense_ratio": 60.0}, {}, 60.0, 50.0, L),  # not given: the standard 50%
        ("max_dti", {"max_dti": 45.0}, {"max_dti": 50.0}, 45.0, 50.0, L),
        ("max_dti", {"max_dti": 45.0}, {}, 45.0, None, L),
        ("effective_date", {}, {"effective_date": date(2026, 6, 1)}, date(2026, 5, 1), date(2026, 6, 1), N),
    ],
)
def test_each_field_changes_direction_both_ways(field, before, after, old, new, direction):
    a, b = _rules(**before), _rules(**after)
    assert diff([a], [b]) == [Change(HARBOR, BANK, field, old, new, direction)]
    back = {L: T, N: N}[direction]
    assert diff([b], [a]) == [Change(HARBOR, BANK, field, new, old, back)]


def test_income_fields_are_compared_as_the_rules_apply_them():
    assert diff([_rules(expense_ratio=50.0)], [_rules()]) == [], "no expense ratio is the standard 50%"
    assets = {"program": ASSETS, "asset_divisor": 60}
    assert diff([_rules(**assets, max_dti=50.0)], [_rules(**assets)]) == [], "the asset test assumes 50%"
    assert diff([_rules(**assets, max_dti=60.0)], [_rules(**assets)]) == [
        Change(HARBOR, ASSETS, "max_dti", 60.0, 50.0, T)
    ]
    assert diff([_rules(**assets)], [_rules(program=ASSETS)]) == [
        Change(HARBOR, ASSETS, "asset_divisor", 60, None, L)
    ], "dropping the divisor is one change, not also one of the DTI it assumed"


def test_a_state_list_that_adds_and_drops_gives_two_changes():
    a, b = _rules(states=frozenset({"FL", "GA"})), _rules(states=frozenset({"FL", "TX"}))
    assert diff([a], [b]) == [
        Change(HARBOR, BANK, "states", a.states, b.states, L),
        Change(HARBOR, BANK, "states", a.states, b.states, T),
    ]


def test_programs_added_and_withdrawn():
    bank, dscr = _rules(), _rules(program=DSCR, min_dscr=1.0)
    assert diff([bank], [bank, dscr]) == [Change(HARBOR, DSCR, "program", None, "offered", L)]
    assert diff([bank, dscr], [bank]) == [Change(HARBOR, DSCR, "program", "offered", "withdrawn", T)]
    assert diff([], [dscr]) == [Change(HARBOR, DSCR, "program", None, "offered", L)]


def test_no_change_is_empty_whatever_the_order():
    programs = [_rules(min_fico=640), _rules(program=DSCR, min_dscr=1.0), _rules(program=CE)]
    assert diff(programs, programs[::-1]) == []
    assert diff([], []) == []


def test_changes_are_ordered_by_program_then_field():
    old = [_rules(program=CE, min_fico=600), _rules(min_fico=640, states=frozenset({"FL"}))]
    new = [
        _rules(min_fico=620, states=None, effective_date=date(2026, 6, 1), seasoning_months={FC: 24}),
        _rules(program=CE, min_fico=580),
        _rules(program=DSCR),
    ]
    assert [(c.program, c.field) for c in diff(old, new)] == [
        (BANK, "min_fico"),
        (BANK, "seasoning_months.foreclosure"),
        (BANK, "states"),
        (BANK, "effective_date"),
        (DSCR, "program"),
        (CE, "min_fico"),
    ]


def test_diff_refuses_two_lenders_or_a_program_twice():
    with pytest.raises(ValueError, match="one lender"):
        diff([_rules()], [_rules(lender="Bayline Mortgage")])
    with pytest.raises(ValueError, match="listed twice"):
        diff([_rules(), _rules(min_fico=700)], [])


def test_loosenings_keeps_only_loosening_changes_in_order():
    changes = diff(
        [_rules(min_fico=640, max_ltv=85.0, states=frozenset({"FL"}))],
        [_rules(min_fico=600, max_ltv=80.0, states=None, effective_date=date(2026, 7, 1))],
    )
    assert [c.direction for c in changes] == [L, T, L, N]
    assert [c.field for c in loosenings(changes)] == ["min_fico", "states"]


# describe


def _c(field: str, old: object, new: object, direction: Direction = L, program: Product = BANK) -> Change:
    return Change("Harbor Capital", program, field, old, new, direction)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (_c("program", None, "offered", program=ASSETS), "now offers asset depletion loans"),
        (_c("program", "offered", "withdrawn", T, DSCR), "no longer offers DSCR loans"),
        (_c("min_fico", 640, 600), "lowered its minimum credit score from 640 to 600 for bank statement loans"),
        (_c("min_fico", 600, 640, T), "raised its minimum credit score from 600 to 640 for bank statement loans"),
        (_c("min_fico", 640, None), "dropped its minimum credit score of 640 for bank statement loans"),
        (_c("min_fico", None, 640, T), "now sets a minimum credit score of 640 for bank statement loans"),
        (
            _c("seasoning_months.chapter_7", 48, 24, program=CE),
            "shortened the wait after a chapter 7 bankruptcy from 48 to 24 months for credit event loans",
        ),
        (
            _c("seasoning_months.chapter_13", 1, 2, T, CE),
            "lengthened the wait after a chapter 13 bankruptcy from 1 to 2 months for credit event loans",
        ),
        (
            _c("seasoning_months.foreclosure", None, 36, program=CE),
            "now accepts foreclosures after 36 months for credit event loans",
        ),
        (
            _c("seasoning_months.short_sale", None, 0, program=CE),
            "now accepts short sales with no waiting period for credit event loans",
        ),
        (
            _c("seasoning_months.deed_in_lieu", 24, None, T, CE),
            "no longer accepts deeds in lieu of foreclosure for credit event loans",
        ),
        (
            _c("seasoning_months.short_sale", 12, 0, program=CE),
            "no longer requires a wait after a short sale (was 12 months) for credit event loans",
        ),
        (
            _c("seasoning_months.short_sale", 0, 1, T, CE),
            "now requires a wait of 1 month after a short sale (none before) for credit event loans",
        ),
        (_c("min_dscr", 1.0, 0.75, program=DSCR), "lowered its minimum DSCR from 1.00 to 0.75 for DSCR loans"),
        (_c("min_dscr", 1.0, 1.125, T, DSCR), "raised its minimum DSCR from 1.00 to 1.125 for DSCR loans"),
        (_c("min_dscr", None, 1, T, DSCR), "now sets a minimum DSCR of 1.00 for DSCR loans"),
        (
            _c("asset_divisor", 360, 60, program=ASSETS),
            "lowered its asset depletion divisor from 360 to 60 months for asset depletion loans "
            "(the same assets now count as more monthly income)",
        ),
        (
            _c("asset_divisor", 60, 84, T, ASSETS),
            "raised its asset depletion divisor from 60 to 84 months for asset depletion loans "
            "(the same assets now count as less monthly income)",
        ),
        (
            _c("asset_divisor", 60, None, program=ASSETS),
            "dropped its asset depletion divisor of 60 months for asset depletion loans",
        ),
        (_c("max_ltv", 80.0, 85.0), "raised its maximum loan-to-value from 80% to 85% for bank statement loans"),
        (_c("max_ltv", 85.0, 82.5, T), "lowered its maximum loan-to-value from 85% to 82.5% for bank statement loans"),
        (_c("max_ltv", None, 80.0, T), "now sets a maximum loan-to-value of 80% for bank statement loans"),
        (
            _c("min_loan_amount", 150000, 100000),
            "lowered its minimum loan amount from $150,000 to $100,000 for bank statement loans",
        ),
        (_c("min_loan_amount", 100000, None), "dropped its minimum loan amount of $100,000 for bank statement loans"),
        (_c("states", frozenset({"FL"}), frozenset({"FL", "TX"})), "now lends in TX for bank statement loans"),
        (
            _c("states", frozenset({"FL", "GA", "NC", "TX"}), frozenset({"FL"}), T),
            "no longer lends in GA, NC and TX for bank statement loans",
        ),
        (_c("states", frozenset({"FL"}), None), "now lends in every state for bank statement loans"),
        (_c("states", None, frozenset({"TX", "FL"}), T), "now lends only in FL and TX for bank statement loans"),
        (
            _c("expense_ratio", 50.0, 40.0),
            "lowered the expense ratio it takes off business bank statement deposits from 50% to 40% for bank"
            " statement loans",
        ),
        (
            _c("expense_ratio", 35.0, 37.5, T),
            "raised the expense ratio it takes off business bank statement deposits from 35% to 37.5% for bank"
            " statement loans",
        ),
        (
            _c("statement_months", 24, 12),
            "now needs only 12 months of bank statements instead of 24 for bank statement loans",
        ),
        (
            _c("statement_months", 12, 24, T),
            "now needs 24 months of bank statements instead of 12 for bank statement loans",
        ),
        (_c("statement_months", None, 24, T), "now needs 24 months of bank statements for bank statement loans"),
        (
            _c("statement_months", 24, None),
            "no longer sets how many months of bank statements it needs for bank statement loans",
        ),
        (_c("max_dti", 45.0, 50.0), "raised its maximum debt-to-income ratio from 45% to 50% for bank statement loans"),
        (
            _c("max_dti", 50.0, 43.0, T),
            "lowered its maximum debt-to-income ratio from 50% to 43% for bank statement loans",
        ),
        (_c("max_dti", None, 43.0, T), "now sets a maximum debt-to-income ratio of 43% for bank statement loans"),
        (_c("max_dti", 43.0, None), "dropped its maximum debt-to-income ratio of 43% for bank statement loans"),
        (
            _c("effective_date", date(2026, 5, 1), date(2026, 6, 1), N, Product.FOREIGN_NATIONAL),
            "changed the effective date from May 1, 2026 to June 1, 2026 for foreign national loans",
        ),
    ],
)
def test_describe(change, words):
    assert change.describe() == words


# digest


def test_digest_ignores_order_and_number_spelling_but_not_content():
    programs = [_rules(min_dscr=1, max_ltv=80), _rules(program=DSCR), _rules(lender="Bayline Mortgage")]
    same = [_rules(lender="Bayline Mortgage"), _rules(program=DSCR), _rules(min_dscr=1.0, max_ltv=80.0)]
    assert digest(programs) == digest(same)
    assert len(digest(programs)) == 64
    assert digest(programs) != digest([*programs[:2], _rules(lender="Bayline Mortgage", min_fico=700)])
    assert digest(programs) != digest(programs[:2])


def test_digest_of_feeds_without_the_income_fields_is_what_it_was_before_they_existed():
    """Snapshots stored before ``expense_ratio``, ``statement_months`` and ``max_dti`` existed keep their
    fingerprint, so loading the same feed again after the upgrade is still a no-op."""
    may = parse_feed((EXAMPLES / "harbor-2026-02.json").read_text(), format="json")
    june = parse_feed((EXAMPLES / "harbor-2026-06.csv").read_text(), format="csv")
    assert digest(may) == "898cbc5ad5efa6471639b5537cf9983d8fb92c6115c7e723ae71abaddd96176e"
    assert digest(june) == "9b619758bda9cb53ca03cf7f4fbebac9faf4e9f81f2dea795bc6a1cc1e9f3053"
    assert digest([_rules(expense_ratio=40)]) != digest([_rules()]) != digest([_rules(max_dti=45)])


def test_digest_of_examples_is_stable_under_shuffling():
    may = parse_feed((EXAMPLES / "harbor-2026-02.json").read_text(), format="json")
    shuffled = random.Random(7).sample(may, len(may))
    assert shuffled != may and digest(shuffled) == digest(may)


# properties

_STATES = sorted(STATES)
ZEPHYR = st.just("Zephyr Lending Co")


@st.composite
def program_rules(draw: st.DrawFn, lender: st.SearchStrategy[str] = ZEPHYR) -> ProgramRules:
    def maybe(strategy: st.SearchStrategy[Any]) -> Any:
        return draw(st.none() | strategy)

    events = draw(st.dictionaries(st.sampled_from(CreditEventType), st.integers(0, 240), max_size=5))
    return ProgramRules(
        lender=draw(lender),
        program=draw(st.sampled_from(PROGRAMS)),
        effective_date=draw(st.dates(date(2020, 1, 1), date(2030, 12, 31))),
        min_fico=maybe(st.integers(300, 850)),
        seasoning_months={e: events[e] for e in CreditEventType if e in events},
        min_dscr=maybe(st.integers(1, 500).map(lambda n: n / 100)),
        asset_divisor=maybe(st.integers(1, 600)),
        max_ltv=maybe(st.integers(1, 1000).map(lambda n: n / 10)),
        min_loan_amount=maybe(st.integers(0, 5_000_000)),
        states=maybe(st.frozensets(st.sampled_from(_STATES), min_size=1, max_size=6)),
        expense_ratio=maybe(st.integers(0, 10_000).map(lambda n: n / 100)),
        statement_months=maybe(st.sampled_from([12, 24])),
        max_dti=maybe(st.integers(1, 10_000).map(lambda n: n / 100)),
    )


one_lender = st.lists(program_rules(), max_size=5, unique_by=lambda p: p.program)
names = st.lists(st.text("abcXYZé,;'\"&.-", min_size=1, max_size=6), min_size=1, max_size=3).map(" ".join)
many_lenders = st.lists(program_rules(names), min_size=1, max_size=8, unique_by=lambda p: p.key)


@settings(deadline=None)
@given(one_lender)
def test_diff_with_itself_is_empty(programs):
    assert diff(programs, programs) == []


def _seen_from_the_other_side(c: Change) -> tuple[object, ...]:
    if c.field == "program":
        return (c.program, "program", None, "offered")
    return (c.program, c.field, c.new, c.old)


@settings(deadline=None)
@given(one_lender, one_lender)
def test_loosenings_one_way_are_the_tightenings_the_other_way(a, b):
    forward, backward = diff(a, b), diff(b, a)
    loosened = [(c.program, c.field, c.old, c.new) for c in loosenings(forward)]
    assert loosened == [_seen_from_the_other_side(c) for c in backward if c.direction is Direction.TIGHTENING]
    assert {c.field for c in forward} <= {*FIELDS, "program"}
    assert all(c.direction is Direction.NEUTRAL for c in forward if c.field == "effective_date")


@settings(deadline=None)
@given(one_lender, one_lender)
def test_describe_never_names_the_lender_or_promises_approval(a, b):
    for change in diff(a, b):
        words = change.describe()
        assert words and "Zephyr" not in words
        assert not any(w in words.lower() for w in ("approv", "guarantee", "qualif", "pre-"))


def _to_csv(programs: list[ProgramRules]) -> str:
    def cell(value: object) -> str:
        return "" if value is None else repr(value)

    rows = [
        {
            "lender": p.lender,
            "program": p.program.value,
            "effective_date": p.effective_date.isoformat(),
            **{f"seasoning_{e.value}": cell(p.seasoning_months.get(e)) for e in CreditEventType},
            **{f: cell(getattr(p, f)) for f in ("min_fico", "min_dscr", "asset_divisor", "max_ltv", "min_loan_amount")},
            **{f: cell(getattr(p, f)) for f in INCOME_FIELDS},
            "states": " ".join(sorted(p.states or ())),
        }
        for p in programs
    ]
    return _csv(*rows, columns=(*CSV_COLUMNS, *INCOME_FIELDS))


@settings(deadline=None)
@given(many_lenders)
def test_json_and_csv_round_trip_to_the_same_programs_and_digest(programs):
    from_json = parse_feed(json.dumps(to_feed(programs)), format="json")
    from_csv = parse_feed(_to_csv(programs), format="csv")
    assert sorted(from_json, key=lambda p: p.key) == sorted(programs, key=lambda p: p.key)
    assert from_csv == programs
    assert digest(from_json) == digest(from_csv) == digest(programs[::-1])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from([*FIELDS, *CreditEventType, "x"]), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(deadline=None)
@given(st.sampled_from(sorted(_program())), json_values)
def test_any_bad_value_is_reported_never_crashes(key, value):
    text = _json(_program(**{key: value}))
    try:
        [rules] = parse_feed(text, format="json")
    except FeedError as exc:
        assert exc.errors and all(e.startswith("lenders[0].programs[0]") for e in exc.errors)
    else:
        assert rules.lender == HARBOR


@settings(deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_parsed_or_refused_with_errors(text):
    for format in ("json", "csv"):
        try:
            parse_feed(text, format=format)
        except FeedError as exc:
            assert exc.errors


def test_a_change_announced_ahead_keeps_the_rules_it_replaces_in_force_until_its_date():
    feb = [_rules(effective_date=date(2026, 2, 1), min_fico=640), _rules(program=DSCR, effective_date=date(2026, 2, 1))]
    june = [_rules(effective_date=date(2026, 6, 1), min_fico=600), _rules(program=CE, effective_date=date(2026, 6, 1))]
    before = in_force([june, feb], date(2026, 5, 20))
    assert [(p.program, p.min_fico) for p in before] == [(BANK, 640), (CE, None)], (
        "February's bank-statement rules hold until June 1; the new credit-event program is not yet in effect; "
        "DSCR, no longer listed, is withdrawn"
    )
    assert [(p.program, p.min_fico) for p in in_force([june, feb], date(2026, 6, 1))] == [(BANK, 600), (CE, None)]
    assert in_force([], date(2026, 6, 1)) == []

"""``dripline roi``: a purchase estimated before buying it, from the command line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dripline.cli import app

runner = CliRunner()


def roi(*args: str):
    return runner.invoke(app, ["roi", *args])


def test_the_worked_example_prints_revenue_and_the_leads_one_close_pays_for():
    result = roi("--leads", "1000", "--price", "5", "--close-rate", "0.02", "--revenue", "8000")
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    assert "revenue $160,000" in lines
    assert "cost $5,000" in lines
    assert "ROI 3,100%" in lines
    assert "one close pays for 1,600 leads (break-even close rate 0.06%)" in lines


def test_defaults_come_from_the_playbook_and_say_so():
    plain = roi("--json")
    assert plain.exit_code == 0, plain.output
    example = json.loads(plain.output)
    assert (example["leads"], example["price"], example["close_rate"], example["revenue_per_close"]) == (
        1000, 5.0, 0.02, 8000.0
    )  # fmt: skip
    assert example["revenue"] == 160_000 and example["leads_one_close_pays_for"] == 1_600

    dscr = roi("--product", "dscr", "--price", "$4", "--close-rate", "3%")
    assert dscr.exit_code == 0, dscr.output
    text = " ".join(dscr.output.split())
    assert "1,000 at $4.00 each" in text and "close rate 3%: 30 closes" in text
    assert "revenue per close $6,125 (the revenue table: a $350,000 loan at 175 bps)" in text
    assert "revenue $183,750" in text and "benchmark" not in text, "a given close rate shows no benchmark range"
    ranged = " ".join(roi("--product", "dscr").output.split())
    assert "close rate 2.50%: 25 closes (midpoint of the DSCR benchmark)" in ranged
    assert "across the benchmark's 1.50%-3.50%: revenue $91,875-$214,375" in ranged


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--leads", "0"], "--leads: must be a whole number of leads, at least 1 (got 0)"),
        (["--leads", "12.5"], "--leads: '12.5' is not a whole number of leads"),
        (["--leads", "many"], "--leads: 'many' is not a number of leads"),
        (["--price", "-5"], "--price: must be an amount of dollars above 0 (got -5)"),
        (["--price", "1e999"], "--price: '1e999' is not a dollar amount"),
        (["--revenue", "0"], "--revenue: must be an amount of dollars above 0 (got 0)"),
        (["--close-rate", "2"], "--close-rate: '2' is over 1; give a fraction like 0.02 or a percent like 2%"),
        (["--close-rate", "150%"], "--close-rate: must be above 0 and at most 1"),
        (["--close-rate", "0"], "--close-rate: must be above 0 and at most 1"),
        (["--product", "jumbo"], "--product: 'jumbo' is not one of bank_statement"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(args, message):
    result = roi(*args)
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("dripline roi: ")
    assert message in result.output

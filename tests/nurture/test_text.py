"""What text may be stored, and cells a spreadsheet shows as text (nurture.text)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nurture.text import checked, control_character, from_spreadsheet_cell, spreadsheet_cell, stripped


@pytest.mark.parametrize(
    ("text", "multiline", "reason"),
    [
        ("Mar\x00ia", False, "has a control character (NUL) at character 4: remove it"),
        ("Maria\x1b[31m", True, "has a control character (escape) at character 6: remove it"),
        ("Maria\x7f", False, "has a control character (DEL) at character 6: remove it"),
        ("Maria\x85", True, "has a control character (U+0085) at character 6: remove it"),
        ("Maria\nLopez", False, "has a line break at character 6: this field takes one line"),
        ("Maria\u2028Lopez", True, "has a line break at character 6: this field takes one line"),
        ("Maria\tLopez", False, "has a tab at character 6: use a space"),
        ("x" * 81, False, "is longer than 80 characters"),
    ],
)
def test_text_that_may_not_be_stored_is_refused_with_what_to_do(text, multiline, reason):
    with pytest.raises(ValueError) as caught:
        checked(text, limit=80, multiline=multiline)
    assert str(caught.value) == reason


@pytest.mark.parametrize(
    ("text", "multiline"),
    [("Maria López 😀", False), ("x" * 80, False), ("I agree.\r\n\tTo texts.\n", True), ("", False)],
)
def test_text_that_may_be_stored_comes_back_unchanged(text, multiline):
    assert checked(text, limit=80, multiline=multiline) == text


def test_stripping_keeps_layout_in_free_text_and_counts_what_went():
    assert stripped("STOP\x00 now\x1b\n\tplease") == ("STOP now\n\tplease", 2)
    assert stripped("+1305\n555\x000147", multiline=False) == ("+13055550147", 2)


@given(st.text())
def test_stripped_text_always_passes_the_check(text):
    clean, removed = stripped(text)
    assert control_character(clean, multiline=True) is None
    assert len(clean) + removed == len(text)


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+13055550147", "'+13055550147"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Maria", "Maria"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_a_cell_a_spreadsheet_would_run_as_a_formula_gets_a_quote(value, cell):
    assert spreadsheet_cell(value) == cell


@given(st.text())
def test_a_protected_cell_reads_back_as_its_value(text):
    assert from_spreadsheet_cell(spreadsheet_cell(text)) == text
    assert not spreadsheet_cell(text).startswith(("=", "+", "-", "@", "\t", "\r"))

"""The new words of an email reply, without the quoted history mail programs put under them."""

from __future__ import annotations

import pytest

from nurture.email_reply import reply_text


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            "Call me tomorrow.\r\n\r\nOn Mon, Mar 2, 2026 at 9:14 AM Dana <dana@x.test> wrote:\r\n> Hi Maria\r\n",
            "Call me tomorrow.",
        ),
        (
            "Call me tomorrow.\n\nOn Mon, Mar 2, 2026 at 9:14 AM Dana Whitfield\n<dana@x.test> wrote:\n> Hi\n",
            "Call me tomorrow.",
        ),
        ("Yes please\n\n-----Original Message-----\nFrom: Dana\nSent: Monday\n\nHi Maria", "Yes please"),
        ("Yes please\n\n________________________________\nFrom: Dana\nSent: Monday", "Yes please"),
        ("Yes please\n\nFrom: Dana Whitfield <dana@x.test>\nSent: Monday, March 2, 2026 9:14 AM\nHi", "Yes please"),
        ("Sounds good\n\nSent from my iPhone\n\n> quoted", "Sounds good"),
        ("Sounds good\n-- \nMaria Lopez\nLopez Landscaping LLC", "Sounds good"),
        ("> Do you have 12 months of statements?\nYes, 24.\n> Business or personal?\nBusiness.", "Yes, 24.\nBusiness."),
        ("Line one\n\n\n\n\nLine two", "Line one\n\nLine two"),
        ("> only quoted words\n> nothing new", "only quoted words\nnothing new"),
        ("Stop\x00 emailing me\x1b", "Stop emailing me"),
        ("On second thought, call me Friday.", "On second thought, call me Friday."),
        ("From: my accountant, the P&L is attached.", "From: my accountant, the P&L is attached."),
        ("", ""),
    ],
)
def test_reply_text_keeps_the_new_words(body: str, words: str) -> None:
    assert reply_text(body) == words


def test_a_long_reply_is_cut_with_an_ellipsis() -> None:
    text = reply_text("word " * 500, limit=100)
    assert len(text) == 100 and text.endswith("…") and text.startswith("word word")

"""The inbound-text classifier: keywords, plain-words revocations, what must not count as an opt-out, and invariants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nurture.actions import InboundKind
from nurture.inbound import OPT_OUT_KEYWORDS, REVOCATIONS, classify

OPT_OUT = InboundKind.OPT_OUT
OPT_IN = InboundKind.OPT_IN
HELP = InboundKind.HELP
REPLY = InboundKind.REPLY
AMBIGUOUS = InboundKind.AMBIGUOUS

KEYWORD_SPELLINGS = [*sorted(OPT_OUT_KEYWORDS), "opt out", "opt-out"]
DRESSINGS = ["{}", "{}.", "{}!!!", "  {}  ", '"{}"', "“{}”", "{}?", "{} 🛑", "\n{}\n", "*{}*"]


def kind(body: str, *, opted_out: bool = False) -> InboundKind:
    return classify(body, opted_out=opted_out).kind


def recase(text: str, flips: list[bool]) -> str:
    return "".join(ch.upper() if i < len(flips) and flips[i] else ch.lower() for i, ch in enumerate(text))


def test_keyword_list_is_the_compliance_list():
    assert {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"} == OPT_OUT_KEYWORDS


@pytest.mark.parametrize("keyword", KEYWORD_SPELLINGS)
@pytest.mark.parametrize("case", [str.lower, str.upper, str.title, str.swapcase])
@pytest.mark.parametrize("dressing", DRESSINGS)
def test_every_keyword_in_every_case_and_with_punctuation_opts_out(keyword, case, dressing):
    result = classify(dressing.format(case(keyword)), opted_out=False)
    assert result.kind is OPT_OUT
    assert result.reason == f'opt-out keyword "{keyword.replace(" ", "").replace("-", "").upper()}"'


@pytest.mark.parametrize(
    "body",
    [
        "Stop.",
        "STOP please",
        "cancel!!!",
        "End it",
        "quit it now",
        "Unsubscribe me",
        "revoke consent",
        "STOPALL now",
        "Opt-out please",
        "stop pls",
        "Stop texting me please",
        "stop calling me",
        "Stop, I found a lender",
        "END of story",
    ],
)
def test_keyword_as_first_word_opts_out(body):
    assert kind(body) is OPT_OUT


@pytest.mark.parametrize(
    "body",
    [
        "please stop",
        "pls stop",
        "PLZ STOP!!",
        "ok stop",
        "Not interested, stop",
        "not interested. STOP",
        "I said STOP",
        "Thanks. Please stop now.",
        "no, cancel",
    ],
)
def test_keyword_as_a_sentence_of_its_own_opts_out(body):
    result = classify(body, opted_out=False)
    assert result.kind is OPT_OUT
    assert result.reason.startswith("opt-out keyword")


REVOCATION_EXAMPLES = {
    "stop_contacting": "Hey, stop texting me please",
    "stop_the_messages": "ok no more texts",
    "do_not_contact": "do not contact me",
    "do_not_contact_bare": "please don't call",
    "remove_me": "remove me from your list",
    "remove_me_bare": "please remove me",
    "lose_my_number": "lose my number",
    "leave_me_alone": "leave me alone",
    "go_away": "go away",
    "opt_out_request": "I want to opt out",
    "revoke_consent": "I revoke my consent",
    "wrong_number": "wrong number",
}


def test_every_named_revocation_has_an_example():
    assert [name for name, _ in REVOCATIONS] == list(REVOCATION_EXAMPLES)


@pytest.mark.parametrize(("name", "body"), REVOCATION_EXAMPLES.items())
def test_each_named_revocation_fires_on_its_example(name, body):
    pattern = dict(REVOCATIONS)[name]
    result = classify(body, opted_out=False)
    assert result.kind is OPT_OUT
    assert result.reason.startswith("revocation in plain words: ")
    assert pattern.search(result.reason.removeprefix("revocation in plain words: ").strip('"'))


@pytest.mark.parametrize(
    "body",
    [
        "Stop texting me please",
        "please stop messaging me",
        "Can you stop calling me?",
        "remove me from your list",
        "take me off your list",
        "do not contact me",
        "don't text me",
        "Don’t text me!",
        "dont call me again",
        "no more texts",
        "unsubscribe me",
        "leave me alone",
        "I want to opt out",
        "not interested, stop",
        "lose my number",
        "I'd like to unsubscribe",
        "How do I opt-out?",
        "Please stop e-mailing me",
        "I told you to stop texting me",
        "Quit sending me these messages",
        "Never text this number again",
        "Delete my number from your system",
        "wrong number, who is this",
        "I'm withdrawing my consent",
        "Please leave me alone 🙏",
        "help, stop texting me",
    ],
)
def test_plain_words_revocation_opts_out(body):
    assert kind(body) is OPT_OUT


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ("I can't stop thinking about buying a house, call me", "stop"),
        ("why would I stop looking?", "stop"),
        ("I might cancel my other application, call me", "cancel"),
        ("Why did you stop texting me?", "stop"),
        ("We could end up buying in May", "end"),
        ("my lender removed the fee", "removed"),
        ("don't call me before 5pm", "dont call"),
        ("please stop texting me at 6am", "stop"),
        ("Why don't you call me tomorrow", "dont you call"),
        ("help stop", "stop"),
        ("start stop", "stop"),
        ("I don't want to opt out", "optout"),
    ],
)
def test_mentions_without_a_clear_request_are_ambiguous_not_opt_out(body, mentions):
    result = classify(body, opted_out=False)
    assert result.kind is AMBIGUOUS
    assert result.reason == f'mentions "{mentions}" but not as a request: a person must read it'


@pytest.mark.parametrize(
    "body",
    [
        "What rate could I get?",
        "call me tomorrow at 5",
        "I'm quite interested",
        "the weekend works",
        "Yes please",
        "sounds good",
        "Start date is May 1",
        "help me find a loan for self employed",
        "info please",
        "okay",
    ],
)
def test_ordinary_replies_are_replies(body):
    assert kind(body) is REPLY
    assert kind(body, opted_out=True) is REPLY


@pytest.mark.parametrize("body", ["yes", "Yes!", "YES.", " yes ", "ＹＥＳ"])
def test_yes_opts_in_only_when_opted_out(body):
    assert kind(body, opted_out=True) is OPT_IN
    result = classify(body, opted_out=False)
    assert result.kind is REPLY
    assert result.reason == '"YES" while not opted out: treated as a reply'


@pytest.mark.parametrize("body", ["HELP", "help", "Help!", "help please", "INFO", "info?"])
@pytest.mark.parametrize("opted_out", [False, True])
def test_help_and_info(body, opted_out):
    assert kind(body, opted_out=opted_out) is HELP


@pytest.mark.parametrize("body", ["START", "start", "Unstop", "UNSTOP!", "start again", "Start please"])
@pytest.mark.parametrize("opted_out", [False, True])
def test_start_and_unstop_opt_in_whatever_the_current_state(body, opted_out):
    assert kind(body, opted_out=opted_out) is OPT_IN


@pytest.mark.parametrize("body", ["", " ", "\n\t ", "!!!", "🙂", "\u200b"])
def test_empty_bodies_are_replies(body):
    result = classify(body, opted_out=False)
    assert result.kind is REPLY
    assert result.reason == "empty message: treated as a reply"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("STOP START", OPT_OUT),
        ("help, stop texting me", OPT_OUT),
        ("Start. Leave me alone", OPT_OUT),
        ("help start", HELP),
        ("help yes", HELP),
        ("start, then stop", AMBIGUOUS),
    ],
)
def test_precedence(body, expected):
    assert kind(body, opted_out=True) is expected


@pytest.mark.parametrize(
    "body", ["ＳＴＯＰ", "Ｓｔｏｐ ｔｅｘｔｉｎｇ ｍｅ", "S\u200bTOP", "ST\u00adOP", "‘stop’", "stop-texting-me"]
)
def test_normalisation_defeats_look_alike_spellings(body):
    assert kind(body) is OPT_OUT


WORDS = [
    *KEYWORD_SPELLINGS,
    "start",
    "unstop",
    "yes",
    "help",
    "info",
    "please",
    "pls",
    "texting",
    "calling",
    "me",
    "don't",
    "call",
    "text",
    "why",
    "I",
    "can't",
    "not",
    "interested",
    "remove",
    "from",
    "list",
    "the",
    "off",
    "leave",
    "alone",
    "no",
    "more",
    "texts",
    "rate",
    "tomorrow",
    "want",
    "to",
    "my",
    "number",
    "wrong",
    "ok",
]
SEPARATORS = [" ", ", ", ". ", "! ", "? ", "\n", " - ", "... ", " 🙂 "]
messages = st.lists(
    st.tuples(st.sampled_from(WORDS) | st.text(min_size=1, max_size=6), st.sampled_from(SEPARATORS)), max_size=8
).map(lambda parts: "".join(word + sep for word, sep in parts))
dressing = st.text(alphabet=" \t\n.,!?;:\"'“”‘’()*-…", max_size=5)


@given(messages | st.text(), st.lists(st.booleans()), st.booleans())
def test_case_does_not_matter(body, flips, opted_out):
    expected = classify(body, opted_out=opted_out)
    assert classify(body.upper(), opted_out=opted_out) == expected
    assert classify(body.lower(), opted_out=opted_out) == expected
    assert classify(recase(body, flips), opted_out=opted_out) == expected


@given(messages | st.text(), dressing, dressing, st.booleans())
def test_surrounding_whitespace_and_punctuation_do_not_matter(body, before, after, opted_out):
    assert classify(before + body + after, opted_out=opted_out) == classify(body, opted_out=opted_out)


@given(st.sampled_from(KEYWORD_SPELLINGS), st.lists(st.booleans()), st.sampled_from(SEPARATORS), messages | st.text())
def test_a_body_whose_first_word_is_a_keyword_opts_out(keyword, flips, sep, rest):
    assert kind(recase(keyword, flips) + sep + rest) is OPT_OUT


@given(messages | st.text(), st.sampled_from(["Stop texting me.", "Remove me from your list", "UNSUBSCRIBE"]))
def test_a_clear_revocation_sentence_wins_over_anything_before_it(body, revocation):
    assert kind(f"{body}. {revocation}") is OPT_OUT


@given(messages | st.text())
def test_opted_out_only_changes_a_bare_yes(body):
    if kind(body, opted_out=True) is not kind(body, opted_out=False):
        assert classify(body, opted_out=False).reason == '"YES" while not opted out: treated as a reply'


@given(st.text(), st.booleans())
def test_never_raises_and_always_explains(body, opted_out):
    result = classify(body, opted_out=opted_out)
    assert isinstance(result.kind, InboundKind)
    assert result.reason.strip()

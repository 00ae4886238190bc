"""Classifies an inbound text: opt-out, opt-in, help, a reply for a person, or ambiguous.

Decides what a consumer's SMS asks for under United States SMS/TCPA practice. Precedence:
OPT_OUT > HELP > OPT_IN > AMBIGUOUS > REPLY. An opt-out is a keyword (STOP, STOPALL, UNSUBSCRIBE,
CANCEL, END, QUIT, REVOKE, OPTOUT) as the first word or as a sentence of its own, or a revocation in
plain words (``REVOCATIONS``). A message that mentions an opt-out word without clearly asking to stop
is AMBIGUOUS: a person reads it before any further contact. Pure: no clock, no IO.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from nurture.actions import InboundKind

OPT_OUT_KEYWORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"})
OPT_IN_KEYWORDS = frozenset({"start", "unstop"})

_APOSTROPHES = frozenset("'’‘ʼ`′")
_JOINED = ((re.compile(r"\bopt out\b"), "optout"), (re.compile(r"\be mail"), "email"))
_INNER_HYPHEN = re.compile(r"(?<=[^\W_])[-‐‑](?=[^\W_])")

# A keyword that is a sentence of its own, courtesy words allowed: "not interested. STOP", "please stop".
_KW = "(?:" + "|".join(sorted(OPT_OUT_KEYWORDS)) + ")"
_BARE_KEYWORD = re.compile(
    r"^(?:(?:please|pls|plz|ok|okay|just|so|now|i said|seriously|omg|oh|no|nope|not interested|again)\s+)*"
    rf"(?P<kw>{_KW})(?:\s+(?:it|now|please|pls|plz|already|again|thanks|thank you|asap))*$"
)
_CONTACTING = (
    r"(?:texting|txting|messaging|msging|calling|emailing|contacting|bothering|harassing|spamming|sending"
    r"|hitting me up|blowing up my phone)"
)
_CONTACT = r"(?:text|txt|message|msg|call|email|contact|bother|reach out to|sms|phone)"
_WHOM = r"(?:me|us|this number|my number|my phone|my cell|here|again|anymore)"
# A time, place or topic after the request ("don't call me before 5pm") makes it a restriction for a person.
_UNQUALIFIED = (
    r"(?!\s+(?:before|after|until|till|til|at(?!\s+all\b)|on|during|between|tomorrow|today|tonight|this|next"
    r"|while|when|early|late|about|for|with|the|a|an|so)\b)"
)

REVOCATIONS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("stop_contacting", rf"\b(?:stop|quit|cease)\s+{_CONTACTING}(?:\s+{_WHOM})?+{_UNQUALIFIED}"),
        (
            "stop_the_messages",
            r"\b(?:stop|quit|cease|no more|enough with|enough of)\s+"
            r"(?:(?:with|the|these|those|your|all|sending|me)\s+)*"
            rf"(?:texts?|txts?|messages?|msgs?|calls?|emails?|spam|robocalls?|sms)\b{_UNQUALIFIED}",
        ),
        (
            "do_not_contact",
            rf"\b(?:do not|dont|never)(?:\s+ever)?\s+{_CONTACT}(?:\s+or\s+{_CONTACT})?\s+{_WHOM}\b{_UNQUALIFIED}",
        ),
        ("do_not_contact_bare", rf"^(?:please\s+|pls\s+)?(?:do not|dont)(?:\s+ever)?\s+{_CONTACT}$"),
        (
            "remove_me",
            r"\b(?:remove|delete|erase|take|drop|scrub|cross)\s+(?:me|us|this number|my\s+(?:number|info|information"
            r"|name|phone|phone number|cell|details|data|email|contact|contact info))\s+(?:from|off|out of)\b",
        ),
        (
            "remove_me_bare",
            r"^(?:please\s+|pls\s+|plz\s+)?(?:remove|delete|unsubscribe)\s+(?:me|us)"
            r"(?:\s+(?:please|pls|plz|now|asap|thanks|thank you))*$",
        ),
        ("lose_my_number", r"\b(?:lose|delete|forget|erase)\s+(?:my|this)\s+(?:number|info|information|details)\b"),
        ("leave_me_alone", r"\bleave\s+(?:me|us)\s+alone\b"),
        ("go_away", r"\b(?:go away|(?:fuck|f|piss|back) off)\b"),
        (
            "opt_out_request",
            r"\b(?:want|wanna|like|need|wish|trying|asking|how do i|how can i|how to|let me)\s+(?:to\s+)?"
            r"(?:optout|unsubscribe|be removed|be taken off|be unsubscribed)\b",
        ),
        (
            "revoke_consent",
            r"\b(?:revoke|revoking|withdraw|withdrawing|rescind|cancel|pull)\s+(?:my\s+|all\s+|any\s+)?"
            r"(?:consent|permission|authorization)\b",
        ),
        ("wrong_number", r"\bwrong\s+(?:number|person|phone)\b"),
    )
)

# Right before a match, these turn a request into a statement or question ("why did you stop texting me").
_NEGATORS = frozenset(
    {"dont", "didnt", "doesnt", "never", "not", "cant", "cannot", "couldnt", "wont", "wouldnt", "shouldnt"}
)
_SUBORDINATORS = frozenset({"why", "if", "unless", "until", "once", "when", "whether", "did"})

# Might be an opt-out; a message holding one that is not clearly a request is AMBIGUOUS.
_ALARM = re.compile(
    r"\b(?:stop(?:s|ped|ping|all)?|quit(?:s|ting)?|cancel(?:s|l?ed|l?ing|lation)?|end|remov(?:e|ed|es|ing)"
    r"|unsubscrib(?:e|ed|es|ing)|revok(?:e|ed|es|ing)|optout)\b"
    rf"|\b(?:do not|dont|never)\s+(?:\w+\s+)?{_CONTACT}\b"
)


@dataclass(frozen=True, slots=True)
class Classification:
    """What an inbound text asks for, and why, in words a person reading the log understands."""

    kind: InboundKind
    reason: str


def classify(body: str, *, opted_out: bool) -> Classification:
    """What an inbound text asks for; ``opted_out`` says whether the sender's number is opted out of SMS now."""
    clauses = _clauses(body)
    words = " ".join(clauses).split()
    if not words:
        return Classification(InboundKind.REPLY, "empty message: treated as a reply")
    if words[0] in OPT_OUT_KEYWORDS:
        return Classification(InboundKind.OPT_OUT, f'opt-out keyword "{words[0].upper()}"')
    for clause in clauses:
        if bare := _BARE_KEYWORD.match(clause):
            return Classification(
                InboundKind.OPT_OUT, f'opt-out keyword "{bare["kw"].upper()}" as a sentence: "{clause}"'
            )
    for clause in clauses:
        if match := _revocation(clause):
            return Classification(InboundKind.OPT_OUT, f'revocation in plain words: "{match}"')
    alarm = _ALARM.search(" ".join(words))
    short = len(words) <= 2 and not alarm
    if words == ["info"] or (short and words[0] == "help"):
        return Classification(InboundKind.HELP, f'help keyword "{words[0].upper()}"')
    if short and words[0] in OPT_IN_KEYWORDS:
        return Classification(InboundKind.OPT_IN, f'opt-in keyword "{words[0].upper()}"')
    if words == ["yes"] and opted_out:
        return Classification(InboundKind.OPT_IN, '"YES" from an opted-out number: opt-in')
    if alarm:
        return Classification(
            InboundKind.AMBIGUOUS, f'mentions "{alarm[0]}" but not as a request: a person must read it'
        )
    if words == ["yes"]:
        return Classification(InboundKind.REPLY, '"YES" while not opted out: treated as a reply')
    return Classification(InboundKind.REPLY, "no keyword or revocation: a reply for a person to read")


def _clauses(body: str) -> list[str]:
    """The body's clauses (split at punctuation), case-folded, NFKC, one space between words, none empty."""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", body).upper().casefold())
    text = _INNER_HYPHEN.sub(" ", text)
    chars = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cf" or ch in _APOSTROPHES:
            continue
        if category.startswith("P"):
            chars.append("\n")
        else:
            chars.append(ch if ch.isalnum() else " ")
    clauses = []
    for part in "".join(chars).split("\n"):
        clause = " ".join(part.split())
        for pattern, joined in _JOINED:
            clause = pattern.sub(joined, clause)
        if clause:
            clauses.append(clause)
    return clauses


def _revocation(clause: str) -> str | None:
    for _name, pattern in REVOCATIONS:
        for match in pattern.finditer(clause):
            before = clause[: match.start()].split()
            if before and (before[-1] in _NEGATORS or _SUBORDINATORS.intersection(before[-3:])):
                continue
            return match[0]
    return None

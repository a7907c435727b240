"""Payment card numbers: 13–19 digits, Luhn check digit, a known issuer range with its lengths.

Digits may be grouped by spaces or hyphens in the usual ways (4-4-4-4, Amex 4-6-5, Diners 4-6-4,
4-4-4-4-3). Scores: Luhn + issuer + a context word (クレジットカード, カード番号, card number, 有効期限,
CVV, ...) within 300 characters 0.9; Luhn + issuer 0.6; a well-known test card number 0.2. A Luhn
failure or an unknown issuer range is never a finding. Snippets keep only the last four digits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from himitsu.engine import prefilter
from himitsu.engine.detectors.base import DIGIT, DIGITS, ContextWords, Detector, ascii_digits, number_starts
from himitsu.engine.model import Finding, TextPart
from himitsu.errors import gettext_noop

_SEP = "[ \\-－‐‑–]"
_NOT_AFTER = "(?<![0-9０-９A-Za-z_][0-9０-９])(?<![0-9０-９][.．,][0-9０-９])(?<![0-9０-９]" + _SEP + "[0-9０-９])"
_NOT_BEFORE = f"(?!{DIGIT}|{_SEP}{DIGIT}|[.．,]{DIGIT}|[A-Za-z_])"

#: (issuer, prefix ranges as (low, high) over the first len(low) digits, allowed lengths)
ISSUERS: tuple[tuple[str, tuple[tuple[str, str], ...], frozenset[int]], ...] = (
    ("Visa", (("4", "4"),), frozenset({13, 16, 19})),
    ("Mastercard", (("51", "55"), ("2221", "2720")), frozenset({16})),
    ("American Express", (("34", "34"), ("37", "37")), frozenset({15})),
    ("JCB", (("3528", "3589"),), frozenset({16, 17, 18, 19})),
    ("Diners Club", (("300", "305"), ("3095", "3095"), ("36", "36"), ("38", "39")), frozenset(range(14, 20))),
    ("Discover", (("6011", "6011"), ("644", "649"), ("65", "65")), frozenset({16, 17, 18, 19})),
    ("UnionPay", (("62", "62"),), frozenset({16, 17, 18, 19})),
)
#: digit-group lengths a printed card number uses when it is grouped at all
GROUPINGS = frozenset({(4, 4, 4, 4), (4, 6, 5), (4, 6, 4), (4, 4, 4, 4, 3), (4, 4, 4, 1), (4, 4, 4, 2), (4, 4, 4, 3),
                       (4, 4, 5), (4, 4, 4, 4, 2), (4, 4, 4, 4, 1), (6, 13), (4, 4, 4, 4, 4)})
#: published test numbers (payment processors' documentation)
TEST_NUMBERS = frozenset({
    "4111111111111111", "4242424242424242", "4012888888881881", "4222222222222", "4000056655665556",
    "5555555555554444", "5105105105105100", "2223003122003222", "5200828282828210",
    "378282246310005", "371449635398431", "378734493671000", "30569309025904", "38520000023237",
    "3530111333300000", "3566002020360505", "6011111111111117", "6011000990139424", "6200000000000005",
    "36227206271667",
})


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def issuer(digits: str) -> str | None:
    for name, ranges, lengths in ISSUERS:
        if len(digits) in lengths and any(lo <= digits[:len(lo)] <= hi for lo, hi in ranges):
            return name
    return None


class CreditCardDetector(Detector):
    id: ClassVar[str] = "credit-card"
    reasons: ClassVar[dict[str, str]] = {
        "credit_card.with_context": gettext_noop("{issuer} card number (valid Luhn check digit) with the context word {word} "
                                    "nearby"),
        "credit_card.luhn": gettext_noop("{issuer} card number: issuer range and length match and the Luhn check digit is valid"),
        "credit_card.test_number": gettext_noop("Published test card number ({issuer}); not a real card"),
    }
    #: 13–19 digits, each optionally preceded by one separator (grouping is checked in validate)
    pattern: ClassVar[re.Pattern[str]] = re.compile(f"{DIGIT}{_NOT_AFTER}(?:{_SEP}?{DIGIT}){{12,18}}{_NOT_BEFORE}")
    context_words: ClassVar[ContextWords] = ContextWords([
        "クレジットカード", "クレジット", "カード番号", "カード情報", "カード", "有効期限", "セキュリティコード",
        "決済",
        "credit card", "card number", "card no", "expiry", "expiration", "CVV", "CVC", "Visa", "Mastercard",
        "JCB", "AMEX", "American Express", "Diners", "Discover", "UnionPay", "銀聯",
    ])
    score_with_context: ClassVar[float] = 0.9
    score_luhn: ClassVar[float] = 0.6
    score_test_number: ClassVar[float] = 0.2

    def validate(self, value: str) -> bool:
        digits = ascii_digits(value)
        if not 13 <= len(digits) <= 19 or not luhn_ok(digits) or issuer(digits) is None:
            return False
        groups = re.split(_SEP, value)
        if len(groups) == 1:
            return True
        separators = set(re.findall(_SEP, value))
        return len(separators) == 1 and tuple(len(g) for g in groups) in GROUPINGS

    def detect(self, part: TextPart, context: Any = None) -> Iterator[Finding]:
        text = part.text
        near = self.context_words.finder(text)
        starts = number_starts(part, context, 13) if self.pattern is CreditCardDetector.pattern else None
        for m in prefilter.finditer(self.pattern, text, starts):
            value = m.group()
            if not self.validate(value):
                continue
            digits = ascii_digits(value)
            name = issuer(digits)
            snippet = mask(value)
            if digits in TEST_NUMBERS:
                yield self.finding(part, m.start(), m.end(), self.score_test_number, "credit_card.test_number",
                                   snippet, issuer=name)
                continue
            word = near(m.start(), m.end())
            if word is None:
                yield self.finding(part, m.start(), m.end(), self.score_luhn, "credit_card.luhn", snippet,
                                   issuer=name)
            else:
                yield self.finding(part, m.start(), m.end(), self.score_with_context, "credit_card.with_context",
                                   snippet, issuer=name, word=word)


def mask(value: str) -> str:
    """Every digit but the last four becomes ``*``; the grouping stays: ``**** **** **** 1111``."""
    value = value.translate(DIGITS)
    total = sum(ch.isdigit() for ch in value)
    out, seen = [], 0
    for ch in value:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > total - 4 else "*")
        else:
            out.append(ch)
    return "".join(out)

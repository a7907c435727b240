"""My Number (個人番号): 12 digits whose last digit is a check digit over the first eleven.

Scores: a valid check digit with a context word (マイナンバー, 個人番号, My Number, ...) within 300
characters is 0.85; a valid check digit alone is 0.3, because about one random 12-digit number in 11
passes (``require_context=True`` drops those). A wrong check digit is never a finding, and neither is
a number without context whose label says what else it is (受注番号, 伝票番号, 電話, Order No, ...
within 20 characters before it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from himitsu.engine import prefilter
from himitsu.engine.detectors.base import (
    DIGIT,
    GROUP_SEP,
    NOT_BEFORE_NUMBER,
    ContextWords,
    Detector,
    LabelledNumber,
    ascii_digits,
    number_starts,
    redact,
    word_pattern,
)
from himitsu.engine.model import Finding, TextPart
from himitsu.errors import gettext_noop

_SEP = GROUP_SEP
# The first digit is matched before the look-behind so the search can skip to digits quickly;
# the look-behinds then check what precedes that first digit: no letter or digit, no "3." of a decimal,
# no digit group of a longer grouped number.
_NOT_AFTER = ("(?<![0-9０-９A-Za-z_][0-9０-９])(?<![0-9０-９][.．][0-9０-９])"
              "(?<![0-9０-９]" + _SEP + "[0-9０-９])")
_NOT_BEFORE = NOT_BEFORE_NUMBER


def check_digit(first11: str) -> int:
    """DOMAIN.md §6: weights 6,5,4,3,2,7,6,5,4,3,2 from the left; r = Σ mod 11; 0 if r ≤ 1 else 11 − r."""
    r = sum(int(d) * w for d, w in zip(first11, (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2), strict=True)) % 11
    return 0 if r <= 1 else 11 - r


class MyNumberDetector(LabelledNumber, Detector):
    id: ClassVar[str] = "my-number"
    reasons: ClassVar[dict[str, str]] = {
        "my_number.with_context": gettext_noop("12-digit number with a valid My Number check digit and the context word "
                                  "{word} nearby"),
        "my_number.checksum_only": gettext_noop("12-digit number with a valid My Number check digit (no context word nearby; "
                                   "about 1 in 11 random numbers pass)"),
    }
    #: 12 digits, run together or grouped 4-4-4 with one kind of separator
    pattern: ClassVar[re.Pattern[str]] = re.compile(
        f"{DIGIT}{_NOT_AFTER}(?:{DIGIT}{{11}}|{DIGIT}{{3}}(?P<sep>{_SEP}){DIGIT}{{4}}(?P=sep){DIGIT}{{4}}){_NOT_BEFORE}")
    context_words: ClassVar[ContextWords] = ContextWords([
        "マイナンバー", "ﾏｲﾅﾝﾊﾞｰ", "個人番号", "個人番号カード", "通知カード", "個人識別番号",
        "My Number", "MyNumber", "My No", "Individual Number", "Social Security and Tax Number",
    ])
    #: labels of other numbers: without a My Number context word, a number right after one is not reported
    other_labels: ClassVar[re.Pattern[str]] = word_pattern([
        "受注番号", "注文番号", "発注番号", "伝票番号", "管理番号", "請求番号", "請求書番号", "口座番号", "会員番号",
        "お客様番号", "顧客番号", "社員番号", "契約番号", "証券番号", "製造番号", "シリアル", "電話", "TEL", "FAX",
        "Order No", "Order ID", "Invoice No", "Serial", "Account No", "Phone",
    ])
    score_with_context: ClassVar[float] = 0.85
    score_checksum_only: ClassVar[float] = 0.3

    def validate(self, value: str) -> bool:
        digits = ascii_digits(value)
        return len(digits) == 12 and check_digit(digits[:11]) == int(digits[11])

    def detect(self, part: TextPart, context: Any = None) -> Iterator[Finding]:
        text = part.text
        near = self.context_words.finder(text)
        starts = number_starts(part, context, 12) if self.pattern is MyNumberDetector.pattern else None
        for m in prefilter.finditer(self.pattern, text, starts):
            if not self.validate(m.group()):
                continue
            word = near(m.start(), m.end())
            if word is None and (self.require_context or self.labelled_otherwise(text, m.start())):
                continue
            snippet = redact(ascii_digits(m.group()), keep_start=0, keep_end=2)  # My Number: almost all masked
            if word is None:
                yield self.finding(part, m.start(), m.end(), self.score_checksum_only, "my_number.checksum_only",
                                   snippet)
            else:
                yield self.finding(part, m.start(), m.end(), self.score_with_context, "my_number.with_context",
                                   snippet, word=word)

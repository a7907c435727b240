"""Corporate number (法人番号): 13 digits whose first digit is a check digit over the other twelve.

check = 9 − (Σ_{i=1..12} P_i × Q_i mod 9), P_i the i-th digit of the 12-digit base counted from the
right, Q_i = 1 for odd i and 2 for even i (国税庁; e.g. 国税庁 7000012050002, Toyota 1180301018771).
The same number prefixed with "T" is a qualified-invoice issuer registration number (登録番号).

Scores: valid check digit with a context word (法人番号, 登録番号, Corporate Number, ...) within 300
characters 0.8; with the "T" prefix 0.6; check digit alone 0.3 (about one random 13-digit number in
ten passes; ``require_context=True`` drops those, and a number labelled as something else — JAN, ISBN,
timestamp, 受注番号, ... within 20 characters before it — is never reported without context).
Corporate numbers are public, hence below My Number.
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
# First digit before the look-behinds (fast skip to digits); "T" may precede, checked in detect().
_NOT_AFTER = ("(?<![0-9０-９A-SU-Za-z_ａ-ｚＡ-ＳＵ-Ｚ][0-9０-９])(?<![0-9０-９][.．][0-9０-９])"
              "(?<![0-9０-９]" + _SEP + "[0-9０-９])")
_NOT_BEFORE = NOT_BEFORE_NUMBER


def check_digit(base12: str) -> int:
    total = sum(int(d) * (1 if i % 2 else 2) for i, d in enumerate(reversed(base12), start=1))
    return 9 - total % 9


class CorporateNumberDetector(LabelledNumber, Detector):
    id: ClassVar[str] = "corporate-number"
    reasons: ClassVar[dict[str, str]] = {
        "corporate_number.with_context": gettext_noop("13-digit number with a valid corporate number (法人番号) check digit and "
                                         "the context word {word} nearby"),
        "corporate_number.invoice": gettext_noop("Qualified-invoice registration number (T + corporate number with a valid "
                                    "check digit)"),
        "corporate_number.checksum_only": gettext_noop("13-digit number with a valid corporate number (法人番号) check digit "
                                          "(no context word nearby; about 1 in 10 random numbers pass)"),
    }
    #: 13 digits run together, or grouped 1-4-4-4 with one kind of separator
    pattern: ClassVar[re.Pattern[str]] = re.compile(
        f"{DIGIT}{_NOT_AFTER}(?:{DIGIT}{{12}}|(?P<sep>{_SEP}){DIGIT}{{4}}(?P=sep){DIGIT}{{4}}(?P=sep){DIGIT}{{4}})"
        f"{_NOT_BEFORE}")
    context_words: ClassVar[ContextWords] = ContextWords([
        "法人番号", "会社法人等番号", "登録番号", "適格請求書", "インボイス", "事業者番号",
        "Corporate Number", "Corporate No", "Invoice registration",
    ])
    #: labels of other 13-digit numbers (JAN/EAN codes, millisecond timestamps, order numbers): without a
    #: context word, a number right after one is not reported
    other_labels: ClassVar[re.Pattern[str]] = word_pattern([
        "JAN", "EAN", "GTIN", "ISBN", "バーコード", "商品コード", "timestamp", "タイムスタンプ", "受注番号", "注文番号",
        "伝票番号", "管理番号", "口座番号", "会員番号", "顧客番号", "電話", "TEL", "Order No", "Serial",
    ])
    score_with_context: ClassVar[float] = 0.8
    score_invoice: ClassVar[float] = 0.6
    score_checksum_only: ClassVar[float] = 0.3

    def validate(self, value: str) -> bool:
        digits = ascii_digits(value)
        return len(digits) == 13 and check_digit(digits[1:]) == int(digits[0])

    def detect(self, part: TextPart, context: Any = None) -> Iterator[Finding]:
        text = part.text
        near = self.context_words.finder(text)
        starts = number_starts(part, context, 13) if self.pattern is CorporateNumberDetector.pattern else None
        for m in prefilter.finditer(self.pattern, text, starts):
            start = m.start()
            invoice = start > 0 and text[start - 1] in "TＴ"
            if invoice:
                start -= 1
                if start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
                    continue
            if not self.validate(m.group()):
                continue
            word = near(start, m.end())
            if word is None and not invoice and (self.require_context or self.labelled_otherwise(text, start)):
                continue
            digits = ascii_digits(m.group())
            snippet = ("T" if invoice else "") + redact(digits)
            if word is not None:
                yield self.finding(part, start, m.end(), self.score_with_context, "corporate_number.with_context",
                                   snippet, word=word)
            elif invoice:
                yield self.finding(part, start, m.end(), self.score_invoice, "corporate_number.invoice", snippet)
            else:
                yield self.finding(part, start, m.end(), self.score_checksum_only, "corporate_number.checksum_only",
                                   snippet)

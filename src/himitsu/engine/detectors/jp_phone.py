"""Japanese telephone numbers: mobile (070/080/090, 060), IP (050), toll-free (0120, 0800), navi dial
(0570) and landlines (area code + local number = 10 digits), nationally written or as +81.

Groups may be separated by hyphens of any width (- ‐ － ― ー −), spaces or parentheses
("03(1234)5678", "(03) 1234-5678"). Dates, times and version numbers are not phone numbers: a candidate
must start with 0 (or +81), have the digit count of its kind and a plausible grouping.
Scores: a grouped or +81 number 0.5, run-together digits 0.35; +0.35 with a context word (電話, TEL,
携帯, 連絡先, phone, ...) within 60 characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from himitsu.engine import prefilter
from himitsu.engine.detectors.base import DIGIT, ContextWords, Detector, ascii_digits, number_starts, redact
from himitsu.engine.model import Finding, TextPart
from himitsu.errors import gettext_noop

_HYPHEN = "\\-‐‑–—―−－ー"
_SEP = f"[{_HYPHEN} \u3000]"
_GLUE = f"(?:[ \u3000]?[()（）][ \u3000]?|{_SEP})"  # between two digit groups
_NATIONAL_REST = f"(?:{_GLUE}?{DIGIT}){{8,10}}"
_INTERNATIONAL_REST = (f"[8８][1１][ \u3000{_HYPHEN}]?(?:[(（][0０][)）][ \u3000]?)?[(（]?{DIGIT}"
                       f"(?:{_GLUE}?{DIGIT}){{7,9}}")
# Each alternative starts with a literal character so the search skips ahead to candidates; the
# look-behind after it checks the character before the candidate (no digit, letter, "+", "." or ":").
_FRESH = "(?<![0-9０-９A-Za-z_+＋.．:：/].)"
_CANDIDATES = (f"0{_FRESH}{_NATIONAL_REST}", f"０{_FRESH}{_NATIONAL_REST}",
               f"\\({_FRESH}[0０]{_NATIONAL_REST}", f"（{_FRESH}[0０]{_NATIONAL_REST}",
               f"\\+{_FRESH}{_INTERNATIONAL_REST}", f"＋{_FRESH}{_INTERNATIONAL_REST}")
_NOT_BEFORE = f"(?!{DIGIT}|{_SEP}?{DIGIT}|[.．:：/]{DIGIT}|[A-Za-z_])"

#: non-geographic prefixes with the total digit count of their numbers
_SERVICES: tuple[tuple[str, int, str], ...] = (
    ("0120", 10, "toll_free"), ("0800", 11, "toll_free"), ("0570", 10, "navi_dial"), ("050", 11, "ip"),
    ("060", 11, "mobile"), ("070", 11, "mobile"), ("080", 11, "mobile"), ("090", 11, "mobile"),
)

#: prefix -> (length, kind) of _SERVICES; every 4-digit prefix precedes every 3-digit one there
_SERVICE_PREFIXES = {prefix: (length, kind) for prefix, length, kind in reversed(_SERVICES)}

#: how each kind is named in explanations (msgids; translated at the edge)
KIND_LABELS = {"mobile": gettext_noop("mobile"), "landline": gettext_noop("landline"), "ip": gettext_noop("IP (050)"),
               "toll_free": gettext_noop("toll-free"), "navi_dial": gettext_noop("Navi Dial (0570)")}


def kind_of(digits: str) -> str | None:
    """The kind of a national number (leading 0), or None when it is not a valid Japanese number."""
    if digits[1:] in "123456789012" or len(set(digits[-8:])) == 1:
        return None  # "0123456789", "090-0000-0000": counting, not calling
    service = _SERVICE_PREFIXES.get(digits[:4]) or _SERVICE_PREFIXES.get(digits[:3])
    if service is not None:  # the first of _SERVICES whose prefix it has (the 4-digit ones come first)
        length, kind = service
        return kind if len(digits) == length else None
    # landline: 0 + area code + local exchange (never starting with 0) + 4 digits = 10 digits
    if len(digits) == 10 and digits[0] == "0" and digits[1] != "0" and digits[2] != "0":
        return "landline"
    return None


def grouping_ok(groups: list[str], kind: str) -> bool:
    if len(groups) == 1:
        return True
    sizes = [len(g) for g in groups]
    if len(sizes) != 3:
        return len(sizes) == 2 and kind in ("mobile", "ip") and sizes in ([3, 8], [7, 4])
    if kind == "landline":
        return 2 <= sizes[0] <= 5 and 1 <= sizes[1] <= 4 and sizes[2] == 4
    if kind in ("mobile", "ip"):
        return sizes == [3, 4, 4]
    return sizes[0] == 4 and sizes[1] == 3 and sizes[2] in (3, 4)


class JpPhoneDetector(Detector):
    id: ClassVar[str] = "jp-phone"
    translated_params: ClassVar[tuple[str, ...]] = ("kind",)
    reasons: ClassVar[dict[str, str]] = {
        "jp_phone.with_context": gettext_noop("Japanese {kind} telephone number next to the word {word}"),
        "jp_phone.formatted": gettext_noop("Japanese {kind} telephone number (valid prefix, length and grouping)"),
        "jp_phone.digits": gettext_noop("10 or 11 digits forming a valid Japanese {kind} telephone number"),
    }
    pattern: ClassVar[re.Pattern[str]] = re.compile(f"(?:{'|'.join(_CANDIDATES)}){_NOT_BEFORE}")
    context_words: ClassVar[ContextWords] = ContextWords([
        "電話", "でんわ", "TEL", "携帯", "ケータイ", "連絡先", "FAX", "ファックス", "ファクス", "内線", "直通", "代表",
        "phone", "mobile", "cell", "call", "☎", "📞", "℡",
    ], window=60)
    score_formatted: ClassVar[float] = 0.5
    score_digits: ClassVar[float] = 0.35
    context_bonus: ClassVar[float] = 0.35

    def validate(self, value: str) -> bool:
        return self.parse(value) is not None

    def parse(self, value: str) -> tuple[str, str, bool] | None:
        """(kind, national digits, grouped) of a candidate, or None when it is not a valid number."""
        if not value.isascii():  # _ASCII maps full-width characters only
            value = value.translate(_ASCII)
        international = value.startswith("+81")
        body = value[3:].replace("(0)", "", 1) if international else value
        digits = ("0" if international else "") + ascii_digits(body)
        kind = kind_of(digits)
        if kind is None or _MIXED.search(body):  # "03-1234 5678": one kind of separator only
            return None
        groups = [g for g in _SPLIT.split(body) if g]
        if international:
            groups[0] = "0" + groups[0]
        if not grouping_ok(groups, kind):
            return None
        return kind, digits, international or len(groups) > 1

    def detect(self, part: TextPart, context: Any = None) -> Iterator[Finding]:
        text = part.text
        near = self.context_words.finder(text)
        starts = number_starts(part, context) if self.pattern is JpPhoneDetector.pattern else None
        for m in prefilter.finditer(self.pattern, text, starts):
            value = m.group()
            parsed = self.parse(value)
            if parsed is None:
                continue
            kind, digits, grouped = parsed
            start, end = m.start(), m.end()
            if value[0] in "(（" and not any(ch in value for ch in ")）"):
                start += 1  # an opening parenthesis that belongs to the prose
            snippet = redact(digits, keep_start=3, keep_end=2)
            word = near(start, end)
            base = self.score_formatted if grouped else self.score_digits
            if word is not None:
                score = round(base + self.context_bonus, 2)
                yield self.finding(part, start, end, score, "jp_phone.with_context", snippet, kind=KIND_LABELS[kind],
                                   word=word)
            else:
                yield self.finding(part, start, end, base, "jp_phone.formatted" if grouped else "jp_phone.digits",
                                   snippet, kind=KIND_LABELS[kind])


_ASCII = str.maketrans("＋０１２３４５６７８９（）", "+0123456789()")
_SPLIT = re.compile("[^0-9]+")
_MIXED = re.compile(f"[{_HYPHEN}].*[ \u3000]|[ \u3000].*[{_HYPHEN}]")

"""Confidentiality markings (秘密表示): ㊙, 極秘, 厳秘, 社外秘, 部外秘, 関係者外秘, 取扱注意, 持出禁止,
Confidential, Internal Use Only, ... with where they stand: page header, footer or body.

Marking words come in three strengths:

* ``strong`` — words that only ever mark a document (㊙, 極秘, 厳秘, 社外秘, 部外秘, 社内秘, 関係者外秘):
  a finding wherever they stand;
* ``handling`` — handling instructions (取扱注意, 持出禁止, 複製禁止, 複写禁止, 転送禁止, 社内限り, マル秘):
  a finding wherever they stand, lower in running text;
* ``shape`` — words that are markings only when they look like one: 秘, 機密, 秘密 and the English
  words and phrases. They must be bracketed ("(秘)", "【機密】", "[Confidential]"), stand alone on
  their line, label a field ("区分：秘"), open a line followed by a separator ("秘 2024-04", "CONFIDENTIAL:")
  or be written in capitals or title case (phrases). So 秘書, 神秘的, 便秘, 秘密保持契約 and "keep it
  confidential" are not markings. 秘 also marks when followed by 文書/扱い/取扱/資料 (秘文書, 秘扱い).

Width and spacing variants match ("社 外 秘", "ＣＯＮＦＩＤＥＮＴＩＡＬ", "C O N F I D E N T I A L").
Position comes from ``part.meta["regions"]`` when the extractor gives ``(start, end, region)`` triples;
otherwise from the text: the first and last three non-empty lines of each page (pages split by form
feed) and the first and last 5% of a page (at most 1,000 characters) are header and footer.

Scores (header or footer / body): strong 0.95 / 0.85, shape 0.9 / 0.75, handling 0.85 / 0.6.
The snippet is the marking itself (it is not sensitive); ``params`` carry ``marking`` (normalised
text), ``level`` (e.g. 秘 for ㊙ and (秘)) and ``position``.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

from himitsu.engine import prefilter
from himitsu.engine.detectors.base import Detector, by_first_character
from himitsu.engine.model import Finding, TextPart
from himitsu.errors import gettext_noop

_SP = "[ \u3000]?"  # one optional space between the characters of a marking

#: (written form, level it denotes, strength); "|" separates alternative spellings of one marking
JAPANESE: tuple[tuple[str, str, str], ...] = (
    ("㊙", "秘", "strong"),
    ("関係者外秘", "関係者外秘", "strong"),
    ("社外秘", "社外秘", "strong"),
    ("部外秘", "部外秘", "strong"),
    ("社内秘", "社内秘", "strong"),
    ("極秘", "極秘", "strong"),
    ("厳秘", "厳秘", "strong"),
    ("○秘|〇秘|◯秘|マル秘|丸秘", "秘", "handling"),
    ("取扱注意|取扱い注意|取り扱い注意|取り扱注意", "取扱注意", "handling"),
    ("持出禁止|持出し禁止|持ち出し禁止|持ち出禁止", "持出禁止", "handling"),
    ("複製禁止|複写禁止", "複製禁止", "handling"),
    ("転送禁止", "転送禁止", "handling"),
    ("社内限り|社内限定", "社内限り", "handling"),
    ("機密", "機密", "shape"),
    ("秘密", "秘密", "shape"),
    ("秘", "秘", "shape"),
)
ENGLISH: tuple[tuple[str, str], ...] = (  # (phrase, level); all need the shape of a marking
    ("Strictly Confidential", "Strictly Confidential"),
    ("Highly Confidential", "Strictly Confidential"),
    ("Company Confidential", "Confidential"),
    ("Private and Confidential", "Confidential"),
    ("Proprietary and Confidential", "Confidential"),
    ("Confidential and Proprietary", "Confidential"),
    ("For Internal Use Only", "Internal Use Only"),
    ("Internal Use Only", "Internal Use Only"),
    ("Do Not Distribute", "Do Not Distribute"),
    ("Not for Distribution", "Do Not Distribute"),
    ("Confidential", "Confidential"),
    ("Proprietary", "Proprietary"),
)
#: an English marking written all in lower case counts only alone on its line (optionally bracketed):
#: "confidential", "[internal use only]"; in running text lower case is ordinary prose
_LOWER_ALONE = re.compile(
    "^[ \t\u3000]*[\\[(【<]?[ \t]*(" + "|".join(sorted((p.lower() for p, _ in ENGLISH), key=len, reverse=True))
    + ")[ \t]*[\\])】>]?[ \t\u3000]*$", re.MULTILINE)
_LOWER_LEVEL = {p.lower(): level for p, level in ENGLISH}
_LOWER_WORDS = ("confidential", "internal use", "proprietary", "distribut")
OPEN_BRACKETS = "([（［【〔〈《⦅｟<＜「『{｛"
CLOSE_BRACKETS = ")]）］】〕〉》⦆｠>＞」』}｝"
SEPARATORS = ":：-－‐—―|｜/／・·•"
#: what may precede 秘 in a field label: "区分：秘", "秘密区分 秘", "Classification: 秘"
_LABEL_BEFORE = re.compile(
    "(?:区分|分類|格付け?|機密性|取扱い?|レベル|classification|level)[ \u3000]*[:：=＝]?[ \u3000]*$", re.IGNORECASE)
_HI_BEFORE_WORDS = ("文書", "扱い", "扱", "取扱", "取り扱い", "資料")
_LETTERS = re.compile("[^\\W\\d_]")  # any letter, kana or kanji
_KANJI = re.compile("[\u3400-\u9fff\uf900-\ufaff々]")
_NOISE = re.compile(f"[\\s{re.escape(OPEN_BRACKETS + CLOSE_BRACKETS + SEPARATORS)}*※■□●◆◇★☆#=_~.,、。!！]+")


def _spaced(word: str) -> str:
    return _SP.join(re.escape(ch) for ch in word)


def _english(phrase: str) -> list[str]:
    """Regex alternatives for a phrase in any case and width after its capital first letter, each
    starting with a literal character (so the search can skip ahead to candidate first letters; a
    lower-case first letter would stop the search at every c, p, i and d of English prose, and
    lower-case markings are rare)."""
    def letter(ch: str) -> str:
        wide = chr(ord(ch) + 0xFEE0)
        return f"[{ch.lower()}{ch.upper()}{wide.lower()}{wide.upper()}]"

    words = phrase.split()
    body = "\\s+".join(_SP.join(letter(ch) for ch in w) for w in words)
    first = words[0][0]
    rest = body[len(letter(first)):]
    variants = {first.upper(), chr(ord(first.upper()) + 0xFEE0)}
    return [re.escape(v) + rest for v in sorted(variants)]


@dataclass(frozen=True)
class _Entry:
    level: str
    strength: str
    english: bool


def _compile() -> tuple[re.Pattern[str], list[tuple[str, _Entry]]]:
    alternatives: list[str] = []
    entries: list[tuple[str, _Entry]] = []
    for forms, level, strength in JAPANESE:
        for form in forms.split("|"):
            alternatives.append(_spaced(form))
            entries.append((form, _Entry(level, strength, english=False)))
    for phrase, level in ENGLISH:
        for alt in _english(phrase):
            alternatives.append(alt)
        entries.append((phrase.lower(), _Entry(level, "shape", english=True)))
    return re.compile(by_first_character(alternatives)), entries


_PATTERN, _ENTRIES = _compile()
_BY_FORM = {form: entry for form, entry in _ENTRIES}

#: what Python's ``\s`` matches in a str pattern (the characters for which str.isspace() is true)
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
              "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


#: letters of an English phrase the prefilter looks for: its start with at most this many letters is rare
#: enough in prose ("Do Not D", "Confid") and compiles fast (whole phrases take Hyperscan 0.5 s)
TRIGGER_LETTERS = 6


def _triggers() -> list[bytes]:
    """The alternatives of ``_PATTERN`` as Hyperscan expressions over UTF-8, with the same spacing and
    widths: the Japanese forms whole, the English phrases' first ``TRIGGER_LETTERS`` letters (a match of
    the whole phrase starts with a match of its beginning)."""
    sp = prefilter.char_class(" \u3000") + b"?"
    exprs = [sp.join(prefilter.literal(ch) for ch in form) for forms, _, _ in JAPANESE for form in forms.split("|")]
    for phrase, _ in ENGLISH:
        words = phrase.split()
        first = words[0][0].upper()
        pieces = [[prefilter.char_class({first, chr(ord(first) + 0xFEE0)})]]
        pieces[0] += [_letter(ch) for ch in words[0][1:]]
        pieces += [[_letter(ch) for ch in w] for w in words[1:]]
        kept, left = [], TRIGGER_LETTERS
        for letters in pieces:
            if left > 0:
                kept.append(letters[:left])
                left -= len(letters)
        exprs.append((prefilter.char_class(WHITESPACE) + b"+").join(sp.join(p) for p in kept))
    return exprs


def _letter(ch: str) -> bytes:
    wide = chr(ord(ch) + 0xFEE0)
    return prefilter.char_class({ch.lower(), ch.upper(), wide.lower(), wide.upper()})


_TRIGGERS = prefilter.register("marking", _triggers())
_LOWER_TRIGGERS = prefilter.register("marking-lower", [prefilter.literal(w) for w in _LOWER_WORDS])


def _lower_alone(text: str, hits: list[int] | None) -> Iterator[re.Match[str]]:
    """``_LOWER_ALONE.finditer(text)``, searching only the lines holding ``hits`` when there are any."""
    if hits is None:
        yield from _LOWER_ALONE.finditer(text)
        return
    done = -1
    for hit in hits:
        if hit < done:
            continue  # on the line searched already
        start = text.rfind("\n", 0, hit) + 1
        done = text.find("\n", hit)
        if done < 0:
            done = len(text)
        yield from _LOWER_ALONE.finditer(text, start, done)  # "^" and "$" hold at the line's ends


def _normal(value: str) -> str:
    """"社 外 秘" -> "社外秘", "ＣＯＮＦＩＤＥＮＴＩＡＬ" -> "CONFIDENTIAL", "C O N F" -> "CONF"."""
    if not _is_latin(value[0]):
        return "".join(value.split())  # no NFKC here: it would turn ㊙ into 秘
    value = unicodedata.normalize("NFKC", value)
    if re.fullmatch(r"(?:\w )+\w", value):
        value = value.replace(" ", "")
    return " ".join(value.split())


def _is_latin(ch: str) -> bool:
    return ch.isascii() or "Ａ" <= ch <= "ｚ"


class MarkingDetector(Detector):
    id: ClassVar[str] = "marking"
    reasons: ClassVar[dict[str, str]] = {
        "marking.header": gettext_noop("Confidentiality marking “{marking}” in the page header (level {level})"),
        "marking.footer": gettext_noop("Confidentiality marking “{marking}” in the page footer (level {level})"),
        "marking.body": gettext_noop("Confidentiality marking “{marking}” in the body text (level {level})"),
    }
    pattern: ClassVar[re.Pattern[str]] = _PATTERN
    #: score by (strength, header-or-footer)
    scores: ClassVar[dict[tuple[str, bool], float]] = {
        ("strong", True): 0.95, ("strong", False): 0.85,
        ("shape", True): 0.9, ("shape", False): 0.75,
        ("handling", True): 0.85, ("handling", False): 0.6,
    }

    def detect(self, part: TextPart, context: Any = None) -> Iterator[Finding]:
        text = part.text
        layout: _Layout | None = None
        hits = prefilter.groups(part, context)
        starts = hits.get(_TRIGGERS) if hits is not None and self.pattern is _PATTERN else None
        for m in prefilter.finditer(self.pattern, text, starts):
            start, end = m.start(), m.end()
            if _inside_word(text, start, end):
                continue
            shown = _normal(m.group())
            entry = _BY_FORM.get(shown.lower() if _is_latin(shown[0]) else shown)
            if entry is None:
                continue
            if layout is None:
                layout = _Layout(text, part.meta.get("regions"))
            line_start, line_end = layout.line(start, end)
            shape = _Shape(text, start, end, line_start, line_end)
            position = layout.position(start)
            edge = position != "body"
            if not self._is_marking(shown, entry, shape, edge):
                continue
            if shape.bracketed:
                start, end = shape.bracketed
            snippet = _normal(text[start:end])
            yield self.finding(part, start, end, self.scores[(entry.strength, edge)], f"marking.{position}", snippet,
                               marking=shown, level=entry.level, position=position)
        yield from self._lower_case(part, layout, None if hits is None else hits.get(_LOWER_TRIGGERS))

    def _lower_case(self, part: TextPart, layout: _Layout | None, hits: list[int] | None) -> Iterator[Finding]:
        """Markings in lower case alone on their line (the main pattern starts with a capital). ``hits``:
        the prefilter's places of ``_LOWER_WORDS``, whose lines alone are searched (a match never spans
        lines), or None."""
        text = part.text
        if hits is None and not any(word in text for word in _LOWER_WORDS):  # far cheaper than the regex
            return
        for m in _lower_alone(text, hits):
            phrase = m.group(1)
            if not phrase[0].islower():
                continue
            if layout is None:
                layout = _Layout(text, part.meta.get("regions"))
            position = layout.position(m.start(1))
            yield self.finding(part, m.start(1), m.end(1), self.scores[("shape", position != "body")],
                               f"marking.{position}", phrase, marking=phrase, level=_LOWER_LEVEL[phrase],
                               position=position)

    def _is_marking(self, shown: str, entry: _Entry, shape: _Shape, edge: bool) -> bool:
        if entry.strength != "shape" or shape.bracketed or shape.labelled:
            return True
        after = shape.after
        if (not after or not _LETTERS.match(after[0]) or _PATTERN.match(after)) and shape.alone:
            return True  # alone on its line (the cheap test on the next character first)
        if not entry.english:  # 秘, 機密, 秘密: first on the line and not the start of a longer word
            if (not after or shape.spaced or after[0] in SEPARATORS or not _LETTERS.match(after[0])) and shape.first:
                return True
            glued = bool(shape.before) and _KANJI.match(shape.before[-1]) is not None  # 神秘文書
            return shown == "秘" and not glued and after.startswith(_HI_BEFORE_WORDS)
        letters = [ch for ch in shown if ch.isalpha()]
        capitals = len(letters) > 1 and all(ch.isupper() for ch in letters)
        title = " " in shown and all(w[0].isupper() for w in shown.split() if w.lower() not in ("and", "for"))
        if capitals or title:
            return True
        if shape.first and (not after or after[0] in SEPARATORS):  # "Confidential: ...", "Confidential - Acme"
            return True
        if shape.last and shape.before[-1:] in tuple(SEPARATORS + "—–"):  # "Acme Corp. — Confidential"
            return True
        return edge and shape.last and shown[0].isupper()  # "Acme Corp Confidential" in a header


class _Shape:
    """How a match sits on its line; each property is computed only when a rule asks for it."""

    #: more than this many characters of content next to a marking means it is not alone on its line
    NEAR = 100

    def __init__(self, text: str, start: int, end: int, line_start: int, line_end: int) -> None:
        self.start, self.end, self.line_start = start, end, line_start
        self.raw_before, self.raw_after = text[line_start:start], text[end:line_end]
        self.before = self.raw_before.rstrip(" \u3000\t")  # the line before it, trailing spaces removed
        self.after = self.raw_after.lstrip(" \u3000\t")  # the line after it, leading spaces removed
        self.spaced = self.after != self.raw_after  # followed by a space

    @cached_property
    def bracketed(self) -> tuple[int, int] | None:
        """The span including its brackets, when it is bracketed."""
        b, a = self.before, self.after
        if b and a and b[-1] in OPEN_BRACKETS and a[0] in CLOSE_BRACKETS:
            return self.line_start + len(b) - 1, self.end + (len(self.raw_after) - len(a)) + 1
        return None

    @cached_property
    def first(self) -> bool:
        """Nothing but punctuation or other markings before it on its line."""
        return len(self.before) <= self.NEAR and not _residue(self.before)

    @cached_property
    def last(self) -> bool:
        """Nothing but punctuation or other markings after it on its line."""
        return len(self.after) <= self.NEAR and not _residue(self.after)

    @property
    def alone(self) -> bool:
        return self.first and self.last

    @cached_property
    def labelled(self) -> bool:
        """A field label before it: "区分：秘", "Classification: Confidential"."""
        return _LABEL_BEFORE.search(self.raw_before[-24:]) is not None


def _residue(s: str) -> str:
    """What is left of a piece of line once markings, brackets, separators and spaces are gone."""
    if not s:
        return s
    return _NOISE.sub("", _PATTERN.sub("", s))


def _inside_word(text: str, start: int, end: int) -> bool:
    """An English marking word glued to other letters ("Confidentiality", "nonproprietary")."""
    if not _is_latin(text[start]):
        return False
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    return (before.isalpha() and _is_latin(before)) or (after.isalpha() and _is_latin(after))


class _Layout:
    """Lines, pages and header/footer bands of one text, computed once per part."""

    LINES = 3
    SHARE = 0.05
    MAX_SHARE = 1000
    REACH = 500

    def __init__(self, text: str, regions: Sequence[Sequence[Any]] | None) -> None:
        self.text = text
        self.regions = sorted((int(r[0]), int(r[1]), str(r[2])) for r in regions) if regions else None
        self._pages: list[tuple[int, int, int, int]] | None = None
        self._page_starts: list[int] = []

    def line(self, start: int, end: int) -> tuple[int, int]:
        """The line around ``text[start:end]``, at most ``REACH`` characters either side (a marking is
        never 500 characters into its line, and long lines must not make each match cost O(n))."""
        text = self.text
        lo, hi = max(0, start - self.REACH), min(len(text), end + self.REACH)
        line_start = max(text.rfind("\n", lo, start), text.rfind("\f", lo, start), text.rfind("\r", lo, start))
        line_start = lo if line_start < 0 else line_start + 1
        ends = [i for i in (text.find("\n", end, hi), text.find("\f", end, hi), text.find("\r", end, hi)) if i >= 0]
        return line_start, min(ends) if ends else hi

    def position(self, offset: int) -> str:
        if self.regions is not None:
            for lo, hi, region in self.regions:
                if lo <= offset < hi:
                    return region if region in ("header", "footer") else "body"
            return "body"
        if self._pages is None:
            self._pages = self._bands()
            self._page_starts = [p[0] for p in self._pages]
        page = self._pages[bisect.bisect_right(self._page_starts, offset) - 1]
        if offset < page[2]:
            return "header"
        if offset >= page[3]:
            return "footer"
        return "body"

    def _bands(self) -> list[tuple[int, int, int, int]]:
        """(page start, page end, header end, footer start) of each page."""
        pages, start = [], 0
        text = self.text
        while True:
            ff = text.find("\f", start)
            end = len(text) if ff < 0 else ff
            pages.append(self._band(start, end))
            if ff < 0:
                return pages
            start = ff + 1

    def _band(self, start: int, end: int) -> tuple[int, int, int, int]:
        share = min(self.MAX_SHARE, int((end - start) * self.SHARE))
        header_end = self._nth_line_end(start, end)
        footer_start = self._nth_line_start_from_end(start, end)
        return start, end, max(header_end, start + share), min(footer_start, end - share)

    def _nth_line_end(self, start: int, end: int) -> int:
        text, seen, pos = self.text, 0, start
        while pos < end:
            nl = text.find("\n", pos, end)
            stop = end if nl < 0 else nl
            if text[pos:stop].strip():
                seen += 1
                if seen == self.LINES:
                    return stop
            pos = stop + 1
        return end

    def _nth_line_start_from_end(self, start: int, end: int) -> int:
        text, seen, pos = self.text, 0, end
        while pos > start:
            nl = text.rfind("\n", start, pos)
            begin = start if nl < 0 else nl + 1
            if text[begin:pos].strip():
                seen += 1
                if seen == self.LINES:
                    return begin
            pos = begin - 1
        return start

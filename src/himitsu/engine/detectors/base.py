"""What every detector is: class data (id, patterns, context words) and a detect() method.

Checksums and other validation live in a ``validate`` hook, not inside a regex. A detector gets one
``TextPart`` at a time and yields ``Finding``s whose offsets point into ``part.text``.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from himitsu.engine import prefilter
from himitsu.engine.model import Extraction, Finding, TextPart


class Detector:
    id: ClassVar[str]
    #: English explanation templates by reason code (translated at the edge, like errors)
    reasons: ClassVar[dict[str, str]] = {}

    def detect(self, part: TextPart, context: Any = None) -> Iterable[Finding]:
        raise NotImplementedError

    def inspect(self, extraction: Extraction, context: Any = None) -> Iterable[Finding]:
        """Run ``detect`` on every part; a detector that needs the whole extraction (its problems, or
        several parts at once) overrides this instead."""
        return _each_part(self, extraction, context)

    def validate(self, value: str) -> bool:
        """Validation hook for a candidate the pattern found (checksum, issuer range, ...)."""
        return True

    def finding(self, part: TextPart | str, start: int, end: int, score: float, reason: str, snippet: str,
                **params: Any) -> Finding:
        template = self.reasons.get(reason, reason)
        try:
            text = template.format(**params)
        except (KeyError, IndexError):
            text = template
        path = part if isinstance(part, str) else part.path
        return Finding(detector=self.id, score=score, start=start, end=end, snippet=snippet, reason=reason,
                       explanation=text, part=path, params=params)


def _each_part(detector: Detector, extraction: Extraction, context: Any) -> Iterator[Finding]:
    for part in extraction.parts:
        yield from prefilter.findings(detector, part, context)  # kept per inspection for detectors reusing them


def redact(value: str, keep_start: int = 2, keep_end: int = 4, mask: str = "*") -> str:
    """``123456789012`` -> ``12******9012``; short values are fully masked."""
    if len(value) <= keep_start + keep_end + 2:
        return mask * len(value)
    return value[:keep_start] + mask * (len(value) - keep_start - keep_end) + value[-keep_end:]


#: one digit, half or full width, for patterns
DIGIT = "[0-9０-９]"
#: full-width digits -> ASCII, one character for one character (offsets stay valid)
DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def ascii_digits(value: str) -> str:
    """The digits of ``value`` in ASCII, everything else dropped: ``"１２３4-5"`` -> ``"12345"``."""
    return "".join(ch for ch in value.translate(DIGITS) if "0" <= ch <= "9")


def word_pattern(words: Iterable[str]) -> re.Pattern[str]:
    """Any of ``words``, longest first, ignoring case."""
    return re.compile("|".join(sorted({re.escape(w) for w in words}, key=len, reverse=True)), re.IGNORECASE)


class ContextWords:
    """Words whose presence within ``window`` characters of a match raises confidence (Purview looks
    300 characters around a My Number). Matching ignores case."""

    def __init__(self, words: Iterable[str], window: int = 300) -> None:
        self.words = tuple(words)
        self.window = window
        self._rx = word_pattern(self.words)

    def near(self, text: str, start: int, end: int) -> str | None:
        """The context word closest to ``text[start:end]`` within the window, or None."""
        return self.finder(text)(start, end)

    def finder(self, text: str) -> NearFinder:
        """A lookup for many matches in one text (one per ``detect`` call)."""
        return NearFinder(self, text)


class NearFinder:
    """Context-word lookups in one text: each searches the window around its match, until the windows
    searched add up to the length of the text; then the words of the whole text are found once and
    looked up by bisection, so a list with 100,000 phone numbers costs one pass, not 100,000 windows."""

    def __init__(self, words: ContextWords, text: str) -> None:
        self.words, self.text, self.calls = words, text, 0
        self._starts: list[int] | None = None
        self._found: list[tuple[int, int, str]] = []

    def __call__(self, start: int, end: int) -> str | None:
        self.calls += 1
        window = self.words.window
        lo, hi = max(0, start - window), min(len(self.text), end + window)
        if self._starts is None and self.calls * 2 * window > len(self.text):
            self._found = [(m.start(), m.end(), m.group()) for m in self.words._rx.finditer(self.text)]
            self._starts = [s for s, _, _ in self._found]
        if self._starts is None:
            candidates: Iterable[tuple[int, int, str]] = (
                (m.start(), m.end(), m.group()) for m in self.words._rx.finditer(self.text, lo, hi))
        else:
            found = self._found[bisect.bisect_left(self._starts, lo):bisect.bisect_right(self._starts, hi)]
            candidates = (f for f in found if f[1] <= hi)
        best: tuple[int, str] | None = None
        for w_start, w_end, word in candidates:
            if start <= w_start and w_end <= end:
                continue  # part of the match itself ("mail@..." is no context for an address)
            distance = start - w_end if w_end <= start else max(0, w_start - end)
            if best is None or distance < best[0]:
                best = (distance, word)
        return None if best is None else best[1]


def by_first_character(alternatives: Iterable[str]) -> str:
    """One regex alternation of ``alternatives`` (each starting with a literal character, ``\\(`` style
    escapes allowed) grouped by that character: ``sk_live_…|sk-…|secret`` becomes ``s(?:k_live_…|k-…|ecret)``.

    Python's ``re`` skips quickly to positions holding one of the first characters, then tries the
    alternatives one by one; grouping means one test per distinct first character instead of one per
    alternative. The order of alternatives sharing a first character is kept (longest first, say)."""
    groups: dict[str, list[str]] = {}
    for alt in alternatives:
        head = alt[:2] if alt.startswith("\\") else alt[:1]
        groups.setdefault(head, []).append(alt[len(head):])
    parts = []
    for head, rests in groups.items():
        parts.append(head + rests[0] if len(rests) == 1 else f"{head}(?:{'|'.join(rests)})")
    return "|".join(parts)


def literal_starts(pattern: str) -> list[str]:
    """The literal beginnings of ``pattern``, one of which every match starts with: its characters up to the
    first operator, a class of plain characters expanded on the way (``gh[pousr]_[A-Z]+`` gives ``ghp_``,
    ``gho_``, ...). A prefilter looks for these strings."""
    heads, i = [""], 0
    while i < len(pattern):
        ch, nxt = pattern[i], pattern[i + 1:i + 2]
        if ch == "\\" and nxt and not nxt.isalnum():
            step, chars = 2, nxt
        elif ch == "[" and "]" in pattern[i:]:
            close = pattern.index("]", i)
            chars = pattern[i + 1:close]
            if not chars or any(c in chars for c in "\\-^[") or len(chars) > 8:
                break
            step = close + 1 - i
        elif ch in ".^$*+?{}()|[]\\":
            break
        else:
            step, chars = 1, ch
        if pattern[i + step:i + step + 1] in ("?", "*", "{", "+"):
            break  # optional or repeated: stop before it
        heads = [h + c for h in heads for c in chars]
        i += step
    if not all(heads):
        raise ValueError(f"no literal beginning: {pattern!r}")
    return heads


#: separators inside grouped 12/13-digit numbers (spaces, hyphens and their look-alikes)
GROUP_SEP = "[ \u3000\\-‐‑–—―−－ー]"
#: nothing that continues a grouped number may follow it: a digit, a separated digit group, a decimal, a word
NOT_BEFORE_NUMBER = f"(?!{DIGIT}|{GROUP_SEP}{DIGIT}|[.．]{DIGIT}|[A-Za-z_])"


class LabelledNumber:
    """Shared by detectors of numbers with a check digit: context can be required, and a number right
    after a label of another kind of number ("受注番号 202404010001") is not reported without context."""

    other_labels: ClassVar[re.Pattern[str]]

    def __init__(self, require_context: bool = False) -> None:
        self.require_context = require_context

    def labelled_otherwise(self, text: str, start: int) -> bool:
        return self.other_labels.search(text, max(0, start - 20), start) is not None


#: every character a written number can hold (digits, the separators of GROUP_SEP and of card and phone
#: numbers, parentheses, plus signs): each match of my-number, corporate-number, credit-card and jp-phone
#: lies inside one maximal run of these characters, holding at least 9 digits
NUMBER_CHARS = frozenset("0123456789０１２３４５６７８９ \u3000-‐‑–—―−－ー()（）+＋")
#: where those matches start: a digit, an opening parenthesis or a plus sign
_NUMBER_STARTS = frozenset("0123456789０１２３４５６７８９(（+＋")
_NUMBER_GROUP = prefilter.register("numbers", [
    prefilter.char_class("0123456789０１２３４５６７８９")
    + b"(?:" + prefilter.char_class(NUMBER_CHARS - set("0123456789０１２３４５６７８９")) + b"*"
    + prefilter.char_class("0123456789０１２３４５６７８９") + b"){8}"])


def number_starts(part: TextPart, context: Any = None) -> list[int] | None:
    """Every offset where a number of 9 digits or more (grouped or not) may start, sorted, or None when
    there is no prefilter: the digits, parentheses and plus signs of the runs of ``NUMBER_CHARS`` holding
    at least 9 digits."""
    hits = prefilter.starts(part, _NUMBER_GROUP, context)
    if hits is None:
        return None
    return prefilter.shared(context, part, "number-starts", lambda: _number_starts(part.text, hits))


def _number_starts(text: str, hits: list[int]) -> list[int]:
    out: list[int] = []
    end = -1
    for hit in hits:
        if hit < end:
            continue  # in the run already expanded
        lo = hit
        while lo > 0 and text[lo - 1] in NUMBER_CHARS:
            lo -= 1
        end = hit
        while end < len(text) and text[end] in NUMBER_CHARS:
            end += 1
        out.extend(i for i in range(lo, end) if text[i] in _NUMBER_STARTS)
    return out

"""What every detector is: class data (id, patterns, context words) and a detect() method.

Checksums and other validation live in a ``validate`` hook, not inside a regex. A detector gets one
``TextPart`` at a time and yields ``Finding``s whose offsets point into ``part.text``.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from himitsu.engine import prefilter
from himitsu.engine.model import Extraction, Finding, SecretRef, TextPart


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
        return self.finding_of(part, start, end, score, reason, snippet, params)

    def finding_of(self, part: TextPart | str, start: int, end: int, score: float, reason: str, snippet: str,
                   params: dict[str, Any], secret: SecretRef | None = None,
                   matched_chars: int | None = None) -> Finding:
        """:meth:`finding` with its params as a dict, and the register entry and matched length a registered
        document's finding carries (set here rather than by ``dataclasses.replace``, which runs ``__init__``
        again)."""
        template = self.reasons.get(reason, reason)
        if "{" in template or "}" in template:  # without braces, format() gives the template back
            try:
                text = template.format(**params)
            except (KeyError, IndexError):
                text = template
        else:
            text = template
        path = part if isinstance(part, str) else part.path
        return _new_finding(self.id, score, start, end, snippet, reason, text, path, params, secret, matched_chars)


def _dataclass_init_is_plain(cls: type) -> bool:
    """True when ``cls`` is a dataclass whose generated ``__init__`` only stores its arguments (no slots, no
    ``__post_init__``, the fields :func:`_new_finding` fills, in that order, ``secret`` and ``matched_chars``
    None by default)."""
    fields = dataclasses.fields(cls)
    defaults = {f.name: f.default for f in fields}
    return (tuple(f.name for f in fields) == _FINDING_FIELDS and not hasattr(cls, "__slots__")
            and not hasattr(cls, "__post_init__") and "__dict__" in dir(cls) and all(f.init for f in fields)
            and defaults["secret"] is None and defaults["matched_chars"] is None)


_FINDING_FIELDS = ("detector", "score", "start", "end", "snippet", "reason", "explanation", "part", "secret",
                   "matched_chars", "params")


def _new_finding(detector: str, score: float, start: int, end: int, snippet: str, reason: str, explanation: str,
                 part: str, params: dict[str, Any], secret: SecretRef | None = None,
                 matched_chars: int | None = None) -> Finding:
    """``Finding(...)``: the object the dataclass ``__init__`` makes (the same attributes, in the same order),
    without its one ``object.__setattr__`` call per field that a frozen dataclass pays (a customer list makes
    hundreds of thousands of findings)."""
    if not _FAST_FINDING:
        return Finding(detector=detector, score=score, start=start, end=end, snippet=snippet, reason=reason,
                       explanation=explanation, part=part, secret=secret, matched_chars=matched_chars,
                       params=params)
    f = _object_new(Finding)
    f.__dict__.update(detector=detector, score=score, start=start, end=end, snippet=snippet, reason=reason,
                      explanation=explanation, part=part, secret=secret, matched_chars=matched_chars,
                      params=params)
    return f


_object_new = object.__new__
_FAST_FINDING = _dataclass_init_is_plain(Finding)


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
    return _NOT_ASCII_DIGIT.sub("", value if value.isascii() else value.translate(DIGITS))  # DIGITS: no ASCII keys


_NOT_ASCII_DIGIT = re.compile("[^0-9]")


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
        self._candidates = candidate_pattern(self.words)

    def near(self, text: str, start: int, end: int) -> str | None:
        """The context word closest to ``text[start:end]`` within the window, or None."""
        return self.finder(text)(start, end)

    def finder(self, text: str) -> NearFinder:
        """A lookup for many matches in one text (one per ``detect`` call)."""
        return NearFinder(self, text)

    def find_all(self, text: str) -> list[tuple[int, int, str]]:
        """``(start, end, word)`` of every match of ``word_pattern(words)`` in ``text``, as its ``finditer``
        gives them: the pattern is tried only where :func:`candidate_pattern` matches (where a word can
        start), which is several times faster than letting the case-insensitive alternation try every
        position."""
        rx, candidates = self._rx, self._candidates
        if candidates is None:
            return [(m.start(), m.end(), m.group()) for m in rx.finditer(text)]
        found: list[tuple[int, int, str]] = []
        pos = 0
        match = rx.match
        for c in candidates.finditer(text):
            at = c.start()
            if at < pos:
                continue
            m = match(text, at)
            if m is not None:
                pos = m.end()
                found.append((at, pos, m.group()))
        return found


#: the characters besides an ASCII letter's two cases that ``re.IGNORECASE`` matches with it
_ASCII_FOLDS = {"i": "\u0130\u0131", "k": "\u212a", "s": "\u017f"}


def case_variants(ch: str) -> set[str] | None:
    """Every character that ``re.IGNORECASE`` matches with the literal ``ch`` (a superset), or None when that
    is not known here (a cased character outside ASCII)."""
    if ch.isascii():
        if not ch.isalpha():
            return {ch}
        return {ch.lower(), ch.upper(), *_ASCII_FOLDS.get(ch.lower(), "")}
    if ch.lower() == ch and ch.upper() == ch:
        return {ch}  # uncased: re matches it exactly even when ignoring case
    return None


def candidate_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """A case-sensitive pattern matching (at least) at every offset where ``word_pattern(words)`` can match:
    a character that can begin a word, followed by one that can be a word's second character (or that is a
    one-character word itself). It starts with a character class, so ``re`` skips to candidates in C. None
    when the words hold an empty word or a cased character outside ASCII among their first two."""
    words = tuple(words)
    if not words or not all(words):
        return None
    first: set[str] = set()
    second: set[str] = set()
    single: set[str] = set()
    for word in words:
        heads = [case_variants(ch) for ch in word[:2]]
        if any(h is None for h in heads):
            return None
        first |= heads[0]  # type: ignore[operator]
        if len(word) == 1:
            single |= heads[0]  # type: ignore[operator]
        else:
            second |= heads[1]  # type: ignore[operator]

    def char_class(chars: set[str]) -> str:
        return "[" + "".join(re.escape(c) for c in sorted(chars)) + "]"

    rest = [f"(?<={char_class(single)})"] if single else []
    if second:
        rest.append(f"(?={char_class(second)})")
    return re.compile(char_class(first) + "(?:" + "|".join(rest) + ")")


#: the lookups of a NearFinder index the whole text once the windows searched add up to a quarter of it
_INDEX_EARLY = 4


class NearFinder:
    """Context-word lookups in one text: each searches the window around its match, until the windows
    searched add up to the length of the text; then the words of the whole text are found once and
    looked up by bisection, so a list with 100,000 phone numbers costs one pass, not 100,000 windows.

    The whole text is indexed earlier, once the windows add up to a quarter of it; until the original
    switch, a lookup then gives what the window search would have: the words of the text lying inside the
    window, unless a word of the text crosses an edge of the window (the window search could find something
    else inside it there: "住所在地" holds 住所 for the text, 所在地 for a window starting after 住), when
    the window is searched as before. The words are literals matched ignoring case, so a search in
    ``[lo, hi)`` starting outside every word of the text finds the text's own words in ``[lo, hi)``."""

    def __init__(self, words: ContextWords, text: str) -> None:
        self.words, self.text, self.calls = words, text, 0
        self._switched = False  # True once lookups use the index of the whole text only
        self._starts: list[int] | None = None
        self._found: list[tuple[int, int, str]] = []
        self._window = words.window
        self._size = len(text)
        self._early = words._candidates is not None

    def _index(self) -> list[int]:
        self._found = self.words.find_all(self.text)
        self._starts = [s for s, _, _ in self._found]
        return self._starts

    def __call__(self, start: int, end: int) -> str | None:
        self.calls += 1
        window = self._window
        lo = start - window
        if lo < 0:
            lo = 0
        hi = end + window
        if hi > self._size:
            hi = self._size
        starts = self._starts
        if not self._switched:
            reach = self.calls * 2 * window
            if reach > self._size:
                self._switched = True
            elif self._early and reach * _INDEX_EARLY > self._size:
                return self._near_exact(start, end, lo, hi)
            else:
                return self._search(start, end, lo, hi)
        if starts is None:
            starts = self._index()
        i = bisect.bisect_left(starts, lo)
        j = bisect.bisect_right(starts, hi, i)
        if i == j:
            return None  # the common case in a long list: no word near this match
        best: str | None = None
        best_distance = 0
        for w_start, w_end, word in self._found[i:j]:
            if w_end > hi or (start <= w_start and w_end <= end):
                continue  # beyond the window, or part of the match itself
            distance = start - w_end if w_end <= start else max(0, w_start - end)
            if best is None or distance < best_distance:
                best, best_distance = word, distance
        return best

    def _near_exact(self, start: int, end: int, lo: int, hi: int) -> str | None:
        """What ``_search`` gives, from the index where no word of the text crosses ``lo`` or ``hi``."""
        starts = self._starts
        if starts is None:
            starts = self._index()
        found = self._found
        i = bisect.bisect_left(starts, lo)
        if i and found[i - 1][1] > lo:
            return self._search(start, end, lo, hi)
        j = bisect.bisect_left(starts, hi, i)
        if i == j:
            return None
        if found[j - 1][1] > hi:
            return self._search(start, end, lo, hi)
        best: str | None = None
        best_distance = 0
        for w_start, w_end, word in found[i:j]:
            if start <= w_start and w_end <= end:
                continue
            distance = start - w_end if w_end <= start else max(0, w_start - end)
            if best is None or distance < best_distance:
                best, best_distance = word, distance
        return best

    def _search(self, start: int, end: int, lo: int, hi: int) -> str | None:
        """The closest word, searching the window ``[lo, hi)`` only: ``finditer(text, lo, hi)`` of the words'
        pattern, which is tried only where the candidate pattern matches (searched up to ``hi`` too)."""
        best: str | None = None
        best_distance = 0
        text, rx, candidates = self.text, self.words._rx, self.words._candidates
        spans: Iterable[tuple[int, int, re.Match[str]]]
        if candidates is None:
            spans = ((m.start(), m.end(), m) for m in rx.finditer(text, lo, hi))
        else:
            spans = self._window_matches(candidates, lo, hi)
        for w_start, w_end, m in spans:
            if start <= w_start and w_end <= end:
                continue  # part of the match itself ("mail@..." is no context for an address)
            distance = start - w_end if w_end <= start else max(0, w_start - end)
            if best is None or distance < best_distance:
                best, best_distance = m.group(), distance
        return best

    def _window_matches(self, candidates: re.Pattern[str], lo: int, hi: int) -> list[tuple[int, int, re.Match[str]]]:
        """``(start, end, match)`` of each match of ``rx.finditer(text, lo, hi)``."""
        found = []
        text, match = self.text, self.words._rx.match
        pos = lo
        for c in candidates.finditer(text, lo, hi):
            at = c.start()
            if at < pos:
                continue
            m = match(text, at, hi)
            if m is not None:
                pos = m.end()
                found.append((at, pos, m))
        return found


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


def number_starts(part: TextPart, context: Any = None, min_digits: int = 9) -> list[int] | None:
    """Every offset where a number of ``min_digits`` digits or more (grouped or not; at least 9) may start,
    sorted, or None when there is no prefilter: the digits, parentheses and plus signs of the runs of
    ``NUMBER_CHARS`` holding at least ``min_digits`` digits. A detector whose matches all hold 12 digits asks
    for 12, and then does not try every digit of every 10-digit phone number of a customer list."""
    hits = prefilter.starts(part, _NUMBER_GROUP, context)
    if hits is None:
        return None
    runs = prefilter.shared(context, part, "number-runs", lambda: _number_runs(part.text, hits))
    if min_digits <= 9:
        return prefilter.shared(context, part, "number-starts", lambda: _starts_in(part.text, runs, 9))
    return prefilter.shared(context, part, ("number-starts", min_digits),
                            lambda: _starts_in(part.text, runs, min_digits))


def _number_runs(text: str, hits: list[int]) -> list[tuple[int, int, int]]:
    """``(start, end, digits)`` of each maximal run of ``NUMBER_CHARS`` holding one of ``hits``."""
    runs: list[tuple[int, int, int]] = []
    end = -1
    run_from = _NUMBER_RUN.match
    for hit in hits:
        if hit < end:
            continue  # in the run already expanded
        lo = hit
        while lo > 0 and text[lo - 1] in NUMBER_CHARS:
            lo -= 1
        end = run_from(text, hit).end()  # the run of NUMBER_CHARS from hit on (maybe empty)
        run = text[lo:end]
        runs.append((lo, end, len(run) - len(_ANY_DIGIT.sub("", run))))
    return runs


def _starts_in(text: str, runs: list[tuple[int, int, int]], min_digits: int) -> list[int]:
    out: list[int] = []
    for lo, end, digits in runs:
        if digits >= min_digits:
            out.extend([i for i, ch in enumerate(text[lo:end], lo) if ch in _NUMBER_STARTS])
    return out


def _number_starts(text: str, hits: list[int], min_digits: int = 9) -> list[int]:
    """The starts of :func:`number_starts` for the trigger ``hits`` (without the per-inspection cache)."""
    return _starts_in(text, _number_runs(text, hits), min_digits)


#: one digit, half or full width (removed to count the digits of a run)
_ANY_DIGIT = re.compile("[0-9０-９]")
_NUMBER_RUN = re.compile("[" + "".join(re.escape(c) for c in sorted(NUMBER_CHARS)) + "]*")

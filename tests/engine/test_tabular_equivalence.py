"""The faster per-match paths of the detectors give what the straightforward code gave.

Each optimised piece is compared with a reference kept here (the code it replaced) on generated inputs:
the context-word lookup (``NearFinder``, which now indexes the text earlier and finds the words of a text
through a candidate pattern), the candidate pattern's character sets (checked against ``re`` on every code
point), the address snippet mask, ``ascii_digits``, the findings ``Detector.finding`` makes, and the rows
customer-list collects.
"""

from __future__ import annotations

import bisect
import dataclasses
import random
import re
from collections.abc import Iterable

import pytest

from himitsu.engine import prefilter, registry
from himitsu.engine.check import Context, Engine
from himitsu.engine.detectors import base, customer_list, jp_phone
from himitsu.engine.detectors.base import (
    DIGITS,
    ContextWords,
    Detector,
    NearFinder,
    ascii_digits,
    candidate_pattern,
    case_variants,
    word_pattern,
)
from himitsu.engine.detectors.customer_list import CustomerListDetector
from himitsu.engine.detectors.email_address import EmailAddressDetector
from himitsu.engine.detectors.jp_address import JpAddressDetector, _mask
from himitsu.engine.detectors.jp_phone import JpPhoneDetector
from himitsu.engine.extract import extract
from himitsu.engine.model import Finding, TextPart


class ReferenceNearFinder:
    """NearFinder as it was: window searches until they add up to the text, then one index."""

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
                continue
            distance = start - w_end if w_end <= start else max(0, w_start - end)
            if best is None or distance < best[0]:
                best = (distance, word)
        return None if best is None else best[1]


def reference_mask(text: str, start: int, end: int, shown: tuple[int, int]) -> str:
    digits_set = frozenset("0123456789０１２３４５６７８９")
    out, digits = [], 0
    for i in range(start, end):
        ch = text[i]
        if i < shown[0]:
            digits += ch in digits_set
            out.append("*" if ch in digits_set and digits > 3 else ch)
        elif i < shown[1] or ch in " \u3000":
            out.append(ch)
        else:
            out.append("*")
    return "".join(out)


def reference_lines_with_data(detector: CustomerListDetector, part: TextPart,
                              context: object) -> dict[int, tuple[int, set[str]]]:
    text = part.text
    found = [(f.start, kind) for kind, source in detector._sources
             for f in prefilter.findings(source, part, context)]
    if len(found) < detector.min_rows:
        return {}
    breaks = [m.start() for m in re.finditer("\n", text)]
    lines: dict[int, tuple[int, set[str]]] = {}
    for offset, kind in found:
        i = bisect.bisect_left(breaks, offset)
        start = breaks[i - 1] + 1 if i else 0
        end = breaks[i] if i < len(breaks) else len(text)
        lines.setdefault(start, (end, set()))[1].add(kind)
    return lines


# words that overlap each other, hold cased letters re folds specially (İ ı ſ K), or one character
TRICKY = ContextWords(["住所", "所在地", "現住所", "届け先", "お届け先", "TEL", "tel号", "is", "ski", "k", "☎", "ab",
                       "abc", "bcd"], window=7)
#: a cased character outside ASCII among the first two: no candidate pattern, the text is searched whole
UNSURE = ContextWords(["Kİ", "is", "住所"], window=5)
FRAGMENTS = ["住所", "所在地", "現住所", "届け先", "お届け先", "住所在地", "お届", "TEL", "Tel", "tEL", "TELE", "İs",
             "ıs", "ſki", "SKI", "\u212a", "K", "☎", "ab", "abcd", "bcd", "x", "、", "\n", " ", "03-1234-5678", "山田",
             "a", "b", "c", "d", "i", "I", "s", "S", "k"]


def random_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(FRAGMENTS) for _ in range(n))


@pytest.mark.parametrize("words", [TRICKY, UNSURE, JpPhoneDetector.context_words, JpAddressDetector.context_words,
                                   EmailAddressDetector.context_words, ContextWords(["ab", "b"], window=3)],
                         ids=["tricky", "unsure", "phone", "address", "email", "tiny"])
def test_near_finder_matches_reference(words: ContextWords) -> None:
    rng = random.Random(20261126)
    pool = FRAGMENTS + list(words.words)
    for _ in range(300):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 120)))
        fast, slow = NearFinder(words, text), ReferenceNearFinder(words, text)
        for _ in range(rng.randint(1, 60)):
            start = rng.randint(0, len(text))
            end = min(len(text), start + rng.randint(0, 6))
            assert fast(start, end) == slow(start, end), (text, start, end, fast.calls)


def test_near_finder_matches_reference_on_a_customer_list() -> None:
    """Increasing offsets through a long table, as the detectors look words up."""
    rng = random.Random(7)
    rows = ["氏名,電話,住所,メール"]
    for i in range(400):
        extra = rng.choice(["", "", "TEL ", "住所在地 ", "お届け先:", "携帯", "phone"])
        rows.append(f"山田 {i},{extra}03-1234-{i:04d},東京都千代田区丸の内1-{i},yamada.{i}@example.jp")
    text = "\n".join(rows)
    for words in (JpPhoneDetector.context_words, JpAddressDetector.context_words, EmailAddressDetector.context_words,
                  TRICKY):
        fast, slow = NearFinder(words, text), ReferenceNearFinder(words, text)
        for m in re.finditer("03-1234-[0-9]{4}|yamada|東京都", text):
            assert fast(m.start(), m.end()) == slow(m.start(), m.end())


def test_find_all_is_finditer() -> None:
    rng = random.Random(11)
    assert TRICKY._candidates is not None and UNSURE._candidates is None
    for words in (TRICKY, UNSURE, JpPhoneDetector.context_words, JpAddressDetector.context_words,
                  EmailAddressDetector.context_words):
        for _ in range(200):
            text = random_text(rng, rng.randint(0, 200))
            assert words.find_all(text) == [(m.start(), m.end(), m.group()) for m in words._rx.finditer(text)]


def _all_characters() -> str:
    return "".join(map(chr, range(0x110000)))


def test_case_variants_hold_every_character_re_folds_together() -> None:
    """Every character ``re.IGNORECASE`` matches with a literal is among its ``case_variants``: checked on
    every code point, for every ASCII character and the first two of every detector's context words."""
    everything = _all_characters()
    chars = {chr(i) for i in range(128)}
    for cls in registry.detector_classes().values():
        words = getattr(cls, "context_words", None)
        if isinstance(words, ContextWords):
            assert words._candidates is not None, cls
            chars |= {ch for w in words.words for ch in w[:2]}
    chars |= {ch for w in TRICKY.words for ch in w[:2]}
    for ch in sorted(chars):
        variants = case_variants(ch)
        assert variants is not None, ch
        matched = set(re.findall(re.escape(ch), everything, re.IGNORECASE))
        assert matched <= variants, (ch, sorted(matched - variants))


def test_candidate_pattern_gives_up_where_it_cannot_be_sure() -> None:
    assert case_variants("Ä") is None and case_variants("電") == {"電"}
    assert candidate_pattern(["Äpfel"]) is None
    assert candidate_pattern(["ok", ""]) is None
    assert candidate_pattern([]) is None
    words = ContextWords(["Äpfel", "phone"], window=5)
    text = "äpfel und ÄPFEL phone"
    assert words.find_all(text) == [(m.start(), m.end(), m.group()) for m in word_pattern(words.words).finditer(text)]


def test_mask_matches_reference() -> None:
    rng = random.Random(5)
    alphabet = "0１2３ 　〒東京都区-a"
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        start, end = sorted(rng.randint(0, len(text)) for _ in range(2))
        shown = (rng.randint(-2, len(text) + 2), rng.randint(-2, len(text) + 2))
        assert _mask(text, start, end, shown) == reference_mask(text, start, end, shown)


def test_ascii_digits_matches_reference() -> None:
    rng = random.Random(9)
    alphabet = "0123456789０１２３４５６７８９-a ٣²\u0660"
    for _ in range(20000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
        assert ascii_digits(value) == "".join(ch for ch in value.translate(DIGITS) if "0" <= ch <= "9")


class _Probe(Detector):
    id = "probe"
    reasons = {"plain": "No parameters here", "one": "Value {value}", "braces": "Literal {{braces}}",
               "missing": "Needs {absent}", "index": "Positional {0}"}


@pytest.mark.parametrize(("reason", "params", "explanation"), [
    ("plain", {}, "No parameters here"), ("plain", {"x": 1}, "No parameters here"),
    ("one", {"value": 3}, "Value 3"), ("braces", {}, "Literal {braces}"), ("missing", {}, "Needs {absent}"),
    ("index", {"value": 1}, "Positional {0}"), ("unknown.reason", {}, "unknown.reason"),
    ("unknown {x}", {"x": "y"}, "unknown y"),
])
def test_finding_is_the_dataclass_finding(reason: str, params: dict[str, object], explanation: str) -> None:
    part = TextPart("a/b.txt", "text", "text", {})
    made = _Probe().finding(part, 1, 3, 0.5, reason, "s***", **params)
    expected = Finding(detector="probe", score=0.5, start=1, end=3, snippet="s***", reason=reason,
                       explanation=explanation, part="a/b.txt", params=params)
    assert made == expected
    assert vars(made) == vars(expected) and list(vars(made)) == list(vars(expected))
    assert type(made) is Finding and hash(made.reason) == hash(expected.reason)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.score = 1.0  # type: ignore[misc]
    assert _Probe().finding("plain/path", 0, 1, 0.1, "plain", "x").part == "plain/path"


def _customer_list(rng: random.Random, rows: int) -> str:
    lines = [rng.choice(["氏名,電話番号,メール,住所", "名前\tTEL\t住所", "顧客一覧"])]
    for i in range(rows):
        cells = [rng.choice(["山田 太郎", "佐藤 花子", "Taro Yamada", "株式会社ダミー", "ヤマダ タロウ"])]
        if rng.random() < 0.8:
            cells.append(rng.choice(["03-1234-5678", "090-1111-2222", "０４５－１２３－４５６７", "(03)1234-5678",
                                     "携帯 080-2222-3333", "12345"]))
        if rng.random() < 0.6:
            cells.append(rng.choice([f"user{i}@example.co.jp", f"u.{i}@mail.example.com", f"x{i}@corp.jp", "no@"]))
        if rng.random() < 0.6:
            cells.append(rng.choice(["〒100-0005 東京都千代田区丸の内1-2-3", "大阪府大阪市北区梅田2丁目4番9号",
                                     "住所在地 札幌市中央区北1条西2丁目", "お届け先 横浜市西区みなとみらい2-3-1"]))
        lines.append(rng.choice([",", "\t", "  "]).join(cells))
        if rng.random() < 0.05:
            lines.append("")
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(6))
def test_customer_list_rows_match_reference(seed: int) -> None:
    rng = random.Random(seed)
    text = _customer_list(rng, rng.choice([3, 40, 400]))
    engine = Engine(index_dir=None, key=b"k" * 32)
    extraction = extract(text.encode("utf-8"), "customers.csv")
    [part] = extraction.parts
    detector = CustomerListDetector()
    for context in (Context(engine.index, engine.fingerprinter, engine.resolve, extraction, cache={}), None):
        assert detector._lines_with_data(part, context) == reference_lines_with_data(detector, part, context)


_REFERENCE_SPLIT = {"\t": re.compile("\t"), ",": re.compile("[,，]"), "|": re.compile("[|｜]"),
                    " ": re.compile("[ ]{2,}|\u3000+")}


def reference_cells(line: str) -> list[str]:
    for sep in ("\t", ",", "|", " "):
        if sep in line or (sep == "," and "，" in line) or (sep == "|" and "｜" in line) or (
                sep == " " and "\u3000" in line):
            parts = [c.strip() for c in _REFERENCE_SPLIT[sep].split(line)]
            parts = [c for c in parts if c]
            if len(parts) >= 2:
                return parts
    return []


def reference_is_name(cell: str) -> bool:
    cell = cell.strip().strip("\"'")
    for suffix in ("様", "さん", "殿", "氏", "さま"):
        if cell.endswith(suffix) and len(cell) > len(suffix) + 1:
            cell = cell[: -len(suffix)].rstrip()
            break
    if customer_list._JP_NAME.fullmatch(cell):
        return not cell.endswith(customer_list._NOT_A_NAME) and "株式会社" not in cell
    return customer_list._LATIN_NAME.fullmatch(cell) is not None


def test_cells_and_names_match_reference() -> None:
    rng = random.Random(13)
    pieces = ["\t", ",", "，", "|", "｜", " ", "  ", "\u3000", "山田", "太郎", "様", "さん", "Taro", "Yamada", "\"",
              "'", "a", "区", "株式会社", "氏"]
    for _ in range(20000):
        line = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert customer_list.cells(line) == reference_cells(line), line
        cell = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))
        assert customer_list.is_name(cell) == reference_is_name(cell), cell


def reference_kind_of(digits: str) -> str | None:
    if digits[1:] in "123456789012" or len(set(digits[-8:])) == 1:
        return None
    for prefix, length, kind in jp_phone._SERVICES:
        if digits.startswith(prefix):
            return kind if len(digits) == length else None
    if len(digits) == 10 and digits[0] == "0" and digits[1] != "0" and digits[2] != "0":
        return "landline"
    return None


def test_phone_kind_matches_reference() -> None:
    rng = random.Random(17)
    heads = ["0120", "0800", "0570", "050", "060", "070", "080", "090", "03", "0", "00", "012", "08", ""]
    for _ in range(50000):
        digits = rng.choice(heads) + "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 9)))
        assert jp_phone.kind_of(digits) == reference_kind_of(digits), digits


def reference_number_starts(text: str, hits: list[int], min_digits: int = 9) -> list[int]:
    out: list[int] = []
    end = -1
    for hit in hits:
        if hit < end:
            continue
        lo = hit
        while lo > 0 and text[lo - 1] in base.NUMBER_CHARS:
            lo -= 1
        end = hit
        while end < len(text) and text[end] in base.NUMBER_CHARS:
            end += 1
        if sum(text[i] in "0123456789０１２３４５６７８９" for i in range(lo, end)) >= min_digits:
            out.extend(i for i in range(lo, end) if text[i] in base._NUMBER_STARTS)
    return out


def test_number_starts_match_reference() -> None:
    rng = random.Random(19)
    alphabet = "0１2 　-ー()（）+＋a,\n"
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        hits = sorted({rng.randint(0, len(text)) for _ in range(rng.randint(0, 5))})
        assert base._number_starts(text, hits) == reference_number_starts(text, hits), (text, hits)
        min_digits = rng.choice([9, 10, 12, 13])
        assert base._number_starts(text, hits, min_digits) == reference_number_starts(text, hits, min_digits), (
            text, hits, min_digits)

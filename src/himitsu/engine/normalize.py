"""One normalisation for registering and for checking text, with a map back to the original offsets.

``normalize(text)`` returns the *normalised text* that fingerprints are computed over and, for each of
its characters, the offset in ``text`` where it came from. Copies of a document that were retyped,
reflowed, converted between full-width and half-width, or re-punctuated normalise to the same string.

Definition (the reference, tested character for character against this fast implementation)::

    normalised = keep(fold(NFKC(pre(text))))

1. ``pre``: the spacing voiced sound marks ゛ (U+309B) and ゜ (U+309C) become their combining forms
   (U+3099, U+309A), so "か゛" composes to "が" like "ｶﾞ" does. (Plain NFKC turns ゛ into a space and
   a combining mark, and "か゛" would not match "が".)
2. ``NFKC``: compatibility forms folded: full-width ASCII → ASCII (ＡＢＣ１２３ → ABC123), half-width
   katakana → full-width (ｶﾞｲﾄﾞ → ガイド), ① → 1, ㈱ → (株), ㍿ → 株式会社, CJK compatibility
   ideographs → unified ideographs, ligatures, super/subscripts, Kangxi radicals, ...
3. ``fold``: simple (one-to-one) case folding (Ａ, A → a; Σ, ς → σ), plus two kana folds: small ヶ →
   ケ and small ヵ → カ (霞ヶ関 = 霞ケ関). Full case foldings that change the length (ß → ss, ŉ → ʼn)
   are *not* applied: "STRASSE" and "straße" do not match.
4. ``keep``: only letters, marks, numbers, private-use (外字) and unassigned code points survive
   (Unicode general categories L*, Mn, Mc, N*, Co, Cn). Removed: every space, line break and control
   (Z*, Cc, Cf, including the ideographic space U+3000, zero-width space, BOM and soft hyphen); all
   punctuation (P*: 。、・「」『』（）【】…‥!?"'.,:; and the ASCII ones); all symbols (S*: ￥$+=<>~^
   ©, emoji, box drawing); enclosing marks (Me: keycap); variation selectors and other invisible
   selectors (U+FE00–FE0F, U+E0100–E01EF, U+180B–180F, U+034F, Hangul fillers); the modifier-letter
   apostrophe ʼ (U+02BC, what autocorrect types for '); and the katakana-hiragana prolonged sound mark
   ー (U+30FC, and ｰ U+FF70 which NFKC maps to it). A combining mark whose base character was
   removed goes with it (an accent on a removed symbol). ``normalize`` is idempotent on real text and
   on every code point; the exceptions are contrived: a mark after a base that folding changes into a
   composable one (Ϊ́, ヵ゙), and parenthesised Hangul jamo followed by a vowel jamo.

   Dashes and the long vowel are *removed rather than folded*: ー and its look-alikes ‐ ‑ ‒ – — ―
   − － ─ ~ 〜 ～ are typed, OCR'd and converted (CP932 ↔ Unicode) into one another, and removing all
   of them makes "コンピューター", "コンピュ－タ－" and "コンピュ−タ−" identical, as well as "e-mail" and
   "email". A 50-character run rarely differs from another only in its dashes, so little is lost.

Offsets. ``Normalized.origin[i]`` is the index in ``text`` of the character that normalised character
``i`` came from; ``origin[len(normalised)] == len(text)``. The map is exact per character, except
inside a *merged cluster*: characters that NFKC composes, reorders or expands together (a starter with
the marks after it, ｶﾞ → ガ, e + U+0301 → é; or one character expanding to several kept ones,
㍿ → 株式会社, ⑽ → 10). Every character produced from a cluster maps to the cluster's first original
character, and ``to_original`` widens a span ending in a cluster to the cluster's end. So the span
``[a, b)`` of the normalised text maps to ``[origin[a], origin[b − 1] + 1)`` (widened as said): the
smallest original span holding every character it came from, including the removed characters
between them (spaces, punctuation) but none before or after.

Speed: the text is processed as an array of code points through precomputed tables (built once
per process in about 0.3 s): one table lookup gives each character's folded image and class, and NFKC
runs only on the rare clusters that need it. The common case (no character needing NFKC in context) is one
C pass (:mod:`himitsu.engine._text`, with the numpy code as the reference and fallback). Measured on the
2-core machine over the 640 python-docs-ja library pages (ja and en): 250–280 MB/s of UTF-8 per CPU-second
(numpy path: 160–165); text full of half-width katakana with voiced marks takes the general path (~25 MB/s).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Literal

import numpy as np

try:
    from himitsu.engine._text import fast_normalize as _fast_normalize
except ImportError:  # not built: the numpy path below does the same
    _fast_normalize = None

__all__ = ["COMPILED", "Normalized", "normalize", "reference_normalize"]

#: whether the common path runs in C (:mod:`himitsu.engine._text`); tests switch it to compare both paths
COMPILED: bool = _fast_normalize is not None

#: code points covered by the tables; all code points above are either private use (kept), plane-14
#: tags and variation selectors (removed) or unassigned (kept), and never change under NFKC or folding.
_TABLE_SIZE = 0x40000
_PLANE14 = (0xE0000, 0xF0000)
_PRE_MAP = {0x309B: 0x3099, 0x309C: 0x309A}
_FOLD_EXTRA = {0x30F6: 0x30B1, 0x30F5: 0x30AB}  # ヶ → ケ, ヵ → カ
_REMOVED_CATEGORIES = frozenset(
    "Zs Zl Zp Cc Cf Cs Pc Pd Ps Pe Pi Pf Po Sm Sc Sk So Me".split())
_REMOVED_EXTRA = frozenset(
    [0x30FC, 0x02BC, 0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0, *range(0xFE00, 0xFE10), *range(0x180B, 0x1810)])
_EMPTY_MERGED = np.zeros((0, 2), dtype=np.int64)
_REMOVED, _KEPT, _MARK = 0, 1, 2
# packed table entry: the folded image of the pre-mapped character, its class, and the unsafe flag
_CP_MASK = np.uint32(0x1FFFFF)
_KLASS_SHIFT = np.uint32(21)
_UNSAFE_BIT = 1 << 31


@dataclass(frozen=True, eq=False)
class Normalized:
    """Normalised text and the map of its characters back to the original text.

    ``origin`` (int64, ``len(text) + 1`` elements) maps each normalised character to its offset in the
    original string; the last element is the original length. ``merged`` (int64, shape (m, 2)) lists
    the original ``[start, end)`` ranges of clusters that NFKC rewrote as a whole (usually none).
    """

    text: str
    origin: np.ndarray
    merged: np.ndarray = field(default_factory=lambda: _EMPTY_MERGED)

    def __len__(self) -> int:
        return len(self.text)

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map the normalised span ``[start, end)`` to the original ``[start', end')``.

        ``start' = origin[start]``; ``end' = origin[end - 1] + 1``, widened to the end of a merged
        cluster if the last character came from one. An empty span maps to an empty span.
        """
        starts, ends = self.spans_to_original(np.array([start]), np.array([end]))
        return int(starts[0]), int(ends[0])

    def spans_to_original(self, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised :meth:`to_original` for many spans at once (int64 arrays in, int64 arrays out)."""
        starts = np.asarray(starts, dtype=np.int64)
        ends = np.asarray(ends, dtype=np.int64)
        n = len(self.text)
        if np.any((starts < 0) | (ends > n) | (starts > ends)):
            raise ValueError(f"span outside the normalised text of length {n}")
        out_start = self.origin[starts]
        last = self.origin[np.maximum(ends - 1, 0)]
        out_end = np.where(ends > starts, last + 1, out_start)
        if len(self.merged):
            i = np.searchsorted(self.merged[:, 0], last, side="right") - 1
            inside = (i >= 0) & (self.merged[np.maximum(i, 0), 1] > last) & (ends > starts)
            out_end = np.where(inside, self.merged[np.maximum(i, 0), 1], out_end)
        return out_start, out_end


@dataclass(frozen=True)
class _Tables:
    pre: np.ndarray  # uint32: one-to-one replacement applied before NFKC (its image is NFKC-stable)
    unsafe: np.ndarray  # bool, by original code point: after ``pre``, needs NFKC in context
    needs_prev: np.ndarray  # bool, by code point after ``pre``: may combine with the character before it
    self_stable: np.ndarray  # bool, by code point: NFKC leaves the character alone when on its own
    pair_keys: np.ndarray  # uint64, sorted: (first << 21) | second of every canonical composition
    pair_values: np.ndarray  # uint32: the composite of each pair
    fold: np.ndarray  # uint32: case and kana fold, applied after NFKC
    klass: np.ndarray  # uint8, by code point after NFKC (evaluated on the folded char): _REMOVED, _KEPT, _MARK
    packed: np.ndarray  # uint32, by original code point: fold[pre] | klass[pre] << 21 | unsafe << 31


def _fold_char(ch: str) -> str:
    extra = _FOLD_EXTRA.get(ord(ch))
    if extra is not None:
        return chr(extra)
    for folded in (ch.casefold(), ch.lower()):
        if len(folded) == 1:
            return folded
    return ch


def _klass(ch: str) -> int:
    if not _kept(ch):
        return _REMOVED
    return _MARK if unicodedata.category(ch) in ("Mn", "Mc") else _KEPT


def _kept(ch: str) -> bool:
    cp = ord(ch)
    if cp in _REMOVED_EXTRA or _PLANE14[0] <= cp < _PLANE14[1]:
        return False
    return unicodedata.category(ch) not in _REMOVED_CATEGORIES


def _per_char(function: Literal["NFKC", "NFKD"], chars: list[str]) -> list[str]:
    """``unicodedata.normalize(function, ch)`` for every character in one C call (U+0000 and the
    surrogates, which cannot be joined, stand in as themselves)."""
    placeholders = [0, *range(0xD800, 0xE000)]
    joined = "\x00".join(["a", *chars[1:0xD800], *["a"] * 0x800, *chars[0xE000:]])
    out = unicodedata.normalize(function, joined).split("\x00")
    for c in placeholders:
        out[c] = chars[c]
    return out


def _ords(chars: list[str]) -> np.ndarray:
    """Code points of a list of single characters."""
    return np.frombuffer("".join(chars).encode("utf-32-le", "surrogatepass"), dtype="<u4").copy()


def _compositions(chars: list[str]) -> dict[tuple[int, int], int]:
    """Every canonical pair (first, second) that NFC composes, with its composite (Hangul excluded)."""
    pairs: dict[tuple[int, int], int] = {}
    for c, ch in enumerate(chars):
        d = unicodedata.decomposition(ch)
        if d and not d.startswith("<") and len(d.split()) == 2:
            x, y = (int(part, 16) for part in d.split())
            if unicodedata.normalize("NFC", chr(x) + chr(y)) == chr(c):
                pairs[x, y] = c
    return pairs


def _combiners(pairs: dict[tuple[int, int], int]) -> tuple[set[int], set[int]]:
    """Code points that can start (first) or complete (second) a canonical composition."""
    first = {x for x, _ in pairs} | set(range(0x1100, 0x1113)) | set(range(0xAC00, 0xD7A4))  # Hangul L, LV
    second = {y for _, y in pairs} | set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))  # Hangul V, T
    return first, second


def _is_stable_starter(ch: str, nfkc: str, second: set[int]) -> bool:
    """A character that NFKC leaves alone and that never interacts with its neighbours' normalisation."""
    return nfkc == ch and unicodedata.combining(ch) == 0 and ord(ch) not in second


def _residue(ch_nfkc: str) -> str:
    return "".join(c for c in map(_fold_char, ch_nfkc) if _kept(c))


def _pre_image(c: int, nfkc: list[str], first: set[int], second: set[int]) -> int:
    """The one-to-one replacement of c before NFKC, or c itself when only NFKC in context will do.

    A multi-character expansion is replaced by a single character only when it cannot interact with
    its neighbours (stable starters, nothing composable at its end) and at most one of its characters
    survives the filter, as its last character: "…" → " " (all removed); not "⑴" → "(1)", where a mark
    after ")" would be dropped with it but not after "1".
    """
    if c in _PRE_MAP:
        return _PRE_MAP[c]
    image = nfkc[c]
    if len(image) == 1:
        return ord(image)
    isolated = all(_is_stable_starter(x, nfkc[ord(x)], second) for x in image) and ord(image[-1]) not in first
    residue = _residue(image)
    if not isolated or len(residue) > 1:
        return c
    if not residue:
        return 0x20
    # the survivor must be the last character, so that a mark after it has the same (kept) base
    survivor = image[-1]
    return ord(survivor) if _residue(survivor) == residue and ord(survivor) not in first else c


def _fold_table(chars: list[str]) -> list[str]:
    """``_fold_char`` of every character, with case folding done in bulk."""
    folded = _bulk(chars, str.casefold)
    lowered = _bulk(chars, str.lower)
    out = [f if len(f) == 1 else low if len(low) == 1 else ch
           for ch, f, low in zip(chars, folded, lowered, strict=True)]
    for c, target in _FOLD_EXTRA.items():
        out[c] = chr(target)
    return out


def _bulk(chars: list[str], function: Callable[[str], str]) -> list[str]:
    """function(ch) for each character, in one call on the joined string (U+0000 is the separator)."""
    out = function("\x00".join(["a", *chars[1:]])).split("\x00")
    out[0] = function(chars[0])
    return out


def _klass_table(folded: list[str]) -> np.ndarray:
    code = {cat: _REMOVED if cat in _REMOVED_CATEGORIES else _MARK if cat in ("Mn", "Mc") else _KEPT
            for cat in ("Lu Ll Lt Lm Lo Mn Mc Me Nd Nl No Pc Pd Ps Pe Pi Pf Po Sm Sc Sk So Zs Zl Zp "
                        "Cc Cf Cs Co Cn").split()}
    klass = np.array([code[unicodedata.category(f)] for f in folded], dtype=np.uint8)
    klass[[c for c in _REMOVED_EXTRA if c < len(folded)]] = _REMOVED
    removed_images = [c for c, f in enumerate(folded) if ord(f) in _REMOVED_EXTRA]
    klass[removed_images] = _REMOVED
    return klass


@cache
def _tables() -> _Tables:
    size = _TABLE_SIZE
    chars = [chr(c) for c in range(size)]
    nfkc = _per_char("NFKC", chars)
    pairs = _compositions(chars)
    first, second = _combiners(pairs)
    ccc = np.array([unicodedata.combining(ch) for ch in chars], dtype=np.uint8)
    is_second = np.zeros(size, dtype=bool)
    is_second[list(second)] = True
    self_stable = np.array([n == ch for n, ch in zip(nfkc, chars, strict=True)], dtype=bool)
    stable = self_stable & (ccc == 0) & ~is_second
    stable[0xD800:0xE000] = True  # lone surrogates (from surrogateescape) are removed, never composed
    pre = _ords([n if len(n) == 1 else ch for n, ch in zip(nfkc, chars, strict=True)])
    for c in [*_PRE_MAP, *(c for c, n in enumerate(nfkc) if len(n) > 1)]:
        pre[c] = _pre_image(c, nfkc, first, second)
    nfkd_first = _ords([d[0] for d in _per_char("NFKD", chars)])
    needs_prev = (ccc[nfkd_first] != 0) | is_second[nfkd_first]
    keys = np.array([(x << 21) | y for x, y in pairs], dtype=np.uint64)
    values = np.array(list(pairs.values()), dtype=np.uint32)
    order = np.argsort(keys)
    folded = _fold_table(chars)
    fold = _ords(folded)
    klass = _klass_table(folded)
    unsafe = ~stable[pre]
    packed = fold[pre] | (klass[pre].astype(np.uint32) << _KLASS_SHIFT) | (unsafe.astype(np.uint32) << 31)
    return _Tables(pre=pre, unsafe=unsafe, needs_prev=needs_prev, self_stable=self_stable, pair_keys=keys[order],
                   pair_values=values[order], fold=fold, klass=klass, packed=packed)


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def _from_codepoints(cps: np.ndarray) -> str:
    return cps.astype("<u4", copy=False).tobytes().decode("utf-32-le", "surrogatepass")


def _lookup(table: np.ndarray, cps: np.ndarray, above: np.ndarray | int | bool) -> np.ndarray:
    """table[cps] for code points inside the table; ``above`` is the value (array or scalar) used for
    code points beyond it."""
    if not len(cps) or int(cps.max()) < _TABLE_SIZE:
        return np.asarray(table[cps])
    big = cps >= _TABLE_SIZE
    out = table[np.where(big, 0, cps)]
    out[big] = above[big] if isinstance(above, np.ndarray) else above
    return out


@lru_cache(maxsize=4096)
def _nfkc(piece: str) -> str:
    return unicodedata.normalize("NFKC", piece)


def _clusters(pre: np.ndarray, unsafe: np.ndarray, tables: _Tables) -> tuple[np.ndarray, np.ndarray]:
    """[start, end) of each run of unsafe code points, extended left to the starter before it when
    the run's first character may combine with it (a mark, a Hangul vowel; not ㍿ or ⑽)."""
    u = np.flatnonzero(unsafe)
    breaks = np.flatnonzero(np.diff(u) != 1)
    run_start = u[np.r_[0, breaks + 1]]
    run_end = u[np.r_[breaks, len(u) - 1]] + 1
    extend = _lookup(tables.needs_prev, pre[run_start], False) & (run_start > 0)
    return run_start - extend, run_end


def _pair_composites(pre: np.ndarray, unsafe: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                     tables: _Tables) -> tuple[np.ndarray, np.ndarray]:
    """For clusters that are a stable starter plus one mark composing with it (ｶﾞ, e + U+0301): a mask
    of those clusters and their composites, without calling NFKC."""
    two = (ends - starts == 2) & ~unsafe[starts]
    base = pre[starts[two]].astype(np.uint64)
    mark = pre[starts[two] + 1]
    key = (base << np.uint64(21)) | mark.astype(np.uint64)
    i = np.minimum(np.searchsorted(tables.pair_keys, key), len(tables.pair_keys) - 1)
    mark_ok = _lookup(tables.self_stable, mark, False)
    hit = (tables.pair_keys[i] == key) & mark_ok
    mask = np.zeros(len(starts), dtype=bool)
    mask[np.flatnonzero(two)[hit]] = True
    return mask, tables.pair_values[i[hit]]


def _nfkc_clusters(pre: np.ndarray, unsafe: np.ndarray,
                   tables: _Tables) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """NFKC of the pre-mapped code points, running ``unicodedata.normalize`` only on the clusters that
    are not a simple pair composition. Returns the new code points, their origin (None when nothing
    changed) and the merged clusters."""
    starts, ends = _clusters(pre, unsafe, tables)
    fast, composites = _pair_composites(pre, unsafe, starts, ends, tables)
    slow_a: list[int] = []
    slow_b: list[int] = []
    outs: list[str] = []
    if not fast.all():
        text = _from_codepoints(pre)
        for a, b in zip(starts[~fast].tolist(), ends[~fast].tolist(), strict=True):
            out = _nfkc(text[a:b])
            if out != text[a:b]:
                slow_a.append(a)
                slow_b.append(b)
                outs.append(out)
    if not outs and not fast.any():
        return pre, None, _EMPTY_MERGED
    a = np.concatenate([starts[fast], np.array(slow_a, dtype=np.int64)])
    b = np.concatenate([ends[fast], np.array(slow_b, dtype=np.int64)])
    lengths = np.concatenate([np.ones(int(fast.sum()), dtype=np.int64), np.array([len(o) for o in outs], np.int64)])
    replacement = np.concatenate([composites, _codepoints("".join(outs))])
    return _splice(pre, a, b, lengths, replacement)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + n) for each (s, n), vectorised."""
    offsets = np.cumsum(lengths) - lengths
    return np.asarray(np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(offsets - starts, lengths))


def _splice(pre: np.ndarray, a: np.ndarray, b: np.ndarray, lengths: np.ndarray,
            replacement: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replace pre[a_i:b_i] by the i-th replacement (``lengths[i]`` code points, concatenated in the
    order given); the origin of a replacement character is a_i, of every other character itself."""
    rep_start = np.cumsum(lengths) - lengths
    order = np.argsort(a, kind="stable")
    a, b, lengths, rep_start = a[order], b[order], lengths[order], rep_start[order]
    replacement = replacement[_ranges(rep_start, lengths)]
    shift = np.cumsum(lengths - (b - a))  # output minus input length after each cluster
    is_outside = np.ones(len(pre), dtype=bool)
    is_outside[_ranges(a, b - a)] = False
    outside = np.flatnonzero(is_outside)
    done = np.searchsorted(b, outside, side="right")
    out_index = outside + np.where(done > 0, shift[np.maximum(done - 1, 0)], 0)
    first_out = a + np.r_[0, shift[:-1]]
    out = np.empty(len(pre) + int(shift[-1]), dtype=np.uint32)
    origin = np.empty(len(out), dtype=np.int64)
    out[out_index] = pre[outside]
    origin[out_index] = outside
    inside = _ranges(first_out, lengths)
    out[inside] = replacement
    origin[inside] = np.repeat(a, lengths)
    return out, origin, np.stack([a, b], axis=1)


def normalize(text: str) -> Normalized:
    """Normalise ``text`` (see the module docstring for the exact definition and the offset map)."""
    tables = _tables()
    cps = _codepoints(text)
    if COMPILED and _fast_normalize is not None:  # the same common path in one C pass
        out = np.empty(len(cps), dtype=np.uint32)
        origin = np.empty(len(cps) + 1, dtype=np.int64)
        kept = _fast_normalize(cps, tables.packed, out, origin)
        if kept < 0:
            return _general(text, cps, tables)
        origin[kept] = len(text)
        return Normalized(text=_from_codepoints(out[:kept]), origin=origin[:kept + 1].copy(), merged=_EMPTY_MERGED)
    packed = _lookup(tables.packed, cps, _packed_above(cps))
    if len(packed) and int(packed.max()) >= _UNSAFE_BIT:
        return _general(text, cps, tables)
    klass = ((packed >> _KLASS_SHIFT) & 3).astype(np.uint8)
    return _result(text, packed & _CP_MASK, _keep(klass), None, _EMPTY_MERGED)


def _general(text: str, cps: np.ndarray, tables: _Tables) -> Normalized:
    """The path for text with characters that need NFKC in context (see ``_nfkc_clusters``)."""
    pre = _lookup(tables.pre, cps, cps)
    pre, origin, merged = _nfkc_clusters(pre, _lookup(tables.unsafe, cps, False), tables)
    keep = _keep(_lookup(tables.klass, pre, _klass_above(pre)))
    return _result(text, _lookup(tables.fold, pre, pre), keep, origin, merged)


def _result(text: str, folded: np.ndarray, keep: np.ndarray, origin: np.ndarray | None,
            merged: np.ndarray) -> Normalized:
    kept_at = np.flatnonzero(keep)
    full_origin = np.empty(len(kept_at) + 1, dtype=np.int64)
    full_origin[:-1] = kept_at if origin is None else origin[kept_at]
    full_origin[-1] = len(text)
    return Normalized(text=_from_codepoints(folded[keep]), origin=full_origin, merged=merged)


def _packed_above(cps: np.ndarray) -> np.ndarray | int:
    """Packed entry of code points beyond the tables: themselves, with their class."""
    if not len(cps) or int(cps.max()) < _TABLE_SIZE:
        return 0
    plane14 = (cps >= _PLANE14[0]) & (cps < _PLANE14[1])
    klass = np.where(plane14, _REMOVED, _KEPT).astype(np.uint32)
    return np.asarray(cps.astype(np.uint32) | (klass << _KLASS_SHIFT))


def _klass_above(cps: np.ndarray) -> np.ndarray | int:
    """Class of code points beyond the tables: kept, except plane 14 (tags, variation selectors)."""
    if not len(cps) or int(cps.max()) < _TABLE_SIZE:
        return _KEPT
    return np.where((cps >= _PLANE14[0]) & (cps < _PLANE14[1]), _REMOVED, _KEPT).astype(np.uint8)


def _keep(klass: np.ndarray) -> np.ndarray:
    """Kept characters: letters, numbers, ... and the marks whose base character was kept."""
    keep = klass != _REMOVED
    marks = klass == _MARK
    if marks.any():
        index = np.arange(len(klass))
        last_base = np.maximum.accumulate(np.where(marks, -1, index))
        keep &= ~(marks & (last_base >= 0) & ~keep[np.maximum(last_base, 0)])
    return np.asarray(keep)


def reference_normalize(text: str) -> str:
    """The definition, one character at a time: slow, for tests and for documentation."""
    text = "".join(chr(_PRE_MAP.get(ord(c), ord(c))) for c in text)
    out = []
    base_kept = True
    for c in map(_fold_char, unicodedata.normalize("NFKC", text)):
        klass = _klass(c)
        if klass != _MARK:
            base_kept = klass == _KEPT
        if klass == _KEPT or klass == _MARK and base_kept:
            out.append(c)
    return "".join(out)
